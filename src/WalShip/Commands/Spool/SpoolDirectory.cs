using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Win32.SafeHandles;
using WalShip.Storage;

namespace WalShip.Commands.Spool;

/// <summary>
/// The per-cluster spool: push-ahead receipts, prefetched WAL files and the locks that let only one
/// look-ahead worker of each kind run. It lives outside the data directory, so pg_basebackup never
/// copies it and pg_rewind never sees it, and in a subdirectory named by the cluster's system
/// identifier, so two clusters on one host never share entries.
/// </summary>
public sealed partial class SpoolDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private SpoolDirectory(string path, ulong systemIdentifier)
    {
        Path = path;
        SystemIdentifier = systemIdentifier;
    }

    public string Path { get; }

    public ulong SystemIdentifier { get; }

    public string ReceiptsPath => System.IO.Path.Join(Path, "receipts");

    public string PrefetchPath => System.IO.Path.Join(Path, "prefetch");

    public string WorkerLogPath => System.IO.Path.Join(Path, "worker.log");

    public string ReceiptPath(string fileName) => System.IO.Path.Join(ReceiptsPath, fileName + ".receipt");

    public string PrefetchedPath(string fileName) => System.IO.Path.Join(PrefetchPath, fileName);

    public string PrefetchRecordPath(string fileName) => System.IO.Path.Join(PrefetchPath, fileName + ".record");

    private string LockPath(string name) => System.IO.Path.Join(Path, name + ".lock");

    /// <summary>
    /// Where the spool of this cluster is: <c>--spool-dir</c>, else <c>$XDG_CACHE_HOME/walship</c>, else
    /// <c>$HOME/.cache/walship</c>, then a subdirectory named by the system identifier. Null when there
    /// is no usable place: no pg_control to name the cluster by (a pg_rewind target, a copy by hand), no
    /// home directory, or a spool that would sit inside the data directory.
    /// </summary>
    public static string? Locate(string? spoolDirOption, string dataDirectory, Func<string, string?> environment, out ulong systemIdentifier, out string? problem)
    {
        problem = null;
        systemIdentifier = Wal.PgControl.TryReadSystemIdentifier(dataDirectory) ?? 0;
        if (systemIdentifier == 0)
        {
            problem = $"no readable {System.IO.Path.Join(dataDirectory, "global", "pg_control")} to name the cluster's spool by";
            return null;
        }
        string? root = spoolDirOption is { Length: > 0 } ? spoolDirOption
            : environment("XDG_CACHE_HOME") is { Length: > 0 } cache ? System.IO.Path.Join(cache, "walship")
            : environment("HOME") is { Length: > 0 } home ? System.IO.Path.Join(home, ".cache", "walship")
            : null;
        if (root is null || !root.StartsWith('/'))
        {
            problem = root is null ? "no --spool-dir and no HOME to put the spool in" : $"--spool-dir '{root}' is not an absolute path";
            return null;
        }
        string path = System.IO.Path.Join(System.IO.Path.GetFullPath(root), systemIdentifier.ToString());
        string data = System.IO.Path.GetFullPath(dataDirectory).TrimEnd('/') + "/";
        if ((path + "/").StartsWith(data, StringComparison.Ordinal))
        {
            problem = $"spool {path} would be inside the data directory {dataDirectory}; set --spool-dir elsewhere";
            return null;
        }
        return path;
    }

    /// <summary>Opens the spool if it already exists (a spool hit must not create anything).</summary>
    public static SpoolDirectory? OpenExisting(string path, ulong systemIdentifier) =>
        Directory.Exists(path) ? new SpoolDirectory(path, systemIdentifier) : null;

    /// <summary>Creates the spool (mode 0700, owned by the caller) and its subdirectories.</summary>
    public static SpoolDirectory Create(string path, ulong systemIdentifier)
    {
        var spool = new SpoolDirectory(path, systemIdentifier);
        try
        {
            foreach (string dir in new[] { path, spool.ReceiptsPath, spool.PrefetchPath })
            {
                Directory.CreateDirectory(dir, OwnerOnly);
                // CreateDirectory leaves an existing directory's mode alone; the spool holds WAL, so tighten it.
                if ((File.GetUnixFileMode(dir) & ~OwnerOnly) != 0)
                    File.SetUnixFileMode(dir, OwnerOnly);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(ErrorClass.Local, $"cannot create the spool {path}: {e.Message}", e);
        }
        return spool;
    }

    /// <summary>Takes the named exclusive lock without waiting, or returns null when another process
    /// holds it. The kernel drops a flock when its holder dies, so a killed worker never leaves a
    /// stale lock behind.</summary>
    public SpoolLock? TryLock(string name) => Lock(OpenLockFile(name));

    /// <summary>
    /// The lock a worker runs under: the one its launcher took and handed over on
    /// <see cref="SpoolLock.HandedOverDescriptor"/> (see SelfLauncher), so that from the launcher's check to
    /// the worker's exit the lock is never free and no second worker starts; else, for a worker started by
    /// hand, taken now like <see cref="TryLock"/>. Null when another process holds it.
    /// </summary>
    public SpoolLock? TakeOverLock(string name)
    {
        var file = OpenLockFile(name);
        if (!IsOpenOn(SpoolLock.HandedOverDescriptor, file))
            return Lock(file);
        file.Dispose();
        // flock on the launcher's own open file: it holds the lock already, so this only confirms it.
        return Lock(new SafeFileHandle(SpoolLock.HandedOverDescriptor, ownsHandle: true));
    }

    private SafeFileHandle OpenLockFile(string name)
    {
        string path = LockPath(name);
        // Opened with open(2), not File.OpenHandle: .NET takes a shared flock of its own on every file it
        // opens, which would collide with the worker's exclusive one and fail the open itself.
        int fd = Open(path, OpenReadWrite | OpenCreate | OpenCloseOnExec, 0b110_000_000);
        if (fd < 0)
            throw new IOException($"cannot open {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static SpoolLock? Lock(SafeFileHandle file)
    {
        if (Flock((int)file.DangerousGetHandle(), LockExclusive | LockNonBlocking) == 0)
            return new SpoolLock(file);
        file.Dispose();
        return null;
    }

    /// <summary>Whether <paramref name="descriptor"/> is open on the same file as <paramref name="file"/>: the
    /// kernel names both by the file's real path (a descriptor not open, or open on anything else, differs).</summary>
    private static bool IsOpenOn(int descriptor, SafeFileHandle file)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{descriptor}").LinkTarget is { } target
                   && target == new FileInfo($"/proc/self/fd/{file.DangerousGetHandle()}").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether some process holds the named lock right now.</summary>
    public bool IsLocked(string name)
    {
        if (!File.Exists(LockPath(name)))
            return false;
        using var held = TryLock(name);
        return held is null;
    }

    /// <summary>Writes a small JSON record so that readers see the old one, the new one, or none.</summary>
    public static void WriteRecord<T>(string path, T record, JsonTypeInfo<T> type)
    {
        string temp = path + ".tmp";
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(record, type);
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            RandomAccess.Write(handle, bytes, 0);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>A record, or null when it is missing, too large or unreadable: a damaged record only
    /// ever costs the work it would have saved.</summary>
    public static T? ReadRecord<T>(string path, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > 16 * 1024)
                return null;
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), type);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next cleanup; an entry is verified before it is ever used.
        }
    }

    private const int OpenReadWrite = 2;
    private const int OpenCreate = 0x40;
    private const int OpenCloseOnExec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);
}

/// <summary>A held spool lock; disposing closes the file, which releases it unless a worker started
/// meanwhile shares it (<see cref="SpoolDirectory.TakeOverLock"/>).</summary>
public sealed class SpoolLock(SafeFileHandle handle) : IDisposable
{
    /// <summary>Where a launched worker finds the lock its launcher held for it.</summary>
    public const int HandedOverDescriptor = 3;

    /// <summary>The open lock file; a flock belongs to it, and so to every process it is passed on to.</summary>
    public SafeFileHandle Handle => handle;

    public void Dispose() => handle.Dispose();
}

/// <summary>Proof that a pushed-ahead file is in the archive: what was stored where, and which local
/// file it came from (size and mtime are a cheap precheck; the XXH128 of the bytes read for the upload
/// is the real one).</summary>
public sealed class PushReceipt
{
    [JsonPropertyName("repository")] public string Repository { get; init; } = "";
    [JsonPropertyName("key")] public string Key { get; init; } = "";
    [JsonPropertyName("raw_sha256")] public string RawSha256 { get; init; } = "";
    /// <summary>XXH128 of the local file, from the same read whose SHA-256 is <see cref="RawSha256"/>.
    /// Empty in receipts of older versions, which then never match: the file is pushed normally.</summary>
    [JsonPropertyName("local_xxh128")] public string LocalXxHash128 { get; init; } = "";
    [JsonPropertyName("raw_length")] public long RawLength { get; init; }
    [JsonPropertyName("stored_length")] public long StoredLength { get; init; }
    [JsonPropertyName("mtime_utc_ticks")] public long MtimeUtcTicks { get; init; }
    [JsonPropertyName("pushed")] public DateTimeOffset Pushed { get; init; }
}

/// <summary>What a prefetched file must be: the object it was decoded from and its verified identity.</summary>
public sealed class PrefetchRecord
{
    [JsonPropertyName("repository")] public string Repository { get; init; } = "";
    [JsonPropertyName("key")] public string Key { get; init; } = "";
    [JsonPropertyName("raw_sha256")] public string RawSha256 { get; init; } = "";
    /// <summary>XXH128 of the spool file as written, checked again when it is served.</summary>
    [JsonPropertyName("spool_xxh128")] public string SpoolXxHash128 { get; init; } = "";
    [JsonPropertyName("raw_length")] public long RawLength { get; init; }
    [JsonPropertyName("system_identifier")] public ulong SystemIdentifier { get; init; }
    [JsonPropertyName("fetched")] public DateTimeOffset Fetched { get; init; }
}

[JsonSerializable(typeof(PushReceipt))]
[JsonSerializable(typeof(PrefetchRecord))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
