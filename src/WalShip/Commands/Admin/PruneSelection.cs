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
            throw new ArgumentException("prune needs --before, --older-than or --keep-backups", nameof(criteria));
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

    /// <summary>Keep points for "keep the WAL of the newest <paramref name="count"/> backups": the start
    /// of each. With fewer labels than asked for, everything is kept (a keep point at segment 0).</summary>
    public static IReadOnlyList<KeepPoint> KeepNewestBackups(IReadOnlyList<ArchivedBackupLabel> newestFirst, int count, uint segmentSize)
    {
        if (newestFirst.Count < count)
            return [new KeepPoint(0, $"only {newestFirst.Count} backup label(s) in the archive, fewer than --keep-backups {count}")];
        return newestFirst.Take(count)
            .Select(label => new KeepPoint(label.StartLsn / segmentSize, $"backup {label.File.Name.Name} starts at {TimelineHistory.FormatLsn(label.StartLsn)}"))
            .ToList();
    }
}
