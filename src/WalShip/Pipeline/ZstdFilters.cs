using System.Buffers;
using ZstdSharp;

namespace WalShip.Pipeline;

/// <summary>
/// Compresses in independent zstd frames of <see cref="FrameSize"/> raw bytes each and passes the
/// compressed bytes on, in order. A zstd decoder reads concatenated frames as one stream. Independent
/// frames let up to <c>threads</c> frames compress at once while the caller reads and hashes the next
/// ones. Every frame in flight holds its raw bytes, so the frame size sets push's memory: 1 MiB frames
/// keep a push with two threads near 3 MiB of frames (4 MiB frames cost 12 MiB of peak RSS), and lose
/// under 1.5% of ratio on pgbench WAL even at level 3, whose 2 MiB window they cut (bench/README.md).
/// </summary>
public sealed class ZstdCompressFilter : IByteFilter, IDisposable
{
    public const int FrameSize = 1 << 20;
    private static readonly int OutputSize = Compressor.GetCompressBound(FrameSize);

    private readonly IByteFilter _next;
    private readonly int _level;
    private readonly int _threads;
    private readonly Queue<Task<Frame>> _inFlight = new();
    private readonly Stack<Compressor> _idleCompressors = new();
    private readonly Lock _compressorsGate = new();
    private Frame? _filling;

    public ZstdCompressFilter(IByteFilter next, int level, int threads = 1)
    {
        _next = next;
        _level = level;
        _threads = Math.Max(1, threads);
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            _filling ??= Frame.Rent();
            int take = Math.Min(FrameSize - _filling.InputLength, data.Length);
            data[..take].CopyTo(_filling.Input.AsSpan(_filling.InputLength));
            _filling.InputLength += take;
            data = data[take..];
            if (_filling.InputLength == FrameSize)
                Dispatch();
        }
    }

    public void Complete()
    {
        if (_filling is { InputLength: > 0 })
            Dispatch();
        while (_inFlight.Count > 0)
            EmitOldest();
        _next.Complete();
    }

    private void Dispatch()
    {
        var frame = _filling!;
        _filling = null;
        if (_threads == 1)
        {
            Compress(frame);
            Emit(frame);
            return;
        }
        while (_inFlight.Count >= _threads)
            EmitOldest();
        _inFlight.Enqueue(Task.Run(() => Compress(frame)));
    }

    private Frame Compress(Frame frame)
    {
        Compressor compressor;
        lock (_compressorsGate)
            compressor = _idleCompressors.Count > 0 ? _idleCompressors.Pop() : new Compressor(_level);
        try
        {
            frame.OutputLength = compressor.Wrap(frame.Input.AsSpan(0, frame.InputLength), frame.Output);
        }
        finally
        {
            lock (_compressorsGate)
                _idleCompressors.Push(compressor);
        }
        return frame;
    }

    /// <summary>Waits for the oldest frame: the caller is a synchronous filter chain, and frames must
    /// leave in the order they came.</summary>
    private void EmitOldest() => Emit(_inFlight.Dequeue().GetAwaiter().GetResult());

    private void Emit(Frame frame)
    {
        try
        {
            _next.Write(frame.Output.AsSpan(0, frame.OutputLength));
        }
        finally
        {
            frame.Return();
        }
    }

    public void Dispose()
    {
        foreach (var pending in _inFlight)
        {
            try
            {
                pending.GetAwaiter().GetResult().Return();
            }
            catch (Exception)
            {
                // Already failing; the frame's buffers go back to the GC instead of the pool.
            }
        }
        _inFlight.Clear();
        _filling?.Return();
        _filling = null;
        lock (_compressorsGate)
        {
            while (_idleCompressors.Count > 0)
                _idleCompressors.Pop().Dispose();
        }
    }

    private sealed class Frame
    {
        public byte[] Input = [];
        public byte[] Output = [];
        public int InputLength;
        public int OutputLength;

        public static Frame Rent() => new()
        {
            Input = ArrayPool<byte>.Shared.Rent(FrameSize),
            Output = ArrayPool<byte>.Shared.Rent(OutputSize),
        };

        public void Return()
        {
            ArrayPool<byte>.Shared.Return(Input);
            ArrayPool<byte>.Shared.Return(Output);
        }
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
