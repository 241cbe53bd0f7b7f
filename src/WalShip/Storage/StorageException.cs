namespace WalShip.Storage;

/// <summary>
/// Why an operation failed, in the terms that decide what walship tells PostgreSQL. Only
/// <see cref="Absent"/> may ever become fetch's "not in archive" exit code.
/// </summary>
public enum ErrorClass
{
    /// <summary>The store proved the object does not exist (S3 NoSuchKey, ENOENT).</summary>
    Absent,
    /// <summary>An object already exists where a create-only write was attempted.</summary>
    Conflict,
    /// <summary>The store asked us to slow down (503 SlowDown, 429).</summary>
    Throttled,
    /// <summary>Network, 5xx, timeouts: may work if tried again.</summary>
    Transient,
    /// <summary>Credentials missing, expired or denied.</summary>
    Auth,
    /// <summary>Stored or local data failed verification.</summary>
    Corrupt,
    /// <summary>Configuration is wrong: no such bucket, wrong region, bad URL.</summary>
    Config,
    /// <summary>A local file system problem: disk full, permissions.</summary>
    Local,
    /// <summary>The arguments are wrong.</summary>
    Usage,
    /// <summary>Interrupted by a signal, or out of time.</summary>
    Interrupted,
}

public sealed class StorageException(ErrorClass errorClass, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public ErrorClass Class { get; } = errorClass;
}
