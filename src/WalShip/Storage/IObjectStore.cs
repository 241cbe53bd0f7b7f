using WalShip.Pipeline;

namespace WalShip.Storage;

/// <summary>What a repository backend must do. Every write is create-only: nothing in walship overwrites.</summary>
public interface IObjectStore : IDisposable
{
    /// <summary>A human-readable location for messages, e.g. s3://bucket/key or file:///path.</summary>
    string Describe(string key);

    /// <summary>The object's size, or null when the store proves it does not exist.</summary>
    Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken);

    /// <summary>Opens the object for reading; throws <see cref="StorageException"/> with
    /// <see cref="ErrorClass.Absent"/> only on an authoritative "no such key".</summary>
    Task<ObjectReader> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Stores the object if no object of that key exists, and reads it back before returning
    /// (length, and metadata where the store keeps it); throws <see cref="StorageException"/> with
    /// <see cref="ErrorClass.Conflict"/> when an object of that key exists.</summary>
    Task PutIfAbsentAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken);

    /// <summary>Stores the object whether or not one exists, atomically, and reads it back. Only for
    /// replacing a torn upload of the same content, which the caller has proved from its header.</summary>
    Task ReplaceAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken);

    // --- Large objects of unknown size (base backups) ---

    /// <summary>Starts a create-only upload whose size is not known in advance. Parts go up as they are
    /// handed over, a few at a time, so memory stays bounded; nothing appears under <paramref name="key"/>
    /// until <see cref="IObjectUpload.CompleteAsync"/> succeeds, and disposing an upload that was not
    /// completed aborts it.</summary>
    Task<IObjectUpload> BeginUploadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Opens [offset, offset + length) of the object, for parallel ranged reads.</summary>
    Task<ObjectReader> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken);

    // --- Listing and batch delete, for the admin commands (list, prune, verify) ---

    /// <summary>The most keys one <see cref="DeleteAsync"/> call takes (S3 DeleteObjects' limit).</summary>
    public const int MaxDeleteBatch = 1000;

    /// <summary>Objects whose key starts with <paramref name="prefix"/>, in key order, streamed a page at a
    /// time. With <paramref name="delimited"/>, keys that go on past a '/' after the prefix are folded into
    /// one entry per distinct "prefix…/" (S3's CommonPrefixes), marked <see cref="ListedEntry.IsPrefix"/>.
    /// With <paramref name="startAfter"/>, only keys ordinally after it (S3's StartAfter).</summary>
    IAsyncEnumerable<ListedEntry> ListAsync(string prefix, bool delimited, CancellationToken cancellationToken, string? startAfter = null);

    /// <summary>Deletes up to <see cref="MaxDeleteBatch"/> objects; a key that does not exist counts as
    /// deleted, so a delete interrupted and run again succeeds. Returns the keys it could not delete,
    /// each with the store's reason; throws <see cref="StorageException"/> when the whole call failed.</summary>
    Task<IReadOnlyList<DeleteFailure>> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);
}

/// <summary>An upload in progress, fed one part at a time (see <see cref="IObjectStore.BeginUploadAsync"/>).</summary>
public interface IObjectUpload : IAsyncDisposable
{
    /// <summary>Takes ownership of <paramref name="part"/> (every part but the last at least 5 MiB) and
    /// returns once it is accepted, which waits while the store's limit of parts in flight is reached.
    /// Throws the failure of any earlier part.</summary>
    Task AddPartAsync(PooledBuffer part, CancellationToken cancellationToken);

    /// <summary>Waits for every part, then makes the object appear, create-only; returns its length.</summary>
    Task<long> CompleteAsync(CancellationToken cancellationToken);
}

/// <summary>One listed object (size in bytes as stored, last-modified time), or with
/// <see cref="IsPrefix"/> a folded common prefix of a delimited listing.</summary>
public readonly record struct ListedEntry(string Key, long Size, DateTimeOffset LastModified, bool IsPrefix = false);

/// <summary>A key a batch delete could not remove, with the store's error code and message.</summary>
public sealed record DeleteFailure(string Key, string Code, string Message)
{
    /// <summary>S3's per-key code for a key this identity may not delete (FileObjectStore uses it too).</summary>
    public const string AccessDeniedCode = "AccessDenied";

    public bool IsAccessDenied => Code == AccessDeniedCode;
}

/// <summary>An open object: its body as a stream and its length as the store reports it.</summary>
public sealed class ObjectReader(Stream body, long length, IDisposable? owner = null, IReadOnlyDictionary<string, string>? metadata = null) : IDisposable
{
    public Stream Body { get; } = body;
    public long Length { get; } = length;

    /// <summary>User metadata stored with the object (walship-raw-sha256, ...), where the store keeps any.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; } = metadata;

    public void Dispose()
    {
        Body.Dispose();
        owner?.Dispose();
    }
}
