using System.Globalization;
using WalShip.Wal;

namespace WalShip.Commands.Postgres;

/// <summary>What the signal files say the server does on its next start (or is doing now).</summary>
public enum ServerRole
{
    /// <summary>No signal file: a primary (or a cluster that will become one).</summary>
    Primary,
    /// <summary>standby.signal (which wins when recovery.signal is there too).</summary>
    Standby,
    /// <summary>recovery.signal alone: targeted archive recovery, ending in a promotion.</summary>
    ArchiveRecovery,
}

/// <summary>
/// pg_wal/archive_status: what the archiver still has to do (.ready) and has done (.done). OldestReady is the
/// first .ready file in archiving order (history files first, then segments by name), without the suffix;
/// OldestReadySince is when the oldest .ready file appeared (its mtime), which is how long archiving has been
/// behind; NewestDone is the newest segment marked .done.
/// </summary>
public sealed record ArchiveStatusSummary(int ReadyCount, int DoneCount, string? OldestReady, DateTimeOffset? OldestReadySince, string? NewestDone);

/// <summary>postmaster.pid of a running server: the process and where it listens.</summary>
public sealed record PostmasterInfo(int Pid, int Port, string? SocketDirectory, string? ListenAddress, bool IsAlive);

/// <summary>
/// A PostgreSQL data directory read without a connection: its version, role (signal files), the archiver's
/// backlog in pg_wal/archive_status, the running postmaster, and its configuration files. Reads only; every
/// method answers from the files as they are at the moment of the call.
/// </summary>
public sealed class DataDirectory(string path)
{
    /// <summary>Where Debian's postgresql-common keeps each cluster's postgresql.conf (/etc/postgresql/VERSION/NAME).</summary>
    public const string DebianConfigRoot = "/etc/postgresql";

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string WalDirectory => System.IO.Path.Join(Path, "pg_wal");

    public string ArchiveStatusDirectory => System.IO.Path.Join(Path, "pg_wal", "archive_status");

    /// <summary>Throws a one-line error unless <see cref="Path"/> holds PG_VERSION, as every data directory does.</summary>
    public void EnsureExists()
    {
        if (!Directory.Exists(Path))
            throw new DirectoryNotFoundException($"data directory {Path} does not exist");
        if (!File.Exists(System.IO.Path.Join(Path, "PG_VERSION")))
            throw new FileNotFoundException($"{Path} is not a PostgreSQL data directory (no PG_VERSION)");
    }

    /// <summary>The major version from PG_VERSION ("15"), or null when it cannot be read.</summary>
    public string? ReadMajorVersion()
    {
        try
        {
            string text = File.ReadAllText(System.IO.Path.Join(Path, "PG_VERSION")).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public ServerRole ReadRole() =>
        File.Exists(System.IO.Path.Join(Path, "standby.signal")) ? ServerRole.Standby
        : File.Exists(System.IO.Path.Join(Path, "recovery.signal")) ? ServerRole.ArchiveRecovery
        : ServerRole.Primary;

    /// <summary>Counts .ready and .done files. A file that vanishes while we look (the archiver finished it)
    /// is simply not counted.</summary>
    public ArchiveStatusSummary ReadArchiveStatus()
    {
        int ready = 0, done = 0;
        string? oldestReady = null, newestDone = null;
        DateTimeOffset? oldestReadySince = null;
        IEnumerable<string> names;
        try
        {
            names = Directory.EnumerateFiles(ArchiveStatusDirectory).Select(System.IO.Path.GetFileName).OfType<string>().ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return new ArchiveStatusSummary(0, 0, null, null, null);
        }
        foreach (string name in names)
        {
            if (name.EndsWith(".ready", StringComparison.Ordinal))
            {
                string file = name[..^".ready".Length];
                if (!WalFileName.TryParse(file, out _))
                    continue;
                ready++;
                if (oldestReady is null || ArchivesBefore(file, oldestReady))
                    oldestReady = file;
                var since = ModifiedTime(name);
                if (since is not null && (oldestReadySince is null || since < oldestReadySince))
                    oldestReadySince = since;
            }
            else if (name.EndsWith(".done", StringComparison.Ordinal))
            {
                string file = name[..^".done".Length];
                if (!WalFileName.TryParse(file, out var parsed))
                    continue;
                done++;
                if (parsed.Kind == WalFileKind.Segment && (newestDone is null || string.CompareOrdinal(file, newestDone) > 0))
                    newestDone = file;
            }
        }
        return new ArchiveStatusSummary(ready, done, oldestReady, oldestReadySince, newestDone);
    }

    /// <summary>The archiver's order (pgarch_readyXlog): timeline history files first, then by name.</summary>
    private static bool ArchivesBefore(string a, string b)
    {
        bool aHistory = a.EndsWith(".history", StringComparison.Ordinal), bHistory = b.EndsWith(".history", StringComparison.Ordinal);
        if (aHistory != bHistory)
            return aHistory;
        return string.CompareOrdinal(a, b) < 0;
    }

    private DateTimeOffset? ModifiedTime(string statusFile)
    {
        try
        {
            var info = new FileInfo(System.IO.Path.Join(ArchiveStatusDirectory, statusFile));
            return info.Exists ? new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>postmaster.pid, or null when no server runs here (or left only a stale file we cannot parse).</summary>
    public PostmasterInfo? ReadPostmaster()
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(System.IO.Path.Join(Path, "postmaster.pid"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // Lines: pid, data directory, start time, port, socket directory, listen address, shared memory key, status.
        if (lines.Length < 4 || !int.TryParse(lines[0].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid) || pid <= 0
            || !int.TryParse(lines[3].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int port))
            return null;
        string? socket = lines.Length > 4 && lines[4].Trim().Length > 0 ? lines[4].Trim() : null;
        string? listen = lines.Length > 5 && lines[5].Trim().Length > 0 ? lines[5].Trim() : null;
        return new PostmasterInfo(pid, port, socket, listen, Directory.Exists($"/proc/{pid}"));
    }

    /// <summary>The server's configuration files: postgresql.conf in the data directory, or, on Debian where
    /// it is not there, the /etc/postgresql/*/*/postgresql.conf whose data_directory is this one; then
    /// postgresql.auto.conf. Throws <see cref="PostgresConfigException"/> for what the server would refuse.</summary>
    public PostgresConfig ReadConfig(string? configFile = null, string debianConfigRoot = DebianConfigRoot) =>
        PostgresConfig.Load(Path, configFile ?? FindConfigFile(debianConfigRoot));

    private string FindConfigFile(string debianConfigRoot)
    {
        string local = System.IO.Path.Join(Path, "postgresql.conf");
        if (File.Exists(local) || !Directory.Exists(debianConfigRoot))
            return local;
        foreach (string candidate in Directory.EnumerateFiles(debianConfigRoot, "postgresql.conf", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 }).Order(StringComparer.Ordinal))
        {
            try
            {
                string? dataDirectory = PostgresConfig.Load(Path, candidate).Get("data_directory");
                if (dataDirectory is not null && System.IO.Path.GetFullPath(dataDirectory).TrimEnd('/') == Path.TrimEnd('/'))
                    return candidate;
            }
            catch (PostgresConfigException)
            {
                // another cluster's broken file is not ours to report
            }
        }
        return local;
    }
}
