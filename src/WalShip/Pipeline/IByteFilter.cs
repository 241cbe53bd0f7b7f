namespace WalShip.Pipeline;

/// <summary>
/// One stage of a streaming pipeline, in the manner of pgBackRest's IO filters: it sees every byte in
/// order and either observes it (size, hash, WAL page checks) or transforms it and passes the result on.
/// Filters are synchronous span processors; the I/O that feeds them is async.
/// </summary>
public interface IByteFilter
{
    void Write(ReadOnlySpan<byte> data);

    /// <summary>End of input: flush buffered output and run end-of-stream checks.</summary>
    void Complete();
}

/// <summary>Fans the same bytes out to several filters, in order.</summary>
public sealed class FilterGroup(params IByteFilter[] filters) : IByteFilter
{
    public void Write(ReadOnlySpan<byte> data)
    {
        foreach (var filter in filters)
            filter.Write(data);
    }

    public void Complete()
    {
        foreach (var filter in filters)
            filter.Complete();
    }
}

/// <summary>Discards bytes: for verifying a stream without keeping it.</summary>
public sealed class NullFilter : IByteFilter
{
    public static readonly NullFilter Instance = new();
    public void Write(ReadOnlySpan<byte> data) { }
    public void Complete() { }
}
