using System.Text.Json.Serialization;

namespace WalShip.Commands.Admin;

// The --json documents of list, prune and verify. The schema is documented in README.md
// ("Admin: list, prune, verify"); "schema" names its version: fields may be added, never renamed.

public sealed class ListReport
{
    [JsonPropertyName("schema")] public string Schema { get; init; } = "walship.list/1";
    [JsonPropertyName("repository")] public string Repository { get; init; } = "";
    [JsonPropertyName("system_identifier")] public string? SystemIdentifier { get; init; }
    [JsonPropertyName("wal_segment_size")] public uint WalSegmentSize { get; init; }
    [JsonPropertyName("timelines")] public List<TimelineReport> Timelines { get; init; } = [];
    [JsonPropertyName("totals")] public TotalsReport Totals { get; init; } = new();
    [JsonPropertyName("foreign_objects")] public List<string> ForeignObjects { get; init; } = [];
}

public sealed class TimelineReport
{
    [JsonPropertyName("timeline")] public uint Timeline { get; init; }
    [JsonPropertyName("parent")] public uint? Parent { get; init; }
    [JsonPropertyName("switch_point")] public string? SwitchPoint { get; init; }
    [JsonPropertyName("history")] public string? History { get; init; }
    [JsonPropertyName("segments")] public int Segments { get; init; }
    [JsonPropertyName("first")] public string? First { get; init; }
    [JsonPropertyName("last")] public string? Last { get; init; }
    [JsonPropertyName("ranges")] public List<RangeReport> Ranges { get; init; } = [];
    [JsonPropertyName("gaps")] public List<RangeReport> Gaps { get; init; } = [];
    [JsonPropertyName("partial")] public List<string> Partial { get; init; } = [];
    [JsonPropertyName("backups")] public List<BackupReport> Backups { get; init; } = [];
}

public sealed class RangeReport
{
    [JsonPropertyName("first")] public string First { get; init; } = "";
    [JsonPropertyName("last")] public string Last { get; init; } = "";
    [JsonPropertyName("segments")] public ulong Segments { get; init; }
}

public sealed class BackupReport
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("start_wal_location")] public string? StartWalLocation { get; init; }
    [JsonPropertyName("label")] public string? Label { get; init; }
}

public sealed class TotalsReport
{
    [JsonPropertyName("objects")] public int Objects { get; init; }
    [JsonPropertyName("segments")] public int Segments { get; init; }
    [JsonPropertyName("history_files")] public int HistoryFiles { get; init; }
    [JsonPropertyName("backup_files")] public int BackupFiles { get; init; }
    [JsonPropertyName("partial_files")] public int PartialFiles { get; init; }
    [JsonPropertyName("raw_bytes")] public long RawBytes { get; init; }
    [JsonPropertyName("stored_bytes")] public long StoredBytes { get; init; }
    [JsonPropertyName("compression_ratio")] public double? CompressionRatio { get; init; }
    [JsonPropertyName("first_archived")] public DateTimeOffset? FirstArchived { get; init; }
    [JsonPropertyName("last_archived")] public DateTimeOffset? LastArchived { get; init; }
}

public sealed class PruneReport
{
    [JsonPropertyName("schema")] public string Schema { get; init; } = "walship.prune/1";
    [JsonPropertyName("repository")] public string Repository { get; init; } = "";
    [JsonPropertyName("dry_run")] public bool DryRun { get; init; }
    [JsonPropertyName("selected_objects")] public int SelectedObjects { get; init; }
    [JsonPropertyName("selected_stored_bytes")] public long SelectedStoredBytes { get; init; }
    [JsonPropertyName("kept_by_backups")] public int KeptByBackups { get; init; }
    [JsonPropertyName("kept_by_timeline_guard")] public int KeptByTimelineGuard { get; init; }
    [JsonPropertyName("keep_from")] public string? KeepFrom { get; init; }
    [JsonPropertyName("protected_from")] public string? ProtectedFrom { get; init; }
    [JsonPropertyName("deleted_objects")] public int DeletedObjects { get; set; }
    [JsonPropertyName("failures")] public List<PruneFailureReport> Failures { get; init; } = [];
    [JsonPropertyName("files")] public List<string> Files { get; init; } = [];
    /// <summary>With --retain: the retained backups, newest first (walship backup names, other tools' .backup labels).</summary>
    [JsonPropertyName("retained_backups")] public List<string>? RetainedBackups { get; init; }
    /// <summary>With --retain: the older walship backups the WAL deletion leaves unrestorable, deleted with it.</summary>
    [JsonPropertyName("selected_backups")] public List<string>? SelectedBackups { get; init; }
    [JsonPropertyName("deleted_backups")] public int DeletedBackups { get; set; }
}

public sealed class PruneFailureReport
{
    [JsonPropertyName("key")] public string Key { get; init; } = "";
    [JsonPropertyName("code")] public string Code { get; init; } = "";
    [JsonPropertyName("message")] public string Message { get; init; } = "";
}

public sealed class VerifyReport
{
    [JsonPropertyName("schema")] public string Schema { get; init; } = "walship.verify/1";
    [JsonPropertyName("repository")] public string Repository { get; init; } = "";
    [JsonPropertyName("checked_objects")] public int CheckedObjects { get; set; }
    [JsonPropertyName("checked_stored_bytes")] public long CheckedStoredBytes { get; set; }
    [JsonPropertyName("ok")] public bool Ok { get; set; }
    [JsonPropertyName("problems")] public List<VerifyProblem> Problems { get; init; } = [];
}

/// <summary>One finding of verify. Kinds: corrupt, foreign_cluster, gap, not_walship, unreadable,
/// manifest.</summary>
public sealed class VerifyProblem
{
    [JsonPropertyName("kind")] public string Kind { get; init; } = "";
    [JsonPropertyName("key")] public string? Key { get; init; }
    [JsonPropertyName("file")] public string? File { get; init; }
    [JsonPropertyName("message")] public string Message { get; init; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(ListReport))]
[JsonSerializable(typeof(PruneReport))]
[JsonSerializable(typeof(VerifyReport))]
public sealed partial class AdminJsonContext : JsonSerializerContext;
