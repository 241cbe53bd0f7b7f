using WalShip.Wal;
using Xunit;
using static WalShip.Tests.Unit.SyntheticWal;

namespace WalShip.Tests.Unit;

public class WalSegmentValidatorTests
{
    private const string Seg = "000000010000000200000ABC"; // 1 MiB segments: segno 2*4096 + 0xABC

    private static WalSegmentValidator Run(byte[] data, string fileName, long? fileLength = null, Func<int>? nextChunk = null)
    {
        var validator = new WalSegmentValidator(WalFileName.Parse(fileName), fileLength ?? data.Length);
        int offset = 0;
        while (offset < data.Length)
        {
            int take = Math.Min(nextChunk?.Invoke() ?? (1 << 20), data.Length - offset);
            validator.Write(data.AsSpan(offset, take));
            offset += take;
        }
        validator.Complete();
        return validator;
    }

    private static WalFormatException Rejects(byte[] data, string fileName, long? fileLength = null, Func<int>? nextChunk = null) =>
        Assert.Throws<WalFormatException>(() => Run(data, fileName, fileLength, nextChunk));

    [Fact]
    public void AcceptsValidSegment()
    {
        var v = Run(Segment(Seg), Seg);
        Assert.Equal(128, v.ValidPages);
        Assert.Equal(OneMiB, v.SegmentSize);
        Assert.Equal((uint)PageSize, v.PageSize);
        Assert.Equal(Pg15Magic, v.Magic);
        Assert.Equal(DefaultSystemIdentifier, v.SystemIdentifier);
    }

    [Fact]
    public void ExposesSystemIdentifier()
    {
        const ulong id = 0x0123_4567_89AB_CDEFUL;
        Assert.Equal(id, Run(Segment(Seg, systemIdentifier: id), Seg).SystemIdentifier);
    }

    [Fact]
    public void AcceptsSixteenMiBSegment()
    {
        const string name = "0000000300000003000000A7";
        var data = Segment(name, SixteenMiB);
        Assert.Equal((3UL * 256 + 0xA7) * SixteenMiB, PageAddress(data, 0));
        var v = Run(data, name);
        Assert.Equal(SixteenMiB, v.SegmentSize);
        Assert.Equal(2048, v.ValidPages);
    }

    public static TheoryData<int> ChunkSizes => new() { 1, 7, 23, 24, 25, 39, 40, 41, 8191, 8192, 8193, 65536 };

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void ChunkingDoesNotChangeTheResult(int chunk)
    {
        var data = Segment(Seg, validPages: 77);
        var v = Run(data, Seg, nextChunk: () => chunk);
        Assert.Equal(77, v.ValidPages);
        Assert.Equal(DefaultSystemIdentifier, v.SystemIdentifier);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomChunkingDoesNotChangeTheResult(int seed)
    {
        var random = new Random(seed);
        var v = Run(Segment(Seg, validPages: 100), Seg, nextChunk: () => random.Next(1, 20_000));
        Assert.Equal(100, v.ValidPages);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8191)]
    public void ChunkingDoesNotHideAnError(int chunk)
    {
        var data = Segment(Seg);
        SetPageAddress(data, 50, PageAddress(data, 50) + PageSize);
        Assert.Contains("offset 409600", Rejects(data, Seg, nextChunk: () => chunk).Message);

        var tail = Segment(Seg, validPages: 10);
        tail[20 * PageSize + 4000] = 1;
        Rejects(tail, Seg, nextChunk: () => chunk);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(64)]
    [InlineData(127)]
    public void AcceptsZeroFilledTail(int validPages)
    {
        var v = Run(Segment(Seg, validPages: validPages), Seg);
        Assert.Equal(validPages, v.ValidPages);
        Assert.Equal(OneMiB, v.SegmentSize);
    }

    [Theory]
    [InlineData((ushort)0x1234)]
    [InlineData((ushort)0x0000)]
    [InlineData((ushort)0xFFFF)]
    public void RejectsBadMagicOnFirstPage(ushort magic)
    {
        Rejects(Segment(Seg, magic: magic), Seg);
    }

    [Fact]
    public void RejectsMagicThatChangesOnLaterPage()
    {
        var data = Segment(Seg);
        SetPageMagic(data, 9, 0xD10D); // a PostgreSQL 14 page inside a 15 segment
        Assert.Contains("magic", Rejects(data, Seg).Message);
    }

    [Fact]
    public void RejectsFirstPageWithoutLongHeader()
    {
        var data = Segment(Seg);
        SetPageInfo(data, 0, 0);
        Rejects(data, Seg);
    }

    [Fact]
    public void RejectsLongHeaderFlagOnLaterPage()
    {
        var data = Segment(Seg);
        SetPageInfo(data, 3, XlpLongHeader);
        Rejects(data, Seg);
    }

    [Fact]
    public void RejectsUnknownFlags()
    {
        var data = Segment(Seg);
        SetPageInfo(data, 3, 0x0010);
        Rejects(data, Seg);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(127)]
    public void RejectsWrongPageAddressOnLaterPage(int page)
    {
        var data = Segment(Seg);
        SetPageAddress(data, page, PageAddress(data, page) - PageSize);
        var e = Rejects(data, Seg);
        Assert.Contains($"offset {page * PageSize}", e.Message);
        Assert.Contains("address", e.Message);
    }

    [Fact]
    public void RejectsSegmentNamedAsAnotherSegment()
    {
        // Right bytes, wrong name: the first page address gives it away.
        var data = Segment("000000010000000200000ABC");
        Assert.Contains("first page address", Rejects(data, "000000010000000200000ABD").Message);
        Rejects(data, "000000010000000300000ABC");
    }

    [Fact]
    public void RejectsSegmentNumberImpossibleForSegmentSize()
    {
        // 0x1000 is one past the last segment id of a log id with 1 MiB segments.
        const string name = "000000010000000000001000";
        var data = Segment("000000010000000100000000");
        Rejects(data, name);
    }

    [Fact]
    public void RejectsFirstPageTimelineAboveFileName()
    {
        Rejects(Segment(Seg, timelineOfPage: _ => 2), Seg);
    }

    [Fact]
    public void RejectsLaterPageTimelineAboveFileName()
    {
        Assert.Contains("timeline", Rejects(Segment(Seg, timelineOfPage: p => p < 40 ? 1u : 2u), Seg).Message);
    }

    [Fact]
    public void RejectsTimelineZero()
    {
        Rejects(Segment(Seg, timelineOfPage: _ => 0), Seg);
    }

    [Fact]
    public void RejectsTimelineGoingBackwards()
    {
        const string name = "000000030000000200000ABC";
        Rejects(Segment(name, timelineOfPage: p => p < 10 ? 3u : 2u), name);
    }

    [Fact]
    public void RejectsWrongTimelineOnOnePage()
    {
        const string name = "000000030000000200000ABC";
        var data = Segment(name);
        SetPageTimeline(data, 60, 2);
        Rejects(data, name);
    }

    [Fact]
    public void AcceptsNewTimelineSegmentStartingWithOldTimelinePages()
    {
        // At promotion PostgreSQL copies the old timeline's last segment up to the switch point into the
        // new timeline's segment: its first pages carry the old timeline.
        const string name = "000000020000000200000ABC";
        var v = Run(Segment(name, timelineOfPage: p => p < 10 ? 1u : 2u), name);
        Assert.Equal(128, v.ValidPages);

        // The same with a zero tail right after the copied pages.
        Assert.Equal(10, Run(Segment(name, validPages: 10, timelineOfPage: _ => 1), name).ValidPages);
    }

    [Fact]
    public void RejectsHeaderAfterZeroTail()
    {
        var data = Segment(Seg, validPages: 10);
        var valid = Segment(Seg);
        valid.AsSpan(40 * PageSize, ShortHeaderSize).CopyTo(data.AsSpan(40 * PageSize));
        Assert.Contains("after the zero-filled end", Rejects(data, Seg).Message);
    }

    [Theory]
    [InlineData(10 * PageSize + 100)]          // inside the first zero page, past where a header would be
    [InlineData(10 * PageSize + 3)]            // inside the first zero page's header
    [InlineData(50 * PageSize + 5000)]
    [InlineData((int)OneMiB - 1)]              // the very last byte
    public void RejectsNonZeroByteInZeroTail(int offset)
    {
        var data = Segment(Seg, validPages: 10);
        data[offset] = 0x80;
        Rejects(data, Seg);
    }

    [Fact]
    public void RejectsTruncatedSegment()
    {
        var data = Segment(Seg).AsSpan(0, 300_000).ToArray();
        var e = Rejects(data, Seg);
        Assert.Contains("header says segments are", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(23)]
    [InlineData(39)]
    public void RejectsFileShorterThanLongHeader(int length)
    {
        var data = Segment(Seg).AsSpan(0, length).ToArray();
        var validator = new WalSegmentValidator(WalFileName.Parse(Seg), length);
        validator.Write(data);
        Assert.Throws<WalFormatException>(validator.Complete);
    }

    [Fact]
    public void CompleteThrowsWhenFewerBytesArrivedThanTheFileLength()
    {
        var data = Segment(Seg);
        var validator = new WalSegmentValidator(WalFileName.Parse(Seg), data.Length);
        validator.Write(data.AsSpan(0, data.Length - PageSize));
        Assert.Throws<WalFormatException>(validator.Complete);
    }

    [Fact]
    public void RejectsPaddedSegment()
    {
        var data = new byte[OneMiB + PageSize];
        Segment(Seg, validPages: 10).CopyTo(data, 0);
        Rejects(data, Seg);
    }

    [Fact]
    public void RejectsHeaderSegmentSizeDifferentFromFileLength()
    {
        // A 1 MiB file whose header claims 16 MiB segments (segment 0, so the address still matches).
        const string name = "000000010000000000000000";
        var data = Segment(name);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(Page(data, 0)[32..], SixteenMiB);
        Assert.Contains("header says segments are 16777216 bytes", Rejects(data, name).Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(512u << 10)]       // below the 1 MiB minimum
    [InlineData(3u << 20)]         // not a power of two
    [InlineData(2u << 30)]         // above 1 GiB
    public void RejectsImpossibleSegmentSizeInHeader(uint segmentSize)
    {
        const string name = "000000010000000000000000";
        var data = Segment(name);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(Page(data, 0)[32..], segmentSize);
        Rejects(data, name);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8000u)]
    [InlineData(131072u)]
    public void RejectsImpossibleBlockSizeInHeader(uint blockSize)
    {
        var data = Segment(Seg);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(Page(data, 0)[36..], blockSize);
        Rejects(data, Seg);
    }

    [Fact]
    public void RejectsSystemIdentifierZero()
    {
        Rejects(Segment(Seg, systemIdentifier: 0), Seg);
    }

    [Fact]
    public void PartialWithGarbageAfterSwitchPointIsAcceptedButSegmentIsNot()
    {
        var data = Segment(Seg, validPages: 20);
        // What follows the switch point in a .partial: a recycled segment's stale bytes.
        new Random(42).NextBytes(data.AsSpan(20 * PageSize));

        var v = Run(data, Seg + ".partial");
        Assert.Equal(20, v.ValidPages);
        Assert.Equal(DefaultSystemIdentifier, v.SystemIdentifier);

        Rejects(data, Seg);
    }

    [Fact]
    public void PartialWithStaleHeadersOfAnOlderSegmentIsAccepted()
    {
        // A recycled segment: its old pages carry valid-looking headers with the old addresses.
        var data = Segment(Seg);
        var old = Segment("000000010000000200000AB0", seed: 9);
        old.AsSpan(30 * PageSize).CopyTo(data.AsSpan(30 * PageSize));

        Assert.Equal(30, Run(data, Seg + ".partial").ValidPages);
        Rejects(data, Seg);
    }

    [Fact]
    public void PartialStillChecksItsFirstPage()
    {
        Rejects(Segment(Seg, magic: 0x1234), Seg + ".partial");
        Rejects(Segment(Seg), "000000010000000200000ABD.partial");
    }

    [Fact]
    public void PartialMustStillBeAWholeSegment()
    {
        var data = Segment(Seg, validPages: 20).AsSpan(0, 20 * PageSize).ToArray();
        Rejects(data, Seg + ".partial");
    }

    [Theory]
    [InlineData("00000001.history")]
    [InlineData("000000010000000000000002.00000028.backup")]
    public void OnlyFilesWithWalPagesCanBeValidated(string name)
    {
        Assert.Throws<ArgumentException>(() => new WalSegmentValidator(WalFileName.Parse(name), 100));
    }

    [Fact]
    public void FormatsLsnLikePostgres()
    {
        Assert.Equal("2/ABC00000", WalSegmentValidator.FormatLsn(0x2_ABC0_0000UL));
        Assert.Equal("0/0", WalSegmentValidator.FormatLsn(0));
    }
}
