using WalShip.Pipeline;
using WalShip.Storage;

namespace WalShip.Commands.Backup;

/// <summary>
/// The end of the backup pipeline: cuts the compressed stream into parts of exactly the part size (the
/// last one shorter) in pooled buffers. Filters are synchronous, so full parts wait here until the
/// caller's async loop hands them to the upload, which holds at most a few in flight.
/// </summary>
public sealed class PartSink(long partSize) : IByteFilter, IDisposable
{
    private readonly Queue<PooledBuffer> _ready = new();
    private PooledBuffer _filling = new();

    public long Length { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int take = (int)Math.Min(partSize - _filling.Length, data.Length);
            _filling.Write(data[..take]);
            data = data[take..];
            Length += take;
            if (_filling.Length == partSize)
            {
                _ready.Enqueue(_filling);
                _filling = new PooledBuffer();
            }
        }
    }

    public void Complete()
    {
        if (_filling.Length > 0)
        {
            _ready.Enqueue(_filling);
            _filling = new PooledBuffer();
        }
    }

    public async Task SendReadyAsync(IObjectUpload upload, CancellationToken cancellationToken)
    {
        while (_ready.TryDequeue(out var part))
            await upload.AddPartAsync(part, cancellationToken);
    }

    public void Dispose()
    {
        while (_ready.TryDequeue(out var part))
            part.Dispose();
        _filling.Dispose();
    }
}
