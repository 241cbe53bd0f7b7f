using System.Text.Json;
using System.Text.Json.Serialization;

namespace WalShip.Commands.Status;

/// <summary>
/// What `walship status` found, and the schema of `walship status --json` (format 1). Every field is always
/// present; null means "not known" (no connection, no data directory, or nothing archived yet).
/// </summary>
public sealed class StatusReport
{
    public int Format { get; init; } = 1;
    public DateTimeOffset Time { get; init; }
    /// <summary>primary, standby or archive_recovery.</summary>
    public string Role { get; set; } = "primary";
    /// <summary>ok, or behind when the backlog reached --backlog-warn.</summary>
    public string Status { get; set; } = "ok";
    public int BacklogWarn { get; init; }
    public string? DataDirectory { get; init; }
    public string? PgVersion { get; set; }
    public ServerSection Server { get; } = new();
    public ArchiverSection? Archiver { get; set; }
    public ArchiveStatusSection? ArchiveStatus { get; set; }
    public RepositorySection Repository { get; } = new();
    public LagSection? Lag { get; set; }
    public StandbySection? Standby { get; set; }
    public List<string> Warnings { get; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, StatusJsonContext.Default.StatusReport) + "\n";
}

public sealed class ServerSection
{
    public bool Connected { get; set; }
    /// <summary>host:port/database the connection went to.</summary>
    public string? Target { get; set; }
    /// <summary>Why there is no connection, when one was tried.</summary>
    public string? Error { get; set; }
    public bool? InRecovery { get; set; }
    public int? VersionNum { get; set; }
    public string? ArchiveMode { get; set; }
    public string? ArchiveCommand { get; set; }
    public string? RestoreCommand { get; set; }
    /// <summary>Where archive_mode and the commands were read: server (SHOW) or config (the files).</summary>
    public string? SettingsFrom { get; set; }
    public long? WalSegmentSize { get; set; }
    public uint? Timeline { get; set; }
    public string? CurrentLsn { get; set; }
    public string? CurrentWalFile { get; set; }
}

public sealed class ArchiverSection
{
    public long ArchivedCount { get; init; }
    public string? LastArchivedWal { get; init; }
    public DateTimeOffset? LastArchivedTime { get; init; }
    public long FailedCount { get; init; }
    public string? LastFailedWal { get; init; }
    public DateTimeOffset? LastFailedTime { get; init; }
}

public sealed class ArchiveStatusSection
{
    public int ReadyCount { get; init; }
    public int DoneCount { get; init; }
    public string? OldestReady { get; init; }
    public DateTimeOffset? OldestReadySince { get; init; }
    public double? OldestReadyAgeSeconds { get; init; }
    public string? NewestDone { get; init; }
}

public sealed class RepositorySection
{
    public string? Url { get; set; }
    public string? Error { get; set; }
    /// <summary>Whether walship.json is there, i.e. some push has bound the repository to a cluster.</summary>
    public bool? Bound { get; set; }
    /// <summary>The newest segment found in the repository, probing by name forward from a known one.</summary>
    public string? LastSegment { get; set; }
    public string? ProbedFrom { get; set; }
    public int Probes { get; set; }
    /// <summary>Timelines above the server's whose history file the repository holds (a promotion happened).</summary>
    public List<uint> NewerTimelines { get; } = [];
}

public sealed class LagSection
{
    public long Segments { get; init; }
    public long? Bytes { get; init; }
    public double? Seconds { get; init; }
}

public sealed class StandbySection
{
    public string? ReceiveLsn { get; init; }
    public string? ReplayLsn { get; init; }
    public string? ReplayWalFile { get; init; }
    public DateTimeOffset? LastReplayTime { get; init; }
    /// <summary>Segments after the replayed one that the repository already holds (on the same timeline).</summary>
    public long? ArchiveAheadSegments { get; set; }
    /// <summary>True when probing stopped at its limit: the archive is at least that far ahead.</summary>
    public bool ArchiveAheadAtLeast { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StatusReport))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
