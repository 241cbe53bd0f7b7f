using System.Buffers;
using ZstdSharp;

namespace WalShip.Pipeline;

/// <summary>
/// Compresses in independent zstd frames of <see cref="FrameSize"/> raw bytes each and passes the
/// compressed bytes on. A zstd decoder reads concatenated frames as one stream. Independent frames cost
/// almost no ratio on WAL (zstd's window at the levels that pay is 2 MiB or less) and allow frames to be
/// compressed in parallel.
/// </summary>
public sealed class ZstdCompressFilter : IByteFilter, IDisposable
{
    public const int FrameSize = 4 << 20;
    private readonly Compressor _compressor;
    private readonly IByteFilter _next;
    private readonly byte[] _input = ArrayPool<byte>.Shared.Rent(FrameSize);
    private readonly byte[] _output;
    private int _buffered;

    public ZstdCompressFilter(IByteFilter next, int level)
    {
        _next = next;
        _compressor = new Compressor(level);
        _output = ArrayPool<byte>.Shared.Rent(Compressor.GetCompressBound(FrameSize));
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int take = Math.Min(FrameSize - _buffered, data.Length);
            data[..take].CopyTo(_input.AsSpan(_buffered));
            _buffered += take;
            data = data[take..];
            if (_buffered == FrameSize)
                EmitFrame();
        }
    }

    public void Complete()
    {
        if (_buffered > 0)
            EmitFrame();
        _next.Complete();
    }

    private void EmitFrame()
    {
        int written = _compressor.Wrap(_input.AsSpan(0, _buffered), _output);
        _buffered = 0;
        _next.Write(_output.AsSpan(0, written));
    }

    public void Dispose()
    {
        _compressor.Dispose();
        ArrayPool<byte>.Shared.Return(_input);
        ArrayPool<byte>.Shared.Return(_output);
    }
}

/// <summary>Decompresses a zstd stream and passes the raw bytes on. Corrupt input surfaces as InvalidDataException.</summary>
public sealed class ZstdDecompressFilter : IByteFilter, IDisposable
{
    private const int OutputChunk = 128 * 1024; // ZSTD_DStreamOutSize
    private readonly Decompressor _decompressor = new();
    private readonly IByteFilter _next;
    private readonly byte[] _output = ArrayPool<byte>.Shared.Rent(OutputChunk);
    private bool _frameOpen;

    public ZstdDecompressFilter(IByteFilter next) => _next = next;

    public void Write(ReadOnlySpan<byte> data)
    {
        // UnwrapStream stops when the output is full (DestinationTooSmall, more may be pending even with
        // no input left) or when the input is used up (NeedMoreData mid-frame, Done at a frame's end).
        OperationStatus status;
        do
        {
            int consumed, written;
            try
            {
                status = _decompressor.UnwrapStream(data, _output, out consumed, out written);
            }
            catch (ZstdException e)
            {
                throw new InvalidDataException($"compressed data is corrupt: {e.Message}", e);
            }
            if (status == OperationStatus.InvalidData)
                throw new InvalidDataException("compressed data is corrupt (zstd)");
            data = data[consumed..];
            if (written > 0)
                _next.Write(_output.AsSpan(0, written));
        } while (status == OperationStatus.DestinationTooSmall);
        _frameOpen = status != OperationStatus.Done;
    }

    public void Complete()
    {
        if (_frameOpen)
            throw new InvalidDataException("compressed data is truncated: the zstd frame does not end");
        _next.Complete();
    }

    public void Dispose()
    {
        _decompressor.Dispose();
        ArrayPool<byte>.Shared.Return(_output);
    }
}
