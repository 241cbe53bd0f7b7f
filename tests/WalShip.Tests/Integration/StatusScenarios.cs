using System.Globalization;
using System.Text.Json;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// `walship status` and --metrics-file against a real primary whose archive_command is the native binary:
/// archiving paused (a repository that does not exist) shows as a growing backlog and exit 11, and fixing
/// archive_command brings status back to 0. Runs once per repository kind.
/// </summary>
public abstract class StatusScenarios() : RepositoryKindScenarios("walship-status")
{
    private const int Threshold = 3;
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(90);

    private async Task<(int ExitCode, JsonElement Report)> StatusJsonAsync(PgCluster cluster)
    {
        var result = await WalshipBinary.RunAsync(
            ["status", "--pgdata", cluster.DataDir, "--connection", cluster.ConnectionString, "--backlog-warn", $"{Threshold}", "--json"],
            Env(), Tmp.Path);
        Assert.True(result.StdOut.StartsWith('{'), result.ToString());
        return (result.ExitCode, JsonDocument.Parse(result.StdOut).RootElement.Clone());
    }

    private static async Task<string> SwitchWithDataAsync(PgCluster cluster, int i)
    {
        await cluster.QueryAsync($"CREATE TABLE IF NOT EXISTS t(i int); INSERT INTO t VALUES ({i})");
        return await cluster.SwitchWalAsync();
    }

    [Fact]
    public async Task PausedArchiving_ShowsAGrowingBacklog_AndRecoversWhenFixed()
    {
        string metrics = Path.Combine(Tmp.CreateSubdirectory("metrics"), "walship.prom");
        string paused = $"{WalshipBinary.Path} --repo file:///nonexistent/walship-repo --metrics-file {metrics} push %p %f";
        await using var primary = await StartArchivingPrimaryAsync(archiveCommand: paused);

        for (int i = 0; i < Threshold + 1; i++)
            await SwitchWithDataAsync(primary, i);
        // The archiver retries on its own schedule; on a loaded machine its first attempt can come later.
        await primary.WaitForAsync(async () => long.Parse(await primary.QueryAsync("select failed_count from pg_stat_archiver"), CultureInfo.InvariantCulture) >= 1,
            CatchUp, "the archiver's first failed attempt");
        var (code, report) = await StatusJsonAsync(primary);
        Assert.True(code == 11, report.ToString());
        Assert.Equal("behind", report.GetProperty("status").GetString());
        Assert.Equal("primary", report.GetProperty("role").GetString());
        Assert.True(report.GetProperty("server").GetProperty("connected").GetBoolean());
        int readyBefore = report.GetProperty("archive_status").GetProperty("ready_count").GetInt32();
        Assert.True(readyBefore >= Threshold + 1, report.ToString());
        Assert.True(report.GetProperty("lag").GetProperty("segments").GetInt64() >= Threshold + 1, report.ToString());
        Assert.True(report.GetProperty("archiver").GetProperty("failed_count").GetInt64() >= 1, report.ToString());
        Assert.Contains(report.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("archiving is behind"));

        await SwitchWithDataAsync(primary, 100);
        await SwitchWithDataAsync(primary, 101);
        (code, report) = await StatusJsonAsync(primary);
        Assert.Equal(11, code);
        Assert.True(report.GetProperty("archive_status").GetProperty("ready_count").GetInt32() > readyBefore, report.ToString());

        // Text and OpenMetrics show the same.
        var text = await WalshipBinary.RunAsync(["status", "--pgdata", primary.DataDir, "--connection", primary.ConnectionString, "--backlog-warn", $"{Threshold}"],
            Env(), Tmp.Path);
        Assert.Equal(11, text.ExitCode);
        Assert.Contains("BEHIND", text.StdOut);
        Assert.Contains(".ready", text.StdOut);
        var openMetrics = await WalshipBinary.RunAsync(["status", "--pgdata", primary.DataDir, "--connection", primary.ConnectionString, "--backlog-warn", $"{Threshold}", "--prometheus"],
            Env(), Tmp.Path);
        var families = PrometheusTextParser.Parse(openMetrics.StdOut, openMetrics: true);
        Assert.Equal(1, families["walship_status_behind"].Samples.Values.Single());
        Assert.True(families["walship_archive_ready_files"].Samples.Values.Single() >= Threshold + 2);

        // Fix archive_command: the environment's repository, which exists.
        string fixedCommand = $"{WalshipBinary.Path} --metrics-file {metrics} push %p %f";
        await primary.QueryAsync($"ALTER SYSTEM SET archive_command = {PgCluster.ConfigQuote(fixedCommand)}");
        await primary.QueryAsync("SELECT pg_reload_conf()");
        string last = await SwitchWithDataAsync(primary, 200);
        await primary.WaitForAsync(async () =>
        {
            var (exitCode, status) = await StatusJsonAsync(primary);
            return exitCode == 0 && status.GetProperty("archive_status").GetProperty("ready_count").GetInt32() == 0
                                 && status.GetProperty("repository").GetProperty("last_segment").GetString() == last;
        }, CatchUp, "status to report archiving caught up");

        (code, report) = await StatusJsonAsync(primary);
        Assert.Equal(0, code);
        Assert.Equal("ok", report.GetProperty("status").GetString());
        Assert.Equal(0, report.GetProperty("archive_status").GetProperty("ready_count").GetInt32());
        Assert.Equal(last, report.GetProperty("repository").GetProperty("last_segment").GetString());
        Assert.Equal(0, report.GetProperty("lag").GetProperty("segments").GetInt64());
        Assert.True(report.GetProperty("repository").GetProperty("bound").GetBoolean());
        Assert.True(report.GetProperty("repository").GetProperty("probes").GetInt32() <= 5, report.ToString());

        // Every push updated the metrics file: failures by class while paused, then successes.
        var pushes = PrometheusTextParser.Parse(File.ReadAllText(metrics))["walship_runs_total"].Samples;
        Assert.True(pushes.GetValueOrDefault("walship_runs_total{command=\"push\",outcome=\"ok\"}") >= 7, string.Join("\n", pushes));
        Assert.True(pushes.Where(p => !p.Key.Contains("outcome=\"ok\"")).Sum(p => p.Value) >= 1, string.Join("\n", pushes));

        // A fetch of a file the archive lacks counts as absent, and the file stays valid.
        string scratch = Tmp.CreateDataDirectory("scratch", "standby.signal");
        var fetch = await WalshipBinary.RunAsync(["fetch", "--metrics-file", metrics, "0000000100000000000000FF", "pg_wal/RECOVERYXLOG"],
            Env(), scratch);
        Assert.True(fetch.ExitCode == 1, fetch.ToString());
        var fetches = PrometheusTextParser.Parse(File.ReadAllText(metrics))["walship_runs_total"].Samples;
        Assert.Equal(1, fetches["walship_runs_total{command=\"fetch\",outcome=\"absent\"}"]);
    }

    [Fact]
    public async Task Standby_ShowsHowFarTheArchiveIsAhead()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        standby.CreateSignalFile("standby.signal");
        // No restore_command and no primary_conninfo: the standby cannot follow, so the archive runs ahead.
        await standby.StartAsync(Env());

        for (int i = 0; i < Threshold + 1; i++)
            await SwitchWithDataAsync(primary, i);
        string last = await primary.SwitchWalAndWaitArchivedAsync(CatchUp);

        var (code, report) = await StatusJsonAsync(standby);
        Assert.True(code == 11, report.ToString());
        Assert.Equal("standby", report.GetProperty("role").GetString());
        var standbySection = report.GetProperty("standby");
        Assert.True(standbySection.GetProperty("archive_ahead_segments").GetInt64() >= Threshold + 1, report.ToString());
        Assert.Equal(last, report.GetProperty("repository").GetProperty("last_segment").GetString());
    }
}

public sealed class FileRepositoryStatusScenarios : StatusScenarios
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());
}

public sealed class S3RepositoryStatusScenarios : StatusScenarios
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await S3RepositoryBackend.StartAsync();
}
