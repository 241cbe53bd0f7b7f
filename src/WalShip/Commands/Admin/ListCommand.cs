using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>
/// walship list: the archive as timelines (parent, switch point), contiguous segment ranges, gaps,
/// .history/.backup/.partial files, counts, raw and stored bytes, and first and last archive times.
/// </summary>
public sealed class ListCommand(Repository repository, AdminConsole console)
{
    public async Task<int> RunAsync(WalFilter filter, CancellationToken cancellationToken)
    {
        ListReport report;
        using (var progress = new ProgressReporter(console.Errors, console.ErrorsIsTerminal, "listed"))
        {
            var session = await AdminSession.OpenAsync(repository, console, filter, progress, cancellationToken);
            // Parents and switch points come from every history file, even of timelines filtered out.
            // Reading them also yields their raw sizes, which the listing does not carry.
            var smallFileRawBytes = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
            var histories = await ArchiveInventory.ReadHistoriesAsync(session.Repository, session.Scan.Files, console.Parallelism, cancellationToken, smallFileRawBytes);
            var files = session.Scan.Files.Where(filter.Matches).ToList();
            var labels = await ArchiveInventory.ReadBackupLabelsAsync(session.Repository, files, console.Parallelism, cancellationToken, smallFileRawBytes);
            var inventory = ArchiveInventory.Build(files, session.SegmentSize, histories.Where(h => filter.WantsTimeline(h.Key)).ToDictionary(), smallFileRawBytes);
            report = BuildReport(session, inventory, labels);
        }

        if (console.Json)
            console.Output.WriteLine(JsonSerializer.Serialize(report, AdminJsonContext.Default.ListReport));
        else
            WriteText(report);
        return ExitCodes.Ok;
    }

    private ListReport BuildReport(AdminSession session, ArchiveInventory inventory, List<ArchivedBackupLabel> labels)
    {
        var byFile = labels.ToDictionary(l => l.File.Name.Name);
        var timelines = new List<TimelineReport>();
        foreach (var view in inventory.Timelines.Values)
        {
            timelines.Add(new TimelineReport
            {
                Timeline = view.Timeline,
                Parent = view.Branch?.Timeline,
                SwitchPoint = view.Branch is { } branch ? TimelineHistory.FormatLsn(branch.SwitchPoint) : null,
                History = view.History?.Name.Name,
                Segments = view.Segments.Count,
                First = view.Segments.Count > 0 ? view.Segments[0].Name.Name : null,
                Last = view.Segments.Count > 0 ? view.Segments[^1].Name.Name : null,
                Ranges = view.Ranges.Select(r => Range(inventory, view.Timeline, r)).ToList(),
                Gaps = view.Gaps.Select(r => Range(inventory, view.Timeline, r)).ToList(),
                Partial = view.Partials.Select(p => p.Name.Name).ToList(),
                Backups = view.Backups.Select(b => byFile.TryGetValue(b.Name.Name, out var label)
                    ? new BackupReport { Name = b.Name.Name, StartWalLocation = TimelineHistory.FormatLsn(label.StartLsn), Label = label.Label }
                    : new BackupReport { Name = b.Name.Name }).ToList(),
            });
        }

        var files = inventory.Files;
        // The ratio counts only files whose raw size is known (all of them, unless a read failed).
        long raw = 0, stored = 0, storedOfKnownRaw = 0;
        foreach (var file in files)
        {
            stored += file.StoredBytes;
            if (inventory.RawBytes(file) is { } bytes)
            {
                raw += bytes;
                storedOfKnownRaw += file.StoredBytes;
            }
        }
        return new ListReport
        {
            Repository = repository.Url,
            SystemIdentifier = session.Manifest?.SystemIdentifier,
            WalSegmentSize = inventory.SegmentSize,
            Timelines = timelines,
            Totals = new TotalsReport
            {
                Objects = files.Count,
                Segments = files.Count(f => f.Name.Kind == WalFileKind.Segment),
                HistoryFiles = files.Count(f => f.Name.Kind == WalFileKind.History),
                BackupFiles = files.Count(f => f.Name.Kind == WalFileKind.Backup),
                PartialFiles = files.Count(f => f.Name.Kind == WalFileKind.Partial),
                RawBytes = raw,
                StoredBytes = stored,
                CompressionRatio = storedOfKnownRaw > 0 ? Math.Round((double)raw / storedOfKnownRaw, 2) : null,
                FirstArchived = files.Count > 0 ? files.Min(f => f.LastModified) : null,
                LastArchived = files.Count > 0 ? files.Max(f => f.LastModified) : null,
            },
            ForeignObjects = session.Scan.Foreign.Select(f => f.Key).ToList(),
        };
    }

    private static RangeReport Range(ArchiveInventory inventory, uint timeline, SegmentRange range) => new()
    {
        First = inventory.SegmentName(timeline, range.First),
        Last = inventory.SegmentName(timeline, range.Last),
        Segments = range.Count,
    };

    private void WriteText(ListReport report)
    {
        var o = console.Output;
        o.WriteLine($"Repository  {report.Repository}");
        o.WriteLine(report.SystemIdentifier is null
            ? "Cluster     (no walship.json: nothing was ever pushed here)"
            : $"Cluster     {report.SystemIdentifier}, {report.WalSegmentSize >> 20} MiB segments");
        foreach (var t in report.Timelines)
        {
            o.WriteLine();
            o.WriteLine(t.Parent is { } parent
                ? $"Timeline {t.Timeline}  (branched from timeline {parent} at {t.SwitchPoint})"
                : $"Timeline {t.Timeline}");
            if (t.History is not null)
                o.WriteLine($"  history   {t.History}");
            // Ranges and gaps in sequence order.
            foreach (var (kind, range) in t.Ranges.Select(r => ("segments", r)).Concat(t.Gaps.Select(g => ("GAP", g))).OrderBy(x => x.Item2.First, StringComparer.Ordinal))
                o.WriteLine($"  {kind,-9} {range.First} .. {range.Last}  {range.Segments,6} {(kind == "GAP" ? "missing" : "")}".TrimEnd());
            foreach (string partial in t.Partial)
                o.WriteLine($"  partial   {partial}");
            foreach (var backup in t.Backups)
                o.WriteLine($"  backup    {backup.Name}{(backup.StartWalLocation is null ? "" : $"  start {backup.StartWalLocation}")}{(string.IsNullOrEmpty(backup.Label) ? "" : $"  label \"{backup.Label}\"")}");
        }
        var totals = report.Totals;
        o.WriteLine();
        o.WriteLine($"Objects     {totals.Objects:N0}  ({totals.Segments:N0} segments, {totals.HistoryFiles} .history, {totals.BackupFiles} .backup, {totals.PartialFiles} .partial)");
        o.WriteLine($"Bytes       {ArchiveInventory.FormatBytes(totals.RawBytes)} raw, {ArchiveInventory.FormatBytes(totals.StoredBytes)} stored" +
                    (totals.CompressionRatio is { } ratio ? $", ratio {ratio.ToString("0.00", CultureInfo.InvariantCulture)}x" : ""));
        if (totals.FirstArchived is { } first && totals.LastArchived is { } last)
            o.WriteLine($"Archived    {first.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z .. {last.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z");
        int gaps = report.Timelines.Sum(t => t.Gaps.Count);
        if (gaps > 0)
            o.WriteLine($"Gaps        {gaps} (WAL missing inside a timeline: a restore cannot pass them)");
        if (report.ForeignObjects.Count > 0)
            o.WriteLine($"Not walship's: {report.ForeignObjects.Count} object(s) under the WAL prefix, e.g. {report.ForeignObjects[0]} (see walship verify)");
    }
}
