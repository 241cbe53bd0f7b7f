using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// The PostgreSQL contract, end to end: real clusters run the native binary as archive_command and
/// restore_command. Each scenario runs once per repository kind (the subclasses below).
/// </summary>
public abstract class ArchiveScenarios() : RepositoryKindScenarios("walship-it")
{
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(60);

    /// <summary>Switches to a new segment and waits until the archiver has stored the old one.</summary>
    private static Task<string> SwitchAndWaitArchivedAsync(PgCluster cluster) => cluster.SwitchWalAndWaitArchivedAsync(CatchUp);

    private static async Task WaitForRowsAsync(PgCluster standby, string sql, string expected) =>
        await standby.WaitForAsync(async () => await standby.QueryAsync(sql) == expected, CatchUp,
            $"{standby.Name} to replay from the archive until '{sql}' = {expected}");

    [Fact]
    public async Task StandbyReplaysFromTheArchiveAlone_AndASecondStandbyFollowsThePromotedTimeline()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.PgBenchInitAsync(scale: 1);
        await primary.PgBenchRunAsync(transactions: 200, clients: 2);

        // A standby with no primary_conninfo: every WAL byte after the base backup comes through walship fetch.
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby1");
        await using var standby2 = await PgCluster.BaseBackupAsync(primary, "standby2");
        ConfigureRestore(standby, archiveToo: true);
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync(Env());

        await primary.PgBenchRunAsync(transactions: 300, clients: 2);
        await primary.QueryAsync("create table marker as select 1 as phase");
        string historySum = await primary.QueryAsync("select sum(abalance) from pgbench_accounts");
        string historyCount = await primary.QueryAsync("select count(*) from pgbench_history");
        await SwitchAndWaitArchivedAsync(primary);

        await WaitForRowsAsync(standby, "select count(*) from pgbench_history", historyCount);
        Assert.Equal(historySum, await standby.QueryAsync("select sum(abalance) from pgbench_accounts"));
        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));
        Assert.Equal("1", await standby.QueryAsync("select phase from marker"));
        Assert.Contains("walship: info: fetch", standby.ReadLog());
        Assert.Contains("restored log file", standby.ReadLog());

        // Promote the standby: it archives 00000002.history and timeline 2 into the same repository.
        await primary.StopAsync();
        await standby.PromoteAsync();
        await standby.WaitForAsync(async () => await standby.QueryAsync("select pg_is_in_recovery()") == "f", CatchUp, "promotion");
        await standby.QueryAsync("insert into marker values (2)");
        await SwitchAndWaitArchivedAsync(standby);
        Assert.NotNull(Repo.ReadObject(RepositoryBackend.SegmentKey("00000002.history")));
        string timeline2Segment = await standby.QueryAsync("select pg_walfile_name(pg_current_wal_lsn())");
        Assert.StartsWith("00000002", timeline2Segment);

        // The second standby was backed up on timeline 1 and finds timeline 2 in the archive alone.
        ConfigureRestore(standby2, archiveToo: false);
        standby2.CreateSignalFile("standby.signal");
        await standby2.StartAsync(Env());
        await WaitForRowsAsync(standby2, "select count(*) from marker", "2");
        Assert.Equal(historyCount, await standby2.QueryAsync("select count(*) from pgbench_history"));
        Assert.Contains("restored log file \"00000002.history\" from archive", standby2.ReadLog());
        Assert.Equal("t", await standby2.QueryAsync("select pg_is_in_recovery()"));
    }

    [Fact]
    public async Task PushIsIdempotent_AndNeverOverwritesDifferentContent()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync("create table t as select generate_series(1, 50000) i");
        string segment = await SwitchAndWaitArchivedAsync(primary);
        string key = RepositoryBackend.SegmentKey(segment);
        byte[] stored = Repo.ReadObject(key) ?? throw new Xunit.Sdk.XunitException($"{key} not stored");

        // Fetch the archived segment into a scratch "data directory", then push it again: identical → 0.
        string scratch = ScratchDataDir("scratch");
        var fetched = await WalshipBinary.RunAsync(["fetch", segment, $"pg_wal/{segment}"], Env(), scratch);
        Assert.Equal(0, fetched.ExitCode);
        var again = await WalshipBinary.RunAsync(["push", $"pg_wal/{segment}", segment], Env(), scratch);
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Contains("already archived, identical", again.StdErr);

        // Same name, same cluster, valid page headers, one changed byte inside a page body → refused.
        string path = Path.Combine(scratch, "pg_wal", segment);
        byte[] raw = File.ReadAllBytes(path);
        raw[8192 + 4000] ^= 0x55;
        File.WriteAllBytes(path, raw);
        var conflicting = await WalshipBinary.RunAsync(["push", $"pg_wal/{segment}", segment], Env(), scratch);
        Assert.Equal(8, conflicting.ExitCode);
        Assert.Contains("different content", conflicting.StdErr);
        Assert.Equal(stored, Repo.ReadObject(key));
    }

    [Fact]
    public async Task FetchOfAMissingFile_Exits1Fast_AndCreatesNothing_ButOnlyFromARealRepository()
    {
        string data = ScratchDataDir("missing");
        File.WriteAllText(Path.Combine(data, "recovery.signal"), "");

        // An empty repository (a wrong --repo, an unmounted NFS directory) proves nothing absent.
        var unbound = await WalshipBinary.RunAsync(["fetch", "0000000100000000000000AB", "pg_wal/RECOVERYXLOG"], Env(), data);
        Assert.True(unbound.ExitCode == 200, unbound.StdErr);
        Assert.Contains("no walship.json", unbound.StdErr);

        // Once a cluster has archived into it, a missing key is an authoritative "absent".
        await using (var primary = await StartArchivingPrimaryAsync())
            await SwitchAndWaitArchivedAsync(primary);
        var started = DateTime.UtcNow;
        var result = await WalshipBinary.RunAsync(["fetch", "0000000100000000000000AB", "pg_wal/RECOVERYXLOG"], Env(), data);
        var elapsed = DateTime.UtcNow - started;
        Assert.True(result.ExitCode == 1, result.StdErr);
        Assert.Contains("not in archive", result.StdErr);
        Assert.False(File.Exists(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "pg_wal")));
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"absent answer took {elapsed}");

        var history = await WalshipBinary.RunAsync(["fetch", "00000005.history", "pg_wal/RECOVERYHISTORY"], Env(), data);
        Assert.Equal(1, history.ExitCode);
    }

    [Fact]
    public async Task FetchOfACorruptObject_FailsWithoutCreatingTheFile_InEveryMode()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync("create table t as select generate_series(1, 20000) i");
        string segment = await SwitchAndWaitArchivedAsync(primary);
        string key = RepositoryBackend.SegmentKey(segment);
        byte[] stored = Repo.ReadObject(key)!;
        stored[stored.Length / 2] ^= 0x01;
        Repo.WriteObject(key, stored);

        string data = ScratchDataDir("corrupt");
        File.WriteAllText(Path.Combine(data, "recovery.signal"), "");
        var recovery = await WalshipBinary.RunAsync(["fetch", segment, "pg_wal/RECOVERYXLOG"], Env(), data);
        Assert.Equal(200, recovery.ExitCode); // above 125: PostgreSQL stops instead of ending recovery early
        Assert.Contains("corrupt", recovery.StdErr);
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "pg_wal")));

        File.Delete(Path.Combine(data, "recovery.signal"));
        File.WriteAllText(Path.Combine(data, "standby.signal"), "");
        var standby = await WalshipBinary.RunAsync(["fetch", segment, "pg_wal/RECOVERYXLOG", "--fatal-exit-code", "201"], Env(), data);
        Assert.Equal(1, standby.ExitCode); // a standby asks again later
        Assert.Contains("corrupt", standby.StdErr);
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "pg_wal")));
    }

    [Fact]
    public async Task ASecondClustersWal_IsRefusedByPush_AndNotHandedToItByFetch()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync("create table t as select 1");
        string primarySegment = await SwitchAndWaitArchivedAsync(primary);

        // Another cluster, not archiving; push its completed segment by hand into the first one's repository.
        await using var other = await PgCluster.InitAsync("other", Tmp);
        await other.StartAsync();
        string otherSegment = await other.SwitchWalAsync();
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{otherSegment}", otherSegment], Env(), other.DataDir);
        Assert.True(push.ExitCode == 7, push.StdErr);
        Assert.Contains("refusing to mix clusters", push.StdErr);

        // And the other cluster must never receive the first cluster's WAL.
        File.WriteAllText(Path.Combine(other.DataDir, "recovery.signal"), "");
        var fetch = await WalshipBinary.RunAsync(["fetch", primarySegment, "pg_wal/RECOVERYXLOG"], Env(), other.DataDir);
        File.Delete(Path.Combine(other.DataDir, "recovery.signal"));
        Assert.Equal(200, fetch.ExitCode);
        Assert.Contains("refusing to restore it", fetch.StdErr);
        Assert.False(File.Exists(Path.Combine(other.DataDir, "pg_wal", "RECOVERYXLOG")));
    }

    [Fact]
    public async Task AdminCommands_OnARealArchiveWithAPromotion_ListPruneAndVerify()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync("create table t as select generate_series(1, 20000) i");
        await SwitchAndWaitArchivedAsync(primary);
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        ConfigureRestore(standby, archiveToo: true);
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync(Env());
        await primary.QueryAsync("insert into t select generate_series(1, 20000)");
        string lastOnTimeline1 = await SwitchAndWaitArchivedAsync(primary);
        await WaitForRowsAsync(standby, "select count(*) from t", "40000");

        await primary.StopAsync();
        await standby.PromoteAsync();
        await standby.WaitForAsync(async () => await standby.QueryAsync("select pg_is_in_recovery()") == "f", CatchUp, "promotion");
        await SwitchAndWaitArchivedAsync(standby);
        string switchPoint = (await standby.QueryAsync("select pg_current_wal_lsn()")).Trim();
        string scratch = ScratchDataDir("admin");

        // list: two timelines, timeline 2 branched from 1, no gaps, the base backup's label.
        var list = await WalshipBinary.RunAsync(["list", "--json"], Env(), scratch);
        Assert.True(list.ExitCode == 0, list.StdErr);
        var json = System.Text.Json.JsonDocument.Parse(list.StdOut).RootElement;
        var timelines = json.GetProperty("timelines").EnumerateArray().ToList();
        Assert.Equal([1u, 2u], timelines.Select(t => t.GetProperty("timeline").GetUInt32()));
        Assert.Equal(1u, timelines[1].GetProperty("parent").GetUInt32());
        Assert.Equal("00000002.history", timelines[1].GetProperty("history").GetString());
        Assert.True(WalShip.Wal.TimelineHistory.TryParseLsn(timelines[1].GetProperty("switch_point").GetString()!, out ulong branchedAt));
        Assert.True(WalShip.Wal.TimelineHistory.TryParseLsn(switchPoint, out ulong now) && branchedAt <= now);
        Assert.All(timelines, t => Assert.Empty(t.GetProperty("gaps").EnumerateArray()));
        Assert.Equal(lastOnTimeline1, timelines[0].GetProperty("last").GetString());
        Assert.NotEmpty(timelines[0].GetProperty("backups").EnumerateArray());
        Assert.True(timelines[1].GetProperty("segments").GetInt32() >= 1);
        Assert.Contains("Timeline 2  (branched from timeline 1 at", (await WalshipBinary.RunAsync(["list"], Env(), scratch)).StdOut);

        // verify: the whole archive reads back clean.
        var verify = await WalshipBinary.RunAsync(["verify"], Env(), scratch);
        Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);

        // prune: the dry run deletes nothing; --confirm deletes timeline 1's WAL before the switch, never the history.
        string[] everything = ["prune", "--before", "0000000100000000000000FF", "--json"];
        var dry = await WalshipBinary.RunAsync(everything, Env(), scratch);
        Assert.True(dry.ExitCode == 0, dry.StdErr);
        var plan = System.Text.Json.JsonDocument.Parse(dry.StdOut).RootElement;
        var selected = plan.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToList();
        Assert.NotEmpty(selected);
        Assert.All(selected, f => Assert.StartsWith("00000001", f));
        Assert.All(selected, f => Assert.NotNull(Repo.ReadObject(RepositoryBackend.SegmentKey(f))));
        Assert.True(plan.GetProperty("kept_by_timeline_guard").GetInt32() > 0);

        var confirm = await WalshipBinary.RunAsync([.. everything, "--confirm"], Env(), scratch);
        Assert.True(confirm.ExitCode == 0, confirm.StdErr);
        Assert.All(selected, f => Assert.Null(Repo.ReadObject(RepositoryBackend.SegmentKey(f))));
        Assert.NotNull(Repo.ReadObject(RepositoryBackend.SegmentKey("00000002.history")));
        var after = System.Text.Json.JsonDocument.Parse((await WalshipBinary.RunAsync(["list", "--json"], Env(), scratch)).StdOut).RootElement;
        Assert.Equal(timelines[1].GetProperty("segments").GetInt32(),
            after.GetProperty("timelines").EnumerateArray().Single(t => t.GetProperty("timeline").GetUInt32() == 2).GetProperty("segments").GetInt32());
        Assert.True((await WalshipBinary.RunAsync(["verify"], Env(), scratch)).ExitCode == 0);
    }

    /// <summary>A directory shaped like a data directory (just pg_wal), owned by the postgres user.</summary>
    private string ScratchDataDir(string name) => Tmp.CreateDataDirectory(name);
}

public sealed class FileRepositoryScenarios : ArchiveScenarios
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());
}

public sealed class S3RepositoryScenarios : ArchiveScenarios
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await S3RepositoryBackend.StartAsync();
}
