using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Spool;

/// <summary>
/// Push-ahead: while PostgreSQL's archiver works through archive_status one file per call, a detached
/// worker pushes the files already waiting, through the same <see cref="PushCommand"/>, and leaves a
/// receipt for each. When the archiver then asks for one of them, the receipt is checked against the
/// file and the archive, and the call ends at once.
/// </summary>
public sealed class PushAhead(SpoolDirectory spool, Repository repository, ILogger logger)
{
    public const string LockName = "push-ahead";

    /// <summary>Receipts older than this are not trusted and are removed: an archive may have been
    /// pruned or replaced since, and a file waits that long only when the archiver is stuck anyway.</summary>
    public static readonly TimeSpan ReceiptLifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// True when a receipt proves <paramref name="name"/> archived: it names this repository and key, the
    /// file has the recorded size and mtime and, read again now, the recorded XXH128 and valid page headers,
    /// and the object still exists (one HEAD: the receipt may be hours old and the archive pruned or
    /// replaced since, and a HEAD costs a round trip where the push it saves costs a whole upload and
    /// read-back). The XXH128 was taken from the same read whose SHA-256 went into the archive, so it ties
    /// today's bytes to the stored ones at a tenth of SHA-256's CPU; like the prefetch spool's check, it
    /// guards against change, not against an adversary who can already write pg_wal. The receipt is
    /// consumed either way; anything that does not hold means the file is pushed normally.
    /// </summary>
    public async Task<bool> TryAcceptReceiptAsync(string fullPath, string fileName, CancellationToken cancellationToken)
    {
        if (!WalFileName.TryParse(fileName, out var name))
            return false;
        string path = spool.ReceiptPath(name.Name);
        await WaitForInFlightAsync(name, cancellationToken);
        if (!File.Exists(path))
            return false;
        var receipt = SpoolDirectory.ReadRecord(path, SpoolJsonContext.Default.PushReceipt);
        SpoolDirectory.TryDelete(path);
        string? problem = receipt is null ? "unreadable"
            : receipt.Repository != repository.Url || receipt.Key != repository.Layout.KeyFor(name) ? $"for another repository or key ({receipt.Repository})"
            : DateTimeOffset.UtcNow - receipt.Pushed > ReceiptLifetime ? $"older than {ReceiptLifetime.TotalHours:0} h"
            : null;
        if (problem is null)
        {
            var info = new FileInfo(fullPath);
            if (!info.Exists)
                return false;
            if (info.Length != receipt!.RawLength || info.LastWriteTimeUtc.Ticks != receipt.MtimeUtcTicks)
                problem = "the file changed since it was pushed ahead (size or mtime)";
            else
            {
                LocalFileDigest digest;
                try
                {
                    digest = LocalFile.Digest(fullPath, name);
                }
                catch (WalFormatException e)
                {
                    throw new StorageException(ErrorClass.Corrupt, $"refusing to archive {fullPath}: {e.Message}");
                }
                if (digest.XxHash128Hex != receipt.LocalXxHash128 || digest.Length != receipt.RawLength)
                    problem = "the file's checksum differs from the one pushed ahead";
                else if (await repository.Store.GetLengthAsync(receipt.Key, cancellationToken) is null)
                    problem = $"{repository.Store.Describe(receipt.Key)} is gone from the archive";
            }
        }
        if (problem is not null)
        {
            logger.LogWarning("push {File}: ignoring its push-ahead receipt ({Problem}); pushing it normally", name.Name, problem);
            return false;
        }
        logger.LogInformation("push {File}: pushed ahead to {Location}, receipt verified (sha256 {Sha256})",
            name.Name, repository.Store.Describe(receipt!.Key), receipt.RawSha256[..16]);
        return true;
    }

    /// <summary>If the worker is pushing this very file right now, waiting for its receipt is cheaper than
    /// a second upload of the same bytes.</summary>
    private async Task WaitForInFlightAsync(WalFileName name, CancellationToken cancellationToken)
    {
        string marker = InFlightPath(name.Name);
        var clock = Stopwatch.StartNew();
        while (File.Exists(marker) && spool.IsLocked(LockName) && clock.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(50, cancellationToken);
    }

    private string InFlightPath(string fileName) => spool.ReceiptPath(fileName) + ".inflight";

    /// <summary>The files PostgreSQL will ask to archive next, in its own order (pgarch_readyXlog):
    /// timeline history files first, then the others by name, oldest first.</summary>
    public static List<(WalFileName Name, string Path, long Length)> ReadyFiles(string dataDirectory, string? except)
    {
        var ready = new List<(WalFileName, string, long)>();
        string status = Path.Join(dataDirectory, "pg_wal", "archive_status");
        IEnumerable<string> markers;
        try
        {
            markers = Directory.EnumerateFiles(status, "*.ready").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ready;
        }
        foreach (string marker in markers)
        {
            string fileName = Path.GetFileNameWithoutExtension(marker);
            if (fileName == except || !WalFileName.TryParse(fileName, out var name))
                continue;
            var info = new FileInfo(Path.Join(dataDirectory, "pg_wal", fileName));
            if (info.Exists)
                ready.Add((name, info.FullName, info.Length));
        }
        ready.Sort((a, b) => (a.Item1.Kind != WalFileKind.History).CompareTo(b.Item1.Kind != WalFileKind.History) is var byKind and not 0
            ? byKind
            : string.CompareOrdinal(a.Item1.Name, b.Item1.Name));
        return ready;
    }

    /// <summary>
    /// The files a worker may push: those waiting after <paramref name="justPushed"/> (still .ready while
    /// its own call runs), except the oldest of them, which the archiver is about to ask for (or is
    /// pushing) itself; racing it would upload the same bytes twice.
    /// </summary>
    public static IEnumerable<(WalFileName Name, string Path, long Length)> Candidates(string dataDirectory, string? justPushed) =>
        ReadyFiles(dataDirectory, justPushed).Skip(1);

    /// <summary>Whether there is work a worker could do: candidates without a receipt yet.</summary>
    public static bool HasWork(SpoolDirectory? spool, string dataDirectory, string justPushed) =>
        Candidates(dataDirectory, justPushed).Any(file => spool is null || !File.Exists(spool.ReceiptPath(file.Name.Name)));

    /// <summary>
    /// The detached worker: under the lock, pushes waiting files until <paramref name="maxFiles"/> receipts
    /// (or <paramref name="maxBytes"/> of files) are outstanding, two at a time, and writes a receipt for each
    /// only once PushCommand has stored and read it back. Killed at any point, it leaves at most a torn
    /// upload (which push repairs) and no receipt, so nothing is lost or wrongly skipped.
    /// </summary>
    public async Task<int> RunWorkerAsync(string dataDirectory, string justPushed, int maxFiles, long maxBytes, int compressionLevel, int compressionThreads, CancellationToken cancellationToken)
    {
        using var held = spool.TakeOverLock(LockName);
        if (held is null)
        {
            logger.LogDebug("push-ahead: another worker holds the lock");
            return ExitCodes.Ok;
        }
        RemoveStaleReceipts(dataDirectory);
        var push = new PushCommand(repository, logger, compressionLevel, compressionThreads);
        var clock = Stopwatch.StartNew();
        int pushed = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var (count, bytes) = Outstanding();
            var batch = new List<(WalFileName Name, string Path, long Length)>();
            foreach (var file in Candidates(dataDirectory, justPushed))
            {
                if (File.Exists(spool.ReceiptPath(file.Name.Name)))
                    continue;
                if (count + batch.Count + 1 > maxFiles || bytes + file.Length > maxBytes)
                    break;
                bytes += file.Length;
                batch.Add(file);
                if (batch.Count == 2)
                    break;
            }
            if (batch.Count == 0)
                break;
            await Task.WhenAll(batch.Select(file => PushOneAsync(push, file.Name, file.Path, dataDirectory, cancellationToken)));
            pushed += batch.Count;
        }
        logger.LogInformation("push-ahead: pushed {Count} file(s) ahead of the archiver, {Ms} ms", pushed, clock.ElapsedMilliseconds);
        return ExitCodes.Ok;
    }

    private async Task PushOneAsync(PushCommand push, WalFileName name, string path, string dataDirectory, CancellationToken cancellationToken)
    {
        string marker = InFlightPath(name.Name);
        File.WriteAllBytes(marker, []);
        try
        {
            var before = new FileInfo(path);
            var localChecksum = new XxHash128Filter();
            var stored = await push.PushAsync(path, name.Name, dataDirectory, cancellationToken, localChecksum);
            var after = new FileInfo(path);
            if (!after.Exists || after.Length != before.Length || after.LastWriteTimeUtc != before.LastWriteTimeUtc || after.Length != stored.RawLength)
                return; // changed under us: no receipt, PostgreSQL's own call pushes it
            SpoolDirectory.WriteRecord(spool.ReceiptPath(name.Name), new PushReceipt
            {
                Repository = repository.Url,
                Key = stored.Key,
                RawSha256 = stored.RawSha256,
                LocalXxHash128 = localChecksum.Hex,
                RawLength = stored.RawLength,
                StoredLength = stored.StoredLength,
                MtimeUtcTicks = before.LastWriteTimeUtc.Ticks,
                Pushed = DateTimeOffset.UtcNow,
            }, SpoolJsonContext.Default.PushReceipt);
        }
        finally
        {
            SpoolDirectory.TryDelete(marker);
        }
    }

    private (int Count, long Bytes) Outstanding()
    {
        int count = 0;
        long bytes = 0;
        foreach (string receipt in Directory.EnumerateFiles(spool.ReceiptsPath, "*.receipt"))
        {
            count++;
            bytes += SpoolDirectory.ReadRecord(receipt, SpoolJsonContext.Default.PushReceipt)?.RawLength ?? 0;
        }
        return (count, bytes);
    }

    /// <summary>Receipts of files PostgreSQL no longer has (archived and recycled by another way), or too
    /// old to trust, and markers and temporary files a killed worker left.</summary>
    private void RemoveStaleReceipts(string dataDirectory)
    {
        foreach (string path in Directory.EnumerateFiles(spool.ReceiptsPath))
        {
            string fileName = Path.GetFileName(path);
            if (fileName.EndsWith(".receipt", StringComparison.Ordinal))
            {
                string walFile = Path.Join(dataDirectory, "pg_wal", fileName[..^".receipt".Length]);
                if (File.Exists(walFile) && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < ReceiptLifetime)
                    continue;
            }
            SpoolDirectory.TryDelete(path);
        }
    }
}
