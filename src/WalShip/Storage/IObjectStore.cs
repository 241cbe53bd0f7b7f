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
}

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
