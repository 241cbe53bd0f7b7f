using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace WalShip.Tests.Integration;

/// <summary>
/// Base backups end to end with real clusters and the native binary: a primary archiving with walship
/// push takes walship backup push under pgbench, and a new data directory made by walship backup fetch
/// alone becomes a standby that replays from the archive and promotes. Runs once per repository kind.
/// </summary>
public abstract partial class BackupScenarios(ITestOutputHelper output) : RepositoryKindScenarios("walship-backup")
{
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The settings the restoring side (another host, another account) uses for the repository.
    /// The cross-account variant overrides this with the reader's role and credentials.</summary>
    protected virtual IReadOnlyDictionary<string, string> ReaderEnvironment => Repo.Environment;

    /// <summary>More checks of the recovery settings backup fetch wrote, for a variant that cares.</summary>
    protected virtual void CheckRestoreSettings(string autoConf)
    {
    }

    private static Task<string> SwitchAndWaitArchivedAsync(PgCluster cluster) => cluster.SwitchWalAndWaitArchivedAsync(CatchUp);

    private async Task<ProcessResult> WalshipAsync(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var result = await WalshipBinary.RunAsync(args, new Dictionary<string, string>(env), Tmp.Path, CommandTimeout);
        output.WriteLine($"walship {string.Join(' ', args)} -> exit {result.ExitCode}\n{result.StdErr}");
        return result;
    }

    private Task<ProcessResult> BackupPushAsync(PgCluster primary, params string[] extra) => BackupPushAsync(primary, Repo.Environment, extra);

    private Task<ProcessResult> BackupPushAsync(PgCluster primary, IReadOnlyDictionary<string, string> env, params string[] extra) =>
        WalshipAsync(env, ["backup", "push", "--pg-basebackup", PgUser.BinPath("pg_basebackup"),
            "--connection", $"host={primary.SocketDir} port={primary.Port} user={PgCluster.SuperUser} dbname=postgres", .. extra]);

    [Fact]
    public async Task BackupPushUnderLoad_ThenFetchLatestAlone_BuildsAStandbyThatReplaysAndPromotes()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.PgBenchInitAsync(scale: 2);

        var load = primary.PgBenchRunAsync(transactions: 1500, clients: 2);
        var pushed = await BackupPushAsync(primary);
        await load;
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        string name = pushed.StdOut.Trim();
        Assert.Matches(BackupName(), name);
        Assert.Contains("complete, WAL", pushed.StdErr);

        var listed = await WalshipAsync(Repo.Environment, "backup", "list", "--json");
        Assert.True(listed.ExitCode == 0, listed.ToString());
        using (var json = JsonDocument.Parse(listed.StdOut))
        {
            var backup = Assert.Single(json.RootElement.EnumerateArray());
            Assert.Equal(name, backup.GetProperty("name").GetString());
            Assert.Equal("15", backup.GetProperty("pg_version").GetString());
            Assert.True(backup.GetProperty("stored_bytes").GetInt64() > 0);
            Assert.Equal(64, backup.GetProperty("raw_sha256").GetString()!.Length);
            string stopFile = backup.GetProperty("stop_wal_file").GetString()!;
            Assert.NotNull(Repo.ReadObject(RepositoryBackend.SegmentKey(stopFile)));
        }

        // Writes after the backup reach the standby only through the archive.
        await primary.PgBenchRunAsync(transactions: 300, clients: 2);
        await primary.QueryAsync("create table marker as select 1 as phase");
        string historyCount = await primary.QueryAsync("select count(*) from pgbench_history");
        string balance = await primary.QueryAsync("select sum(abalance) from pgbench_accounts");
        await SwitchAndWaitArchivedAsync(primary);

        await using var standby = PgCluster.ForRestore("standby", Tmp);
        var fetched = await WalshipAsync(ReaderEnvironment, "backup", "fetch", "LATEST", standby.DataDir, "--standby");
        Assert.True(fetched.ExitCode == 0, fetched.ToString());
        Assert.Equal(name, fetched.StdOut.Trim());
        Assert.False(File.Exists(Path.Combine(standby.DataDir, "walship-restore-incomplete")));
        Assert.True(File.Exists(Path.Combine(standby.DataDir, "standby.signal")));
        string autoConf = File.ReadAllText(Path.Combine(standby.DataDir, "postgresql.auto.conf"));
        Assert.Contains("restore_command", autoConf);
        CheckRestoreSettings(autoConf);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(standby.DataDir));

        // The restore_command written by fetch carries the repository settings: start with no WALSHIP_* at all.
        standby.UseOwnAddress();
        standby.AppendConfig("wal_retrieve_retry_interval = '200ms'");
        await standby.StartAsync(ReaderEnvironment.Where(kv => !kv.Key.StartsWith("WALSHIP_", StringComparison.Ordinal)).ToDictionary());
        await standby.WaitForAsync(async () => await standby.QueryAsync("select count(*) from pgbench_history") == historyCount,
            CatchUp, "the standby to replay the archive up to the primary's row count");
        Assert.Equal(balance, await standby.QueryAsync("select sum(abalance) from pgbench_accounts"));
        Assert.Equal("1", await standby.QueryAsync("select phase from marker"));
        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));
        Assert.Contains("restored log file", standby.ReadLog());

        await primary.StopAsync();
        await standby.PromoteAsync();
        Assert.Equal("f", await standby.QueryAsync("select pg_is_in_recovery()"));
        await standby.QueryAsync("insert into marker values (2)");
        Assert.Equal("2", await standby.QueryAsync("select count(*) from marker"));
    }

    private static Dictionary<string, string> With(IReadOnlyDictionary<string, string> env, params (string Key, string Value)[] extra)
    {
        var copy = new Dictionary<string, string>(env);
        foreach (var (key, value) in extra)
            copy[key] = value;
        return copy;
    }

    /// <summary>Client-side encryption: the primary archives and backs up with a key; the reader restores
    /// with the same key file, and the standby replays the encrypted WAL with the restore_command fetch wrote.
    /// Without the key, fetch fails at once with one line naming the key id, and creates nothing.</summary>
    [Fact]
    public async Task EncryptedBackup_IsRestoredWithTheKey_AndFetchWithoutItFailsClearly_BeforeCreatingTheDirectory()
    {
        string keyFile = Path.Combine(Tmp.Path, "backup.key");
        File.WriteAllBytes(keyFile, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(keyFile);
        var writer = With(Repo.Environment, ("WALSHIP_ENCRYPTION", "aes-256-gcm"), ("WALSHIP_ENCRYPTION_KEY_FILE", keyFile));
        await using var primary = await StartArchivingPrimaryAsync(env: writer);
        await primary.PgBenchInitAsync(scale: 1);

        var pushed = await BackupPushAsync(primary, writer);
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        string name = pushed.StdOut.Trim();
        Assert.Contains("aes-256-gcm with key id", pushed.StdErr);
        string keyId;
        using (var json = JsonDocument.Parse(Repo.ReadObject($"backup/{name}/backup.json")!))
        {
            Assert.Equal(2, json.RootElement.GetProperty("format").GetInt32());
            Assert.Equal("aes-256-gcm", json.RootElement.GetProperty("cipher").GetString());
            keyId = json.RootElement.GetProperty("key_id").GetString()!;
            Assert.Matches("^[0-9a-f]{16}$", keyId);
        }
        byte[] stored = Repo.ReadObject($"backup/{name}/base.tar.zst")!;
        Assert.NotEqual([0x28, 0xB5, 0x2F, 0xFD], stored[..4]); // not a plain zstd stream
        Assert.Equal(-1, stored.AsSpan().IndexOf("PG_VERSION"u8));

        await primary.PgBenchRunAsync(transactions: 300, clients: 2);
        await primary.QueryAsync("create table marker as select 1 as phase");
        string historyCount = await primary.QueryAsync("select count(*) from pgbench_history");
        await SwitchAndWaitArchivedAsync(primary);

        string withoutKey = Path.Combine(Tmp.Path, "without-key");
        var refused = await WalshipAsync(ReaderEnvironment, "backup", "fetch", "LATEST", withoutKey, "--standby");
        Assert.Equal(3, refused.ExitCode); // config
        Assert.Contains($"cannot decrypt backup {name}", refused.StdErr);
        Assert.Contains(keyId, refused.StdErr);
        Assert.Single(refused.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.Contains("error", StringComparison.Ordinal));
        Assert.False(Directory.Exists(withoutKey));

        await using var standby = PgCluster.ForRestore("standby", Tmp);
        var reader = With(ReaderEnvironment, ("WALSHIP_ENCRYPTION_KEY_FILE", keyFile));
        var fetched = await WalshipAsync(reader, "backup", "fetch", "LATEST", standby.DataDir, "--standby");
        Assert.True(fetched.ExitCode == 0, fetched.ToString());
        Assert.Contains("--encryption-key-file " + keyFile, File.ReadAllText(Path.Combine(standby.DataDir, "postgresql.auto.conf")));
        standby.UseOwnAddress();
        standby.AppendConfig("wal_retrieve_retry_interval = '200ms'");
        await standby.StartAsync(reader.Where(kv => !kv.Key.StartsWith("WALSHIP_", StringComparison.Ordinal)).ToDictionary());
        await standby.WaitForAsync(async () => await standby.QueryAsync("select count(*) from pgbench_history") == historyCount,
            CatchUp, "the standby to replay the encrypted archive up to the primary's row count");
        Assert.Equal("1", await standby.QueryAsync("select phase from marker"));
        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));
    }

    [Fact]
    public async Task CorruptedBackupData_FailsFetch_AndLeavesTheDirectoryMarkedIncomplete()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync("create table filler as select i, md5(i::text) as m from generate_series(1, 200000) i");
        var pushed = await BackupPushAsync(primary);
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        string name = pushed.StdOut.Trim();

        string key = $"backup/{name}/base.tar.zst";
        byte[] stored = Repo.ReadObject(key) ?? throw new Xunit.Sdk.XunitException($"{key} not stored");
        for (int i = stored.Length / 2; i < stored.Length / 2 + 4096; i++)
            stored[i] ^= 0x5A;
        Repo.WriteObject(key, stored);

        string target = Path.Combine(Tmp.Path, "restore");
        var fetched = await WalshipAsync(ReaderEnvironment, "backup", "fetch", name, target);
        Assert.Equal(7, fetched.ExitCode); // corrupt
        Assert.Contains("corrupt", fetched.StdErr);
        Assert.Contains(name, fetched.StdErr);
        Assert.True(File.Exists(Path.Combine(target, "walship-restore-incomplete")));
        Assert.False(File.Exists(Path.Combine(target, "standby.signal")));
        Assert.False(File.Exists(Path.Combine(target, "recovery.signal")));

        // A non-empty directory is refused before anything is read.
        var again = await WalshipAsync(ReaderEnvironment, "backup", "fetch", name, target);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("not empty", again.StdErr);

        // Delete removes the backup; list no longer shows it.
        var deleted = await WalshipAsync(Repo.Environment, "backup", "delete", name);
        Assert.True(deleted.ExitCode == 0, deleted.ToString());
        Assert.Null(Repo.ReadObject($"backup/{name}/backup.json"));
        var listed = await WalshipAsync(Repo.Environment, "backup", "list", "--json");
        Assert.Equal("[]", listed.StdOut.Trim());
    }

    [Fact]
    public async Task FailingPgBaseBackup_FailsThePush_WithItsMessage_AndLeavesNoBackup()
    {
        var failed = await WalshipAsync(Repo.Environment, "backup", "push", "--pg-basebackup", PgUser.BinPath("pg_basebackup"),
            "--connection", $"host=127.0.0.1 port={TestPaths.GetFreeTcpPort()} user=postgres connect_timeout=5");
        Assert.Equal(3, failed.ExitCode);
        Assert.Contains("pg_basebackup failed (exit 1)", failed.StdErr);
        Assert.Contains("127.0.0.1", failed.StdErr); // pg_basebackup's own words about the connection
        Assert.Empty(failed.StdOut);

        var listed = await WalshipAsync(Repo.Environment, "backup", "list", "--json");
        Assert.Equal(0, listed.ExitCode);
        Assert.Equal("[]", listed.StdOut.Trim());
        Assert.DoesNotContain("incomplete", listed.StdErr); // the upload was aborted: no data object either
    }

    /// <summary>~100 MiB of poorly compressible rows, 5 MiB parts: the peak RSS walship reports must stay
    /// far below the database size, because only a few parts are ever in memory.</summary>
    [Fact]
    public async Task BackupPush_MemoryStaysBounded_ForADatabaseManyTimesThePartSize()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        await primary.QueryAsync(
            "create table noise as select i, md5(random()::text) || md5(random()::text) || md5(random()::text) as a from generate_series(1, 800000) i");
        long databaseBytes = long.Parse(await primary.QueryAsync("select pg_database_size('postgres')"), CultureInfo.InvariantCulture);
        Assert.True(databaseBytes > 100L << 20, $"database is only {databaseBytes} bytes");

        var pushed = await BackupPushAsync(primary, "--part-size", "5MiB", "--upload-concurrency", "2", "--compression-threads", "1");
        Assert.True(pushed.ExitCode == 0, pushed.ToString());
        var peak = PeakRss().Match(pushed.StdErr);
        Assert.True(peak.Success, "backup push did not report its peak RSS:\n" + pushed.StdErr);
        long peakBytes = long.Parse(peak.Groups[1].Value, CultureInfo.InvariantCulture) << 10;
        var stored = Assert.Single(JsonDocument.Parse((await WalshipAsync(Repo.Environment, "backup", "list", "--json")).StdOut).RootElement.EnumerateArray());
        long storedBytes = stored.GetProperty("stored_bytes").GetInt64();
        output.WriteLine($"database {databaseBytes >> 20} MiB, stored {storedBytes >> 20} MiB in 5 MiB parts, backup push peak RSS {peakBytes >> 20} MiB");
        Assert.True(storedBytes > 8 * (5L << 20), $"the stored backup ({storedBytes} bytes) should span many parts");
        Assert.True(peakBytes < databaseBytes / 2, $"peak RSS {peakBytes >> 20} MiB is not well below the database's {databaseBytes >> 20} MiB");
    }

    [GeneratedRegex(@"^base_\d{8}T\d{6}Z$")]
    private static partial Regex BackupName();

    [GeneratedRegex(@"peak RSS (\d+) KiB")]
    private static partial Regex PeakRss();
}

public sealed class FileRepositoryBackupScenarios(ITestOutputHelper output) : BackupScenarios(output)
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());
}

public sealed class S3RepositoryBackupScenarios(ITestOutputHelper output) : BackupScenarios(output)
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await S3RepositoryBackend.StartAsync();
}

/// <summary>
/// The issue's "done when": the primary backs up into account A's bucket with A's keys, and the standby in
/// account B, holding only B's keys and the role in A (in a private config file), is built by
/// <c>walship backup fetch LATEST --standby</c> alone, replays from the archive through the role and promotes.
/// </summary>
public sealed class CrossAccountBackupScenarios(ITestOutputHelper output) : BackupScenarios(output)
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await CrossAccountRepositoryBackend.StartAsync();

    private CrossAccountRepositoryBackend CrossAccount => (CrossAccountRepositoryBackend)Repo;

    protected override IReadOnlyDictionary<string, string> ReaderEnvironment => CrossAccount.ReaderEnvironment;

    protected override void CheckRestoreSettings(string autoConf)
    {
        // Only the config file's name goes into postgresql.auto.conf (which SHOW shows any superuser);
        // the role, the external id and every key stay out of it.
        Assert.Contains("--config " + CrossAccount.ConfigFile, autoConf);
        Assert.DoesNotContain(WalShip.Tests.Integration.CrossAccount.ExternalId, autoConf);
        Assert.DoesNotContain("role-arn", autoConf);
        Assert.DoesNotContain("secret", autoConf);
        Assert.DoesNotContain(ReaderEnvironment.Values, v => v == WalShip.Tests.Integration.CrossAccount.PrimaryUser.AccessKeyId);
        Assert.True(CrossAccount.Gateway.StsCalls("AssumeRole") >= 1, "backup fetch did not assume the role");
    }
}
