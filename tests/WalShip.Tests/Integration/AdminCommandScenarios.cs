using System.Text.Json;
using WalShip.Commands;
using WalShip.Commands.Admin;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Tests.Fixtures;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// list, prune and verify on archives built through the store API (see <see cref="SyntheticArchive"/>),
/// run in-process against each repository kind. The archive of the list and prune tests:
/// timeline 1 holds segments 1-4 and 6-A (5 is missing), 0B.partial and two backup labels (at 2 and
/// 7); timeline 2 branched at 0/B00060 and holds B-D; plus two objects walship did not write.
/// </summary>
public abstract class AdminCommandScenarios() : RepositoryKindScenarios("walship-admin")
{
    private const ulong SwitchLsn = 0xB * (ulong)SyntheticArchive.SegmentSize + 0x60;
    private Repository _repository = null!;
    private SyntheticArchive _archive = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _repository = Repo.OpenRepository();
        _archive = new SyntheticArchive(_repository);
        await _archive.BindAsync();
    }

    public override async Task DisposeAsync()
    {
        _repository.Dispose();
        await base.DisposeAsync();
    }

    private static string Seg(uint timeline, ulong number) => SyntheticArchive.Segment(timeline, number);

    private async Task BuildTwoTimelineArchiveAsync()
    {
        await _archive.AddSegmentsAsync(1, 1, 4);
        await _archive.AddSegmentsAsync(1, 6, 0xA);
        await _archive.AddPartialAsync(1, 0xB);
        await _archive.AddBackupLabelAsync(1, 2 * (ulong)SyntheticArchive.SegmentSize + 0x28, "nightly 1");
        await _archive.AddBackupLabelAsync(1, 7 * (ulong)SyntheticArchive.SegmentSize + 0x28, "nightly 2");
        await _archive.AddHistoryAsync(2, (1, SwitchLsn));
        await _archive.AddSegmentsAsync(2, 0xB, 0xD);
        await _archive.PutRawAsync("wal/README.txt", "not WAL"u8.ToArray());
        await _archive.PutRawAsync("wal/00000001/0000000100000000/copy-of-000000010000000000000003", "x"u8.ToArray());
    }

    private static AdminConsole Console(StringWriter output, bool json = true) => new(output, new StringWriter(), false, json, 4);

    private async Task<(int Exit, JsonElement Json)> RunAsync(Func<AdminConsole, Task<int>> run)
    {
        var output = new StringWriter();
        int exit = await run(Console(output));
        return (exit, JsonDocument.Parse(output.ToString()).RootElement.Clone());
    }

    private static List<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();

    private static List<(string First, string Last, ulong Count)> Ranges(JsonElement array) =>
        array.EnumerateArray().Select(r => (r.GetProperty("first").GetString()!, r.GetProperty("last").GetString()!, r.GetProperty("segments").GetUInt64())).ToList();

    [Fact]
    public async Task List_ShowsTimelinesWithParentAndSwitchPoint_RangesGapsAndEveryKindOfFile()
    {
        await BuildTwoTimelineArchiveAsync();
        var (exit, json) = await RunAsync(c => new ListCommand(_repository, c).RunAsync(WalFilter.All, CancellationToken.None));

        Assert.Equal(0, exit);
        Assert.Equal(SyntheticArchive.SegmentSize, json.GetProperty("wal_segment_size").GetUInt32());
        var timelines = json.GetProperty("timelines").EnumerateArray().ToList();
        Assert.Equal([1u, 2u], timelines.Select(t => t.GetProperty("timeline").GetUInt32()));

        var one = timelines[0];
        Assert.Equal(JsonValueKind.Null, one.GetProperty("parent").ValueKind);
        Assert.Equal(9, one.GetProperty("segments").GetInt32());
        Assert.Equal([(Seg(1, 1), Seg(1, 4), 4UL), (Seg(1, 6), Seg(1, 0xA), 5UL)], Ranges(one.GetProperty("ranges")));
        Assert.Equal([(Seg(1, 5), Seg(1, 5), 1UL)], Ranges(one.GetProperty("gaps")));
        Assert.Equal([Seg(1, 0xB) + ".partial"], Strings(one.GetProperty("partial")));
        var backups = one.GetProperty("backups").EnumerateArray().ToList();
        Assert.Equal(["0/200028", "0/700028"], backups.Select(b => b.GetProperty("start_wal_location").GetString()));
        Assert.Equal(["nightly 1", "nightly 2"], backups.Select(b => b.GetProperty("label").GetString()));

        var two = timelines[1];
        Assert.Equal(1u, two.GetProperty("parent").GetUInt32());
        Assert.Equal("0/B00060", two.GetProperty("switch_point").GetString());
        Assert.Equal("00000002.history", two.GetProperty("history").GetString());
        Assert.Equal([(Seg(2, 0xB), Seg(2, 0xD), 3UL)], Ranges(two.GetProperty("ranges")));
        Assert.Empty(two.GetProperty("gaps").EnumerateArray());

        var totals = json.GetProperty("totals");
        Assert.Equal(16, totals.GetProperty("objects").GetInt32());
        Assert.Equal(12, totals.GetProperty("segments").GetInt32());
        Assert.Equal(1, totals.GetProperty("history_files").GetInt32());
        Assert.Equal(2, totals.GetProperty("backup_files").GetInt32());
        Assert.Equal(1, totals.GetProperty("partial_files").GetInt32());
        // Raw bytes count every kind: 13 segment-sized files plus the .history and .backup files' own lengths.
        Assert.True(_archive.RawBytesStored > 13L * SyntheticArchive.SegmentSize);
        Assert.Equal(_archive.RawBytesStored, totals.GetProperty("raw_bytes").GetInt64());
        Assert.True(totals.GetProperty("compression_ratio").GetDouble() > 2);
        Assert.True(totals.GetProperty("first_archived").GetDateTimeOffset() <= totals.GetProperty("last_archived").GetDateTimeOffset());
        Assert.Equal(2, json.GetProperty("foreign_objects").GetArrayLength());
        Assert.Contains(Strings(json.GetProperty("foreign_objects")), k => k.EndsWith("wal/README.txt", StringComparison.Ordinal));

        // The readable table says the same things.
        var text = new StringWriter();
        await new ListCommand(_repository, Console(text, json: false)).RunAsync(WalFilter.All, CancellationToken.None);
        Assert.Contains("Timeline 2  (branched from timeline 1 at 0/B00060)", text.ToString());
        Assert.Contains($"GAP       {Seg(1, 5)} .. {Seg(1, 5)}", text.ToString());

        // Filters: one timeline, one range.
        var (_, filtered) = await RunAsync(c => new ListCommand(_repository, c).RunAsync(
            new WalFilter(Timeline: 1, From: WalFileName.Parse(Seg(1, 3)), To: WalFileName.Parse(Seg(1, 7))), CancellationToken.None));
        var only = Assert.Single(filtered.GetProperty("timelines").EnumerateArray());
        Assert.Equal([(Seg(1, 3), Seg(1, 4), 2UL), (Seg(1, 6), Seg(1, 7), 2UL)], Ranges(only.GetProperty("ranges")));
    }

    [Fact]
    public async Task PruneDryRun_DeletesNothing_AndConfirm_DeletesExactlyTheSelectedSet_NeverAHistoryFile()
    {
        await BuildTwoTimelineArchiveAsync();
        var before = await _archive.AllKeysAsync();
        var request = new PruneRequest(WalFileName.Parse(Seg(1, 0xD)), null, null, AllowCurrentTimeline: false, Confirm: false);

        var (dryExit, dry) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request, CancellationToken.None));
        Assert.Equal(0, dryExit);
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal(before, await _archive.AllKeysAsync());
        // Everything of timeline 1 before its switch segment B, and the two backup labels; B.partial and
        // timeline 2's B and C are at or after timeline 2's start and stay without --allow-current-timeline.
        string[] expected = [Seg(1, 1), Seg(1, 2), Seg(1, 2) + ".00000028.backup", Seg(1, 3), Seg(1, 4), Seg(1, 6), Seg(1, 7),
            Seg(1, 7) + ".00000028.backup", Seg(1, 8), Seg(1, 9), Seg(1, 0xA)];
        Assert.Equal(expected, Strings(dry.GetProperty("files")));
        Assert.Equal(3, dry.GetProperty("kept_by_timeline_guard").GetInt32());
        Assert.Equal(0, dry.GetProperty("deleted_objects").GetInt32());

        var (exit, done) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request with { Confirm = true }, CancellationToken.None));
        Assert.Equal(0, exit);
        Assert.Equal(expected.Length, done.GetProperty("deleted_objects").GetInt32());
        Assert.Equal(before.Except(expected.Select(_archive.KeyOf)).ToList(), await _archive.AllKeysAsync());
        Assert.Contains(_archive.KeyOf("00000002.history"), await _archive.AllKeysAsync());

        // Even allowed to touch the current timeline and asked for everything, a .history file stays.
        var all = new PruneRequest(WalFileName.Parse(Seg(1, 0xFF)), null, null, AllowCurrentTimeline: true, Confirm: true);
        var (_, rest) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(all, CancellationToken.None));
        Assert.Equal(4, rest.GetProperty("deleted_objects").GetInt32());
        var left = await _archive.AllKeysAsync();
        Assert.Contains(_archive.KeyOf("00000002.history"), left);
        Assert.DoesNotContain(left, k => k.Contains("/wal/00000002/0000000200000000/", StringComparison.Ordinal) || k.StartsWith("wal/00000002/0000000200000000/", StringComparison.Ordinal));
    }

    /// <summary>
    /// Walship backups W1 (timeline 1, WAL 3..4), W2 (1, 8..9) and W3 (2, C, after the switch), and two
    /// other tools' backups known only by their .backup labels (segments 2 and 7). Newest first by start:
    /// W3, W2, label 7, W1, label 2.
    /// </summary>
    private async Task BuildArchiveWithBackupsAsync()
    {
        await BuildTwoTimelineArchiveAsync();
        ulong segment = SyntheticArchive.SegmentSize;
        await _archive.AddWalshipBackupAsync("base_w1", 1, 3 * segment + 0x28, 4 * segment + 0x100);
        await _archive.AddWalshipBackupAsync("base_w2", 1, 8 * segment + 0x28, 9 * segment + 0x100);
        await _archive.AddWalshipBackupAsync("base_w3", 2, 0xC * segment + 0x28, 0xC * segment + 0x100);
    }

    [Fact]
    public async Task PruneRetain_DryRunDeletesNothing_ConfirmDeletesExactlyTheSelectedWalAndTheBackupsLeftWithoutIt()
    {
        await BuildArchiveWithBackupsAsync();
        var before = await _archive.AllKeysAsync();
        var request = new PruneRequest(null, null, Retain: 2, AllowCurrentTimeline: false, Confirm: false);

        var (dryExit, dry) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request, CancellationToken.None));
        Assert.Equal(0, dryExit);
        Assert.Equal(before, await _archive.AllKeysAsync());
        Assert.Equal(["base_w3", "base_w2"], Strings(dry.GetProperty("retained_backups")));
        // Everything before W2's start segment 8, on every timeline; the .history file, timeline 1's 8..A and
        // B.partial, and timeline 2 (which began after W2) all stay.
        string[] expected = [Seg(1, 1), Seg(1, 2), Seg(1, 2) + ".00000028.backup", Seg(1, 3), Seg(1, 3) + ".00000028.backup", Seg(1, 4),
            Seg(1, 6), Seg(1, 7), Seg(1, 7) + ".00000028.backup"];
        Assert.Equal(expected, Strings(dry.GetProperty("files")));
        // W1's WAL (3..4) goes, so W1 goes; the other tools' backups are only counted.
        Assert.Equal(["base_w1"], Strings(dry.GetProperty("selected_backups")));
        Assert.Equal(0, dry.GetProperty("deleted_backups").GetInt32());
        Assert.Equal("0000000000000008", dry.GetProperty("keep_from").GetString());

        var (exit, done) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request with { Confirm = true }, CancellationToken.None));
        Assert.Equal(0, exit);
        Assert.Equal(1, done.GetProperty("deleted_backups").GetInt32());
        Assert.Equal(expected.Length, done.GetProperty("deleted_objects").GetInt32());
        string[] w1 = [_repository.Layout.BackupManifestKey("base_w1"), _repository.Layout.BackupDataKey("base_w1")];
        Assert.Equal(before.Except(expected.Select(_archive.KeyOf)).Except(w1).ToList(), await _archive.AllKeysAsync());
        var (complete, incomplete) = await new WalShip.Commands.Backup.BackupCatalog(_repository).ListAsync(CancellationToken.None);
        Assert.Equal(["base_w2", "base_w3"], complete.Select(b => b.Name).ToList());
        Assert.Empty(incomplete);

        // Run again: nothing more to delete, the same backups are retained.
        var (_, again) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request with { Confirm = true }, CancellationToken.None));
        Assert.Equal(0, again.GetProperty("selected_objects").GetInt32());
        Assert.Empty(Strings(again.GetProperty("selected_backups")));
    }

    [Fact]
    public async Task PruneRetain_CountsOtherToolsBackups_AndKeepsEverythingWhenThereAreFewerThanAskedFor()
    {
        await BuildArchiveWithBackupsAsync();
        var before = await _archive.AllKeysAsync();

        // Five backups in all: retaining them all keeps from the oldest, the other tool's label at segment 2.
        var (_, five) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(
            new PruneRequest(null, null, Retain: 5, AllowCurrentTimeline: false, Confirm: true), CancellationToken.None));
        Assert.Equal(5, Strings(five.GetProperty("retained_backups")).Count);
        Assert.Equal([Seg(1, 1)], Strings(five.GetProperty("files")));
        Assert.Empty(Strings(five.GetProperty("selected_backups")));

        // Three: W3, W2 and the other tool's backup at segment 7; W1 (3..4) is older and loses its WAL.
        var (_, three) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(
            new PruneRequest(null, null, Retain: 3, AllowCurrentTimeline: false, Confirm: false), CancellationToken.None));
        Assert.Equal(["base_w3", "base_w2", Seg(1, 7) + ".00000028.backup"], Strings(three.GetProperty("retained_backups")));
        Assert.Equal(["base_w1"], Strings(three.GetProperty("selected_backups")));

        // More than there are: nothing is deleted.
        var (_, six) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(
            new PruneRequest(null, null, Retain: 6, AllowCurrentTimeline: true, Confirm: true), CancellationToken.None));
        Assert.Equal(0, six.GetProperty("selected_objects").GetInt32());
        Assert.Empty(Strings(six.GetProperty("selected_backups")));
        Assert.Equal(before.Where(k => !k.EndsWith(Seg(1, 1), StringComparison.Ordinal)).ToList(), await _archive.AllKeysAsync());
    }

    [Fact]
    public async Task PruneRetain_WithABeforeThatSparesAnOlderBackupsWal_DeletesNoBackup()
    {
        await BuildArchiveWithBackupsAsync();
        // --before 3 with --retain 1: only segments 1 and 2 (and the label at 2) go; W1 (3..4) keeps its WAL
        // and stays, restorable, even though it is older than the retained W3.
        var (_, plan) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(
            new PruneRequest(WalFileName.Parse(Seg(1, 3)), null, Retain: 1, AllowCurrentTimeline: false, Confirm: true), CancellationToken.None));
        Assert.Equal(["base_w3"], Strings(plan.GetProperty("retained_backups")));
        Assert.Equal([Seg(1, 1), Seg(1, 2), Seg(1, 2) + ".00000028.backup"], Strings(plan.GetProperty("files")));
        Assert.Empty(Strings(plan.GetProperty("selected_backups")));
        var (complete, _) = await new WalShip.Commands.Backup.BackupCatalog(_repository).ListAsync(CancellationToken.None);
        Assert.Equal(3, complete.Count);
    }

    [Fact]
    public async Task AnInterruptedPrune_FinishesWhenRunAgain()
    {
        await BuildTwoTimelineArchiveAsync();
        var before = await _archive.AllKeysAsync();
        var request = new PruneRequest(WalFileName.Parse(Seg(1, 0xD)), null, null, AllowCurrentTimeline: false, Confirm: true);
        var (_, plan) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request with { Confirm = false }, CancellationToken.None));
        var expected = Strings(plan.GetProperty("files"));

        // The connection drops in the middle of the batch: half the keys are gone, then the run is cancelled.
        using var cancel = new CancellationTokenSource();
        using var interrupted = new Repository(new InterruptingStore(_repository.Store, cancel), _repository.Layout, _repository.Url);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new PruneCommand(interrupted, Console(new StringWriter())).RunAsync(request, cancel.Token));
        var midway = await _archive.AllKeysAsync();
        Assert.True(midway.Count < before.Count && midway.Count > before.Count - expected.Count, "the interruption should leave part of the work done");

        var (exit, second) = await RunAsync(c => new PruneCommand(_repository, c).RunAsync(request, CancellationToken.None));
        Assert.Equal(0, exit);
        Assert.Equal(midway.Count - (before.Count - expected.Count), second.GetProperty("deleted_objects").GetInt32());
        Assert.Equal(before.Except(expected.Select(_archive.KeyOf)).ToList(), await _archive.AllKeysAsync());
    }

    [Fact]
    public async Task Verify_PassesOnAGoodArchive_AndFindsAFlippedByteAMissingSegmentAForeignClusterAndAStray()
    {
        await _archive.AddSegmentsAsync(1, 1, 6);
        await _archive.AddHistoryAsync(2, (1, 7 * (ulong)SyntheticArchive.SegmentSize));
        var (okExit, ok) = await RunAsync(c => new VerifyCommand(_repository, c).RunAsync(WalFilter.All, CancellationToken.None));
        Assert.True(okExit == 0, ok.ToString());
        Assert.True(ok.GetProperty("ok").GetBoolean());
        Assert.Equal(7, ok.GetProperty("checked_objects").GetInt32());

        // A flipped byte in the middle of segment 3's stored body.
        string corrupt = _archive.KeyOf(Seg(1, 3));
        byte[] stored;
        IReadOnlyDictionary<string, string> metadata;
        using (var reader = await _repository.Store.OpenReadAsync(corrupt, CancellationToken.None))
        {
            var copy = new MemoryStream();
            await reader.Body.CopyToAsync(copy);
            stored = copy.ToArray();
            metadata = reader.Metadata ?? new Dictionary<string, string>();
        }
        stored[stored.Length / 2] ^= 0x10;
        using (var body = new PooledBuffer())
        {
            body.Write(stored);
            await _repository.Store.ReplaceAsync(corrupt, body, metadata, CancellationToken.None);
        }
        // Segment 5 goes missing, segment 7 comes from another cluster, and a stray file appears.
        Assert.Empty(await _repository.Store.DeleteAsync([_archive.KeyOf(Seg(1, 5))], CancellationToken.None));
        await _archive.AddSegmentsAsync(1, 7, 7, clusterId: 6_999_999_999_999_999_999UL);
        await _archive.PutRawAsync("wal/00000001/0000000100000000/notes.txt", "hello"u8.ToArray());

        var (exit, report) = await RunAsync(c => new VerifyCommand(_repository, c).RunAsync(WalFilter.All, CancellationToken.None));
        Assert.Equal(ExitCodes.ProblemsFound, exit);
        Assert.False(report.GetProperty("ok").GetBoolean());
        var problems = report.GetProperty("problems").EnumerateArray()
            .Select(p => (Kind: p.GetProperty("kind").GetString()!, File: p.GetProperty("file").GetString(), Key: p.GetProperty("key").GetString()))
            .ToList();
        Assert.Contains(("corrupt", (string?)Seg(1, 3)), problems.Select(p => (p.Kind, p.File)));
        Assert.Contains(("gap", (string?)Seg(1, 5)), problems.Select(p => (p.Kind, p.File)));
        Assert.Contains(("foreign_cluster", (string?)Seg(1, 7)), problems.Select(p => (p.Kind, p.File)));
        Assert.Contains(problems, p => p.Kind == "not_walship" && p.Key!.EndsWith("/notes.txt", StringComparison.Ordinal));
        Assert.Equal(4, problems.Count);

        // A range re-reads only its own segments; stray objects are reported whatever the range.
        var (rangeExit, range) = await RunAsync(c => new VerifyCommand(_repository, c).RunAsync(
            new WalFilter(Timeline: 1, From: WalFileName.Parse(Seg(1, 1)), To: WalFileName.Parse(Seg(1, 2))), CancellationToken.None));
        Assert.Equal(ExitCodes.ProblemsFound, rangeExit);
        Assert.Equal(2, range.GetProperty("checked_objects").GetInt32());
        Assert.Equal(["not_walship"], range.GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("kind").GetString()));
    }

    /// <summary>A store whose batch delete removes the first half of its keys, then cancels the run,
    /// as a connection lost in the middle of a DeleteObjects call would.</summary>
    private sealed class InterruptingStore(IObjectStore inner, CancellationTokenSource cancel) : IObjectStore
    {
        public string Describe(string key) => inner.Describe(key);
        public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) => inner.GetLengthAsync(key, cancellationToken);
        public Task<ObjectReader> OpenReadAsync(string key, CancellationToken cancellationToken) => inner.OpenReadAsync(key, cancellationToken);
        public Task PutIfAbsentAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
            inner.PutIfAbsentAsync(key, body, metadata, cancellationToken);
        public Task ReplaceAsync(string key, PooledBuffer body, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken) =>
            inner.ReplaceAsync(key, body, metadata, cancellationToken);
        public Task<IObjectUpload> BeginUploadAsync(string key, CancellationToken cancellationToken) => inner.BeginUploadAsync(key, cancellationToken);
        public Task<ObjectReader> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken) =>
            inner.OpenReadAsync(key, offset, length, cancellationToken);
        public IAsyncEnumerable<ListedEntry> ListAsync(string prefix, bool delimited, CancellationToken cancellationToken, string? startAfter = null) =>
            inner.ListAsync(prefix, delimited, cancellationToken, startAfter);

        public async Task<IReadOnlyList<DeleteFailure>> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
        {
            await inner.DeleteAsync(keys.Take(keys.Count / 2).ToList(), CancellationToken.None);
            await cancel.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException("unreachable: the token was cancelled");
        }

        public void Dispose() { }
    }
}

public sealed class FileAdminCommandScenarios : AdminCommandScenarios
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());
}

public sealed class S3AdminCommandScenarios : AdminCommandScenarios
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await S3RepositoryBackend.StartAsync();
}
