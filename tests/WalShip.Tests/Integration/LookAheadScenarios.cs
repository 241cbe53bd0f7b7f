using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// Push-ahead and prefetch with the native binary and its detached workers: files pushed ahead are
/// stored once and their receipts are trusted only while they hold; a killed worker loses nothing;
/// prefetch follows a timeline switch, never serves pg_rewind and keeps its bounds. Runs once per
/// repository kind, the S3 one through a pass-through <see cref="FaultProxy"/> that counts requests.
/// </summary>
public abstract partial class LookAheadScenarios : IAsyncLifetime
{
    protected const ulong ClusterId = SyntheticWal.DefaultSystemIdentifier;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(90);
    private readonly List<string> _spoolRoots = [];

    protected TestTempDir Tmp { get; private set; } = null!;
    protected RepositoryBackend Repo { get; private set; } = null!;
    protected string SpoolRoot { get; private set; } = null!;
    protected string Spool => Path.Combine(SpoolRoot, ClusterId.ToString());

    protected abstract Task<RepositoryBackend> CreateBackendAsync();

    /// <summary>PUTs of one object's key as the store saw them, or null where requests cannot be counted.</summary>
    protected abstract int? PutCount(string fileName);

    /// <summary>walship's environment for this repository (through the proxy for S3).</summary>
    protected virtual Dictionary<string, string> RepoEnvironment() => new(Repo.Environment);

    public async Task InitializeAsync()
    {
        Tmp = TestPaths.CreateTempDir("walship-ahead");
        SpoolRoot = CreateSpoolRoot("spool");
        Repo = await CreateBackendAsync();
    }

    public virtual async Task DisposeAsync()
    {
        foreach (int pid in RunningWorkers())
            LockHolders.Kill(pid);
        await Repo.DisposeAsync();
        await Tmp.DisposeAsync();
    }

    protected Dictionary<string, string> Env(params (string Key, string Value)[] extra)
    {
        var env = RepoEnvironment();
        env["WALSHIP_SPOOL_DIR"] = SpoolRoot;
        foreach (var (key, value) in extra)
            env[key] = value;
        return env;
    }

    protected static string SegmentName(uint timeline, int segment) => $"{timeline:X8}00000000{segment:X8}";

    protected static byte[] SegmentBytes(string name) => SyntheticWal.Segment(name, SyntheticWal.OneMiB, seed: name.GetHashCode(StringComparison.Ordinal));

    /// <summary>A scratch data directory as walship sees one: global/pg_control naming the cluster,
    /// pg_wal with the given files, each marked .ready when <paramref name="ready"/>.</summary>
    protected string DataDirectory(string name, string? signal, IEnumerable<(string Name, byte[] Content)> files, bool ready)
    {
        string data = Tmp.CreateDataDirectory(name, signal);
        Directory.CreateDirectory(Path.Combine(data, "global"));
        var control = new byte[8192];
        BinaryPrimitives.WriteUInt64LittleEndian(control, ClusterId);
        File.WriteAllBytes(Path.Combine(data, "global", "pg_control"), control);
        Directory.CreateDirectory(Path.Combine(data, "pg_wal", "archive_status"));
        foreach (var (file, content) in files)
        {
            File.WriteAllBytes(Path.Combine(data, "pg_wal", file), content);
            if (ready)
                File.WriteAllText(Path.Combine(data, "pg_wal", "archive_status", file + ".ready"), "");
        }
        PgUser.ChownToPostgres(data, recursive: true);
        return data;
    }

    protected static Task<ProcessResult> PushAsync(string data, Dictionary<string, string> env, string file) =>
        WalshipBinary.RunAsync(["push", $"pg_wal/{file}", file], env, data, CallTimeout);

    protected static Task<ProcessResult> FetchAsync(string data, Dictionary<string, string> env, string file, string target = "RECOVERYXLOG") =>
        WalshipBinary.RunAsync(["fetch", file, $"pg_wal/{target}"], env, data, CallTimeout);

    /// <summary>What PostgreSQL's archiver does: the oldest .ready file, history files first, one call at a
    /// time, .ready renamed to .done on exit 0.</summary>
    protected static async Task<List<ProcessResult>> ArchiveAllAsync(string data, Dictionary<string, string> env, int? stopAfter = null)
    {
        var results = new List<ProcessResult>();
        string status = Path.Combine(data, "pg_wal", "archive_status");
        while (Directory.GetFiles(status, "*.ready").Select(f => Path.GetFileNameWithoutExtension(f)!)
                   .OrderBy(f => !f.EndsWith(".history", StringComparison.Ordinal)).ThenBy(f => f, StringComparer.Ordinal)
                   .FirstOrDefault() is { } next && (stopAfter is null || results.Count < stopAfter))
        {
            var push = await PushAsync(data, env, next);
            Assert.True(push.ExitCode == 0, push.ToString());
            File.Move(Path.Combine(status, next + ".ready"), Path.Combine(status, next + ".done"));
            results.Add(push);
        }
        return results;
    }

    protected string WorkerLog => File.Exists(Path.Combine(Spool, "worker.log")) ? File.ReadAllText(Path.Combine(Spool, "worker.log")) : "";

    /// <summary>A spool root (WALSHIP_SPOOL_DIR) whose workers <see cref="RunningWorkers"/> sees.</summary>
    protected string CreateSpoolRoot(string name)
    {
        string root = Tmp.CreateSubdirectory(name);
        _spoolRoots.Add(root);
        return root;
    }

    /// <summary>The look-ahead workers running on this test's spools: the processes holding a spool's lock.
    /// A push or fetch hands the lock to the worker it starts before it returns, so a worker is seen here
    /// from then on, even before it has run at all.</summary>
    protected List<int> RunningWorkers() => LockHolders.Find(_spoolRoots
        .SelectMany(root => Directory.EnumerateDirectories(root))
        .SelectMany(spool => Directory.EnumerateFiles(spool, "*.lock")));

    /// <summary>Waits until no look-ahead worker runs on this test's spools.</summary>
    protected async Task WaitForWorkersAsync()
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (RunningWorkers().Count > 0)
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"look-ahead worker still running after 60 s; log:\n{WorkerLog}");
            await Task.Delay(50);
        }
    }

    /// <summary>Fetches an archived file to a path of its own name in a scratch directory, straight from the archive.</summary>
    protected async Task<byte[]> ArchivedContentAsync(string file)
    {
        string data = Tmp.CreateDataDirectory("check-" + Guid.NewGuid().ToString("N")[..8]);
        var fetch = await FetchAsync(data, new Dictionary<string, string>(RepoEnvironment()), file, target: file);
        Assert.True(fetch.ExitCode == 0, fetch.ToString());
        return File.ReadAllBytes(Path.Combine(data, "pg_wal", file));
    }

    protected static int Count(string text, string pattern) => Regex.Matches(text, Regex.Escape(pattern)).Count;

    [Fact]
    public async Task PushAhead_StoresEachWaitingFileOnce_AndTheArchiversLaterCallsEndOnTheirReceipts()
    {
        var files = Enumerable.Range(1, 10).Select(i => SegmentName(1, i)).ToList();
        string data = DataDirectory("primary", null, files.Select(f => (f, SegmentBytes(f))), ready: true);
        var env = Env(("WALSHIP_PUSH_AHEAD", "4"));

        // The first call pushes its own file and leaves the rest to a worker; wait for it, so that the
        // calls that follow meet receipts rather than race the worker.
        var calls = await ArchiveAllAsync(data, env, stopAfter: 1);
        await WaitForWorkersAsync();
        calls.AddRange(await ArchiveAllAsync(data, env));
        await WaitForWorkersAsync();

        string log = string.Join("\n", calls.Select(c => c.StdErr)) + "\n" + WorkerLog;
        foreach (string file in files)
        {
            Assert.True(Count(log, $"push {file}: stored at") == 1, $"{file} stored {Count(log, $"push {file}: stored at")} times:\n{log}");
            Assert.DoesNotContain($"push {file}: already archived", log);
            if (PutCount(file) is { } puts)
                Assert.True(puts == 1, $"{file}: {puts} PUTs");
            Assert.Equal(SegmentBytes(file), await ArchivedContentAsync(file));
        }
        // The worker skips the file the archiver is about to push itself; the next four come from receipts.
        Assert.True(Count(log, "receipt verified") >= 4, log);
        Assert.Empty(Directory.GetFiles(Path.Combine(Spool, "receipts"), "*.receipt"));
    }

    [Fact]
    public async Task PushAhead_ReceiptsAreTrustedOnlyWhileTheFileAndTheObjectAreUnchanged()
    {
        var files = Enumerable.Range(1, 7).Select(i => SegmentName(1, i)).ToList();
        string data = DataDirectory("primary", null, files.Select(f => (f, SegmentBytes(f))), ready: true);
        var env = Env(("WALSHIP_PUSH_AHEAD", "8"));
        await ArchiveAllAsync(data, env, stopAfter: 1);
        await WaitForWorkersAsync();
        // The worker left the archiver's next file (2) alone and pushed 3..7.
        foreach (string file in files.Skip(2))
            Assert.True(File.Exists(Path.Combine(Spool, "receipts", file + ".receipt")), $"no receipt for {file}; worker log:\n{WorkerLog}");
        env = Env(); // no new workers: each call below meets exactly the receipt set up for it

        // 3: same size, same mtime, one byte changed inside a page body. Only the checksum tells; the
        // receipt is ignored and the normal push refuses to overwrite the archived original.
        string changed = Path.Combine(data, "pg_wal", files[2]);
        var mtime = File.GetLastWriteTimeUtc(changed);
        byte[] bytes = File.ReadAllBytes(changed);
        bytes[8192 + 100] ^= 0x40;
        File.WriteAllBytes(changed, bytes);
        File.SetLastWriteTimeUtc(changed, mtime);
        var changedPush = await PushAsync(data, env, files[2]);
        Assert.Contains("ignoring its push-ahead receipt (the file's checksum differs", changedPush.StdErr);
        Assert.True(changedPush.ExitCode == 8, changedPush.ToString());
        Assert.Equal(SegmentBytes(files[2]), await ArchivedContentAsync(files[2]));

        // 4: a receipt that does not parse is ignored; the normal push finds the identical object.
        File.WriteAllText(Path.Combine(Spool, "receipts", files[3] + ".receipt"), "{not json");
        var corrupt = await PushAsync(data, env, files[3]);
        Assert.True(corrupt.ExitCode == 0, corrupt.ToString());
        Assert.Contains("ignoring its push-ahead receipt (unreadable)", corrupt.StdErr);
        Assert.Contains("already archived, identical", corrupt.StdErr);

        // 5: the object was removed from the archive after the receipt was written: pushed again.
        string key = RepositoryBackend.SegmentKey(files[4]);
        Repo.DeleteObject(key);
        var gone = await PushAsync(data, env, files[4]);
        Assert.True(gone.ExitCode == 0, gone.ToString());
        Assert.Contains("is gone from the archive", gone.StdErr);
        Assert.Contains($"push {files[4]}: stored at", gone.StdErr);
        Assert.Equal(SegmentBytes(files[4]), await ArchivedContentAsync(files[4]));

        // 6: nothing changed: the receipt ends the call, with no upload.
        int? putsBefore = PutCount(files[5]);
        var hit = await PushAsync(data, env, files[5]);
        Assert.True(hit.ExitCode == 0, hit.ToString());
        Assert.Contains("receipt verified", hit.StdErr);
        Assert.DoesNotContain("stored at", hit.StdErr);
        Assert.Equal(putsBefore, PutCount(files[5]));

        // 7: a receipt an older walship wrote, without the local checksum, proves nothing: the file is
        // pushed normally and found identical in the archive.
        string oldReceipt = Path.Combine(Spool, "receipts", files[6] + ".receipt");
        var receipt = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(oldReceipt))!.AsObject();
        Assert.True(receipt.Remove("local_xxh128"), receipt.ToJsonString());
        File.WriteAllText(oldReceipt, receipt.ToJsonString());
        var old = await PushAsync(data, env, files[6]);
        Assert.True(old.ExitCode == 0, old.ToString());
        Assert.Contains("ignoring its push-ahead receipt (the file's checksum differs", old.StdErr);
        Assert.Contains("already archived, identical", old.StdErr);
        Assert.Empty(Directory.GetFiles(Path.Combine(Spool, "receipts"), "*.receipt"));
    }

    /// <summary>Archives timeline 1 (segments 1..6), 00000002.history switching at segment 3, and timeline 2
    /// (segments 3..8), as a primary and its promoted standby would.</summary>
    protected async Task<Dictionary<string, byte[]>> ArchiveTwoTimelinesAsync()
    {
        var files = new Dictionary<string, byte[]>();
        foreach (int i in Enumerable.Range(1, 6))
            files[SegmentName(1, i)] = SegmentBytes(SegmentName(1, i));
        foreach (int i in Enumerable.Range(3, 6))
            files[SegmentName(2, i)] = SegmentBytes(SegmentName(2, i));
        files["00000002.history"] = "1\t0/380000\tno recovery target specified\n"u8.ToArray();
        string source = DataDirectory("source", null, files.Select(kv => (kv.Key, kv.Value)), ready: true);
        await ArchiveAllAsync(source, Env());
        return files;
    }

    protected string[] SpoolEntries() => Directory.GetFiles(Path.Combine(Spool, "prefetch"))
        .Select(Path.GetFileName).Where(f => f!.Length == 24).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public async Task Prefetch_FollowsTheTimelineSwitch_ServesOnlyRecovery_AndReverifiesWhatItServes()
    {
        var archived = await ArchiveTwoTimelinesAsync();
        string standby = DataDirectory("standby", "standby.signal", [], ready: false);
        var env = Env(("WALSHIP_PREFETCH", "4"));

        var first = await FetchAsync(standby, env, SegmentName(1, 2));
        Assert.True(first.ExitCode == 0, first.ToString());
        await WaitForWorkersAsync();
        // Segment 3 holds the switch point, so from there on recovery reads timeline 2.
        Assert.True(SpoolEntries().SequenceEqual([SegmentName(2, 3), SegmentName(2, 4), SegmentName(2, 5), SegmentName(2, 6)]),
            $"spool: {string.Join(", ", SpoolEntries())}\nfetch: {first.StdErr}\nworker log:\n{WorkerLog}");

        var hit = await FetchAsync(standby, env, SegmentName(2, 3));
        Assert.True(hit.ExitCode == 0, hit.ToString());
        Assert.Contains("restored from the prefetch spool", hit.StdErr);
        Assert.Equal(archived[SegmentName(2, 3)], File.ReadAllBytes(Path.Combine(standby, "pg_wal", "RECOVERYXLOG")));
        await WaitForWorkersAsync();
        // Three of four still ahead: more than half full, so no worker starts to refill one segment.
        Assert.True(SpoolEntries().SequenceEqual([SegmentName(2, 4), SegmentName(2, 5), SegmentName(2, 6)]),
            $"spool: {string.Join(", ", SpoolEntries())}\nworker log:\n{WorkerLog}");

        // The timeline-1 file of the same segment is another name: never served from the spool.
        var otherTimeline = await FetchAsync(standby, Env(), SegmentName(1, 4));
        Assert.DoesNotContain("prefetch spool", otherTimeline.StdErr);
        Assert.Equal(archived[SegmentName(1, 4)], File.ReadAllBytes(Path.Combine(standby, "pg_wal", "RECOVERYXLOG")));

        // pg_rewind asks for files by their own names: the archive answers, the spool is left alone.
        string entry = Path.Combine(Spool, "prefetch", SegmentName(2, 4));
        Assert.True(File.Exists(entry));
        var rewind = await FetchAsync(standby, env, SegmentName(2, 4), target: SegmentName(2, 4));
        Assert.True(rewind.ExitCode == 0, rewind.ToString());
        Assert.DoesNotContain("prefetch spool", rewind.StdErr);
        Assert.Equal(archived[SegmentName(2, 4)], File.ReadAllBytes(Path.Combine(standby, "pg_wal", SegmentName(2, 4))));
        Assert.True(File.Exists(entry));
        Assert.Empty(RunningWorkers());

        // A spool entry damaged after it was verified is caught again and the archive serves the file.
        string damaged = Path.Combine(Spool, "prefetch", SegmentName(2, 5));
        byte[] bytes = File.ReadAllBytes(damaged);
        bytes[3 * 8192 + 500] ^= 0x01;
        File.WriteAllBytes(damaged, bytes);
        var refetch = await FetchAsync(standby, Env(), SegmentName(2, 5));
        Assert.True(refetch.ExitCode == 0, refetch.ToString());
        Assert.Contains("ignoring its prefetched copy (its checksum does not match the record)", refetch.StdErr);
        Assert.Equal(archived[SegmentName(2, 5)], File.ReadAllBytes(Path.Combine(standby, "pg_wal", "RECOVERYXLOG")));
        Assert.False(File.Exists(damaged));
    }

    [Fact]
    public async Task Prefetch_KeepsItsCountAndByteBounds_AndDropsWhatRecoveryHasPassed()
    {
        await ArchiveTwoTimelinesAsync();
        string standby = DataDirectory("standby", "standby.signal", [], ready: false);
        // Room for 10 files but only 2.5 MiB: two 1 MiB segments.
        var env = Env(("WALSHIP_PREFETCH", "10"), ("WALSHIP_PREFETCH_BYTES", "2560KiB"));
        foreach (int segment in new[] { 1, 2 })
        {
            var fetch = await FetchAsync(standby, env, SegmentName(1, segment));
            Assert.True(fetch.ExitCode == 0, fetch.ToString());
            await WaitForWorkersAsync();
            var entries = SpoolEntries();
            Assert.True(entries.Length == 2, $"spool after {segment}: {string.Join(", ", entries)}; log:\n{WorkerLog}");
            Assert.True(entries.Sum(e => new FileInfo(Path.Combine(Spool, "prefetch", e)).Length) <= 2560 * 1024);
            Assert.Equal([SegmentName(segment < 2 ? 1u : 2u, segment + 1), SegmentName(2, segment + 2)], entries);
        }

        // Count bound, and entries at or behind the requested segment are removed.
        var countBound = Env(("WALSHIP_PREFETCH", "3"));
        var far = await FetchAsync(standby, countBound, SegmentName(2, 4));
        Assert.True(far.ExitCode == 0, far.ToString());
        await WaitForWorkersAsync();
        Assert.Equal([SegmentName(2, 5), SegmentName(2, 6), SegmentName(2, 7)], SpoolEntries());

        // Recovery overtook the spool (it read 8 from the archive while 5..7 waited). Entries behind it do
        // not fill the count: a worker still starts, drops them, and finds nothing more in the archive.
        var overtaken = await FetchAsync(standby, countBound, SegmentName(2, 8));
        Assert.True(overtaken.ExitCode == 0, overtaken.ToString());
        Assert.DoesNotContain("prefetch spool", overtaken.StdErr);
        await WaitForWorkersAsync();
        Assert.True(SpoolEntries().Length == 0, $"spool: {string.Join(", ", SpoolEntries())}; log:\n{WorkerLog}");
        Assert.Contains($"after {SegmentName(2, 8)}", WorkerLog);
    }

    [Fact]
    public async Task EndToEnd_APrimaryUnderPgbenchWithPushAhead_AndAStandbyWithPrefetch_EndWithIdenticalData()
    {
        var catchUp = TimeSpan.FromSeconds(90);
        string primarySpool = CreateSpoolRoot("spool-primary");
        string standbySpool = CreateSpoolRoot("spool-standby");
        await using var primary = await PgCluster.InitAsync("primary", Tmp);
        primary.AppendConfig("""
            archive_mode = on
            archive_command = 'false'
            wal_level = replica
            """);
        await primary.StartAsync(Env(("WALSHIP_SPOOL_DIR", primarySpool), ("WALSHIP_PUSH_AHEAD", "8")));
        await primary.PgBenchInitAsync(scale: 1);
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");

        // A backlog for push-ahead to work on: archiving is off while pgbench fills a dozen segments.
        for (int i = 0; i < 12; i++)
        {
            await primary.PgBenchRunAsync(transactions: 100, clients: 2);
            await primary.SwitchWalAsync();
        }
        await primary.QueryAsync($"alter system set archive_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " push %p %f")}");
        await primary.QueryAsync("select pg_reload_conf()");
        // ...and pgbench goes on while the archiver drains it.
        for (int i = 0; i < 4; i++)
        {
            await primary.PgBenchRunAsync(transactions: 100, clients: 2);
            await primary.SwitchWalAsync();
        }
        await primary.QueryAsync("create table marker as select 1 as done");
        string last = await primary.SwitchWalAsync();
        await primary.WaitForAsync(
            async () => string.CompareOrdinal(await primary.QueryAsync("select coalesce(last_archived_wal, '') from pg_stat_archiver"), last) >= 0,
            catchUp, $"archiving of {last}");

        // The standby replays every byte after its base backup from the archive, through the prefetch spool.
        standby.AppendConfig($"""
            restore_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " fetch %f %p")}
            wal_retrieve_retry_interval = '200ms'
            """);
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync(Env(("WALSHIP_SPOOL_DIR", standbySpool), ("WALSHIP_PREFETCH", "8")));
        await standby.WaitForAsync(async () => await standby.QueryAsync("select count(*) from pg_class where relname = 'marker'") == "1",
            catchUp, "the standby to replay up to the marker");

        foreach (string sql in new[]
                 {
                     "select count(*) from pgbench_history",
                     "select sum(abalance) from pgbench_accounts",
                     "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts",
                     "select md5(string_agg(tid || ':' || tbalance, ',' order by tid)) from pgbench_tellers",
                 })
            Assert.Equal(await primary.QueryAsync(sql), await standby.QueryAsync(sql));
        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));

        await WaitForWorkersAsync();
        string primaryLog = primary.ReadLog();
        string standbyLog = standby.ReadLog();
        Assert.True(Count(primaryLog, "receipt verified") >= 1, "no push ended on a push-ahead receipt:\n" + primary.ReadLogTail(60));
        Assert.DoesNotContain("already archived", primaryLog);
        Assert.True(Count(standbyLog, "restored from the prefetch spool") >= 1, "no fetch was served from the spool:\n" + standby.ReadLogTail(60));
        Assert.DoesNotContain("ignoring its", primaryLog + standbyLog);
    }

    /// <summary>
    /// The processes holding a flock on one of some files: /proc/PID/fd names the files a process
    /// has open and /proc/PID/fdinfo/FD lists the locks held through each. Taking the lock to test it, as
    /// <c>SpoolDirectory.IsLocked</c> does, would for that moment make a push or fetch think a worker runs
    /// and start none; and a worker's command line in /proc is empty until its exec has finished, which can
    /// be well after the call that started it has returned.
    /// </summary>
    protected static class LockHolders
    {
        public static List<int> Find(IEnumerable<string> lockFiles)
        {
            var wanted = lockFiles.Select(RealPath).ToHashSet();
            var holders = new List<int>();
            foreach (string process in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(process), out int pid))
                    continue;
                try
                {
                    if (Directory.GetFileSystemEntries(Path.Combine(process, "fd")).Any(fd =>
                            new FileInfo(fd).LinkTarget is { } file && wanted.Contains(file)
                            && File.ReadAllText(Path.Combine(process, "fdinfo", Path.GetFileName(fd))).Contains(" FLOCK ", StringComparison.Ordinal)))
                        holders.Add(pid);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // the process ended while we looked
                }
            }
            return holders;
        }

        public static void Kill(int pid) => _ = kill(pid, 9);

        /// <summary>The path the kernel shows in /proc/PID/fd: every symbolic link resolved.</summary>
        private static string RealPath(string path)
        {
            IntPtr resolved = realpath(path, IntPtr.Zero);
            if (resolved == IntPtr.Zero)
                throw new IOException($"realpath {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            try
            {
                return Marshal.PtrToStringUTF8(resolved)!;
            }
            finally
            {
                free(resolved);
            }
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int kill(int pid, int signal);

        [DllImport("libc", SetLastError = true)]
        private static extern IntPtr realpath(string path, IntPtr resolved);

        [DllImport("libc")]
        private static extern void free(IntPtr pointer);
    }
}

public sealed class FileLookAheadScenarios : LookAheadScenarios
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());

    protected override int? PutCount(string fileName) => null;
}

public sealed class S3LookAheadScenarios : LookAheadScenarios
{
    private S3RepositoryBackend _s3 = null!;
    private FaultProxy _proxy = null!;

    protected override async Task<RepositoryBackend> CreateBackendAsync()
    {
        _s3 = await S3RepositoryBackend.StartAsync();
        _proxy = FaultProxy.Start(_s3.Environment["WALSHIP_ENDPOINT"]);
        return _s3;
    }

    public override async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await base.DisposeAsync();
    }

    protected override Dictionary<string, string> RepoEnvironment() => new(_s3.Environment) { ["WALSHIP_ENDPOINT"] = _proxy.Endpoint };

    protected override int? PutCount(string fileName) =>
        _proxy.Log().Count(e => e.Method == "PUT" && e.Target.Split('?')[0].EndsWith("/" + RepositoryBackend.SegmentKey(fileName), StringComparison.Ordinal));

    [Fact]
    public async Task AStartedWorker_HoldsItsLockBeforeTheCallReturns_SoTheNextCallStartsNoSecondOne()
    {
        await ArchiveTwoTimelinesAsync();
        string standby = DataDirectory("standby", "standby.signal", [], ready: false);
        var env = Env(("WALSHIP_PREFETCH", "4"), ("WALSHIP_LOG_LEVEL", "debug"));
        // Timeline 2's segments wait 3 s in the proxy, so the worker fetching them is certainly still running
        // at every look below, however slowly this machine runs the test.
        var workerDownloads = Enumerable.Range(3, 4).Select(i => RepositoryBackend.SegmentKey(SegmentName(2, i))).ToList();
        _proxy.Rule = FaultRules.Matching(r => r.Method == "GET" && workerDownloads.Any(key => r.Path.EndsWith("/" + key, StringComparison.Ordinal)),
            FaultAction.Delay(TimeSpan.FromSeconds(3)));

        Assert.Empty(RunningWorkers());
        var first = await FetchAsync(standby, env, SegmentName(1, 2));
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("prefetch-worker started", first.StdErr);
        // No waiting: the worker may not have run a single instruction yet, but it holds the lock already.
        var workers = RunningWorkers();
        Assert.True(workers.Count == 1, $"{workers.Count} processes hold the spool's lock right after the call returned");

        // Recovery's next call, while the spool is still empty: the lock tells it a worker runs.
        var next = await FetchAsync(standby, env, SegmentName(2, 3));
        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.DoesNotContain("prefetch-worker started", next.StdErr);
        Assert.Equal(workers, RunningWorkers());

        _proxy.Rule = FaultRules.Always(FaultAction.PassThrough);
        await WaitForWorkersAsync();
        Assert.True(Count(WorkerLog, "prefetch: ") == 1, WorkerLog);
        Assert.DoesNotContain("another worker holds the lock", WorkerLog);
        Assert.Equal([SegmentName(2, 3), SegmentName(2, 4), SegmentName(2, 5), SegmentName(2, 6)], SpoolEntries());
    }

    [Fact]
    public async Task PushAhead_WorkerKilledMidBatch_LosesNothing_AndTheNextCallsRecover()
    {
        var files = Enumerable.Range(1, 8).Select(i => SegmentName(1, i)).ToList();
        string data = DataDirectory("primary", null, files.Select(f => (f, SegmentBytes(f))), ready: true);
        var env = Env(("WALSHIP_PUSH_AHEAD", "8"));
        // Every segment PUT but the first waits 2 s in the proxy, so the worker is caught mid-batch.
        _proxy.Rule = FaultRules.Matching(r => r.Method == "PUT" && r.Path.Contains("/wal/") && !r.Path.EndsWith(files[0], StringComparison.Ordinal),
            FaultAction.Delay(TimeSpan.FromSeconds(2)));

        await ArchiveAllAsync(data, env, stopAfter: 1);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!_proxy.Log().Any(e => e.Method == "PUT" && e.Target.Contains(files[2], StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < until, "the worker never started pushing; log:\n" + WorkerLog);
            await Task.Delay(20);
        }
        var workers = RunningWorkers();
        Assert.Single(workers);
        LockHolders.Kill(workers[0]);
        await WaitForWorkersAsync();
        // The proxy still forwards the dead worker's delayed PUTs, cut short: s3rver keeps such partial
        // bodies (AWS would not). Let them land first, as they would have had the kill come later.
        await Task.Delay(TimeSpan.FromSeconds(3));

        // The dead worker's lock went with it: the archiver's next calls push, start a new worker, and finish.
        _proxy.Rule = FaultRules.Always(FaultAction.PassThrough);
        await ArchiveAllAsync(data, env);
        await WaitForWorkersAsync();
        Assert.Contains("push-ahead: pushed", WorkerLog);
        foreach (string file in files)
            Assert.Equal(SegmentBytes(file), await ArchivedContentAsync(file));
    }
}
