using System.Text.Json;
using WalShip.Archive;
using WalShip.Commands.Backup;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>What the user asked prune for, before the archive is read.</summary>
public sealed record PruneRequest(WalFileName? Before, DateTimeOffset? OlderThan, int? Retain, bool AllowCurrentTimeline, bool Confirm);

/// <summary>
/// walship prune: deletes old WAL. A dry run unless --confirm. Deletes go oldest first in batches of
/// 1,000; a key already gone counts as deleted, so an interrupted prune is finished by running it again.
/// With --retain, the walship backups that the deletion would leave without their WAL go first, each
/// backup.json before its data, and a backup that cannot be deleted stops the prune before any WAL goes:
/// a backup is never listed as complete without the WAL it needs.
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
        RetentionPlan? plan = null;
        if (request.Retain is { } retain)
        {
            var (catalog, _) = await new BackupCatalog(session.Repository).ListAsync(cancellationToken);
            var labels = await ArchiveInventory.ReadBackupLabelsAsync(session.Repository, session.Scan.Files, console.Parallelism, cancellationToken);
            plan = PruneSelection.PlanRetention(catalog, labels, retain, session.SegmentSize);
            keepFrom = [plan.Keep];
        }
        var criteria = new PruneCriteria(request.Before, request.OlderThan, keepFrom, request.AllowCurrentTimeline);
        ulong guardFrom = inventory.CurrentTimelineStartSegment;
        var selection = PruneSelection.Select(session.Scan.Files, session.SegmentSize, guardFrom, criteria);
        var backupsToDelete = plan is null ? [] : PruneSelection.BackupsLosingTheirWal(plan, selection.Selected, session.SegmentSize);

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
            RetainedBackups = plan?.Retained.Select(b => b.Name).ToList(),
            SelectedBackups = plan is null ? null : backupsToDelete.Select(b => b.Name).ToList(),
        };

        int exitCode = ExitCodes.Ok;
        if (request.Confirm && backupsToDelete.Count > 0)
            exitCode = await DeleteBackupsAsync(backupsToDelete, report, cancellationToken);
        if (request.Confirm && selection.Selected.Count > 0 && exitCode == ExitCodes.Ok)
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

    /// <summary>Deletes the backups first (BackupCatalog: backup.json, then the data). One that fails
    /// stops the prune before any WAL is deleted.</summary>
    private async Task<int> DeleteBackupsAsync(IReadOnlyList<BackupManifest> backups, PruneReport report, CancellationToken cancellationToken)
    {
        var catalog = new BackupCatalog(repository);
        foreach (var backup in backups)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await catalog.DeleteAsync(backup.Name, cancellationToken);
                report.DeletedBackups++;
            }
            catch (StorageException e) when (e.Class is not ErrorClass.Usage)
            {
                report.Failures.Add(new PruneFailureReport { Key = repository.Layout.BackupManifestKey(backup.Name), Code = e.Class.ToString(), Message = e.Message });
                console.Errors.WriteLine($"walship: error: could not delete backup {backup.Name}: {e.Message}; no WAL was deleted, so that it stays restorable");
                return ExitCodes.PartialFailure;
            }
        }
        return ExitCodes.Ok;
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
        if (report.RetainedBackups is { } retained)
            o.WriteLine(retained.Count == 0 ? "No base backups to retain." : $"Retained base backups (newest first): {string.Join(", ", retained)}.");
        if (report.SelectedBackups is { Count: > 0 } backups)
            o.WriteLine(report.DryRun
                ? $"Dry run: would delete {backups.Count} older walship base backup(s) that the WAL deletion below leaves unrestorable: {string.Join(", ", backups)}"
                : $"Deleted {report.DeletedBackups} of {backups.Count} older walship base backup(s) left unrestorable by the WAL deletion: {string.Join(", ", backups)}");
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
        if (report.DryRun && (report.SelectedObjects > 0 || report.SelectedBackups is { Count: > 0 }))
            o.WriteLine("Nothing was deleted: this was a dry run. Add --confirm to delete.");
        if (report.Failures.Count > 0)
            o.WriteLine($"{report.Failures.Count:N0} objects could not be deleted (see the errors above); run prune again once the cause is fixed.");
    }
}
