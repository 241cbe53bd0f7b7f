using System.Runtime.InteropServices;
using WalShip.Storage;

namespace WalShip.Commands;

/// <summary>
/// Where %p may point. PostgreSQL always passes a path inside the data directory's pg_wal
/// (pg_wal/%f for archive_command, pg_wal/RECOVERYXLOG for restore_command, an absolute
/// target/pg_wal/... for pg_rewind), so anything else is refused rather than read or written.
/// </summary>
public static partial class WalPaths
{
    public static (string FullPath, string DataDirectory) Resolve(string path, string? dataDirectoryOption)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new StorageException(ErrorClass.Usage, "%p is empty");
        if (path.Contains('\0'))
            throw new StorageException(ErrorClass.Usage, "%p contains a NUL byte");

        if (path.EndsWith('/') || Path.GetFileName(path) is "" or "." or "..")
            throw new StorageException(ErrorClass.Usage, $"%p '{path}' names a directory, not a file in pg_wal");

        string full = Path.GetFullPath(path);
        string? walDirectory = Path.GetDirectoryName(full);
        string? dataDirectory = dataDirectoryOption is { Length: > 0 }
            ? Path.GetFullPath(dataDirectoryOption)
            : Path.GetDirectoryName(walDirectory ?? "");

        if (dataDirectoryOption is { Length: 0 })
            throw new StorageException(ErrorClass.Usage, "--pgdata is empty");

        if (walDirectory is null || dataDirectory is null
            || Path.GetFileName(walDirectory) != "pg_wal"
            || !SameDirectory(Path.GetDirectoryName(walDirectory)!, dataDirectory))
        {
            throw new StorageException(ErrorClass.Usage,
                $"'{path}' is not a file in {(dataDirectoryOption is null ? "a data directory's pg_wal" : Path.Join(dataDirectory, "pg_wal"))}: " +
                "PostgreSQL passes pg_wal/<file> as %p (run walship from the data directory, or set --pgdata)");
        }
        return (full, dataDirectory);
    }

    /// <summary>The same directory by name, or through symlinks: the postmaster's working directory is
    /// the physical path, while --pgdata often names a symlink to it.</summary>
    private static bool SameDirectory(string a, string b)
    {
        a = a.TrimEnd('/');
        b = b.TrimEnd('/');
        if (a == b)
            return true;
        return RealPath(a) is { } realA && RealPath(b) is { } realB && realA == realB;
    }

    private static string? RealPath(string path)
    {
        IntPtr resolved = NativeRealPath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            NativeFree(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr NativeRealPath(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void NativeFree(IntPtr pointer);
}
