using System.Runtime.InteropServices;
using WalShip.Pipeline;

namespace WalShip.Storage;

/// <summary>
/// A repository in a local or NFS directory. Objects appear atomically and create-only: the body is
/// written to a temporary file, fsynced, then hard-linked to its final name (link(2) fails if the name
/// exists, which no rename can promise), and the directory is fsynced so the name survives a crash.
/// </summary>
public sealed partial class FileObjectStore(string root) : IObjectStore, IAccessProbe
{
    public Task<int> ProbeListAsync(string prefix, CancellationToken cancellationToken)
    {
        CheckRoot();
        string directory = PathFor(prefix);
        return Task.FromResult(Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any() ? 1 : 0);
    }

    public Task ProbeDeleteAsync(string key, CancellationToken cancellationToken)
    {
        File.Delete(PathFor(key));
        return Task.CompletedTask;
    }

    public string Root { get; } = Path.GetFullPath(root);

    public string Describe(string key) => "file://" + PathFor(key);

    private string PathFor(string key) => Path.Join(Root, key);

    public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken)
    {
        CheckRoot();
        var info = new FileInfo(PathFor(key));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<ObjectReader> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        CheckRoot();
        string path = PathFor(key);
        try
        {
            var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read,
                Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
                BufferSize = 0,
            });
            return Task.FromResult(new ObjectReader(stream, stream.Length));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new StorageException(ErrorClass.Absent, $"{Describe(key)} does not exist", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StorageException(ErrorClass.Auth, $"cannot read {Describe(key)}: permission denied", e);
        }
        catch (IOException e)
        {
            throw new StorageException(ErrorClass.Local, $"cannot read {Describe(key)}: {e.Message}", e);
        }
    }

    public Task PutIfAbsentAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
        PutAsync(key, body, createOnly: true, cancellationToken);

    public Task ReplaceAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
        PutAsync(key, body, createOnly: false, cancellationToken);

    private async Task PutAsync(string key, PooledBuffer body, bool createOnly, CancellationToken cancellationToken)
    {
        CheckRoot();
        string path = PathFor(key);
        string directory = Path.GetDirectoryName(path)!;
        string temp = Path.Join(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            CreateDirectoryDurably(directory);
            WalShip.TemporaryFiles.Register(temp);
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                await using (var source = body.OpenRead())
                    await source.CopyToAsync(file, PooledBuffer.ChunkSize, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            if (!createOnly)
                File.Move(temp, path, overwrite: true); // rename(2): atomic replacement
            else if (Link(temp, path) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EExist)
                    throw new StorageException(ErrorClass.Conflict, $"{Describe(key)} already exists");
                throw new StorageException(ErrorClass.Local, $"cannot create {Describe(key)}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
            FsyncDirectory(directory);
            if (new FileInfo(path).Length != body.Length)
                throw new StorageException(ErrorClass.Corrupt, $"{Describe(key)} is not {body.Length} bytes after writing it");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StorageException(ErrorClass.Auth, $"cannot write {Describe(key)}: permission denied", e);
        }
        catch (IOException e)
        {
            throw new StorageException(ErrorClass.Local, $"cannot write {Describe(key)}: {e.Message}", e);
        }
        finally
        {
            WalShip.TemporaryFiles.Remove(temp);
        }
    }

    private void CheckRoot()
    {
        if (!Directory.Exists(Root))
            throw new StorageException(ErrorClass.Config,
                $"repository directory {Root} does not exist (create it, owned by the postgres user)");
    }

    /// <summary>Creates missing directories and fsyncs the parent of each one it created, so that a new
    /// timeline's directory survives a crash together with the first file in it.</summary>
    private static void CreateDirectoryDurably(string directory)
    {
        var created = new List<string>();
        for (string? d = directory; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            created.Add(d);
        if (created.Count == 0)
            return;
        Directory.CreateDirectory(directory);
        foreach (string d in created)
            FsyncDirectory(Path.GetDirectoryName(d)!);
    }

    private static void FsyncDirectory(string directory)
    {
        int fd = Open(directory, ORdOnly);
        if (fd < 0)
            throw new IOException($"cannot open {directory} to fsync it: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of {directory} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            Close(fd);
        }
    }

    public void Dispose() { }

    private const int EExist = 17;
    private const int ORdOnly = 0;

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
