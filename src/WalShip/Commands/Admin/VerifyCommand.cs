using System.Text.Json;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>
/// walship verify: re-reads every WAL object (or those the filter selects) and checks it the way fetch
/// would: header, length, SHA-256, WAL page headers, and the cluster against walship.json; also the
/// store's metadata against the header, gaps per timeline, and objects that are not walship's.
/// Objects are read <see cref="AdminConsole.Parallelism"/> at a time, each streamed through one
/// pooled buffer, so memory does not grow with object count or size.
/// </summary>
public sealed class VerifyCommand(Repository repository, AdminConsole console)
{
    public async Task<int> RunAsync(WalFilter filter, CancellationToken cancellationToken)
    {
        var report = new VerifyReport { Repository = repository.Url };
        using (var progress = new ProgressReporter(console.Errors, console.ErrorsIsTerminal, "listed"))
        {
            var session = await AdminSession.OpenAsync(repository, console, filter, progress, cancellationToken);
            ulong? cluster = null;
            if (session.Manifest is null)
                Add(report, "manifest", repository.Layout.ManifestKey, null, $"{repository.Url} has no walship.json; cannot tell which cluster the WAL belongs to");
            else
                cluster = session.Manifest.SystemIdentifierValue;

            foreach (var stray in session.Scan.Foreign)
                Add(report, "not_walship", stray.Key, null, $"{session.Store.Describe(stray.Key)} is not at a key walship writes ({stray.Size} bytes)");

            var files = session.Scan.Files.Where(filter.Matches).ToList();
            var inventory = ArchiveInventory.Build(files, session.SegmentSize, new Dictionary<uint, TimelineHistory>());
            foreach (var view in inventory.Timelines.Values)
                foreach (var gap in view.Gaps)
                    Add(report, "gap", null, inventory.SegmentName(view.Timeline, gap.First),
                        $"timeline {view.Timeline}: {gap.Count} segment(s) missing, {inventory.SegmentName(view.Timeline, gap.First)} .. {inventory.SegmentName(view.Timeline, gap.Last)}");

            progress.Stage("verified", files.Count);
            var options = new ParallelOptions { MaxDegreeOfParallelism = console.Parallelism, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(files, options, async (file, token) =>
            {
                var problem = await CheckAsync(session.Store, session.Repository.Keys, file, cluster, token);
                progress.Add(1);
                lock (report)
                {
                    report.CheckedObjects++;
                    report.CheckedStoredBytes += file.StoredBytes;
                    if (problem is not null)
                        report.Problems.Add(problem);
                }
            });
        }

        report.Problems.Sort(static (a, b) => string.CompareOrdinal(a.Key ?? a.File, b.Key ?? b.File));
        report.Ok = report.Problems.Count == 0;
        if (console.Json)
            console.Output.WriteLine(JsonSerializer.Serialize(report, AdminJsonContext.Default.VerifyReport));
        else
            WriteText(report);
        return report.Ok ? ExitCodes.Ok : ExitCodes.ProblemsFound;
    }

    private static async Task<VerifyProblem?> CheckAsync(IObjectStore store, KeyRing keys, ArchivedFile file, ulong? cluster, CancellationToken cancellationToken)
    {
        string where = store.Describe(file.Key);
        try
        {
            using var reader = await store.OpenReadAsync(file.Key, cancellationToken);
            if (reader.Length != file.StoredBytes)
                return Problem("corrupt", $"{where} is {reader.Length} bytes, but was listed at {file.StoredBytes} (changed while verifying?)");
            var decoded = await ObjectCodec.DecodeAsync(reader.Body, reader.Length, file.Name, NullFilter.Instance, cancellationToken, keys);
            var header = decoded.Header;
            if (reader.Metadata is { } metadata)
            {
                if (metadata.TryGetValue("walship-raw-sha256", out string? sha) && sha != header.Sha256Hex)
                    return Problem("corrupt", $"{where}: metadata says SHA-256 {sha}, the object holds {header.Sha256Hex}");
                if (metadata.TryGetValue("walship-raw-length", out string? length) && length != header.RawLength.ToString())
                    return Problem("corrupt", $"{where}: metadata says {length} raw bytes, the object holds {header.RawLength}");
            }
            if (cluster is { } expected && header.SystemIdentifier != 0 && header.SystemIdentifier != expected)
                return Problem("foreign_cluster", $"{where} is from cluster {header.SystemIdentifier}, but the repository belongs to cluster {expected}");
            return null;
        }
        catch (CorruptObjectException e)
        {
            return Problem("corrupt", $"{where} is corrupt: {e.Message}");
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            return Problem("unreadable", $"{where} disappeared after it was listed (a prune running meanwhile?)");
        }
        catch (StorageException e) when (e.Class is ErrorClass.Corrupt or ErrorClass.Transient or ErrorClass.Throttled)
        {
            return Problem(e.Class == ErrorClass.Corrupt ? "corrupt" : "unreadable", e.Message);
        }
        catch (EndOfStreamException e)
        {
            return Problem("unreadable", $"reading {where}: {e.Message}");
        }

        VerifyProblem Problem(string kind, string message) => new() { Kind = kind, Key = file.Key, File = file.Name.Name, Message = message };
    }

    private static void Add(VerifyReport report, string kind, string? key, string? file, string message) =>
        report.Problems.Add(new VerifyProblem { Kind = kind, Key = key, File = file, Message = message });

    private void WriteText(VerifyReport report)
    {
        var o = console.Output;
        foreach (var problem in report.Problems)
            o.WriteLine($"{problem.Kind,-15} {problem.Message}");
        o.WriteLine(report.Ok
            ? $"OK: {report.CheckedObjects:N0} objects ({ArchiveInventory.FormatBytes(report.CheckedStoredBytes)}) verified, no gaps, nothing foreign."
            : $"FAILED: {report.Problems.Count:N0} problem(s); {report.CheckedObjects:N0} objects ({ArchiveInventory.FormatBytes(report.CheckedStoredBytes)}) read.");
    }
}
