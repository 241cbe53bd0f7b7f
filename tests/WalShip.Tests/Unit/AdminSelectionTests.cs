using WalShip.Archive;
using WalShip.Commands.Admin;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>The pure parts of the admin commands: key layout round trips, backup labels, prune's selection.</summary>
public sealed class AdminSelectionTests
{
    private const uint SegmentSize = 16u << 20;
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("", "000000010000000A000000FF", "wal/00000001/000000010000000A/000000010000000A000000FF")]
    [InlineData("db/prod", "000000020000000000000003.partial", "db/prod/wal/00000002/0000000200000000/000000020000000000000003.partial")]
    [InlineData("db", "000000010000000000000002.00000028.backup", "db/wal/00000001/0000000100000000/000000010000000000000002.00000028.backup")]
    [InlineData("db", "0000000A.history", "db/wal/0000000A/0000000A.history")]
    public void EveryFileHasOneKey_ThatParsesBackToIt(string prefix, string file, string key)
    {
        var layout = new ArchiveLayout(prefix);
        Assert.Equal(key, layout.KeyFor(WalFileName.Parse(file)));
        Assert.True(layout.TryParseKey(key, out var parsed));
        Assert.Equal(file, parsed.Name);
    }

    [Theory]
    [InlineData("wal/00000001/000000010000000000000001")]              // the unpartitioned key
    [InlineData("wal/00000002/0000000100000000/000000010000000000000001")] // wrong timeline directory
    [InlineData("wal/00000001/0000000100000001/000000010000000000000001")] // wrong partition
    [InlineData("wal/00000001/0000000100000000/notes.txt")]
    [InlineData("other/wal/00000001/0000000100000000/000000010000000000000001")]
    public void KeysWalshipDoesNotWrite_DoNotParse(string key) => Assert.False(new ArchiveLayout("").TryParseKey(key, out _));

    [Fact]
    public void BackupLabel_ReadsStartLocationAndLabel()
    {
        var file = File("000000010000000000000002.00000028.backup");
        var label = ArchivedBackupLabel.Parse(file, "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\nLABEL: pg_basebackup base backup\n");
        Assert.NotNull(label);
        Assert.Equal(0x2000028UL, label.StartLsn);
        Assert.Equal("000000010000000000000002", label.StartFile);
        Assert.Equal("pg_basebackup base backup", label.Label);
        Assert.Null(ArchivedBackupLabel.Parse(file, "LABEL: x\n"));
    }

    private static ArchivedFile File(string name, DateTimeOffset? modified = null) =>
        new(WalFileName.Parse(name), "key/" + name, 1000, modified ?? Now);

    private static string Seg(uint timeline, ulong number) => WalFileName.SegmentName(timeline, number, SegmentSize);

    /// <summary>Timeline 1: segments 1-9 and 0A.partial; timeline 2 began in segment 0A (its history file).</summary>
    private static List<ArchivedFile> Archive() =>
    [
        .. Enumerable.Range(1, 9).Select(n => File(Seg(1, (ulong)n), Now.AddHours(-24 + n))),
        File(Seg(1, 3) + ".00000028.backup"),
        File(Seg(1, 6) + ".00000028.backup"),
        File(Seg(1, 0xA) + ".partial"),
        File("00000002.history"),
        .. Enumerable.Range(0xA, 3).Select(n => File(Seg(2, (ulong)n), Now.AddHours(-24 + n))),
    ];

    private static List<string> Names(PruneSelectionResult result) => result.Selected.Select(f => f.Name.Name).ToList();

    [Fact]
    public void Before_SelectsOlderSegments_OnEveryTimeline_OldestFirst_AndNeverAHistoryFile()
    {
        var result = PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria(Before: WalFileName.Parse(Seg(2, 4))));
        Assert.Equal([Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3) + ".00000028.backup"], Names(result));

        var everything = PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria(Before: WalFileName.Parse(Seg(1, 0xFF)), AllowCurrentTimeline: true));
        Assert.Equal(Archive().Count - 1, everything.Selected.Count);
        Assert.DoesNotContain(everything.Selected, f => f.Name.Kind == WalFileKind.History);
    }

    [Fact]
    public void TheCurrentTimelinesWal_IsKept_UnlessAllowed()
    {
        var guarded = PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria(Before: WalFileName.Parse(Seg(1, 0xFF))));
        Assert.DoesNotContain(guarded.Selected, f => f.Name.SegmentNumber(SegmentSize) >= 0xA);
        Assert.Equal(4, guarded.KeptByTimelineGuard); // 0A.partial and timeline 2's 0A, 0B, 0C
        // Never promoted: the current timeline starts at segment 0, so nothing goes without the flag.
        Assert.Empty(PruneSelection.Select(Archive(), SegmentSize, 0, new PruneCriteria(Before: WalFileName.Parse(Seg(1, 5)))).Selected);
    }

    [Fact]
    public void OlderThan_AndBefore_MustBothHold()
    {
        var result = PruneSelection.Select(Archive(), SegmentSize, 0xA,
            new PruneCriteria(Before: WalFileName.Parse(Seg(1, 8)), OlderThan: Now.AddHours(-24 + 3)));
        Assert.Equal([Seg(1, 1), Seg(1, 2)], Names(result));
    }

    private static BackupManifest Walship(string name, uint timeline, ulong startSegment, ulong stopSegment, uint stopTimeline = 0) => new()
    {
        Name = name,
        Timeline = timeline,
        StartLsn = new Lsn(startSegment * SegmentSize + 0x28).ToString(),
        StartWalFile = Seg(timeline, startSegment),
        StopWalFile = Seg(stopTimeline == 0 ? timeline : stopTimeline, stopSegment),
        BackupHistoryFile = Seg(timeline, startSegment) + ".00000028.backup",
    };

    private static ArchivedBackupLabel Label(uint timeline, ulong segment) =>
        new(File(Seg(timeline, segment) + ".00000028.backup"), segment * SegmentSize + 0x28, Seg(timeline, segment), "other tool");

    [Fact]
    public void Retain_CountsWalshipBackupsAndOtherToolsLabels_OnceEach_NewestByStart()
    {
        // W1's own label is in the archive too: it is the same backup, counted once.
        BackupManifest[] catalog = [Walship("w1", 1, 3, 4), Walship("w2", 2, 0xB, 0xB)];
        ArchivedBackupLabel[] labels = [Label(1, 6), Label(1, 3), Label(1, 1)];

        var plan = PruneSelection.PlanRetention(catalog, labels, 2, SegmentSize);
        Assert.Equal(["w2", Seg(1, 6) + ".00000028.backup"], plan.Retained.Select(b => b.Name));
        Assert.Equal(["w1", Seg(1, 1) + ".00000028.backup"], plan.Older.Select(b => b.Name));
        Assert.Equal(6UL, plan.Keep.SegmentNumber);
        var result = PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria(KeepFrom: [plan.Keep]));
        Assert.Equal([Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3) + ".00000028.backup", Seg(1, 4), Seg(1, 5)], Names(result));
        Assert.Equal(["w1"], PruneSelection.BackupsLosingTheirWal(plan, result.Selected, SegmentSize).Select(b => b.Name));

        var all = PruneSelection.PlanRetention(catalog, labels, 4, SegmentSize);
        Assert.Equal(1UL, all.Keep.SegmentNumber);
        Assert.Empty(all.Older);
        var fewer = PruneSelection.PlanRetention(catalog, labels, 5, SegmentSize);
        Assert.Equal(0UL, fewer.Keep.SegmentNumber);
        Assert.Contains("fewer than --retain 5", fewer.Keep.Reason);
        Assert.Empty(PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria(KeepFrom: [fewer.Keep])).Selected);
    }

    [Fact]
    public void AnOlderBackup_IsDeletedOnlyWhenWalFromItsStartToItsStopIsSelected_OnItsTimelines()
    {
        // Older backup w1 needs 3..5 on timeline 1; it stops on timeline 2 (promoted during the backup) at 5.
        BackupManifest[] catalog = [Walship("w1", 1, 3, 5, stopTimeline: 2), Walship("w9", 2, 0xC, 0xC)];
        var plan = PruneSelection.PlanRetention(catalog, [], 1, SegmentSize);
        Assert.Equal(["w1"], plan.Older.Select(b => b.Name));

        List<ArchivedFile> Selected(params string[] names) => names.Select(n => File(n)).ToList();
        Assert.Empty(PruneSelection.BackupsLosingTheirWal(plan, Selected(Seg(1, 1), Seg(1, 2), Seg(1, 6)), SegmentSize));
        Assert.Empty(PruneSelection.BackupsLosingTheirWal(plan, Selected(Seg(3, 4), "00000002.history"), SegmentSize));
        Assert.Single(PruneSelection.BackupsLosingTheirWal(plan, Selected(Seg(1, 4)), SegmentSize));
        Assert.Single(PruneSelection.BackupsLosingTheirWal(plan, Selected(Seg(2, 5) + ".partial"), SegmentSize));
        // A retained backup is never selected, whatever is.
        Assert.DoesNotContain(PruneSelection.BackupsLosingTheirWal(plan, Selected(Seg(2, 0xC), Seg(1, 4)), SegmentSize), b => b.Name == "w9");
    }

    [Fact]
    public void NoCriterion_IsRefused() =>
        Assert.Throws<ArgumentException>(() => PruneSelection.Select(Archive(), SegmentSize, 0xA, new PruneCriteria()));
}
