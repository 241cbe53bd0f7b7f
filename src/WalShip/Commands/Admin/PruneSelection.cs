using WalShip.Archive;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>A point from which all WAL must stay, on every timeline: e.g. the start of a retained backup.</summary>
public readonly record struct KeepPoint(ulong SegmentNumber, string Reason);

/// <summary>What prune is asked to remove. Every given condition must hold for a file to go.</summary>
public sealed record PruneCriteria(
    WalFileName? Before = null,
    DateTimeOffset? OlderThan = null,
    IReadOnlyList<KeepPoint>? KeepFrom = null,
    bool AllowCurrentTimeline = false)
{
    public bool SelectsAnything => Before is not null || OlderThan is not null || KeepFrom is { Count: > 0 };
}

/// <summary>The files prune would delete, and how many the safety rules kept.</summary>
public sealed record PruneSelectionResult(IReadOnlyList<ArchivedFile> Selected, int KeptByKeepPoints, int KeptByTimelineGuard, KeepPoint? KeepFrom);

/// <summary>
/// Which files prune deletes. A pure function of the listing, so it can be tested alone and other
/// retention sources (backups that must stay restorable) add <see cref="KeepPoint"/>s to it. Rules:
/// never a .history file; nothing at or after the earliest keep point; nothing at or after the
/// current timeline's first segment (<paramref name="currentTimelineStartSegment"/>) unless
/// <see cref="PruneCriteria.AllowCurrentTimeline"/>; and only what matches every criterion given.
/// The result is ordered oldest first, the order deletes go in, so an interrupted prune leaves the
/// archive contiguous from some later point on.
/// </summary>
public static class PruneSelection
{
    public static PruneSelectionResult Select(IEnumerable<ArchivedFile> files, uint segmentSize, ulong currentTimelineStartSegment, PruneCriteria criteria)
    {
        if (!criteria.SelectsAnything)
            throw new ArgumentException("prune needs --before, --older-than or --retain", nameof(criteria));
        KeepPoint? keepFrom = criteria.KeepFrom is { Count: > 0 } points ? points.MinBy(p => p.SegmentNumber) : null;
        ulong? before = criteria.Before?.SegmentNumber(segmentSize);

        var selected = new List<ArchivedFile>();
        int keptByKeepPoints = 0, keptByGuard = 0;
        foreach (var file in files)
        {
            if (file.Name.Kind == WalFileKind.History)
                continue;
            ulong segment = file.Name.SegmentNumber(segmentSize);
            if (before is { } limit && segment >= limit)
                continue;
            if (criteria.OlderThan is { } cutoff && file.LastModified >= cutoff)
                continue;
            if (keepFrom is { } keep && segment >= keep.SegmentNumber)
            {
                keptByKeepPoints++;
                continue;
            }
            if (!criteria.AllowCurrentTimeline && segment >= currentTimelineStartSegment)
            {
                keptByGuard++;
                continue;
            }
            selected.Add(file);
        }
        selected.Sort(static (a, b) =>
        {
            int c = a.Position.CompareTo(b.Position);
            if (c == 0) c = a.Name.Timeline.CompareTo(b.Name.Timeline);
            return c != 0 ? c : string.CompareOrdinal(a.Name.Name, b.Name.Name);
        });
        return new PruneSelectionResult(selected, keptByKeepPoints, keptByGuard, keepFrom);
    }

    /// <summary>
    /// prune --retain N: the base backups to keep and the WAL they need. Backups are walship's (its catalog
    /// of backup.json) and other tools' (a .backup label in the WAL archive that no walship backup names,
    /// e.g. pg_basebackup or pgBackRest with this archive_command), newest first by start LSN, which grows
    /// across timeline switches. The newest <paramref name="retain"/> are retained, and everything from the
    /// start segment of the oldest of them stays, on every timeline. With fewer backups than asked for, all
    /// WAL stays (a keep point at segment 0) and no backup is older than the retained ones.
    /// </summary>
    public static RetentionPlan PlanRetention(IReadOnlyList<BackupManifest> catalog, IReadOnlyList<ArchivedBackupLabel> labels, int retain, uint segmentSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retain, 1);
        var backups = new List<RetainedBackup>();
        var walshipLabels = new HashSet<string>(StringComparer.Ordinal);
        foreach (var manifest in catalog)
        {
            var start = Lsn.Parse(manifest.StartLsn);
            var stop = WalFileName.Parse(manifest.StopWalFile);
            backups.Add(new RetainedBackup(manifest.Name, manifest.Timeline, start.Value, start.Value / segmentSize,
                stop.Timeline, stop.SegmentNumber(segmentSize), manifest));
            walshipLabels.Add(manifest.BackupHistoryFile);
        }
        foreach (var label in labels)
            if (!walshipLabels.Contains(label.File.Name.Name))
            {
                ulong startSegment = label.StartLsn / segmentSize;
                backups.Add(new RetainedBackup(label.File.Name.Name, label.File.Name.Timeline, label.StartLsn, startSegment,
                    label.File.Name.Timeline, startSegment, null));
            }
        backups.Sort(static (a, b) =>
        {
            int c = b.StartLsn.CompareTo(a.StartLsn);
            if (c == 0) c = b.Timeline.CompareTo(a.Timeline);
            return c != 0 ? c : string.CompareOrdinal(b.Name, a.Name);
        });
        if (backups.Count < retain)
            return new RetentionPlan(backups, [], new KeepPoint(0,
                $"{backups.Count} base backup(s) in the backup catalog and the archive's .backup labels, fewer than --retain {retain}: all WAL stays"));
        var retained = backups.Take(retain).ToList();
        var oldest = retained[^1];
        return new RetentionPlan(retained, backups.Skip(retain).ToList(), new KeepPoint(oldest.StartSegment,
            $"the oldest of the {retain} retained base backup(s), {oldest.Name}, starts at {new Lsn(oldest.StartLsn)}"));
    }

    /// <summary>
    /// The walship backups, older than the retained ones, that deleting <paramref name="selectedWal"/> would
    /// make unrestorable: a segment they need to become consistent (start to stop, on their timelines) is
    /// selected. prune deletes them with the WAL, backup.json first. A backup whose start-to-stop WAL all
    /// stays is left alone, as is every other tool's backup (only its .backup label is WAL).
    /// </summary>
    public static IReadOnlyList<BackupManifest> BackupsLosingTheirWal(RetentionPlan plan, IReadOnlyList<ArchivedFile> selectedWal, uint segmentSize)
    {
        var selected = new HashSet<(uint Timeline, ulong Segment)>();
        foreach (var file in selectedWal)
            if (file.Name.Kind is WalFileKind.Segment or WalFileKind.Partial)
                selected.Add((file.Name.Timeline, file.Name.SegmentNumber(segmentSize)));
        var losing = new List<BackupManifest>();
        foreach (var backup in plan.Older)
        {
            if (backup.Manifest is null)
                continue;
            for (ulong segment = backup.StartSegment; segment <= backup.StopSegment; segment++)
                if (selected.Contains((backup.Timeline, segment)) || selected.Contains((backup.StopTimeline, segment)))
                {
                    losing.Add(backup.Manifest);
                    break;
                }
        }
        return losing;
    }
}

/// <summary>A base backup as --retain counts it: walship's own (<see cref="Manifest"/> set) or another tool's,
/// known only by its .backup label (then the stop point is taken to be its start segment).</summary>
public sealed record RetainedBackup(string Name, uint Timeline, ulong StartLsn, ulong StartSegment, uint StopTimeline, ulong StopSegment, BackupManifest? Manifest);

/// <summary>What --retain N decided: the retained backups (newest first), the older ones, and the keep point.</summary>
public sealed record RetentionPlan(IReadOnlyList<RetainedBackup> Retained, IReadOnlyList<RetainedBackup> Older, KeepPoint Keep);
