using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace WalShip.Tests.Integration;

/// <summary>
/// Hundreds of real PostgreSQL segments pushed and fetched by the native binary through an S3 server
/// behind <see cref="FaultProxy"/>, with about one request in ten failing in one of many ways. Each
/// call is retried as PostgreSQL would retry it. Nothing may be lost (fetch exit 1 for an archived
/// segment), corrupted (fetch exit 0 with other bytes), or hang (a call beyond its deadline + 10 s).
/// </summary>
public sealed partial class SoakTests(ITestOutputHelper output)
{
    private const int MinSegments = 500;
    private const int Workers = 2;
    private const int MaxTries = 5;
    private const int Seed = 20_240_611;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CallLimit = Deadline + TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KillAfter = CallLimit + TimeSpan.FromSeconds(15);

    /// <summary>pgbench's own transaction, a few more updates, and a WAL switch: one segment per transaction,
    /// with real records at the start and zeros after the switch.</summary>
    private const string PgBenchScript = """
        \set aid random(1, 100000 * :scale)
        \set bid random(1, 1 * :scale)
        \set tid random(1, 10 * :scale)
        \set delta random(-5000, 5000)
        BEGIN;
        UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
        SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
        UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
        UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
        INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
        UPDATE pgbench_accounts SET abalance = abalance - :delta WHERE aid BETWEEN :aid AND :aid + 40;
        END;
        SELECT pg_switch_wal();
        """;

    private static FaultRule SoakRule() => FaultRules.Random(0.10,
        (3, _ => FaultAction.Respond(503, "SlowDown")),
        (2, _ => FaultAction.Respond(500, "InternalError")),
        (2, _ => FaultAction.ResetBeforeForwarding),
        (2, _ => FaultAction.ResetMidResponse),
        (1, _ => FaultAction.TruncateResponse),
        (1, _ => FaultAction.ResetMidRequestBody),
        (2, random => FaultAction.Delay(TimeSpan.FromMilliseconds(random.Next(50, 500)))));

    private sealed class Tally
    {
        public readonly ConcurrentBag<string> Hangs = [];
        public readonly ConcurrentBag<string> Failures = [];
        public readonly ConcurrentBag<string> Lost = [];
        public readonly ConcurrentBag<string> Corrupted = [];
        public readonly ConcurrentDictionary<string, int> ExitCodes = new();
        public int Calls;
        public long MaxCallTicks;

        public TimeSpan MaxCall => TimeSpan.FromTicks(Interlocked.Read(ref MaxCallTicks));

        public void Record(string command, int exitCode, TimeSpan elapsed)
        {
            Interlocked.Increment(ref Calls);
            ExitCodes.AddOrUpdate($"{command} {exitCode}", 1, (_, n) => n + 1);
            long ticks = elapsed.Ticks;
            for (long seen = Interlocked.Read(ref MaxCallTicks); ticks > seen; seen = Interlocked.Read(ref MaxCallTicks))
                Interlocked.CompareExchange(ref MaxCallTicks, ticks, seen);
        }
    }

    [Fact]
    public async Task HundredsOfRealSegments_SurviveRandomFaults_WithNothingLostCorruptedOrHung()
    {
        var total = Stopwatch.StartNew();
        await using var tmp = TestPaths.CreateTempDir("walship-soak");
        await using var repo = await S3RepositoryBackend.StartAsync();
        await using var proxy = FaultProxy.Start(repo.Environment["WALSHIP_ENDPOINT"], seed: Seed);
        await using var cluster = await PgCluster.InitAsync("soak", tmp);

        // 1. Real WAL, fast: one pg_switch_wal() per pgbench transaction, every segment kept in pg_wal.
        var phase = Stopwatch.StartNew();
        var segments = await GenerateSegmentsAsync(cluster, tmp);
        var generateTime = phase.Elapsed;
        Assert.True(segments.Count >= MinSegments, $"pgbench produced only {segments.Count} completed segments");
        output.WriteLine($"generated {segments.Count} segments ({segments[0]} .. {segments[^1]}) in {generateTime.TotalSeconds:F1} s");

        var env = new Dictionary<string, string>(repo.Environment) { ["WALSHIP_ENDPOINT"] = proxy.Endpoint };
        proxy.Rule = SoakRule();
        var tally = new Tally();

        // 2. Push every segment through the faults, retrying as the archiver would.
        phase.Restart();
        await RunWorkersAsync(segments, segment => PushUntilStoredAsync(cluster.DataDir, segment, env, tally));
        var pushTime = phase.Elapsed;
        var afterPush = proxy.Summary();
        output.WriteLine($"push: {pushTime.TotalSeconds:F1} s; proxy so far: {afterPush}");

        // 3. Fetch every segment back through the faults, as archive recovery would, and compare.
        phase.Restart();
        var restoreDirs = Enumerable.Range(0, Workers).Select(i => RestoreDir(tmp, cluster, i)).ToArray();
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < segments.Count; i = Interlocked.Increment(ref next))
                await FetchAndCompareAsync(restoreDirs[worker], cluster.PgWalDir, segments[i], env, tally);
        })));
        var fetchTime = phase.Elapsed;

        foreach (string dir in restoreDirs)
            Assert.Empty(Directory.GetFiles(Path.Combine(dir, "pg_wal")));

        // Report.
        var counts = proxy.Counts();
        output.WriteLine($"fetch: {fetchTime.TotalSeconds:F1} s");
        output.WriteLine($"proxy: {proxy.Summary()}");
        output.WriteLine("fault mix (seed " + Seed + "): " + string.Join(", ", counts.Where(c => c.Key != "PassThrough").Select(c => $"{c.Key} = {c.Value}")));
        output.WriteLine($"walship calls: {tally.Calls}; exit codes: " +
                         string.Join(", ", tally.ExitCodes.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} x{c.Value}")));
        output.WriteLine($"longest call: {tally.MaxCall.TotalSeconds:F1} s (limit {CallLimit.TotalSeconds:F0} s)");
        output.WriteLine($"total: {total.Elapsed.TotalSeconds:F1} s");
        foreach (string line in tally.Failures.Concat(tally.Lost).Concat(tally.Corrupted).Concat(tally.Hangs).Take(20))
            output.WriteLine(line);
        if (proxy.Errors() is { Count: > 0 } errors)
            output.WriteLine("proxy errors: " + string.Join(" | ", errors.Take(5)));
        Console.WriteLine(
            $"walship soak: {segments.Count} real segments pushed and fetched through FaultProxy in {total.Elapsed.TotalSeconds:F0} s " +
            $"(generate {generateTime.TotalSeconds:F0} s, push {pushTime.TotalSeconds:F0} s, fetch {fetchTime.TotalSeconds:F0} s, {Workers} workers); " +
            $"{proxy.RequestCount} requests, {proxy.FaultCount} faults; {tally.Lost.Count} lost, {tally.Corrupted.Count} corrupted, " +
            $"{tally.Hangs.Count} hung, {tally.Failures.Count} failed; longest call {tally.MaxCall.TotalSeconds:F1} s");

        Assert.True(proxy.FaultCount >= segments.Count / 5, "too few faults were injected: " + proxy.Summary());
        Assert.True(tally.Lost.IsEmpty, "lost WAL: " + string.Join(Environment.NewLine, tally.Lost.Take(5)));
        Assert.True(tally.Corrupted.IsEmpty, "corrupted WAL: " + string.Join(Environment.NewLine, tally.Corrupted.Take(5)));
        Assert.True(tally.Hangs.IsEmpty, "calls beyond their deadline: " + string.Join(Environment.NewLine, tally.Hangs.Take(5)));
        Assert.True(tally.Failures.IsEmpty, "calls that kept failing: " + string.Join(Environment.NewLine, tally.Failures.Take(5)));
    }

    private async Task<List<string>> GenerateSegmentsAsync(PgCluster cluster, TestTempDir tmp)
    {
        cluster.AppendConfig("""
            archive_mode = off
            wal_level = replica
            wal_keep_size = '32GB'
            max_wal_size = '32GB'
            checkpoint_timeout = '1h'
            synchronous_commit = off
            wal_init_zero = off
            """);
        await cluster.StartAsync();
        await cluster.PgBenchInitAsync(1);

        string script = Path.Combine(tmp.Path, "switch.sql");
        await File.WriteAllTextAsync(script, PgBenchScript);
        PgUser.ChownToPostgres(script);
        (await PgUser.RunPgAsync("pgbench",
                ["-n", "-f", script, "-t", (MinSegments + 5).ToString(CultureInfo.InvariantCulture), "-c", "1",
                 "-h", cluster.SocketDir, "-p", cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", PgCluster.SuperUser, "postgres"],
                cwd: cluster.BaseDir, timeout: TimeSpan.FromMinutes(3)))
            .EnsureSuccess("pgbench with pg_switch_wal()");
        await cluster.SwitchWalAsync();
        string current = await cluster.CurrentWalFileAsync();
        await cluster.StopAsync();

        // Completed segments: every segment name before the one being written.
        return Directory.GetFiles(cluster.PgWalDir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => SegmentName().IsMatch(name) && string.CompareOrdinal(name, current) < 0)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static async Task RunWorkersAsync(IReadOnlyList<string> items, Func<string, Task> work)
    {
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < items.Count; i = Interlocked.Increment(ref next))
                await work(items[i]);
        })));
    }

    /// <summary>A restoring server's data directory: pg_wal, recovery.signal (so a failure is exit 200, never 1)
    /// and the cluster's pg_control (so fetch checks the cluster identity against it).</summary>
    private static string RestoreDir(TestTempDir tmp, PgCluster cluster, int worker)
    {
        string dir = tmp.CreateSubdirectory($"restore-{worker}");
        Directory.CreateDirectory(Path.Combine(dir, "pg_wal"));
        Directory.CreateDirectory(Path.Combine(dir, "global"));
        File.Copy(Path.Combine(cluster.DataDir, "global", "pg_control"), Path.Combine(dir, "global", "pg_control"));
        File.WriteAllText(Path.Combine(dir, "recovery.signal"), "");
        PgUser.ChownToPostgres(dir, recursive: true);
        return dir;
    }

    private static async Task<ProcessResult?> CallAsync(string command, IEnumerable<string> args, Dictionary<string, string> env, string cwd, Tally tally, string segment)
    {
        ProcessResult result;
        try
        {
            result = await WalshipBinary.RunAsync(args, env, cwd, KillAfter);
        }
        catch (TimeoutException e)
        {
            tally.Hangs.Add($"{command} {segment}: killed after {KillAfter.TotalSeconds:F0} s: {e.Message}");
            tally.Record(command, -1, KillAfter);
            return null;
        }
        tally.Record(command, result.ExitCode, result.Elapsed);
        if (result.Elapsed > CallLimit)
            tally.Hangs.Add($"{command} {segment}: took {result.Elapsed.TotalSeconds:F1} s (limit {CallLimit.TotalSeconds:F0} s){Environment.NewLine}{result}");
        return result;
    }

    private static async Task PushUntilStoredAsync(string dataDir, string segment, Dictionary<string, string> env, Tally tally)
    {
        ProcessResult? last = null;
        for (int attempt = 1; attempt <= MaxTries; attempt++)
        {
            last = await CallAsync("push", ["push", $"pg_wal/{segment}", segment, "--deadline", $"{Deadline.TotalSeconds:F0}s"], env, dataDir, tally, segment);
            if (last is { ExitCode: 0 })
                return;
        }
        tally.Failures.Add($"push {segment}: still failing after {MaxTries} tries; last: {last?.ToString() ?? "killed"}");
    }

    private static async Task FetchAndCompareAsync(string restoreDir, string originalWal, string segment, Dictionary<string, string> env, Tally tally)
    {
        string target = Path.Combine(restoreDir, "pg_wal", "RECOVERYXLOG");
        ProcessResult? last = null;
        for (int attempt = 1; attempt <= MaxTries; attempt++)
        {
            last = await CallAsync("fetch", ["fetch", segment, "pg_wal/RECOVERYXLOG", "--deadline", $"{Deadline.TotalSeconds:F0}s"], env, restoreDir, tally, segment);
            if (last is null)
                continue;
            if (last.ExitCode == 1)
            {
                tally.Lost.Add($"fetch {segment}: exit 1 ('not in archive') for an archived segment{Environment.NewLine}{last}");
                return;
            }
            if (last.ExitCode != 0)
            {
                if (File.Exists(target))
                    tally.Corrupted.Add($"fetch {segment}: exit {last.ExitCode} but %p exists");
                continue;
            }
            byte[] restored = await File.ReadAllBytesAsync(target);
            byte[] original = await File.ReadAllBytesAsync(Path.Combine(originalWal, segment));
            if (!original.AsSpan().SequenceEqual(restored))
                tally.Corrupted.Add($"fetch {segment}: exit 0 but {restored.Length} bytes differ from the {original.Length} original bytes");
            File.Delete(target);
            return;
        }
        tally.Failures.Add($"fetch {segment}: still failing after {MaxTries} tries; last: {last?.ToString() ?? "killed"}");
    }

    [GeneratedRegex("^[0-9A-F]{24}$")]
    private static partial Regex SegmentName();
}
