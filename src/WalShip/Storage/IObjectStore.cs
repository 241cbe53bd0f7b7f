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

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in key order.</summary>
    Task<IReadOnlyList<StoredObject>> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes the object; deleting an object that does not exist is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);
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

/// <summary>One entry of a listing.</summary>
public readonly record struct StoredObject(string Key, long Length, DateTimeOffset LastModified);

/// <summary>An open object: its body as a stream and its length as the store reports it.</summary>
public sealed class ObjectReader(Stream body, long length, IDisposable? owner = null) : IDisposable
{
    public Stream Body { get; } = body;
    public long Length { get; } = length;

    public void Dispose()
    {
        Body.Dispose();
        owner?.Dispose();
    }
}
