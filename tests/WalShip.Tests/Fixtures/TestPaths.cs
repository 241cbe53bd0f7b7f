using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace WalShip.Tests.Fixtures;

/// <summary>Well-known locations for the integration tests.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);

    /// <summary>The directory containing WalShip.sln (found by walking up from the test binaries).</summary>
    public static string RepoRoot => s_repoRoot.Value;

    /// <summary>tests/s3rver (package.json + node_modules installed by packaging/install-deps.sh).</summary>
    public static string S3rverDir => Path.Combine(RepoRoot, "tests", "s3rver");

    /// <summary>PostgreSQL binaries; override with WALSHIP_PG_BIN.</summary>
    public static string PgBinDir =>
        Environment.GetEnvironmentVariable("WALSHIP_PG_BIN") is { Length: > 0 } dir ? dir : "/usr/lib/postgresql/15/bin";

    /// <summary>Root for temp dirs. Always /tmp (not $TMPDIR) so the postgres OS user can reach it.</summary>
    public const string TempRoot = "/tmp";

    /// <summary>
    /// Creates /tmp/walship-{prefix}-{random}. When running as root the dir is chowned to the postgres
    /// OS user (mode 0700), otherwise it is owned by the current user (mode 0700).
    /// Deleted on dispose unless WALSHIP_KEEP_TEMP=1.
    /// </summary>
    public static TestTempDir CreateTempDir(string prefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("The walship integration fixtures need Linux.");

        for (var attempt = 0; ; attempt++)
        {
            var path = Path.Combine(TempRoot, $"walship-{Sanitize(prefix)}-{Guid.NewGuid().ToString("N")[..10]}");
            if (Directory.Exists(path))
                continue;
            try
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (IOException) when (attempt < 5)
            {
                continue;
            }
            PgUser.ChownToPostgres(path);
            return new TestTempDir(path);
        }
    }

    /// <summary>Returns a currently free TCP port on 127.0.0.1 (small race window until the caller binds it).</summary>
    public static int GetFreeTcpPort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    private static string Sanitize(string prefix)
    {
        var chars = prefix.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray();
        var s = new string(chars);
        return s.Length > 24 ? s[..24] : s;
    }

    private static string FindRepoRoot()
    {
        var start = AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WalShip.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"Could not find WalShip.sln in '{start}' or any parent directory.");
    }
}

/// <summary>A temp directory deleted (recursively) on dispose.</summary>
public sealed class TestTempDir : IDisposable, IAsyncDisposable
{
    private int _disposed;

    internal TestTempDir(string path) => Path = path;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Creates a sub directory (owned by postgres when running as root).</summary>
    public string CreateSubdirectory(string name)
    {
        var dir = Combine(name);
        Directory.CreateDirectory(dir);
        PgUser.ChownToPostgres(dir);
        return dir;
    }

    public override string ToString() => Path;

    /// <summary>
    /// A directory shaped like a data directory as walship sees it: pg_wal (optionally holding one WAL
    /// file), an optional signal file (standby.signal, recovery.signal), all owned by postgres.
    /// </summary>
    public string CreateDataDirectory(string name, string? signal = null, string? walFileName = null, byte[]? walFile = null)
    {
        string data = CreateSubdirectory(name);
        Directory.CreateDirectory(System.IO.Path.Combine(data, "pg_wal"));
        if (walFileName is not null && walFile is not null)
            File.WriteAllBytes(System.IO.Path.Combine(data, "pg_wal", walFileName), walFile);
        if (signal is not null)
            File.WriteAllText(System.IO.Path.Combine(data, signal), "");
        PgUser.ChownToPostgres(data, recursive: true);
        return data;
    }

    public static implicit operator string(TestTempDir dir) => dir.Path;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (Environment.GetEnvironmentVariable("WALSHIP_KEEP_TEMP") == "1")
            return;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (Directory.Exists(Path))
                    Directory.Delete(Path, recursive: true);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A process that is still shutting down may be writing into it; retry briefly.
                Thread.Sleep(200);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

internal static partial class LibC
{
    [DllImport("libc", SetLastError = true, EntryPoint = "chown")]
    private static extern int ChownNative([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    public static void Chown(string path, uint uid, uint gid)
    {
        if (ChownNative(path, uid, gid) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"chown({path}, {uid}, {gid}) failed: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
        }
    }
}
