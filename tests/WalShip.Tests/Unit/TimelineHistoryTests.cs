using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

public sealed class TimelineHistoryTests
{
    private const uint SegmentSize = 16 << 20;

    [Fact]
    public void Parse_ReadsWhatPostgresWrites()
    {
        var history = TimelineHistory.Parse(3, "1\t0/3000158\tno recovery target specified\n\n2\t0/5A000000\tbefore 2026-11-25 10:00:00+00\n");
        Assert.Equal(3u, history.Timeline);
        Assert.Equal(2, history.Ancestors.Count);
        Assert.Equal(new TimelineSwitch(1, 0x3000158, "no recovery target specified"), history.Ancestors[0]);
        Assert.Equal(0x5A000000UL, history.Ancestors[1].SwitchPoint);
    }

    [Fact]
    public void TimelineForSegment_TheSwitchSegmentComesFromTheNewTimeline()
    {
        var history = TimelineHistory.Parse(3, "1\t0/3000158\tx\n2\t0/5A000000\ty\n");
        Assert.Equal(1u, history.TimelineForSegment(2, SegmentSize));
        Assert.Equal(2u, history.TimelineForSegment(3, SegmentSize)); // holds 0/3000158: timeline 2's first segment
        Assert.Equal(2u, history.TimelineForSegment(0x59, SegmentSize));
        Assert.Equal(3u, history.TimelineForSegment(0x5A, SegmentSize));
        Assert.Equal(3u, history.TimelineForSegment(0x1000, SegmentSize));
        Assert.Equal(1u, TimelineHistory.Initial.TimelineForSegment(0x1000, SegmentSize));
    }

    [Theory]
    [InlineData("1 0/3000158")]          // spaces are accepted, as PostgreSQL's sscanf does
    [InlineData("# comment\n1\t0/0\tr")]
    public void Parse_AcceptsPostgresVariants(string text) => Assert.Single(TimelineHistory.Parse(2, text).Ancestors);

    [Theory]
    [InlineData("x\t0/1\tr")]
    [InlineData("1\t0-1\tr")]
    [InlineData("3\t0/1\tr")]                 // parent not older than the timeline
    [InlineData("1\t0/5\tr\n1\t0/6\tr")]      // parents must increase
    [InlineData("1\t0/5\tr\n2\t0/4\tr")]      // switch points must not go back
    public void Parse_RefusesMalformedHistory(string text) =>
        Assert.Throws<WalFormatException>(() => TimelineHistory.Parse(3, text));

    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("16/B374D848", 0x16B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void Lsn_RoundTrips(string text, ulong value)
    {
        Assert.True(TimelineHistory.TryParseLsn(text, out ulong lsn));
        Assert.Equal(value, lsn);
        Assert.Equal(text, TimelineHistory.FormatLsn(lsn));
    }
}
