using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

public class WalFileNameTests
{
    [Fact]
    public void ParsesSegment()
    {
        Assert.True(WalFileName.TryParse("0000000A00000002000000FF", out var name));
        Assert.Equal(WalFileKind.Segment, name.Kind);
        Assert.Equal(10u, name.Timeline);
        Assert.Equal(2u, name.LogId);
        Assert.Equal(0xFFu, name.SegmentId);
        Assert.Equal("0000000A00000002000000FF", name.Name);
        Assert.Equal("0000000A00000002000000FF", name.SegmentPart);
        Assert.Equal("0000000A00000002000000FF", name.ToString());
        Assert.True(name.HasWalPages);
    }

    [Fact]
    public void ParsesMaximumHexValues()
    {
        var name = WalFileName.Parse("FFFFFFFFFFFFFFFFFFFFFFFF");
        Assert.Equal(uint.MaxValue, name.Timeline);
        Assert.Equal(uint.MaxValue, name.LogId);
        Assert.Equal(uint.MaxValue, name.SegmentId);
    }

    [Fact]
    public void ParsesHistory()
    {
        Assert.True(WalFileName.TryParse("0000001F.history", out var name));
        Assert.Equal(WalFileKind.History, name.Kind);
        Assert.Equal(0x1Fu, name.Timeline);
        Assert.Equal("", name.SegmentPart);
        Assert.False(name.HasWalPages);
    }

    [Fact]
    public void ParsesBackup()
    {
        Assert.True(WalFileName.TryParse("000000010000000000000002.00000028.backup", out var name));
        Assert.Equal(WalFileKind.Backup, name.Kind);
        Assert.Equal(1u, name.Timeline);
        Assert.Equal(0u, name.LogId);
        Assert.Equal(2u, name.SegmentId);
        Assert.Equal("000000010000000000000002", name.SegmentPart);
        Assert.False(name.HasWalPages);
    }

    [Fact]
    public void ParsesPartial()
    {
        Assert.True(WalFileName.TryParse("000000010000000000000003.partial", out var name));
        Assert.Equal(WalFileKind.Partial, name.Kind);
        Assert.Equal(3u, name.SegmentId);
        Assert.Equal("000000010000000000000003", name.SegmentPart);
        Assert.True(name.HasWalPages);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("00000001000000000000000a")]                  // lower-case hex
    [InlineData("0000000a0000000000000001")]
    [InlineData("0000000a.history")]
    [InlineData("000000010000000000000002.0000002a.backup")]
    [InlineData("00000001000000000000001")]                   // 23 characters
    [InlineData("0000000100000000000000010")]                 // 25 characters
    [InlineData("0000001.history")]
    [InlineData("000000001.history")]
    [InlineData("000000000000000000000001")]                  // timeline 0
    [InlineData("00000000.history")]
    [InlineData("00000000000000000000000A.partial")]
    [InlineData("../000000010000000000000001")]
    [InlineData("pg_wal/000000010000000000000001")]
    [InlineData("/000000010000000000000001")]
    [InlineData("000000010000000000000001/")]
    [InlineData("000000010000000000000001/..")]
    [InlineData("00000001/0000000000000001")]
    [InlineData("00000001\\0000000000000001")]
    [InlineData("../00000001.history")]
    [InlineData("0000000G.history")]
    [InlineData("0000000-.history")]
    [InlineData("+0000001.history")]
    [InlineData(" 0000001.history")]
    [InlineData("00000001.History")]
    [InlineData("00000001.historyX")]
    [InlineData("00000001.histor")]
    [InlineData("000000010000000000000001.history")]
    [InlineData("000000010000000000000001.foo")]
    [InlineData("000000010000000000000001.")]
    [InlineData("000000010000000000000001.PARTIAL")]
    [InlineData("000000010000000000000001.partial.gz")]
    [InlineData("000000010000000000000001.partia")]
    [InlineData("000000010000000000000001partial")]
    [InlineData("000000010000000000000001.backup")]
    [InlineData("000000010000000000000001.0000028.backup")]
    [InlineData("000000010000000000000001.000000280.backup")]
    [InlineData("000000010000000000000001.00000028.backupX")]
    [InlineData("000000010000000000000001.00000028.BACKUP")]
    [InlineData("000000010000000000000001X00000028.backup")]
    [InlineData("000000010000000000000001.0000002G.backup")]
    [InlineData("000000010000000000000001 ")]
    [InlineData("00000001000000000000000\0")]
    [InlineData("０００００００１0000000000000001")]            // full-width digits
    [InlineData("RECOVERYXLOG")]
    public void RejectsNamesPostgresNeverProduces(string? candidate)
    {
        Assert.False(WalFileName.TryParse(candidate, out var result));
        Assert.Equal(default, result);
        if (candidate is not null)
            Assert.Throws<FormatException>(() => WalFileName.Parse(candidate));
    }

    [Theory]
    // 16 MiB: 256 segments per log id; segno 3*256+0xA7.
    [InlineData(16u << 20, "0000000100000003000000A7", 3UL * 256 + 0xA7)]
    [InlineData(16u << 20, "0000000100000000000000FF", 255UL)]
    [InlineData(16u << 20, "000000010000000100000000", 256UL)]
    // 1 GiB: 4 segments per log id.
    [InlineData(1u << 30, "000000010000000500000003", 5UL * 4 + 3)]
    [InlineData(1u << 30, "000000020000000600000000", 24UL)]
    // 1 MiB: 4096 segments per log id.
    [InlineData(1u << 20, "000000010000000200000ABC", 2UL * 4096 + 0xABC)]
    [InlineData(1u << 20, "000000010000000000000FFF", 4095UL)]
    [InlineData(1u << 20, "000000010000000100000000", 4096UL)]
    public void SegmentNumberMatchesXLogFromFileName(uint segmentSize, string fileName, ulong segmentNumber)
    {
        var name = WalFileName.Parse(fileName);
        Assert.Equal(segmentNumber, name.SegmentNumber(segmentSize));
        Assert.Equal(fileName, WalFileName.SegmentName(name.Timeline, segmentNumber, segmentSize));
    }

    [Theory]
    [InlineData(1u << 20, 4096UL)]
    [InlineData(16u << 20, 256UL)]
    [InlineData(1u << 30, 4UL)]
    public void SegmentNameRoundTripsAcrossLogIdBoundaries(uint segmentSize, ulong perLogId)
    {
        Assert.Equal(perLogId, WalFileName.SegmentsPerLogId(segmentSize));
        ulong[] numbers = [0, 1, perLogId - 1, perLogId, perLogId + 1, 7 * perLogId - 1, 123_456, (ulong)uint.MaxValue * perLogId - 1];
        string? previous = null;
        foreach (ulong segno in numbers)
        {
            string name = WalFileName.SegmentName(7, segno, segmentSize);
            Assert.Equal(24, name.Length);
            var parsed = WalFileName.Parse(name);
            Assert.Equal(WalFileKind.Segment, parsed.Kind);
            Assert.Equal(7u, parsed.Timeline);
            Assert.True(parsed.SegmentId < perLogId);
            Assert.Equal(segno, parsed.SegmentNumber(segmentSize));
            // Names sort in segment order, as PostgreSQL relies on.
            if (previous is not null)
                Assert.True(string.CompareOrdinal(previous, name) < 0, $"{previous} !< {name}");
            previous = name;
        }
    }

    [Fact]
    public void NextSegmentAfterLastOfLogIdMatchesPostgres()
    {
        // With 16 MiB segments PostgreSQL goes from ...000000FF to the next log id, never ...00000100.
        var last = WalFileName.Parse("000000010000000A000000FF");
        string next = WalFileName.SegmentName(1, last.SegmentNumber(16u << 20) + 1, 16u << 20);
        Assert.Equal("000000010000000B00000000", next);
    }
}
