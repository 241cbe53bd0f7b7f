using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace WalShip.Storage;

/// <summary>One set of temporary credentials as kept on disk.</summary>
public sealed class CachedCredentials
{
    [JsonPropertyName("format")] public int Format { get; init; } = 1;
    /// <summary>The cache key the file was written for: a file renamed or copied to another key is not trusted.</summary>
    [JsonPropertyName("key")] public string Key { get; init; } = "";
    [JsonPropertyName("access_key_id")] public string AccessKeyId { get; init; } = "";
    [JsonPropertyName("secret_access_key")] public string SecretAccessKey { get; init; } = "";
    [JsonPropertyName("session_token")] public string SessionToken { get; init; } = "";
    [JsonPropertyName("issued")] public DateTimeOffset Issued { get; init; }
    [JsonPropertyName("expiration")] public DateTimeOffset Expiration { get; init; }

    /// <summary>How long before expiry credentials stop being handed out: a quarter of their lifetime,
    /// at most 5 minutes, so a request signed now is still valid when S3 checks it.</summary>
    public TimeSpan RenewalMargin => ExpiryMargin(Expiration - Issued);

    public static TimeSpan ExpiryMargin(TimeSpan lifetime) =>
        TimeSpan.FromTicks(Math.Clamp(lifetime.Ticks / 4, 0, TimeSpan.FromMinutes(5).Ticks));

    public bool IsFresh(DateTimeOffset now) => Expiration - now > RenewalMargin;
}

[JsonSerializable(typeof(CachedCredentials))]
internal sealed partial class CredentialCacheJsonContext : JsonSerializerContext;

/// <summary>
/// Temporary credentials kept between walship runs, so that a standby restoring thousands of segments
/// (one process each) calls STS once per credential lifetime. One file per role, external id and source
/// identity, named by a hash of them (the external id never appears in a name or a message). A file is
/// trusted only if it is a regular file owned by this user and readable by nobody else, in a directory
/// owned by this user that nobody else can write; anything else is ignored with a warning. Files are
/// written 0600 to a temporary name and renamed into place, so a reader never sees half a file.
/// </summary>
public sealed class CredentialCache
{
    private const int MaxFileBytes = 64 * 1024;
    private readonly ILogger _logger;
    private bool? _usable;

    public CredentialCache(string directory, ILogger logger)
    {
        Directory = directory;
        _logger = logger;
    }

    public string Directory { get; }

    /// <summary>$XDG_CACHE_HOME/walship/credentials, else $HOME/.cache/walship/credentials; null when neither
    /// is set. Its own directory, beside the look-ahead spool's per-cluster directories.</summary>
    public static string? DefaultDirectory(Func<string, string?> environment)
    {
        if (environment("XDG_CACHE_HOME") is { Length: > 0 } xdg && xdg.StartsWith('/'))
            return Path.Join(xdg, "walship", "credentials");
        if (environment("HOME") is { Length: > 0 } home && home.StartsWith('/'))
            return Path.Join(home, ".cache", "walship", "credentials");
        return null;
    }

    /// <summary>The cache key: a hash of everything that decides which credentials STS hands out.</summary>
    public static string KeyFor(string roleArn, string? externalId, string sourceIdentity, string? stsEndpoint)
    {
        string material = string.Join('\0', "walship-credential-cache-v1", roleArn, externalId ?? "", sourceIdentity, stsEndpoint ?? "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)));
    }

    public string PathFor(string key) => Path.Join(Directory, key + ".json");

    /// <summary>Fresh credentials for the key, or null (no file, stale, or not trustworthy: then with a warning).</summary>
    public CachedCredentials? TryRead(string key, DateTimeOffset now)
    {
        if (!IsUsable())
            return null;
        string path = PathFor(key);
        CachedCredentials cached;
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            if (UnixStat.Of(handle) is not { } stat)
                return Distrust(path, "its owner and mode cannot be read");
            if (!stat.IsRegularFile)
                return Distrust(path, "it is not a regular file");
            if (stat.Uid != UnixStat.EffectiveUid)
                return Distrust(path, $"it is owned by uid {stat.Uid}, not by this user (uid {UnixStat.EffectiveUid})");
            if ((stat.Mode & 0x3F) != 0)
                return Distrust(path, $"its mode is {Convert.ToString(stat.Mode & 0x1FF, 8)}: group or others may read it (expected 600)");
            long length = RandomAccess.GetLength(handle);
            if (length > MaxFileBytes)
                return Distrust(path, $"it is {length} bytes, too large for a credential file");
            var bytes = new byte[length];
            if (RandomAccess.Read(handle, bytes, 0) != length)
                return Distrust(path, "it changed while being read");
            cached = JsonSerializer.Deserialize(bytes, CredentialCacheJsonContext.Default.CachedCredentials)
                     ?? throw new JsonException("empty");
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (JsonException)
        {
            return Distrust(path, "it is not a valid credential file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Distrust(path, e.Message);
        }

        if (cached.Format != 1 || cached.Key != key || cached.AccessKeyId.Length == 0 || cached.SecretAccessKey.Length == 0
            || cached.SessionToken.Length == 0 || cached.Expiration <= cached.Issued)
            return Distrust(path, "it is not a valid credential file for this role");
        if (!cached.IsFresh(now))
        {
            _logger.LogDebug("cached role credentials in {Path} expire at {Expiration:O}: renewing", path, cached.Expiration);
            return null;
        }
        return cached;
    }

    public void Write(CachedCredentials credentials)
    {
        if (!IsUsable())
            return;
        string path = PathFor(credentials.Key);
        string temp = $"{path}.{Environment.ProcessId}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}.tmp";
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var stream = new FileStream(temp, options))
            {
                JsonSerializer.Serialize(stream, credentials, CredentialCacheJsonContext.Default.CachedCredentials);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("cannot write the credential cache file {Path}: {Error}; the next run calls STS again", path, e.Message);
            try { File.Delete(temp); } catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { }
        }
    }

    public void Remove(string key)
    {
        try
        {
            File.Delete(PathFor(key));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("cannot remove the credential cache file {Path}: {Error}", PathFor(key), e.Message);
        }
    }

    /// <summary>Creates the directory (0700) if needed, and checks that only this user can change what is in it.</summary>
    private bool IsUsable()
    {
        if (_usable is { } known)
            return known;
        _usable = Check();
        return _usable.Value;

        bool Check()
        {
            try
            {
                if (!System.IO.Directory.Exists(Directory))
                    System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                if (UnixStat.OfPath(Directory) is not { } stat)
                    return Unusable("its owner and mode cannot be read");
                if (stat.Uid != UnixStat.EffectiveUid)
                    return Unusable($"it is owned by uid {stat.Uid}, not by this user (uid {UnixStat.EffectiveUid})");
                if ((stat.Mode & 0x12) != 0)
                    return Unusable($"its mode is {Convert.ToString(stat.Mode & 0x1FF, 8)}: group or others may write to it");
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Unusable(e.Message);
            }
        }

        bool Unusable(string why)
        {
            _logger.LogWarning("not using the credential cache directory {Directory}: {Reason}; every run calls STS (set --credential-cache)", Directory, why);
            return false;
        }
    }

    private CachedCredentials? Distrust(string path, string why)
    {
        _logger.LogWarning("ignoring the credential cache file {Path}: {Reason}; asking STS instead", path, why);
        return null;
    }
}

/// <summary>Owner and mode of an open file, by statx(2), whose layout is the same on every architecture.</summary>
internal static partial class UnixStat
{
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;

    public readonly record struct Info(uint Uid, uint Mode)
    {
        public bool IsRegularFile => (Mode & 0xF000) == 0x8000;
    }

    public static uint EffectiveUid => GetEffectiveUid();

    public static unsafe Info? Of(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        // struct statx is 256 bytes: stx_uid at offset 20, stx_mode (16 bits) at offset 28.
        byte* buffer = stackalloc byte[256];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Statx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxType | StatxMode | StatxUid, buffer) != 0)
                return null;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
        uint uid = *(uint*)(buffer + 20);
        ushort mode = *(ushort*)(buffer + 28);
        return new Info(uid, mode);
    }

    /// <summary>Of the file a path names, following symbolic links.</summary>
    public static unsafe Info? OfPath(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AtCurrentDirectory, path, 0, StatxType | StatxMode | StatxUid, buffer) != 0)
            return null;
        return new Info(*(uint*)(buffer + 20), *(ushort*)(buffer + 28));
    }

    private const int AtCurrentDirectory = -100;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUid();
}
