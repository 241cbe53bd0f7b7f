using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// A throw-away PostgreSQL 15 cluster in its own directory: BaseDir/data (PGDATA), BaseDir/postgres.log and the
/// unix socket in BaseDir. Listens on 127.0.0.1 only, on a free port; trust auth; superuser "postgres".
/// All PG binaries run as the postgres OS user when the tests run as root (see <see cref="PgUser"/>).
/// Dispose stops the server (immediate mode) and deletes BaseDir.
/// </summary>
public sealed class PgCluster : IAsyncDisposable
{
    public const string SuperUser = "postgres";
    public const string LogFileName = "postgres.log";

    private static readonly TimeSpan s_pgCtlWait = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_processTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_queryTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_benchTimeout = TimeSpan.FromMinutes(5);

    private int _disposed;

    private PgCluster(string name, string baseDir, int port)
    {
        Name = name;
        BaseDir = baseDir;
        Port = port;
    }

    public string Name { get; }

    /// <summary>The cluster's own directory (parent/name): holds data/, the server log and the unix socket.</summary>
    public string BaseDir { get; }

    public string DataDir => Path.Combine(BaseDir, "data");

    public string SocketDir => BaseDir;

    public string LogFile => Path.Combine(BaseDir, LogFileName);

    public string PgWalDir => Path.Combine(DataDir, "pg_wal");

    public int Port { get; private set; }

    public bool IsRunning { get; private set; }

    /// <summary>libpq connection string over TCP.</summary>
    public string ConnectionString => $"host=127.0.0.1 port={Port} user={SuperUser} dbname=postgres";

    /// <summary>Creates parent/name and runs initdb into parent/name/data, then writes the fixture's base config.</summary>
    public static Task<PgCluster> InitAsync(string name, TestTempDir parent, CancellationToken cancellationToken = default) =>
        InitAsync(name, parent.Path, cancellationToken);

    public static async Task<PgCluster> InitAsync(string name, string parentDir, CancellationToken cancellationToken = default)
    {
        var cluster = CreateEmpty(name, parentDir);
        try
        {
            (await PgUser.RunPgAsync(
                    "initdb",
                    ["-D", cluster.DataDir, "-U", SuperUser, "--auth=trust", "--no-locale", "--encoding=UTF8", "--no-sync"],
                    cwd: cluster.BaseDir,
                    timeout: TimeSpan.FromSeconds(120),
                    cancellationToken: cancellationToken).ConfigureAwait(false))
                .EnsureSuccess($"initdb for cluster '{name}'");

            cluster.AppendConfig(
                $"""
                listen_addresses = '127.0.0.1'
                port = {cluster.Port}
                unix_socket_directories = {ConfigQuote(cluster.SocketDir)}
                fsync = off
                shared_buffers = 32MB
                max_connections = 40
                log_line_prefix = '%m [%p] %b '
                """);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Takes a consistent base backup of <paramref name="source"/> (pg_basebackup -X stream, fast checkpoint) into a new
    /// cluster source.parent/name with its own free port and socket dir. It is not started and has no signal file.
    /// </summary>
    public static async Task<PgCluster> BaseBackupAsync(PgCluster source, string name, CancellationToken cancellationToken = default)
    {
        var parent = Path.GetDirectoryName(source.BaseDir)!;
        var cluster = CreateEmpty(name, parent);
        try
        {
            (await PgUser.RunPgAsync(
                    "pg_basebackup",
                    ["-D", cluster.DataDir, "-h", source.SocketDir, "-p", PortOf(source), "-U", SuperUser,
                     "-X", "stream", "-c", "fast", "--no-sync"],
                    cwd: cluster.BaseDir,
                    timeout: TimeSpan.FromSeconds(180),
                    cancellationToken: cancellationToken).ConfigureAwait(false))
                .EnsureSuccess($"pg_basebackup of '{source.Name}' into '{name}'", source.LogTailSection());

            cluster.AppendConfig(
                $"""
                port = {cluster.Port}
                unix_socket_directories = {ConfigQuote(cluster.SocketDir)}
                """);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        static string PortOf(PgCluster c) => c.Port.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A cluster whose data directory (parent/name/data) does not exist yet, for a tool under test to restore
    /// into (walship backup fetch). Once it is filled, call <see cref="UseOwnAddress"/> before starting it.
    /// </summary>
    public static PgCluster ForRestore(string name, TestTempDir parent) => CreateEmpty(name, parent.Path);

    /// <summary>Points a copied configuration at this cluster's own port and socket directory.</summary>
    public void UseOwnAddress() =>
        AppendConfig(
            $"""
            port = {Port}
            unix_socket_directories = {ConfigQuote(SocketDir)}
            """);

    /// <summary>Quotes a value as a postgresql.conf string literal: 'it''s'.</summary>
    public static string ConfigQuote(string value) => "'" + value.Replace("'", "''") + "'";

    /// <summary>
    /// Appends lines to postgresql.conf (later lines win over earlier ones; note postgresql.auto.conf, written by
    /// ALTER SYSTEM, still wins over postgresql.conf). Takes effect on the next start or reload.
    /// </summary>
    public void AppendConfig(string lines)
    {
        var conf = Path.Combine(DataDir, "postgresql.conf");
        if (!File.Exists(conf))
            throw new InvalidOperationException($"{conf} does not exist (cluster '{Name}' not initialised?).");
        File.AppendAllText(conf, $"{Environment.NewLine}# --- walship test fixture ---{Environment.NewLine}{lines.TrimEnd()}{Environment.NewLine}");
    }

    /// <summary>Creates an empty standby.signal or recovery.signal in the data dir.</summary>
    public void CreateSignalFile(string fileName)
    {
        if (fileName is not ("standby.signal" or "recovery.signal"))
            throw new ArgumentException($"Expected standby.signal or recovery.signal, got '{fileName}'.", nameof(fileName));
        var path = Path.Combine(DataDir, fileName);
        File.WriteAllBytes(path, []);
        PgUser.ChownToPostgres(path);
    }

    /// <summary>
    /// pg_ctl start with the log in <see cref="LogFile"/>. <paramref name="env"/> is passed to the postmaster, so
    /// archive_command / restore_command inherit it. With <paramref name="wait"/> (pg_ctl -w) it returns once the
    /// server accepts connections (for a standby: once it is consistent and hot standby is open).
    /// </summary>
    public async Task StartAsync(IDictionary<string, string>? env = null, bool wait = true, CancellationToken cancellationToken = default)
    {
        const int maxAttempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var logLengthBefore = LogLength();
            var result = await PgCtlAsync(
                ["start", "-l", LogFile, wait ? "-w" : "-W", "-t", Seconds(s_pgCtlWait)], env, cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                IsRunning = true;
                return;
            }

            var newLog = ReadLog();
            newLog = newLog.Length >= logLengthBefore ? newLog[(int)logLengthBefore..] : newLog;
            if (attempt < maxAttempts && newLog.Contains("could not bind", StringComparison.OrdinalIgnoreCase))
            {
                // Lost the race for the free port: take another one.
                Port = TestPaths.GetFreeTcpPort();
                AppendConfig($"port = {Port}");
                continue;
            }

            // pg_ctl -w may have timed out while the postmaster keeps running: don't leak it.
            IsRunning = File.Exists(Path.Combine(DataDir, "postmaster.pid"));
            throw new ProcessFailedException(result, $"starting cluster '{Name}'", LogTailSection());
        }
    }

    /// <summary>pg_ctl stop -m smart|fast|immediate -w.</summary>
    public async Task StopAsync(string mode = "fast", CancellationToken cancellationToken = default)
    {
        if (mode is not ("smart" or "fast" or "immediate"))
            throw new ArgumentException($"Unknown shutdown mode '{mode}'.", nameof(mode));
        (await PgCtlAsync(["stop", "-m", mode, "-w", "-t", Seconds(s_pgCtlWait)], null, cancellationToken).ConfigureAwait(false))
            .EnsureSuccess($"stopping cluster '{Name}' ({mode})", LogTailSection());
        IsRunning = false;
    }

    /// <summary>pg_ctl promote -w: returns once the server has left recovery.</summary>
    public async Task PromoteAsync(CancellationToken cancellationToken = default)
    {
        (await PgCtlAsync(["promote", "-w", "-t", Seconds(s_pgCtlWait)], null, cancellationToken).ConfigureAwait(false))
            .EnsureSuccess($"promoting cluster '{Name}'", LogTailSection());
    }

    /// <summary>Runs SQL with psql -X -A -t -v ON_ERROR_STOP=1 and returns the trimmed output.</summary>
    public async Task<string> QueryAsync(string sql, string database = "postgres", CancellationToken cancellationToken = default)
    {
        var result = await PgUser.RunPgAsync(
            "psql",
            ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDir, "-p", Port.ToString(CultureInfo.InvariantCulture),
             "-U", SuperUser, "-d", database, "-c", sql],
            cwd: BaseDir,
            timeout: s_queryTimeout,
            cancellationToken: cancellationToken).ConfigureAwait(false);
        result.EnsureSuccess($"query on cluster '{Name}'", LogTailSection());
        return result.StdOut.Trim();
    }

    /// <summary>SELECT pg_switch_wal() and returns the name of the WAL segment that was closed (and is now archivable).</summary>
    public Task<string> SwitchWalAsync(CancellationToken cancellationToken = default) =>
        QueryAsync("SELECT pg_walfile_name(pg_switch_wal())", cancellationToken: cancellationToken);

    /// <summary>Switches to a new segment and waits until the archiver reports the closed one archived.</summary>
    public async Task<string> SwitchWalAndWaitArchivedAsync(TimeSpan timeout)
    {
        string segment = await SwitchWalAsync().ConfigureAwait(false);
        await WaitForAsync(
            async () => string.CompareOrdinal(await QueryAsync("select coalesce(last_archived_wal, '') from pg_stat_archiver"), segment) >= 0,
            timeout, $"archiving of {segment} by {Name}").ConfigureAwait(false);
        return segment;
    }

    /// <summary>Name of the WAL segment currently being written.</summary>
    public Task<string> CurrentWalFileAsync(CancellationToken cancellationToken = default) =>
        QueryAsync("SELECT pg_walfile_name(pg_current_wal_lsn())", cancellationToken: cancellationToken);

    /// <summary>pgbench -i -s scale (quiet).</summary>
    public async Task PgBenchInitAsync(int scale, CancellationToken cancellationToken = default)
    {
        (await PgUser.RunPgAsync(
                "pgbench",
                ["-i", "-q", "-s", scale.ToString(CultureInfo.InvariantCulture), .. ConnArgs(), "postgres"],
                cwd: BaseDir,
                timeout: s_benchTimeout,
                cancellationToken: cancellationToken).ConfigureAwait(false))
            .EnsureSuccess($"pgbench -i on cluster '{Name}'", LogTailSection());
    }

    /// <summary>pgbench -n -t transactions -c clients (per client transaction count, like pgbench itself).</summary>
    public async Task<ProcessResult> PgBenchRunAsync(int transactions, int clients, CancellationToken cancellationToken = default)
    {
        var jobs = Math.Max(1, Math.Min(clients, Environment.ProcessorCount));
        return (await PgUser.RunPgAsync(
                "pgbench",
                ["-n", "-t", transactions.ToString(CultureInfo.InvariantCulture), "-c", clients.ToString(CultureInfo.InvariantCulture),
                 "-j", jobs.ToString(CultureInfo.InvariantCulture), .. ConnArgs(), "postgres"],
                cwd: BaseDir,
                timeout: s_benchTimeout,
                cancellationToken: cancellationToken).ConfigureAwait(false))
            .EnsureSuccess($"pgbench run on cluster '{Name}'", LogTailSection());
    }

    /// <summary>The whole server log (empty if it does not exist yet).</summary>
    public string ReadLog()
    {
        try
        {
            using var fs = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(fs, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    public string ReadLogTail(int lines = 40) => ProcessRunner.Tail(ReadLog(), lines);

    /// <summary>
    /// Polls <paramref name="condition"/> (every 200 ms) until it returns true; exceptions count as "not yet".
    /// Throws TimeoutException naming <paramref name="what"/>, the last exception and the server log tail.
    /// </summary>
    public async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                    return;
                last = null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                last = ex;
            }
            if (sw.Elapsed >= timeout)
            {
                var lastText = last is null ? "" : $"{Environment.NewLine}Last error: {last.GetType().Name}: {last.Message}";
                throw new TimeoutException(
                    $"Timed out after {timeout.TotalSeconds:F0}s waiting for {what} (cluster '{Name}').{lastText}{LogTailSection()}");
            }
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        var pidFile = Path.Combine(DataDir, "postmaster.pid");
        if (IsRunning || File.Exists(pidFile))
        {
            try
            {
                await PgCtlAsync(["stop", "-m", "immediate", "-w", "-t", "30"], null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or IOException)
            {
            }
            KillPostmasterFromPidFile(pidFile);
            IsRunning = false;
        }
        if (Environment.GetEnvironmentVariable("WALSHIP_KEEP_TEMP") == "1")
            return;
        try
        {
            if (Directory.Exists(BaseDir))
                Directory.Delete(BaseDir, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // the owning TestTempDir retries the delete
        }
    }

    public override string ToString() => $"PgCluster '{Name}' (port {Port}, {DataDir})";

    private static PgCluster CreateEmpty(string name, string parentDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.IndexOfAny(['/', '\0']) >= 0 || name is "." or "..")
            throw new ArgumentException($"Invalid cluster name '{name}'.", nameof(name));
        if (!Directory.Exists(parentDir))
            throw new DirectoryNotFoundException($"Parent directory '{parentDir}' does not exist.");
        var baseDir = Path.Combine(parentDir, name);
        if (Directory.Exists(baseDir))
            throw new InvalidOperationException($"Cluster directory '{baseDir}' already exists.");
        Directory.CreateDirectory(baseDir);
        PgUser.ChownToPostgres(baseDir);
        return new PgCluster(name, baseDir, TestPaths.GetFreeTcpPort());
    }

    private Task<ProcessResult> PgCtlAsync(IEnumerable<string> args, IDictionary<string, string>? env, CancellationToken cancellationToken) =>
        PgUser.RunPgAsync("pg_ctl", ["-D", DataDir, .. args], env, cwd: BaseDir, timeout: s_processTimeout, cancellationToken: cancellationToken);

    private string[] ConnArgs() => ["-h", SocketDir, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", SuperUser];

    private string LogTailSection() => ProcessRunner.Section($"server log {LogFile}", ReadLog());

    private long LogLength()
    {
        try
        {
            return new FileInfo(LogFile).Exists ? ReadLog().Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static string Seconds(TimeSpan t) => ((int)t.TotalSeconds).ToString(CultureInfo.InvariantCulture);

    private static void KillPostmasterFromPidFile(string pidFile)
    {
        try
        {
            if (!File.Exists(pidFile))
                return;
            var first = File.ReadLines(pidFile).FirstOrDefault();
            if (!int.TryParse(first, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) || pid <= 1)
                return;
            using var p = Process.GetProcessById(pid);
            if (p.ProcessName is "postgres" or "postmaster")
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // not running / already gone
        }
    }
}
