namespace WalShip.Tests.Fixtures;

/// <summary>
/// Runs PostgreSQL (and other) commands as the non-root <c>postgres</c> OS user when the tests run as root
/// (initdb and postgres refuse to run as root); otherwise runs them directly as the current user.
/// As root the command line becomes <c>runuser -u postgres -- env K=V... cmd args</c>; runuser keeps the
/// caller's environment and cwd (it only resets HOME/USER/LOGNAME/SHELL).
/// </summary>
public static class PgUser
{
    public const string OsUserName = "postgres";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly Lazy<(uint Uid, uint Gid)?> s_postgresIds = new(LookupPostgresIds);

    /// <summary>True when the test process runs as root, i.e. commands are wrapped with runuser.</summary>
    public static bool RunsAsRoot => Environment.IsPrivilegedProcess;

    /// <summary>The uid/gid of the postgres OS user (from /etc/passwd).</summary>
    public static (uint Uid, uint Gid) PostgresIds =>
        s_postgresIds.Value ?? throw new InvalidOperationException(
            $"The '{OsUserName}' OS user does not exist (needed because the tests run as root). Run packaging/install-deps.sh.");

    /// <summary>Full path of a PostgreSQL binary, e.g. BinPath("pg_ctl").</summary>
    public static string BinPath(string tool)
    {
        var path = Path.Combine(TestPaths.PgBinDir, tool);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"PostgreSQL binary '{path}' not found. Run packaging/install-deps.sh (or set WALSHIP_PG_BIN).", path);
        return path;
    }

    /// <summary>Runs a PostgreSQL binary from <see cref="TestPaths.PgBinDir"/> as the postgres user (when root).</summary>
    public static Task<ProcessResult> RunPgAsync(
        string tool,
        IEnumerable<string> args,
        IDictionary<string, string>? env = null,
        string? cwd = null,
        TimeSpan? timeout = null,
        string? stdin = null,
        CancellationToken cancellationToken = default) =>
        RunAsPostgresAsync(BinPath(tool), args, env, cwd, timeout, stdin, cancellationToken);

    /// <summary>
    /// Runs any executable as the postgres user when root (directly otherwise). <paramref name="cwd"/> defaults
    /// to /tmp because runuser keeps the caller's cwd, which postgres may not be allowed to enter.
    /// </summary>
    public static Task<ProcessResult> RunAsPostgresAsync(
        string file,
        IEnumerable<string> args,
        IDictionary<string, string>? env = null,
        string? cwd = null,
        TimeSpan? timeout = null,
        string? stdin = null,
        CancellationToken cancellationToken = default)
    {
        var (wrappedFile, wrappedArgs, wrappedEnv) = Wrap(file, args, env);
        return ProcessRunner.RunAsync(wrappedFile, wrappedArgs, cwd ?? TestPaths.TempRoot, wrappedEnv, timeout ?? DefaultTimeout, stdin, cancellationToken);
    }

    /// <summary>
    /// Builds the (file, args, env) to start <paramref name="file"/> as postgres. As root, the env vars are
    /// passed through <c>env K=V</c> after runuser; otherwise they are returned for ProcessStartInfo.Environment.
    /// </summary>
    public static (string File, IReadOnlyList<string> Args, IDictionary<string, string>? Env) Wrap(
        string file, IEnumerable<string> args, IDictionary<string, string>? env)
    {
        if (!RunsAsRoot)
            return (file, args.ToList(), env);

        _ = PostgresIds; // fail early with a clear message
        var wrapped = new List<string> { "-u", OsUserName, "--", "/usr/bin/env" };
        if (env != null)
        {
            foreach (var (k, v) in env)
            {
                if (string.IsNullOrEmpty(k) || k.Contains('='))
                    throw new ArgumentException($"Invalid environment variable name '{k}'.", nameof(env));
                wrapped.Add($"{k}={v}");
            }
        }
        wrapped.Add(file);
        wrapped.AddRange(args);
        return (RunUserPath, wrapped, null);
    }

    /// <summary>chown <paramref name="path"/> to postgres:postgres when running as root; no-op otherwise.</summary>
    public static void ChownToPostgres(string path, bool recursive = false)
    {
        if (!RunsAsRoot)
            return;
        var (uid, gid) = PostgresIds;
        LibC.Chown(path, uid, gid);
        if (recursive && Directory.Exists(path))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories))
                LibC.Chown(entry, uid, gid);
        }
    }

    private static string RunUserPath =>
        new[] { "/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("runuser not found (util-linux); it is needed to run PostgreSQL as the postgres user when root.");

    private static (uint, uint)? LookupPostgresIds()
    {
        if (!File.Exists("/etc/passwd"))
            return null;
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == OsUserName && uint.TryParse(f[2], out var uid) && uint.TryParse(f[3], out var gid))
                return (uid, gid);
        }
        return null;
    }
}
