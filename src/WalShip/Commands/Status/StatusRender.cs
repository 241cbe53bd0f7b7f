using System.Text;
using WalShip.Commands.Metrics;

namespace WalShip.Commands.Status;

/// <summary>The two human and machine views of a <see cref="StatusReport"/> besides JSON: one screen of text, and OpenMetrics.</summary>
public static class StatusRender
{
    public static string Text(StatusReport report)
    {
        var text = new StringBuilder();
        void Line(string label, string value) => text.Append($"{label,-11} {value}\n");
        string Time(DateTimeOffset? time) => time is { } t ? $"{t.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z ({StatusCommand.Duration(Math.Max(0, (report.Time - t).TotalSeconds))} ago)" : "never";

        Line("walship", $"status of a {report.Role.Replace('_', ' ')}{(report.PgVersion is { } v ? $", PostgreSQL {v}" : "")}{(report.DataDirectory is { } d ? $", data directory {d}" : "")}");

        var server = report.Server;
        if (server.Connected)
            Line("server", $"{server.Target}, {(server.InRecovery == true ? "in recovery" : "accepting writes")}, timeline {server.Timeline}, {Size(server.WalSegmentSize ?? 0)} segments");
        else
            Line("server", $"not connected{(server.Error is { } error ? $": {error}" : "")}");
        if (server.SettingsFrom is not null)
        {
            string from = server.SettingsFrom == "config" ? " (from the configuration files)" : "";
            if (report.Role == "primary")
                Line("", $"archive_mode = {server.ArchiveMode}, archive_command = '{server.ArchiveCommand}'{from}");
            else
                Line("", $"restore_command = '{server.RestoreCommand}'{from}");
        }
        if (server.CurrentWalFile is not null)
            Line("", $"writing WAL at {server.CurrentLsn} in {server.CurrentWalFile}");

        if (report.Archiver is { } archiver)
        {
            Line("archiver", $"{archiver.ArchivedCount} archived, last {archiver.LastArchivedWal ?? "none"} at {Time(archiver.LastArchivedTime)}");
            if (archiver.FailedCount > 0)
                Line("", $"{archiver.FailedCount} failed, last {archiver.LastFailedWal} at {Time(archiver.LastFailedTime)}");
        }
        if (report.ArchiveStatus is { } status)
            Line("pg_wal", status.ReadyCount == 0
                ? $"nothing waits to be archived; {status.DoneCount} .done"
                : $"{status.ReadyCount} .ready, oldest {status.OldestReady} waiting {StatusCommand.Duration(status.OldestReadyAgeSeconds ?? 0)}; {status.DoneCount} .done");

        var repository = report.Repository;
        Line("repository", repository.Error is { } repositoryError
            ? $"{repository.Url}: {repositoryError}"
            : $"{repository.Url}: last segment {repository.LastSegment ?? "unknown"}{(repository.ProbedFrom is { } from2 ? $" (probed from {from2}, {repository.Probes} lookups)" : "")}");

        if (report.Standby is { } standby)
        {
            Line("replay", $"{standby.ReplayLsn ?? "unknown position"} in {standby.ReplayWalFile ?? "unknown"}, last transaction {Time(standby.LastReplayTime)}");
            if (standby.ArchiveAheadSegments is { } ahead)
                Line("", $"the archive holds {(standby.ArchiveAheadAtLeast ? "at least " : "")}{ahead} segments beyond it");
        }
        if (report.Lag is { } lag)
            Line("lag", $"{lag.Segments} segments, {(lag.Bytes is { } bytes ? Size(bytes) : "? bytes")}, {(lag.Seconds is { } seconds ? StatusCommand.Duration(seconds) : "? s")}");
        foreach (string warning in report.Warnings)
            text.Append($"WARNING: {warning}\n");
        Line("status", report.Status == "behind" ? $"BEHIND (--backlog-warn {report.BacklogWarn})" : "OK");
        return text.ToString();
    }

    public static readonly MetricFamily Up = new("walship_status_up", "gauge", "1 when status could read the component (server, repository), else 0.");
    public static readonly MetricFamily Behind = new("walship_status_behind", "gauge", "1 when the backlog reached --backlog-warn.");
    public static readonly MetricFamily Ready = new("walship_archive_ready_files", "gauge", "WAL files in pg_wal/archive_status waiting to be archived (.ready).");
    public static readonly MetricFamily ReadyAge = new("walship_archive_oldest_ready_age_seconds", "gauge", "How long the oldest .ready file has waited.");
    public static readonly MetricFamily Done = new("walship_archive_done_files", "gauge", "WAL files marked archived (.done) still in pg_wal.");
    public static readonly MetricFamily Archived = new("walship_archiver_archived_total", "counter", "pg_stat_archiver.archived_count.");
    public static readonly MetricFamily Failed = new("walship_archiver_failed_total", "counter", "pg_stat_archiver.failed_count.");
    public static readonly MetricFamily LastArchived = new("walship_archiver_last_archived_timestamp_seconds", "gauge", "pg_stat_archiver.last_archived_time (Unix time).");
    public static readonly MetricFamily LastFailed = new("walship_archiver_last_failed_timestamp_seconds", "gauge", "pg_stat_archiver.last_failed_time (Unix time).");
    public static readonly MetricFamily LagSegments = new("walship_lag_segments", "gauge", "Primary: completed segments not in the repository. Standby: segments in the repository beyond replay.");
    public static readonly MetricFamily LagBytes = new("walship_lag_bytes", "gauge", "The lag in bytes of WAL.");
    public static readonly MetricFamily LagSeconds = new("walship_lag_seconds", "gauge", "The lag in time: age of the oldest .ready file (primary), or since the last replayed transaction (standby).");
    public static readonly MetricFamily BacklogWarn = new("walship_status_backlog_warn", "gauge", "The --backlog-warn threshold.");

    public static string OpenMetrics(StatusReport report)
    {
        var role = new[] { ("role", report.Role) };
        MetricSample Sample(MetricFamily family, double value, params (string, string)[] labels) =>
            new(family.Name, labels.Length == 0 ? role : labels, value);
        IEnumerable<MetricSample> One(MetricFamily family, double? value) => value is { } v ? [Sample(family, v)] : [];
        static double? Unix(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() / 1000.0 : null;

        var families = new List<(MetricFamily, IEnumerable<MetricSample>)>
        {
            (Up, [Sample(Up, report.Server.Connected ? 1 : 0, ("component", "server")), Sample(Up, report.Repository.Error is null ? 1 : 0, ("component", "repository"))]),
            (Behind, One(Behind, report.Status == "behind" ? 1 : 0)),
            (BacklogWarn, One(BacklogWarn, report.BacklogWarn)),
            (Ready, One(Ready, report.ArchiveStatus?.ReadyCount)),
            (ReadyAge, One(ReadyAge, report.ArchiveStatus is null ? null : report.ArchiveStatus.OldestReadyAgeSeconds ?? 0)),
            (Done, One(Done, report.ArchiveStatus?.DoneCount)),
            (Archived, One(Archived, report.Archiver?.ArchivedCount)),
            (Failed, One(Failed, report.Archiver?.FailedCount)),
            (LastArchived, One(LastArchived, Unix(report.Archiver?.LastArchivedTime))),
            (LastFailed, One(LastFailed, Unix(report.Archiver?.LastFailedTime))),
            (LagSegments, One(LagSegments, report.Lag?.Segments)),
            (LagBytes, One(LagBytes, report.Lag?.Bytes)),
            (LagSeconds, One(LagSeconds, report.Lag?.Seconds)),
        };
        return PrometheusText.Render(families, openMetrics: true);
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.#} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.#} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes} bytes",
    };
}
