using System.Runtime.InteropServices;

namespace WalShip.Storage;

/// <summary>
/// Narrows the process's system trust store to the one CA file walship was given.
/// .NET offers every certificate of the system store as a chain-building candidate, even under a
/// custom root trust policy, and loading that store (the bundle plus each file in /etc/ssl/certs)
/// costs 100-170 ms of CPU at the first TLS handshake: more than pushing a whole segment. A push or
/// fetch that talks TLS to the S3 endpoint alone can skip it by pointing the store at --ca-file.
/// </summary>
public static partial class SystemTrustStore
{
    /// <summary>
    /// Makes <paramref name="caFile"/> the whole system store for the rest of this process (and the
    /// look-ahead workers it starts). Only call it before the first TLS handshake, and only when nothing
    /// else in the process needs the real store: no STS, SSO or web identity call, no PostgreSQL TLS.
    /// </summary>
    public static void ConfineTo(string caFile)
    {
        // .NET reads these through OpenSSL's getenv when it first loads the store, and
        // Environment.SetEnvironmentVariable only changes .NET's own copy of the environment.
        // An empty SSL_CERT_DIR means no directory at all.
        if (SetEnv("SSL_CERT_FILE", Path.GetFullPath(caFile), 1) != 0 || SetEnv("SSL_CERT_DIR", "", 1) != 0)
            throw new StorageException(ErrorClass.Local, "cannot set SSL_CERT_FILE/SSL_CERT_DIR: " + Marshal.GetLastPInvokeErrorMessage());
    }

    [LibraryImport("libc", EntryPoint = "setenv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
