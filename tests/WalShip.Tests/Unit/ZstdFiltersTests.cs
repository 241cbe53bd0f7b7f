using WalShip.Pipeline;
using Xunit;

namespace WalShip.Tests.Unit;

public class ZstdFiltersTests
{
    private sealed class Sink : IByteFilter
    {
        public readonly MemoryStream Bytes = new();
        public int Completions;
        public void Write(ReadOnlySpan<byte> data) => Bytes.Write(data);
        public void Complete() => Completions++;
    }

    private static byte[] Compress(byte[] raw, int writeSize = 1 << 20, int threads = 1)
    {
        var compressed = new Sink();
        using (var filter = new ZstdCompressFilter(compressed, 3, threads))
        {
            for (int offset = 0; offset < raw.Length; offset += writeSize)
                filter.Write(raw.AsSpan(offset, Math.Min(writeSize, raw.Length - offset)));
            filter.Complete();
        }
        Assert.Equal(1, compressed.Completions);
        return compressed.Bytes.ToArray();
    }

    private static (byte[] Raw, Sink Sink) Decompress(byte[] compressed, int writeSize)
    {
        var sink = new Sink();
        using var filter = new ZstdDecompressFilter(sink);
        for (int offset = 0; offset < compressed.Length; offset += writeSize)
            filter.Write(compressed.AsSpan(offset, Math.Min(writeSize, compressed.Length - offset)));
        filter.Complete();
        return (sink.Bytes.ToArray(), sink);
    }

    private static byte[] Raw(int length)
    {
        var raw = new byte[length];
        new Random(length).NextBytes(raw.AsSpan(0, length / 3));
        return raw;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(4096)]
    [InlineData(1 << 20)]
    [InlineData(int.MaxValue)]
    public void ConcatenatedFramesDecodeWhateverTheWriteSize(int writeSize)
    {
        // Several frames, the last one short; a large write holds several frames at once.
        var raw = Raw(9 << 20);
        var compressed = Compress(raw, writeSize: 777_777);
        var (decoded, sink) = Decompress(compressed, writeSize);
        Assert.Equal(1, sink.Completions);
        Assert.True(raw.AsSpan().SequenceEqual(decoded));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void ParallelCompressionKeepsFramesInOrderAndIdentical(int threads)
    {
        // Frames differ from each other, so a frame emitted out of order changes the decoded bytes.
        var raw = new byte[(5 * ZstdCompressFilter.FrameSize) + 12_345];
        var random = new Random(threads);
        for (int frame = 0; frame * ZstdCompressFilter.FrameSize < raw.Length; frame++)
        {
            int start = frame * ZstdCompressFilter.FrameSize;
            int length = Math.Min(ZstdCompressFilter.FrameSize, raw.Length - start);
            raw.AsSpan(start, length).Fill((byte)frame);
            random.NextBytes(raw.AsSpan(start, length / (frame + 2)));
        }
        var parallel = Compress(raw, writeSize: 1_000_003, threads: threads);
        Assert.Equal(Compress(raw), parallel);
        var (decoded, _) = Decompress(parallel, 1 << 20);
        Assert.True(raw.AsSpan().SequenceEqual(decoded));
    }

    [Fact]
    public void DisposeWithFramesInFlightDoesNotThrow()
    {
        var sink = new Sink();
        var filter = new ZstdCompressFilter(sink, 3, threads: 4);
        filter.Write(new byte[3 * ZstdCompressFilter.FrameSize + 1]);
        filter.Dispose(); // an error elsewhere in the pipeline: Complete is never called
        Assert.Equal(0, sink.Completions);
    }

    [Fact]
    public void EachFrameHoldsAtMostFrameSizeBytes()
    {
        var raw = new byte[ZstdCompressFilter.FrameSize * 2 + 1];
        var compressed = Compress(raw);
        // zstd frame magic 0xFD2FB528, little-endian, starts every frame.
        int frames = 0;
        for (int i = 0; i + 4 <= compressed.Length; i++)
            if (compressed[i] == 0x28 && compressed[i + 1] == 0xB5 && compressed[i + 2] == 0x2F && compressed[i + 3] == 0xFD)
                frames++;
        Assert.Equal(3, frames);
    }

    [Fact]
    public void EmptyInputCompressesToNothing()
    {
        Assert.Empty(Compress([]));
        var (decoded, sink) = Decompress([], 1);
        Assert.Empty(decoded);
        Assert.Equal(1, sink.Completions);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(-1)]
    public void TruncatedFrameFailsAtComplete(int keep)
    {
        var compressed = Compress(Raw(200_000));
        var truncated = compressed[..(keep < 0 ? compressed.Length + keep : keep)];
        var sink = new Sink();
        using var filter = new ZstdDecompressFilter(sink);
        filter.Write(truncated);
        Assert.Throws<InvalidDataException>(filter.Complete);
        Assert.Equal(0, sink.Completions);
    }

    [Fact]
    public void GarbageIsInvalidData()
    {
        var sink = new Sink();
        using var filter = new ZstdDecompressFilter(sink);
        Assert.Throws<InvalidDataException>(() => filter.Write("this is not zstd at all"u8));
    }
}
