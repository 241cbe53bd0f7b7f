using System.Runtime.InteropServices;
using WalShip.Pipeline;

namespace WalShip.Storage;

/// <summary>
/// A repository in a local or NFS directory. Objects appear atomically and create-only: the body is
/// written to a temporary file, fsynced, then hard-linked to its final name (link(2) fails if the name
/// exists, which no rename can promise), and the directory is fsynced so the name survives a crash.
/// </summary>
public sealed partial class FileObjectStore(string root) : IObjectStore
{
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

    public async IAsyncEnumerable<ListedEntry> ListAsync(string prefix, bool delimited,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken, string? startAfter = null)
    {
        CheckRoot();
        int slash = prefix.LastIndexOf('/');
        string directoryKey = slash < 0 ? "" : prefix[..(slash + 1)];
        string namePrefix = prefix[(slash + 1)..];
        await Task.Yield();
        foreach (var entry in ListDirectory(directoryKey, namePrefix, delimited, startAfter, cancellationToken))
            if (startAfter is null || string.CompareOrdinal(entry.Key, startAfter) > 0)
                yield return entry;
    }

    /// <summary>Walks one directory in name order; subdirectories are either folded (delimited) or walked.
    /// Temporary files of writes in progress are not objects yet and are left out, as S3 leaves out
    /// uploads in progress. Subdirectories whose every key sorts at or before <paramref name="startAfter"/>
    /// are not entered, so a skip-scan (walship list) does not walk the whole tree at every step.</summary>
    private IEnumerable<ListedEntry> ListDirectory(string directoryKey, string namePrefix, bool delimited, string? startAfter,
        CancellationToken cancellationToken)
    {
        var directory = new DirectoryInfo(PathFor(directoryKey));
        FileSystemInfo[] entries;
        try
        {
            entries = directory.Exists ? directory.GetFileSystemInfos() : [];
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StorageException(ErrorClass.Auth, $"cannot list {Describe(directoryKey)}: permission denied", e);
        }
        catch (IOException e)
        {
            throw new StorageException(ErrorClass.Local, $"cannot list {Describe(directoryKey)}: {e.Message}", e);
        }
        Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!entry.Name.StartsWith(namePrefix, StringComparison.Ordinal) || IsTemporary(entry.Name))
                continue;
            string key = directoryKey + entry.Name;
            if (entry is DirectoryInfo)
            {
                if (delimited)
                    yield return new ListedEntry(key + "/", 0, default, IsPrefix: true);
                else if (!AllKeysAtOrBefore(key + "/", startAfter))
                    foreach (var inner in ListDirectory(key + "/", "", delimited: false, startAfter, cancellationToken))
                        yield return inner;
            }
            else if (entry is FileInfo file)
            {
                yield return new ListedEntry(key, file.Length, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero));
            }
        }
    }

    /// <summary>True when every key starting with <paramref name="directoryKey"/> sorts before
    /// <paramref name="startAfter"/>: the two differ inside the directory key, where it is smaller.</summary>
    private static bool AllKeysAtOrBefore(string directoryKey, string? startAfter) =>
        startAfter is not null && string.CompareOrdinal(directoryKey, startAfter) < 0 && !startAfter.StartsWith(directoryKey, StringComparison.Ordinal);

    private static bool IsTemporary(string name) => name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

    public Task<IReadOnlyList<DeleteFailure>> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (keys.Count > IObjectStore.MaxDeleteBatch)
            throw new ArgumentException($"at most {IObjectStore.MaxDeleteBatch} keys per delete", nameof(keys));
        CheckRoot();
        var failures = new List<DeleteFailure>();
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (string key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = PathFor(key);
            try
            {
                if (Directory.Exists(path))
                {
                    failures.Add(new DeleteFailure(key, "IsDirectory", $"{Describe(key)} is a directory"));
                    continue;
                }
                File.Delete(path);
                touched.Add(Path.GetDirectoryName(path)!);
            }
            catch (DirectoryNotFoundException)
            {
                // Already gone with its directory: deleted.
            }
            catch (UnauthorizedAccessException e)
            {
                failures.Add(new DeleteFailure(key, DeleteFailure.AccessDeniedCode, $"cannot delete {Describe(key)}: {e.Message}"));
            }
            catch (IOException e)
            {
                failures.Add(new DeleteFailure(key, "IOError", $"cannot delete {Describe(key)}: {e.Message}"));
            }
        }

        // The deletes are durable once their directories are: fsync each, and drop directories left empty
        // (a partition whose segments are all pruned) so that listings stay short.
        foreach (string directory in touched)
        {
            try
            {
                FsyncDirectory(directory);
            }
            catch (IOException e)
            {
                throw new StorageException(ErrorClass.Local, $"deleted objects in {directory}, but could not make that durable: {e.Message}", e);
            }
            try
            {
                if (directory != Root && !Directory.EnumerateFileSystemEntries(directory).Any())
                {
                    Directory.Delete(directory);
                    FsyncDirectory(Path.GetDirectoryName(directory)!);
                }
            }
            catch (IOException)
            {
                // Not empty after all (a push wrote into it meanwhile) or already gone: nothing is lost.
            }
        }
        return Task.FromResult<IReadOnlyList<DeleteFailure>>(failures);
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

    // --- Large objects of unknown size (base backups) ---

    public Task<IObjectUpload> BeginUploadAsync(string key, CancellationToken cancellationToken)
    {
        CheckRoot();
        string path = PathFor(key);
        string directory = Path.GetDirectoryName(path)!;
        string temp = Path.Join(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            CreateDirectoryDurably(directory);
            WalShip.TemporaryFiles.Register(temp);
            var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous);
            return Task.FromResult<IObjectUpload>(new StreamingUpload(this, key, temp, file));
        }
        catch (UnauthorizedAccessException e)
        {
            WalShip.TemporaryFiles.Remove(temp);
            throw new StorageException(ErrorClass.Auth, $"cannot write {Describe(key)}: permission denied", e);
        }
        catch (IOException e)
        {
            WalShip.TemporaryFiles.Remove(temp);
            throw new StorageException(ErrorClass.Local, $"cannot write {Describe(key)}: {e.Message}", e);
        }
    }

    public async Task<ObjectReader> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        var whole = await OpenReadAsync(key, cancellationToken);
        if (offset + length > whole.Length)
        {
            whole.Dispose();
            throw new StorageException(ErrorClass.Corrupt, $"{Describe(key)} is {whole.Length} bytes; cannot read bytes {offset}-{offset + length - 1}");
        }
        whole.Body.Seek(offset, SeekOrigin.Begin);
        return new ObjectReader(new RangeStream(whole.Body, length), length, whole);
    }

    /// <summary>Parts are appended to a temporary file in order; completing fsyncs it and links it into
    /// place create-only, like every other write of this store.</summary>
    private sealed class StreamingUpload(FileObjectStore store, string key, string temp, FileStream file) : IObjectUpload
    {
        private bool _finished;

        public async Task AddPartAsync(PooledBuffer part, CancellationToken cancellationToken)
        {
            using (part)
            {
                try
                {
                    await using var source = part.OpenRead();
                    await source.CopyToAsync(file, PooledBuffer.ChunkSize, cancellationToken);
                }
                catch (IOException e)
                {
                    throw new StorageException(ErrorClass.Local, $"cannot write {store.Describe(key)}: {e.Message}", e);
                }
            }
        }

        public async Task<long> CompleteAsync(CancellationToken cancellationToken)
        {
            string path = store.PathFor(key);
            long length;
            try
            {
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
                length = file.Length;
                await file.DisposeAsync();
                if (Link(temp, path) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EExist)
                        throw new StorageException(ErrorClass.Conflict, $"{store.Describe(key)} already exists");
                    throw new StorageException(ErrorClass.Local, $"cannot create {store.Describe(key)}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                FsyncDirectory(Path.GetDirectoryName(path)!);
            }
            catch (IOException e)
            {
                throw new StorageException(ErrorClass.Local, $"cannot write {store.Describe(key)}: {e.Message}", e);
            }
            _finished = true;
            WalShip.TemporaryFiles.Remove(temp);
            if (new FileInfo(path).Length != length)
                throw new StorageException(ErrorClass.Corrupt, $"{store.Describe(key)} is not {length} bytes after writing it");
            return length;
        }

        public async ValueTask DisposeAsync()
        {
            await file.DisposeAsync();
            if (!_finished)
                WalShip.TemporaryFiles.Remove(temp);
        }
    }

    /// <summary>At most <paramref name="length"/> bytes of a stream positioned at the start of a range.</summary>
    private sealed class RangeStream(Stream inner, long length) : Stream
    {
        private readonly long _length = length;
        private long _remaining = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            _remaining -= read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
            _remaining -= read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
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
