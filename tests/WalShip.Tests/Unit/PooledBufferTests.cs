using WalShip.Pipeline;
using Xunit;

namespace WalShip.Tests.Unit;

public class PooledBufferTests
{
    private const int Chunk = PooledBuffer.ChunkSize;

    private static byte[] Reference(int length, int seed = 11)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static PooledBuffer Filled(byte[] reference, int piece = 777_777)
    {
        var buffer = new PooledBuffer();
        for (int offset = 0; offset < reference.Length; offset += piece)
            buffer.Write(reference.AsSpan(offset, Math.Min(piece, reference.Length - offset)));
        return buffer;
    }

    private static byte[] All(PooledBuffer buffer)
    {
        var bytes = new byte[buffer.Length];
        Assert.Equal(bytes.Length, buffer.CopyTo(0, bytes));
        return bytes;
    }

    private sealed class Collector : IByteFilter
    {
        public readonly MemoryStream Bytes = new();
        public int Writes;
        public void Write(ReadOnlySpan<byte> data)
        {
            Writes++;
            Bytes.Write(data);
        }
        public void Complete() { }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(777_777)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(3 * Chunk + 500)]
    public void WritesAcrossChunkBoundaries(int piece)
    {
        var reference = Reference(3 * Chunk + 12_345);
        using var buffer = Filled(reference, piece);
        Assert.Equal(reference.Length, buffer.Length);
        Assert.Equal(reference, All(buffer));
    }

    [Fact]
    public void ExactChunkThenOneByte()
    {
        var reference = Reference(Chunk + 1);
        using var buffer = new PooledBuffer();
        buffer.Write(reference.AsSpan(0, Chunk));
        Assert.Equal(Chunk, buffer.Length);
        buffer.Write(reference.AsSpan(Chunk));
        buffer.Write(ReadOnlySpan<byte>.Empty);
        Assert.Equal(reference, All(buffer));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(Chunk - 10, 20)]
    [InlineData(Chunk - 1, 1)]
    [InlineData(Chunk, 1)]
    [InlineData(Chunk - 5, 2 * Chunk + 10)]
    [InlineData(2 * Chunk + 100, 3000)]
    public void CopyToReturnsTheRange(int offset, int count)
    {
        var reference = Reference(3 * Chunk + 12_345);
        using var buffer = Filled(reference);
        var destination = new byte[count];
        Assert.Equal(count, buffer.CopyTo(offset, destination));
        Assert.Equal(reference.AsSpan(offset, count).ToArray(), destination);
    }

    [Fact]
    public void CopyToStopsAtTheEnd()
    {
        var reference = Reference(Chunk + 100);
        using var buffer = Filled(reference);
        var destination = new byte[50];
        Assert.Equal(30, buffer.CopyTo(reference.Length - 30, destination));
        Assert.Equal(reference[^30..], destination[..30]);
        Assert.All(destination[30..], b => Assert.Equal(0, b));
        Assert.Equal(0, buffer.CopyTo(reference.Length, destination));
        Assert.Equal(0, buffer.CopyTo(reference.Length + 5, destination));
    }

    [Theory]
    [InlineData(0, 72)]
    [InlineData(Chunk - 3, 10)]
    [InlineData(Chunk - 100, Chunk + 200)]
    [InlineData(2 * Chunk, 1)]
    public void OverwriteReplacesOnlyTheRange(int offset, int count)
    {
        var reference = Reference(3 * Chunk);
        using var buffer = Filled(reference);
        var patch = Reference(count, seed: 99);
        buffer.Overwrite(offset, patch);
        patch.CopyTo(reference, offset);
        Assert.Equal(3 * Chunk, buffer.Length);
        Assert.Equal(reference, All(buffer));
    }

    [Theory]
    [InlineData(-1, 1)]
    [InlineData(0, 101)]
    [InlineData(100, 1)]
    [InlineData(95, 10)]
    public void OverwriteRefusesBytesNotYetWritten(int offset, int count)
    {
        using var buffer = Filled(Reference(100));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Overwrite(offset, new byte[count]));
    }

    [Theory]
    [InlineData(0, -1)]
    [InlineData(0, 0)]
    [InlineData(Chunk - 7, 14)]
    [InlineData(10, 2 * Chunk + 5)]
    [InlineData(Chunk, -1)]
    [InlineData(100, 10 * Chunk)]   // count beyond the end is clipped
    public void WriteToFeedsTheRange(int offset, int count)
    {
        var reference = Reference(3 * Chunk + 12_345);
        using var buffer = Filled(reference);
        var collector = new Collector();
        buffer.WriteTo(collector, offset, count);
        int expected = count < 0 ? reference.Length - offset : Math.Min(count, reference.Length - offset);
        Assert.Equal(reference.AsSpan(offset, expected).ToArray(), collector.Bytes.ToArray());
        // Chunk by chunk, never byte by byte.
        Assert.True(collector.Writes <= expected / Chunk + 2);
    }

    [Theory]
    [InlineData(0, -1)]
    [InlineData(0, 72)]
    [InlineData(72, -1)]
    [InlineData(Chunk - 1000, 2 * Chunk)]
    [InlineData(3 * Chunk, 12_345)]
    public void OpenReadReturnsExactlyTheSlice(int offset, int length)
    {
        var reference = Reference(3 * Chunk + 12_345);
        using var buffer = Filled(reference);
        using var stream = buffer.OpenRead(offset, length);
        int expected = length < 0 ? reference.Length - offset : length;
        Assert.True(stream.CanRead);
        Assert.True(stream.CanSeek);
        Assert.False(stream.CanWrite);
        Assert.Equal(expected, stream.Length);

        var read = new MemoryStream();
        stream.CopyTo(read, 100_003);
        Assert.Equal(reference.AsSpan(offset, expected).ToArray(), read.ToArray());
        Assert.Equal(0, stream.Read(new byte[10], 0, 10));
        Assert.Equal(expected, stream.Position);
    }

    [Fact]
    public async Task OpenReadSeeksAndReadsAsync()
    {
        var reference = Reference(3 * Chunk);
        using var buffer = Filled(reference);
        const int start = Chunk - 50;
        const int length = Chunk + 100;
        using var stream = buffer.OpenRead(start, length);
        var slice = reference.AsSpan(start, length).ToArray();

        Assert.Equal(30, stream.Seek(30, SeekOrigin.Begin));
        var got = new byte[40];
        Assert.Equal(40, await stream.ReadAsync(got));
        Assert.Equal(slice[30..70], got);

        Assert.Equal(80, stream.Seek(10, SeekOrigin.Current));
        Assert.Equal(40, await stream.ReadAsync(got, 0, 40));
        Assert.Equal(slice[80..120], got);

        Assert.Equal(length - 20, stream.Seek(-20, SeekOrigin.End));
        Assert.Equal(20, stream.Read(got, 0, 40));
        Assert.Equal(slice[^20..], got[..20]);

        stream.Position = 0;
        var all = new byte[length];
        await stream.ReadExactlyAsync(all);
        Assert.Equal(slice, all);

        // Rewind and read again: an HTTP client retrying the body gets the same bytes.
        stream.Position = 0;
        var again = new MemoryStream();
        await stream.CopyToAsync(again);
        Assert.Equal(slice, again.ToArray());

        stream.Position = length + 100;
        Assert.Equal(0, stream.Read(got, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Position = -1);
        Assert.Throws<NotSupportedException>(() => stream.Write(got, 0, 1));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(1));
    }

    [Fact]
    public void SlicesAreIndependent()
    {
        var reference = Reference(2 * Chunk);
        using var buffer = Filled(reference);
        using var a = buffer.OpenRead(0, 100);
        using var b = buffer.OpenRead(Chunk, 100);
        var x = new byte[100];
        var y = new byte[100];
        a.ReadExactly(x.AsSpan(0, 50));
        b.ReadExactly(y);
        a.ReadExactly(x.AsSpan(50));
        Assert.Equal(reference[..100], x);
        Assert.Equal(reference[Chunk..(Chunk + 100)], y);
    }

    [Fact]
    public void DisposeEmptiesTheBufferAndItCanBeReused()
    {
        var buffer = Filled(Reference(2 * Chunk + 5));
        buffer.Dispose();
        Assert.Equal(0, buffer.Length);
        Assert.Equal(0, buffer.CopyTo(0, new byte[10]));
        var collector = new Collector();
        buffer.WriteTo(collector);
        Assert.Equal(0, collector.Writes);
        buffer.Dispose(); // twice is harmless

        var reference = Reference(Chunk + 3, seed: 5);
        buffer.Write(reference);
        Assert.Equal(reference, All(buffer));
        buffer.Dispose();
        Assert.Equal(0, buffer.Length);
    }
}
