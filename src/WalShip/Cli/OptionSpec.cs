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
        "Threads compressing one file, each taking 1 MiB of it at a time. Cores taken from the database server while a segment is pushed.", Default: "2", ValueHint: "N");
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

    // Encryption (issue 4): server-side by S3, client-side by walship before upload.
    public static readonly OptionSpec Sse = new("sse",
        "Server-side encryption S3 applies to the objects walship writes: AES256 (S3-managed keys) or aws:kms. S3 repositories only.", ValueHint: "MODE");
    public static readonly OptionSpec SseKmsKeyId = new("sse-kms-key-id",
        "KMS key (key id, key ARN or alias ARN) for --sse aws:kms. Without it S3 uses the account's aws/s3 key.", ValueHint: "KEY");
    public static readonly OptionSpec Encryption = new("encryption",
        "Client-side encryption of the objects push writes: none or aes-256-gcm (needs a key). Fetch decrypts what an object's header names, whatever this says.", Default: "none", ValueHint: "CIPHER");
    public static readonly OptionSpec EncryptionKeyFile = new("encryption-key-file",
        "The current 32-byte key: a file of exactly 32 raw bytes, or of 64 hex digits, or of base64 text. Refused if group or others may read it.", ValueHint: "FILE");
    public static readonly OptionSpec EncryptionKey = new("encryption-key",
        "The current key as 64 hex digits or base64 text, instead of --encryption-key-file. Refused on the command line, where ps would show it; set the variable.", ValueHint: "KEY");
    public static readonly OptionSpec DecryptionKeyFiles = new("decryption-key-files",
        "Comma-separated files of earlier keys, tried by key id to read objects pushed before a key rotation.", ValueHint: "FILES");
    // STS's --external-id (owned by the sts feature) is also what `walship policy` writes into the trust policy.
    public static readonly OptionSpec ExternalId = new("external-id",
        "External id required when assuming the role (sts:ExternalId).", ValueHint: "ID");

    // walship policy (issue 4): command-only inputs of the IAM documents it prints.
    public static readonly OptionSpec PolicyBucket = new("bucket",
        "Bucket holding the repository (in account A).", ValueHint: "BUCKET", Commands: ["policy"]);
    public static readonly OptionSpec PolicyPrefix = new("prefix",
        "Repository prefix inside the bucket (as in s3://bucket/prefix); empty means the whole bucket.", ValueHint: "PREFIX", Commands: ["policy"]);
    public static readonly OptionSpec PolicyReaderAccount = new("reader-account",
        "12-digit AWS account id of the standby (account B).", ValueHint: "ACCOUNT", Commands: ["policy"]);
    public static readonly OptionSpec PolicyReaderRoleName = new("reader-role-name",
        "Name of the role the standby assumes in account B.", Default: "walship-reader", ValueHint: "NAME", Commands: ["policy"]);
    public static readonly OptionSpec PolicyWriterRoleArn = new("writer-role-arn",
        "ARN of the primary's role in account A, named in the KMS key policy.", ValueHint: "ARN", Commands: ["policy"]);
    public static readonly OptionSpec PolicyKmsKeyArn = new("kms-key-arn",
        "ARN of the KMS key used with --sse aws:kms; adds the key policy statement and kms permissions.", ValueHint: "ARN", Commands: ["policy"]);
    public static readonly OptionSpec PolicyAllowPrune = new("allow-prune",
        "Give the writer s3:DeleteObject on the prefix, for a primary that prunes old WAL.", Default: "false", IsSwitch: true, Commands: ["policy"]);

    // Operations: status and metrics (issue 8).
    public static readonly OptionSpec MetricsFile = new("metrics-file",
        "Prometheus textfile-collector file that every push and fetch updates atomically: runs by outcome, bytes, last duration, last success time (e.g. /var/lib/prometheus/node-exporter/walship.prom). A failure to write it is logged and never fails the push or fetch.", ValueHint: "FILE");
    public static readonly OptionSpec Connection = new("connection",
        "PostgreSQL connection string for status and check, and for backup push (whose role needs REPLICATION and a replication line in pg_hba.conf): libpq keyword=value ('host=/var/run/postgresql user=postgres') or a postgresql:// URI; PG* variables and ~/.pgpass apply. Default: the server running in --pgdata, through the socket its postmaster.pid names.", ValueHint: "CONNINFO");
    public static readonly OptionSpec BacklogWarn = new("backlog-warn",
        "status exits 11 when this many WAL files or more wait to be archived (primary), or the archive holds this many segments or more beyond replay (standby).", Default: "16", ValueHint: "N", Commands: ["status"]);
    public static readonly OptionSpec Prometheus = new("prometheus",
        "Print OpenMetrics text (for a scrape or a textfile collector) instead of text.", Default: "false", IsSwitch: true, Commands: ["status"]);

    // Shared by every command that prints data for scripts.
    public static readonly OptionSpec Json = new("json",
        "Print JSON for scripts instead of text (backup list: an array of backup.json objects; the others: one object; list/prune/verify schema: README.md, 'Admin: list, prune, verify').", Default: "false", IsSwitch: true, Commands: ["status", "list", "prune", "verify", "check", "backup", "policy"]);

    // --- Base backups (walship backup push|list|fetch|delete) ---
    public static readonly OptionSpec PgBaseBackup = new("pg-basebackup",
        "backup push: the pg_basebackup to run, of the server's major version.", Default: "pg_basebackup", ValueHint: "FILE", Commands: ["backup"]);
    public static readonly OptionSpec Standby = new("standby",
        "backup fetch: write standby.signal (follow the archive until promoted) instead of recovery.signal. check: check as a standby (read-only access, restore_command) even where no standby.signal exists yet.", Default: "false", IsSwitch: true, Commands: ["backup", "check"]);
    public static readonly OptionSpec TargetTime = new("target-time",
        "backup fetch: recovery_target_time, e.g. '2026-01-01 12:00:00+00'.", ValueHint: "TIMESTAMP", Commands: ["backup"]);
    public static readonly OptionSpec TargetLsn = new("target-lsn",
        "backup fetch: recovery_target_lsn, e.g. 0/3000060.", ValueHint: "LSN", Commands: ["backup"]);
    public static readonly OptionSpec TargetAction = new("target-action",
        "backup fetch: recovery_target_action at the target: pause, promote or shutdown.", ValueHint: "ACTION", Commands: ["backup"]);

    // Cross-account access: assume an IAM role (issue 4). Source credentials are the default chain or --profile.
    public static readonly OptionSpec RoleArn = new("role-arn",
        "IAM role to assume with the source credentials (the default chain or --profile), e.g. a role in the bucket's account. Temporary credentials are renewed before they expire.", ValueHint: "ARN");
    public static readonly OptionSpec RoleSessionName = new("role-session-name",
        "Session name for --role-arn, shown in the bucket owner's CloudTrail. Default: walship-HOSTNAME.", ValueHint: "NAME");
    public static readonly OptionSpec RoleDuration = new("role-duration",
        "Lifetime asked for the role's temporary credentials, 15m to 12h (the role's maximum session duration caps it).", Default: "1h", ValueHint: "DURATION");
    public static readonly OptionSpec StsEndpoint = new("sts-endpoint",
        "STS endpoint URL, e.g. a VPC endpoint. Default: the regional endpoint of --sts-region.", AwsFallbackEnv: ["AWS_ENDPOINT_URL_STS"], ValueHint: "URL");
    public static readonly OptionSpec StsRegion = new("sts-region",
        "Region of the STS endpoint. Default: --region.", ValueHint: "REGION");
    public static readonly OptionSpec CredentialCache = new("credential-cache",
        "Directory (owned by the caller, mode 0700) where --role-arn's temporary credentials are kept between runs, one 0600 file per role, external id and source identity, so STS is called once per credential lifetime rather than once per WAL file. 'off' disables it. Default: $XDG_CACHE_HOME/walship/credentials, else ~/.cache/walship/credentials.", ValueHint: "DIR");


    // Push-ahead and prefetch (README "Push-ahead and prefetch"). Off by default: each starts a detached
    // worker process and keeps WAL in a spool, which an operator should choose knowingly; 8 segments is
    // a good start (enough to hide S3 latency, 128 MiB of disk with 16 MiB segments).
    public static readonly OptionSpec PushAhead = new("push-ahead",
        "After a push, a detached worker also pushes up to N more files already waiting in archive_status, leaving a verified receipt for each, so PostgreSQL's later calls for them end at once. 0 = off; 8 suits a busy primary.", Default: "0", ValueHint: "N");
    public static readonly OptionSpec PushAheadBytes = new("push-ahead-bytes",
        "Most bytes of WAL pushed ahead and not yet asked for by PostgreSQL.", Default: "256MiB", ValueHint: "SIZE");
    public static readonly OptionSpec Prefetch = new("prefetch",
        "After a fetch for recovery (%p = pg_wal/RECOVERYXLOG), a detached worker downloads and verifies up to N following segments into the spool, following timeline switches, so later calls are served by a rename. 0 = off; 8 suits a standby catching up.", Default: "0", ValueHint: "N");
    public static readonly OptionSpec PrefetchBytes = new("prefetch-bytes",
        "Most bytes of WAL the prefetch spool holds.", Default: "256MiB", ValueHint: "SIZE");
    public static readonly OptionSpec SpoolDir = new("spool-dir",
        "Where push-ahead receipts and prefetched WAL are kept, in a subdirectory per cluster (system identifier), mode 0700. Must be outside the data directory. Default: $XDG_CACHE_HOME/walship, else $HOME/.cache/walship.", ValueHint: "DIR");

    // --- Admin commands: list, prune, verify ---
    public static readonly OptionSpec Timeline = new("timeline",
        "Only this timeline (a decimal number, as pg_controldata prints it).", ValueHint: "N", Commands: ["list", "verify"]);
    public static readonly OptionSpec From = new("from",
        "Only segments from this one on (a segment name; its timeline part is ignored, as pg_archivecleanup does).", ValueHint: "SEGMENT", Commands: ["list", "verify"]);
    public static readonly OptionSpec To = new("to",
        "Only segments up to and including this one (a segment name; its timeline part is ignored).", ValueHint: "SEGMENT", Commands: ["list", "verify"]);
    public static readonly OptionSpec Since = new("since",
        "Only objects archived at or after this time: an ISO 8601 time (2026-11-25T08:00:00Z) or a duration back from now (6h, 7d).", ValueHint: "TIME", Commands: ["list"]);
    public static readonly OptionSpec Before = new("before",
        "Delete WAL older than this segment, like archive_cleanup_command's %r (timeline part ignored).", ValueHint: "SEGMENT", Commands: ["prune"]);
    public static readonly OptionSpec OlderThan = new("older-than",
        "Delete WAL archived longer ago than this (e.g. 7d, 36h).", ValueHint: "DURATION", Commands: ["prune"]);
    public static readonly OptionSpec Retain = new("retain",
        "Keep the newest N base backups (walship's backup catalog and other tools' .backup labels in the archive) and all WAL from the start of the oldest of them on; older walship backups whose WAL this prune deletes are deleted too.", ValueHint: "N", Commands: ["prune"]);
    public static readonly OptionSpec Confirm = new("confirm",
        "Really delete. Without it prune only prints what it would delete.", IsSwitch: true, Commands: ["prune"]);
    public static readonly OptionSpec AllowCurrentTimeline = new("allow-current-timeline",
        "Let prune delete WAL at or after the point where the newest timeline began (on an archive never promoted: any WAL).", IsSwitch: true, Commands: ["prune"]);
    public static readonly OptionSpec Parallel = new("parallel",
        "Listings and object reads in flight at once.", Default: "16", ValueHint: "N", Commands: ["list", "prune", "verify"]);

    public static readonly OptionSpec[] All =
    [
        Repo, Region, Endpoint, PathStyle, CaFile, Profile, UseInstanceMetadata, CompressionLevel, CompressionThreads, PartSize,
        UploadConcurrency, Deadline, PgData, FatalExitCode, LogFormat, LogLevel, Config,
        Sse, SseKmsKeyId, Encryption, EncryptionKeyFile, EncryptionKey, DecryptionKeyFiles, ExternalId,
        PolicyBucket, PolicyPrefix, PolicyReaderAccount, PolicyReaderRoleName, PolicyWriterRoleArn, PolicyKmsKeyArn, PolicyAllowPrune, Json,
        MetricsFile, Connection, BacklogWarn, Prometheus,
        PgBaseBackup, Standby, TargetTime, TargetLsn, TargetAction,
        RoleArn, RoleSessionName, RoleDuration, StsEndpoint, StsRegion, CredentialCache,
        PushAhead, PushAheadBytes, Prefetch, PrefetchBytes, SpoolDir,
        Timeline, From, To, Since, Before, OlderThan, Retain, Confirm, AllowCurrentTimeline, Parallel,
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
