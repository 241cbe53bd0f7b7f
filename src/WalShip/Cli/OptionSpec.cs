namespace WalShip.Cli;

/// <summary>
/// One walship option. This table is the single source for flag parsing, WALSHIP_* variables,
/// config-file keys and the options part of --help (and so of the README).
/// </summary>
public sealed record OptionSpec(
    string Name,
    string Help,
    string? Default = null,
    bool IsSwitch = false,
    string[]? AwsFallbackEnv = null,
    string? ValueHint = null,
    string[]? Commands = null)
{
    public string EnvironmentVariable => "WALSHIP_" + Name.ToUpperInvariant().Replace('-', '_');

    /// <summary>An option that belongs to some commands only (--json, --confirm, ...) is a command-line
    /// flag only: a --confirm in a config file or the environment would turn every dry run into a delete.</summary>
    public bool IsFlagOnly => Commands is not null;

    public bool AppliesTo(string? command) => Commands is null || (command is not null && Commands.Contains(command));

    public static readonly OptionSpec Repo = new("repo",
        "Repository URL: s3://bucket/prefix or file:///path.", Default: "file:///var/lib/postgresql/walship", ValueHint: "URL");
    public static readonly OptionSpec Region = new("region",
        "AWS region of the bucket.", AwsFallbackEnv: ["AWS_REGION", "AWS_DEFAULT_REGION"], ValueHint: "REGION");
    public static readonly OptionSpec Endpoint = new("endpoint",
        "S3 endpoint URL, for S3-compatible servers or VPC endpoints.", AwsFallbackEnv: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], ValueHint: "URL");
    public static readonly OptionSpec PathStyle = new("path-style",
        "Address the bucket in the path (http://host/bucket/key), as most S3-compatible servers need.", Default: "false", IsSwitch: true);
    public static readonly OptionSpec CaFile = new("ca-file",
        "PEM file of the CA(s) to trust for the S3 endpoint, for private CAs. TLS verification is always on.", AwsFallbackEnv: ["AWS_CA_BUNDLE"], ValueHint: "FILE");
    public static readonly OptionSpec Profile = new("profile",
        "AWS profile from ~/.aws/config and ~/.aws/credentials, used instead of the SDK's default chain. Without it the chain applies: AWS_ACCESS_KEY_ID first, then AWS_PROFILE.", ValueHint: "NAME");
    public static readonly OptionSpec UseInstanceMetadata = new("use-instance-metadata",
        "Allow credentials from the EC2 instance metadata service (off by default: off EC2 the probe costs seconds).", Default: "false", IsSwitch: true);
    public static readonly OptionSpec CompressionLevel = new("compression-level",
        "zstd level, 1 (fastest) to 19. Level 1 is the default because on pgbench WAL it compresses twice as fast as level 3 for objects at most 11% larger (bench/README.md).", Default: "1", ValueHint: "N");
    public static readonly OptionSpec CompressionThreads = new("compression-threads",
        "Threads compressing one file, each taking 4 MiB of it at a time. Cores taken from the database server while a segment is pushed.", Default: "2", ValueHint: "N");
    public static readonly OptionSpec PartSize = new("part-size",
        "Objects larger than this go up as a multipart upload in parts of this size (minimum 5MiB).", Default: "8MiB", ValueHint: "SIZE");
    public static readonly OptionSpec UploadConcurrency = new("upload-concurrency",
        "Multipart parts uploaded at once.", Default: "4", ValueHint: "N");
    public static readonly OptionSpec Deadline = new("deadline",
        "Hard limit for one push or fetch, retries included (e.g. 90s, 5m). walship never runs longer.", Default: "120s", ValueHint: "DURATION");
    public static readonly OptionSpec PgData = new("pgdata",
        "The data directory, for standby.signal/recovery.signal and pg_control. Default: the directory above %p's pg_wal.", ValueHint: "DIR");
    public const int FatalExitCodeDefault = 200;

    public static readonly OptionSpec FatalExitCode = new("fatal-exit-code",
        "Exit code of fetch for any failure other than 'not in archive' outside standby mode. Must be above 125, so that PostgreSQL stops recovery instead of ending it early.", Default: $"{FatalExitCodeDefault}", ValueHint: "N");
    public static readonly OptionSpec LogFormat = new("log-format",
        "text or json (one JSON object per line).", Default: "text", ValueHint: "FORMAT");
    public static readonly OptionSpec LogLevel = new("log-level",
        "debug, info, warning or error.", Default: "info", ValueHint: "LEVEL");
    public static readonly OptionSpec Config = new("config",
        "Config file of 'key = value' lines; keys are these option names.", ValueHint: "FILE");

    // Operations: status and metrics (issue 8).
    public static readonly OptionSpec MetricsFile = new("metrics-file",
        "Prometheus textfile-collector file that every push and fetch updates atomically: runs by outcome, bytes, last duration, last success time (e.g. /var/lib/prometheus/node-exporter/walship.prom). A failure to write it is logged and never fails the push or fetch.", ValueHint: "FILE");
    public static readonly OptionSpec Connection = new("connection",
        "PostgreSQL connection string for status: libpq keyword=value ('host=/var/run/postgresql user=postgres') or a postgresql:// URI; PG* variables and ~/.pgpass apply. Default: the server running in --pgdata, through the socket its postmaster.pid names.", ValueHint: "CONNINFO");
    public static readonly OptionSpec BacklogWarn = new("backlog-warn",
        "status exits 11 when this many WAL files or more wait to be archived (primary), or the archive holds this many segments or more beyond replay (standby).", Default: "16", ValueHint: "N", Commands: ["status"]);
    public static readonly OptionSpec Prometheus = new("prometheus",
        "Print OpenMetrics text (for a scrape or a textfile collector) instead of text.", Default: "false", IsSwitch: true, Commands: ["status"]);
    public static readonly OptionSpec Json = new("json",
        "Print one JSON object for scripts instead of text.", Default: "false", IsSwitch: true, Commands: ["status"]);

    public static readonly OptionSpec[] All =
    [
        Repo, Region, Endpoint, PathStyle, CaFile, Profile, UseInstanceMetadata, CompressionLevel, CompressionThreads, PartSize,
        UploadConcurrency, Deadline, PgData, FatalExitCode, LogFormat, LogLevel, Config,
        MetricsFile, Connection, BacklogWarn, Prometheus, Json,
    ];

    /// <summary>Options of one command, for its --help: the global ones and its own.</summary>
    public static IEnumerable<OptionSpec> For(string? command) => All.Where(spec => command is null || spec.AppliesTo(command));

    public static OptionSpec? Find(string name)
    {
        foreach (var spec in All)
            if (spec.Name == name)
                return spec;
        return null;
    }
}
