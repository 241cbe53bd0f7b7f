using System.Text.Json;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>What the user asked prune for, before the archive is read.</summary>
public sealed record PruneRequest(WalFileName? Before, DateTimeOffset? OlderThan, int? KeepBackups, bool AllowCurrentTimeline, bool Confirm);

/// <summary>
/// walship prune: deletes old WAL. A dry run unless --confirm. Deletes go oldest first in batches of
/// 1,000; a key already gone counts as deleted, so an interrupted prune is finished by running it again.
/// </summary>
public sealed class PruneCommand(Repository repository, AdminConsole console)
{
    public async Task<int> RunAsync(PruneRequest request, CancellationToken cancellationToken)
    {
        using var progress = new ProgressReporter(console.Errors, console.ErrorsIsTerminal, "listed");
        var session = await AdminSession.OpenAsync(repository, console, WalFilter.All, progress, cancellationToken);
        var histories = await ArchiveInventory.ReadHistoriesAsync(session.Repository, session.Scan.Files, console.Parallelism, cancellationToken);
        var inventory = ArchiveInventory.Build(session.Scan.Files, session.SegmentSize, histories);
        uint current = inventory.HighestTimeline;
        if (current > 1 && !histories.ContainsKey(current))
            console.Errors.WriteLine($"walship: warning: {current:X8}.history is not in the archive; treating all of timeline {current}'s WAL and everything before it as the current timeline's");

        IReadOnlyList<KeepPoint> keepFrom = [];
        if (request.KeepBackups is { } count)
        {
            var labels = await ArchiveInventory.ReadBackupLabelsAsync(session.Repository, session.Scan.Files, console.Parallelism, cancellationToken);
            keepFrom = PruneSelection.KeepNewestBackups(labels, count, session.SegmentSize);
        }
        var criteria = new PruneCriteria(request.Before, request.OlderThan, keepFrom, request.AllowCurrentTimeline);
        ulong guardFrom = inventory.CurrentTimelineStartSegment;
        var selection = PruneSelection.Select(session.Scan.Files, session.SegmentSize, guardFrom, criteria);

        var report = new PruneReport
        {
            Repository = repository.Url,
            DryRun = !request.Confirm,
            SelectedObjects = selection.Selected.Count,
            SelectedStoredBytes = selection.Selected.Sum(f => f.StoredBytes),
            KeptByBackups = selection.KeptByKeepPoints,
            KeptByTimelineGuard = selection.KeptByTimelineGuard,
            KeepFrom = selection.KeepFrom is { } keep ? inventory.SegmentName(current, keep.SegmentNumber)[8..] : null,
            ProtectedFrom = request.AllowCurrentTimeline ? null : inventory.SegmentName(current, guardFrom),
            Files = selection.Selected.Select(f => f.Name.Name).ToList(),
        };

        int exitCode = ExitCodes.Ok;
        if (request.Confirm && selection.Selected.Count > 0)
        {
            progress.Stage("deleted", selection.Selected.Count);
            try
            {
                exitCode = await DeleteAsync(selection.Selected, report, progress, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                console.Errors.WriteLine($"walship: prune interrupted after deleting {report.DeletedObjects:N0} of {selection.Selected.Count:N0} objects (oldest first); run it again to finish");
                throw;
            }
        }
        progress.Dispose();

        if (console.Json)
            console.Output.WriteLine(JsonSerializer.Serialize(report, AdminJsonContext.Default.PruneReport));
        else
            WriteText(report, selection, inventory, current);
        return exitCode;
    }

    private async Task<int> DeleteAsync(IReadOnlyList<ArchivedFile> selected, PruneReport report, ProgressReporter progress, CancellationToken cancellationToken)
    {
        var keys = new List<string>(IObjectStore.MaxDeleteBatch);
        for (int start = 0; start < selected.Count; start += IObjectStore.MaxDeleteBatch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            keys.Clear();
            for (int i = start; i < Math.Min(selected.Count, start + IObjectStore.MaxDeleteBatch); i++)
                keys.Add(selected[i].Key);
            var failures = await repository.Store.DeleteAsync(keys, cancellationToken);
            report.DeletedObjects += keys.Count - failures.Count;
            progress.Add(keys.Count);
            foreach (var failure in failures)
            {
                report.Failures.Add(new PruneFailureReport { Key = failure.Key, Code = failure.Code, Message = failure.Message });
                console.Errors.WriteLine($"walship: error: could not delete {repository.Store.Describe(failure.Key)}: {failure.Code} {failure.Message}".TrimEnd());
            }
        }
        return report.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.PartialFailure;
    }

    private void WriteText(PruneReport report, PruneSelectionResult selection, ArchiveInventory inventory, uint current)
    {
        var o = console.Output;
        string bytes = ArchiveInventory.FormatBytes(report.SelectedStoredBytes);
        if (report.SelectedObjects == 0)
            o.WriteLine("Nothing to delete.");
        else if (report.DryRun)
            o.WriteLine($"Dry run: would delete {report.SelectedObjects:N0} objects ({bytes} stored):");
        else
            o.WriteLine($"Deleted {report.DeletedObjects:N0} of {report.SelectedObjects:N0} objects ({bytes} stored):");
        foreach (var group in selection.Selected.GroupBy(f => f.Name.Timeline).OrderBy(g => g.Key))
        {
            var segments = group.Where(f => f.Name.Kind == WalFileKind.Segment).ToList();
            string span = segments.Count > 0 ? $"{segments.MinBy(f => f.Position)!.Name} .. {segments.MaxBy(f => f.Position)!.Name}, " : "";
            o.WriteLine($"  timeline {group.Key}: {span}{segments.Count:N0} segments, " +
                        $"{group.Count(f => f.Name.Kind == WalFileKind.Backup)} .backup, {group.Count(f => f.Name.Kind == WalFileKind.Partial)} .partial");
        }
        if (selection.KeepFrom is { } keep)
            o.WriteLine($"Kept {report.KeptByBackups:N0} objects from segment {report.KeepFrom} on: {keep.Reason}.");
        if (report.KeptByTimelineGuard > 0)
            o.WriteLine($"Kept {report.KeptByTimelineGuard:N0} objects at or after the start of the current timeline {current} ({report.ProtectedFrom}); " +
                        "--allow-current-timeline lets prune delete them.");
        o.WriteLine(".history files are never deleted.");
        if (report.DryRun && report.SelectedObjects > 0)
            o.WriteLine("Nothing was deleted: this was a dry run. Add --confirm to delete.");
        if (report.Failures.Count > 0)
            o.WriteLine($"{report.Failures.Count:N0} objects could not be deleted (see the errors above); run prune again once the cause is fixed.");
    }
}
