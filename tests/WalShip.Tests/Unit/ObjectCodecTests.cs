using System.Security.Cryptography;
using System.Text;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;
using Xunit;
using ZstdSharp;

namespace WalShip.Tests.Unit;

public class ObjectCodecTests
{
    private const string Seg = "000000010000000200000ABC";
    private const ulong ClusterFromPgControl = 6_000_000_000_000_000_042UL;

    /// <summary>Collects what DecodeAsync hands the caller, and whether it completed the sink.</summary>
    private sealed class CollectingSink : IByteFilter
    {
        public readonly MemoryStream Bytes = new();
        public bool Completed;
        public void Write(ReadOnlySpan<byte> data) => Bytes.Write(data);
        public void Complete() => Completed = true;
    }

    private static async Task<byte[]> EncodeAsync(byte[] raw, string fileName, ulong nonSegmentId = ClusterFromPgControl)
    {
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(fileName), 3, nonSegmentId, CancellationToken.None);
        var bytes = new byte[encoded.Body.Length];
        Assert.Equal(bytes.Length, encoded.Body.CopyTo(0, bytes));
        return bytes;
    }

    private static async Task<(DecodedObject Decoded, CollectingSink Sink)> DecodeAsync(byte[] stored, string fileName, long? storedLength = null, Stream? stream = null)
    {
        var sink = new CollectingSink();
        var decoded = await ObjectCodec.DecodeAsync(stream ?? new MemoryStream(stored), storedLength ?? stored.Length,
            WalFileName.Parse(fileName), sink, CancellationToken.None);
        return (decoded, sink);
    }

    /// <summary>Text-like bytes: compressible, but not trivially.</summary>
    private static byte[] TextLike(int length, int seed = 3)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        for (int i = 0; i < length; i++)
            if ((bytes[i] & 3) != 0)
                bytes[i] = (byte)('a' + i % 23);
        return bytes;
    }

    private static byte[] History() => Encoding.ASCII.GetBytes(
        "1\t0/3000000\tno recovery target specified\n\n2\t0/5000158\tbefore 2024-01-01 00:00:00+00\n");

    private static byte[] Backup() => Encoding.ASCII.GetBytes(
        "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\n" +
        "CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2024-01-01 00:00:00 UTC\n" +
        "LABEL: pg_basebackup base backup\nSTART TIMELINE: 1\nSTOP TIME: 2024-01-01 00:00:01 UTC\nSTOP TIMELINE: 1\n");

    [Fact]
    public async Task SegmentRoundTrips()
    {
        var raw = SyntheticWal.Segment(Seg, validPages: 90);
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(Seg), 3, ClusterFromPgControl, CancellationToken.None);
        Assert.Equal(WalFileKind.Segment, encoded.Header.Kind);
        Assert.Equal(Codec.Zstd, encoded.Header.Codec);
        Assert.Equal(raw.Length, encoded.Header.RawLength);
        // A segment's identity comes from its pages, not from what the caller passed.
        Assert.Equal(SyntheticWal.DefaultSystemIdentifier, encoded.Header.SystemIdentifier);
        Assert.Equal(SHA256.HashData(raw), encoded.Header.RawSha256.ToArray());
        Assert.NotNull(encoded.Wal);
        Assert.Equal(90, encoded.Wal.ValidPages);
        Assert.True(encoded.Body.Length < raw.Length);

        var stored = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, stored);
        Assert.Equal(encoded.Header, ObjectHeader.Parse(stored) with { RawSha256 = encoded.Header.RawSha256 });

        var (decoded, sink) = await DecodeAsync(stored, Seg);
        Assert.Equal(raw, sink.Bytes.ToArray());
        Assert.True(sink.Completed);
        Assert.Equal(stored.Length, decoded.StoredBytes);
        Assert.Equal(SyntheticWal.DefaultSystemIdentifier, decoded.PageSystemIdentifier);
        Assert.Equal(raw.Length, decoded.Header.RawLength);
    }

    [Fact]
    public async Task SixteenMiBSegmentRoundTrips()
    {
        // Mostly zero tail: several 4 MiB frames compress to a few bytes each and arrive in one read.
        const string name = "0000000100000003000000A7";
        var raw = SyntheticWal.Segment(name, SyntheticWal.SixteenMiB, validPages: 100);
        var stored = await EncodeAsync(raw, name);
        var (decoded, sink) = await DecodeAsync(stored, name);
        Assert.Equal(raw, sink.Bytes.ToArray());
        Assert.Equal(SyntheticWal.DefaultSystemIdentifier, decoded.PageSystemIdentifier);
    }

    [Fact]
    public async Task PartialRoundTrips()
    {
        var raw = SyntheticWal.Segment(Seg, validPages: 20);
        new Random(5).NextBytes(raw.AsSpan(20 * SyntheticWal.PageSize));
        var stored = await EncodeAsync(raw, Seg + ".partial");
        var (_, sink) = await DecodeAsync(stored, Seg + ".partial");
        Assert.Equal(raw, sink.Bytes.ToArray());
    }

    [Fact]
    public async Task HistoryRoundTrips()
    {
        var raw = History();
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse("00000002.history"), 3, ClusterFromPgControl, CancellationToken.None);
        Assert.Null(encoded.Wal);
        Assert.Equal(WalFileKind.History, encoded.Header.Kind);
        Assert.Equal(ClusterFromPgControl, encoded.Header.SystemIdentifier);

        var stored = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, stored);
        var (decoded, sink) = await DecodeAsync(stored, "00000002.history");
        Assert.Equal(raw, sink.Bytes.ToArray());
        Assert.Equal(0UL, decoded.PageSystemIdentifier);
        Assert.Equal(ClusterFromPgControl, decoded.Header.SystemIdentifier);
    }

    [Fact]
    public async Task BackupRoundTrips()
    {
        const string name = "000000010000000000000002.00000028.backup";
        var raw = Backup();
        var stored = await EncodeAsync(raw, name, nonSegmentId: 0);
        var (decoded, sink) = await DecodeAsync(stored, name);
        Assert.Equal(raw, sink.Bytes.ToArray());
        Assert.Equal(WalFileKind.Backup, decoded.Header.Kind);
        Assert.Equal(0UL, decoded.Header.SystemIdentifier);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(ZstdCompressFilter.FrameSize - 1, true)]
    [InlineData(ZstdCompressFilter.FrameSize, false)]
    [InlineData(ZstdCompressFilter.FrameSize, true)]
    [InlineData(ZstdCompressFilter.FrameSize + 1, false)]
    [InlineData(ZstdCompressFilter.FrameSize + 1, true)]
    [InlineData(9 << 20, false)]
    [InlineData(9 << 20, true)]
    public async Task SizesRoundTrip(int length, bool compressible)
    {
        const string name = "0000000A.history";
        byte[] raw;
        if (compressible)
            raw = TextLike(length);
        else
        {
            raw = new byte[length];
            new Random(length).NextBytes(raw);
        }
        var stored = await EncodeAsync(raw, name);
        var (decoded, sink) = await DecodeAsync(stored, name);
        Assert.Equal(length, decoded.Header.RawLength);
        Assert.True(raw.AsSpan().SequenceEqual(sink.Bytes.ToArray()), "decoded bytes differ");
    }

    [Fact]
    public async Task ParallelCompressionProducesTheSameObject()
    {
        const string name = "0000000100000003000000A7";
        var raw = SyntheticWal.Segment(name, SyntheticWal.SixteenMiB, validPages: 1500);
        using var single = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(name), 3, 0, CancellationToken.None);
        using var parallel = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(name), 3, 0, CancellationToken.None, compressionThreads: 4);
        var a = new byte[single.Body.Length];
        var b = new byte[parallel.Body.Length];
        single.Body.CopyTo(0, a);
        parallel.Body.CopyTo(0, b);
        Assert.Equal(a, b);
        var (_, sink) = await DecodeAsync(b, name);
        Assert.True(raw.AsSpan().SequenceEqual(sink.Bytes.ToArray()));
    }

    [Fact]
    public async Task ManyTinyFramesInOneReadRoundTrip()
    {
        // 12 MiB of zeros: three 4 MiB frames of a few dozen bytes each, all in the first 1 MiB read.
        const string name = "0000000A.history";
        var raw = new byte[12 << 20];
        raw[^1] = 1;
        var stored = await EncodeAsync(raw, name);
        Assert.True(stored.Length < 4096);
        var (_, sink) = await DecodeAsync(stored, name);
        Assert.Equal(raw.Length, sink.Bytes.Length);
        Assert.True(raw.AsSpan().SequenceEqual(sink.Bytes.ToArray()));
    }

    [Fact]
    public async Task DecodesFromAStreamThatReturnsOneByteAtATime()
    {
        var raw = TextLike(100_000);
        var stored = await EncodeAsync(raw, "00000003.history");
        var (_, sink) = await DecodeAsync(stored, "00000003.history", stream: new TrickleStream(stored));
        Assert.Equal(raw, sink.Bytes.ToArray());
    }

    [Fact]
    public async Task EncodeRefusesInvalidSegment()
    {
        var raw = SyntheticWal.Segment(Seg);
        SyntheticWal.SetPageAddress(raw, 3, 0);
        await Assert.ThrowsAsync<WalFormatException>(() =>
            ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(Seg), 3, 0, CancellationToken.None));
    }

    [Fact]
    public async Task TrailingBytesAfterTheLastFrameAreRejected()
    {
        var raw = History();
        var stored = (await EncodeAsync(raw, "00000002.history")).Concat("garbage"u8.ToArray()).ToArray();
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "00000002.history"));
    }

    [Fact]
    public async Task ExtraFrameAfterTheLastIsRejected()
    {
        // A whole extra zstd frame appended: decodes to more bytes than the header declares.
        var raw = History();
        using var compressor = new Compressor(3);
        var stored = (await EncodeAsync(raw, "00000002.history")).Concat(compressor.Wrap(raw).ToArray()).ToArray();
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "00000002.history"));
    }

    private static readonly Lazy<Task<byte[]>> s_sixMiBHistory = new(() => EncodeAsync(TextLike(6 << 20), "00000002.history"));

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(71)]
    [InlineData(72)]
    [InlineData(73)]
    [InlineData(-1)]
    public async Task ShortDeliveryOfAnAnnouncedObjectIsEndOfStream(int keep)
    {
        var stored = await s_sixMiBHistory.Value;
        int length = keep < 0 ? stored.Length - 1 : keep;
        var truncated = stored[..length];
        await Assert.ThrowsAsync<EndOfStreamException>(() => DecodeAsync(truncated, "00000002.history", storedLength: stored.Length));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(71)]
    [InlineData(72)]
    [InlineData(73)]
    [InlineData(-1)]
    [InlineData(-100)]
    public async Task TruncatedObjectIsCorrupt(int keep)
    {
        var stored = await s_sixMiBHistory.Value;
        int length = keep < 0 ? stored.Length + keep : keep;
        var truncated = stored[..length];
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(truncated, "00000002.history"));
    }

    [Fact]
    public async Task ObjectTruncatedAtAFrameBoundaryIsCorrupt()
    {
        // Cut after the first of three frames: every remaining byte is a whole frame, so only the
        // declared length can tell.
        const string name = "00000002.history";
        var raw = TextLike(9 << 20);
        var stored = await EncodeAsync(raw, name);
        using var compressor = new Compressor(3);
        int firstFrame = compressor.Wrap(raw.AsSpan(0, ZstdCompressFilter.FrameSize)).Length;
        var truncated = stored[..(ObjectHeader.Size + firstFrame)];
        var e = await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(truncated, name));
        Assert.Contains("header says", e.Message);
    }

    [Fact]
    public async Task SegmentObjectUnderHistoryNameIsRejected()
    {
        var stored = await EncodeAsync(SyntheticWal.Segment(Seg, validPages: 3), Seg);
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "00000001.history"));
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, Seg + ".partial"));
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "000000010000000200000ABC.00000028.backup"));
    }

    [Fact]
    public async Task HistoryObjectUnderSegmentNameIsRejected()
    {
        var stored = await EncodeAsync(History(), "00000002.history");
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, Seg));
    }

    [Fact]
    public async Task SegmentObjectUnderAnotherSegmentNameIsRejected()
    {
        var stored = await EncodeAsync(SyntheticWal.Segment(Seg, validPages: 3), Seg);
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "000000010000000200000ABD"));
    }

    [Fact]
    public async Task HeaderSystemIdentifierMustMatchThePages()
    {
        var raw = SyntheticWal.Segment(Seg, validPages: 3);
        var stored = await EncodeAsync(raw, Seg);
        var header = ObjectHeader.Parse(stored) with { SystemIdentifier = SyntheticWal.DefaultSystemIdentifier + 1 };
        header.WriteTo(stored);
        var e = await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, Seg));
        Assert.Contains("system identifier", e.Message);
    }

    [Fact]
    public async Task WrongHashInHeaderIsRejected()
    {
        var raw = History();
        var stored = await EncodeAsync(raw, "00000002.history");
        var wrong = SHA256.HashData(raw);
        wrong[0] ^= 1;
        (ObjectHeader.Parse(stored) with { RawSha256 = wrong }).WriteTo(stored);
        var e = await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "00000002.history"));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public async Task HeaderDeclaringMoreBytesThanTheBodyHoldsIsRejected()
    {
        var raw = History();
        var stored = await EncodeAsync(raw, "00000002.history");
        (ObjectHeader.Parse(stored) with { RawLength = raw.Length + 1 }).WriteTo(stored);
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, "00000002.history"));
    }

    private static byte[] Object(ObjectHeader header, ReadOnlySpan<byte> body)
    {
        var bytes = new byte[ObjectHeader.Size + body.Length];
        header.WriteTo(bytes);
        body.CopyTo(bytes.AsSpan(ObjectHeader.Size));
        return bytes;
    }

    [Theory]
    [InlineData(1000, 64 << 20)]
    [InlineData(0, 1)]
    [InlineData(1 << 20, (1 << 20) + 1)]
    public async Task DecompressionBombStopsAtTheDeclaredLength(int declared, int actual)
    {
        var payload = new byte[actual];
        using var compressor = new Compressor(3);
        var body = compressor.Wrap(payload).ToArray();
        var stored = Object(new ObjectHeader(Codec.Zstd, WalFileKind.History, declared, 0, SHA256.HashData(payload.AsSpan(0, declared))), body);

        var sink = new CollectingSink();
        await Assert.ThrowsAsync<CorruptObjectException>(() =>
            ObjectCodec.DecodeAsync(new MemoryStream(stored), stored.Length, WalFileName.Parse("00000002.history"), sink, CancellationToken.None));
        Assert.True(sink.Bytes.Length <= declared, $"{sink.Bytes.Length} bytes reached the sink, {declared} declared");
        Assert.False(sink.Completed);
    }

    [Fact]
    public async Task SegmentDecompressionBombStopsAtTheDeclaredLength()
    {
        var raw = SyntheticWal.Segment(Seg, validPages: 10);
        var payload = raw.Concat(new byte[8 << 20]).ToArray();
        using var compressor = new Compressor(3);
        var stored = Object(new ObjectHeader(Codec.Zstd, WalFileKind.Segment, raw.Length, SyntheticWal.DefaultSystemIdentifier, SHA256.HashData(raw)),
            compressor.Wrap(payload));
        var sink = new CollectingSink();
        await Assert.ThrowsAsync<CorruptObjectException>(() =>
            ObjectCodec.DecodeAsync(new MemoryStream(stored), stored.Length, WalFileName.Parse(Seg), sink, CancellationToken.None));
        Assert.True(sink.Bytes.Length <= raw.Length);
    }

    [Fact]
    public async Task UncompressedObjectDecodes()
    {
        var raw = History();
        var stored = Object(new ObjectHeader(Codec.None, WalFileKind.History, raw.Length, 0, SHA256.HashData(raw)), raw);
        var (decoded, sink) = await DecodeAsync(stored, "00000002.history");
        Assert.Equal(raw, sink.Bytes.ToArray());
        Assert.Equal(Codec.None, decoded.Header.Codec);
    }

    [Fact]
    public async Task UncompressedObjectWithExtraBytesIsRejected()
    {
        var raw = History();
        var stored = Object(new ObjectHeader(Codec.None, WalFileKind.History, raw.Length - 1, 0, SHA256.HashData(raw.AsSpan(0, raw.Length - 1))), raw);
        var sink = new CollectingSink();
        await Assert.ThrowsAsync<CorruptObjectException>(() =>
            ObjectCodec.DecodeAsync(new MemoryStream(stored), stored.Length, WalFileName.Parse("00000002.history"), sink, CancellationToken.None));
        Assert.True(sink.Bytes.Length <= raw.Length - 1);
    }

    [Fact]
    public async Task EncodeHonoursCancellation()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            ObjectCodec.EncodeAsync(new MemoryStream(History()), WalFileName.Parse("00000002.history"), 3, 0, cts.Token));
    }

    /// <summary>A separate class so that xunit runs these (the slowest) in parallel with the rest.</summary>
    public class Corruption
    {
        public static TheoryData<string, int> CorruptionCases()
        {
            var data = new TheoryData<string, int>();
            foreach (string kind in new[] { "segment", "history" })
                for (int i = 0; i < 50; i++)
                    data.Add(kind, i);
            return data;
        }

        private static readonly Lazy<Task<(byte[] Raw, byte[] Stored)>> s_segmentObject = new(async () =>
        {
            var raw = SyntheticWal.Segment(Seg, validPages: 100);
            return (raw, await EncodeAsync(raw, Seg));
        });

        private static readonly Lazy<Task<(byte[] Raw, byte[] Stored)>> s_historyObject = new(async () =>
        {
            var raw = TextLike(9 << 20);
            return (raw, await EncodeAsync(raw, "00000005.history"));
        });

        [Theory]
        [MemberData(nameof(CorruptionCases))]
        public async Task AnyFlippedBodyByteIsDetected(string kind, int sample)
        {
            var (raw, stored) = kind == "segment" ? await s_segmentObject.Value : await s_historyObject.Value;
            string name = kind == "segment" ? Seg : "00000005.history";
            int bodyLength = stored.Length - ObjectHeader.Size;
            // Spread over the body; sample 0 is the first body byte, 49 the last.
            int position = ObjectHeader.Size + (int)((long)sample * (bodyLength - 1) / 49);
            var corrupt = (byte[])stored.Clone();
            corrupt[position] ^= (byte)(1 << (sample % 8));

            var sink = new CollectingSink();
            try
            {
                await ObjectCodec.DecodeAsync(new MemoryStream(corrupt), corrupt.Length, WalFileName.Parse(name), sink, CancellationToken.None);
                Assert.Fail($"flipping a bit at {position} of {stored.Length} went unnoticed");
            }
            catch (CorruptObjectException)
            {
            }
            Assert.True(sink.Bytes.Length <= raw.Length);
        }
    }

    /// <summary>A stream that returns at most one byte per read, as a slow connection might.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 1));
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, 1)]);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, 1)], cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, 1), cancellationToken);
    }
}
