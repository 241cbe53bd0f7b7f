using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Spool;

/// <summary>
/// Prefetch: after PostgreSQL restores segment N, a detached worker downloads, verifies and decodes the
/// segments recovery will ask for next into the spool, following timeline switches from the archive's
/// .history files. A later fetch of one of them is a rename out of the spool and one more verification,
/// with no S3 client at all. Entries are keyed by the exact file name, so a file is only ever served
/// for the name (and so the timeline) it was archived under.
/// </summary>
public static class Prefetch
{
    public const string LockName = "prefetch";

    /// <summary>The only %p PostgreSQL's recovery uses for segments. pg_rewind (and anything else) passes
    /// other names and must get the archive's answer, never the spool's.</summary>
    public const string RecoveryFileName = "RECOVERYXLOG";

    /// <summary>Spool entries older than this are removed unused: recovery that stalls that long has
    /// moved on or changed timeline, and the archive is the place to ask again.</summary>
    public static readonly TimeSpan EntryLifetime = TimeSpan.FromMinutes(10);

    /// <summary>How many downloads run at once: enough to hide one request's latency, small enough not
    /// to take the standby's cores and network from replay.</summary>
    private const int Parallelism = 2;

    /// <summary>Only segments restored for recovery are served from, and prefetched into, the spool.</summary>
    public static bool AppliesTo(string fileName, string fullPath) =>
        Path.GetFileName(fullPath) == RecoveryFileName && WalFileName.TryParse(fileName, out var name) && name.Kind == WalFileKind.Segment;

    /// <summary>
    /// Serves <paramref name="name"/> from the spool if a complete entry is there and still verifies:
    /// it is moved beside %p (a rename on one filesystem; File.Move copies across filesystems), its length,
    /// SHA-256, WAL page headers and system identifier are checked against the spool record and pg_control,
    /// and only then is it renamed to %p. Returns false, having left %p alone, for anything less.
    /// </summary>
    public static bool TryServe(SpoolDirectory spool, string repositoryUrl, string fileName, string fullPath, ILogger logger)
    {
        if (!WalFileName.TryParse(fileName, out var name) || name.Kind != WalFileKind.Segment)
            return false;
        string data = spool.PrefetchedPath(name.Name);
        string recordPath = spool.PrefetchRecordPath(name.Name);
        if (!File.Exists(data))
            return false;
        var clock = Stopwatch.StartNew();
        // The worker writes an entry's record before its data appears, and its cleanup drops data without
        // a record: so read the record, take the data, and only then remove the record.
        var record = SpoolDirectory.ReadRecord(recordPath, SpoolJsonContext.Default.PrefetchRecord);
        string temp = fullPath + ".walship-tmp";
        string? problem = record is null ? "no readable spool record"
            : record.Repository != repositoryUrl ? $"prefetched from another repository ({record.Repository})"
            : record.SystemIdentifier != spool.SystemIdentifier ? $"from cluster {record.SystemIdentifier}, not {spool.SystemIdentifier}"
            : null;
        TemporaryFiles.Register(temp);
        try
        {
            if (problem is null)
            {
                File.Move(data, temp, overwrite: true);
                SpoolDirectory.TryDelete(recordPath);
                // The worker verified the SHA-256 when it wrote the entry; the spool checksum proves the
                // bytes unchanged since, in a fraction of the time (the page checks still run).
                var digest = LocalFile.Digest(temp, name);
                problem = digest.Length != record!.RawLength ? $"{digest.Length} bytes, the record says {record.RawLength}"
                    : digest.XxHash128Hex != record.SpoolXxHash128 ? "its checksum does not match the record"
                    : digest.PageSystemIdentifier != spool.SystemIdentifier ? $"its pages carry system identifier {digest.PageSystemIdentifier}"
                    : null;
            }
            if (problem is null)
            {
                File.Move(temp, fullPath, overwrite: true);
                logger.LogInformation("fetch {File}: restored from the prefetch spool, {Bytes} bytes, {Ms} ms",
                    name.Name, record!.RawLength, clock.ElapsedMilliseconds);
                return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WalFormatException)
        {
            problem = e.Message;
        }
        finally
        {
            TemporaryFiles.Remove(temp);
            SpoolDirectory.TryDelete(data);
            SpoolDirectory.TryDelete(recordPath);
        }
        logger.LogWarning("fetch {File}: ignoring its prefetched copy ({Problem}); fetching it from the archive", name.Name, problem);
        return false;
    }

    /// <summary>Spool entries (data files, not records) ahead of <paramref name="requested"/>, the segment
    /// recovery asks for now. Entries at or behind it are stale (recovery overtook them while they were
    /// downloading, or read them elsewhere): they must not count against the spool's size, or a spool
    /// full of them would start no worker, and no worker would ever remove them.</summary>
    public static int EntriesAhead(SpoolDirectory spool, string requested)
    {
        if (!WalFileName.TryParse(requested, out var position))
            return 0;
        try
        {
            return Directory.EnumerateFiles(spool.PrefetchPath).Count(path =>
                WalFileName.TryParse(Path.GetFileName(path), out var entry) && entry.Kind == WalFileKind.Segment
                && (entry.LogId, entry.SegmentId).CompareTo((position.LogId, position.SegmentId)) > 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>
    /// The detached worker: under the lock, removes stale entries, works out which names recovery asks
    /// for after <paramref name="requested"/> (the newest timeline in the archive that descends from the
    /// requested one decides each segment's timeline, as PostgreSQL's expectedTLEs does), and downloads
    /// them until the spool holds <paramref name="maxFiles"/> entries or <paramref name="maxBytes"/>, or
    /// the archive has no more.
    /// </summary>
    public static async Task<int> RunWorkerAsync(SpoolDirectory spool, Repository repository, string requestedName,
        int maxFiles, long maxBytes, ILogger logger, CancellationToken cancellationToken)
    {
        if (!WalFileName.TryParse(requestedName, out var requested) || requested.Kind != WalFileKind.Segment)
            throw new StorageException(ErrorClass.Usage, $"'{requestedName}' is not a WAL segment name");
        using var held = spool.TakeOverLock(LockName);
        if (held is null)
        {
            logger.LogDebug("prefetch: another worker holds the lock");
            return ExitCodes.Ok;
        }
        var clock = Stopwatch.StartNew();
        var manifest = await repository.ReadManifestAsync(cancellationToken);
        if (manifest is null || manifest.SystemIdentifierValue != spool.SystemIdentifier)
        {
            logger.LogWarning("prefetch: {Repository} is not bound to cluster {Cluster}; nothing prefetched", repository.Url, spool.SystemIdentifier);
            return ExitCodes.Ok;
        }
        uint segmentSize = manifest.WalSegmentSize;
        ulong requestedSegment = requested.SegmentNumber(segmentSize);
        RemoveStale(spool, requestedSegment, segmentSize);

        var history = await NewestHistoryAsync(repository, requested.Timeline, requestedSegment, segmentSize, cancellationToken);
        var (count, bytes) = Usage(spool);
        var plan = new List<WalFileName>();
        for (ulong segment = requestedSegment + 1; count + plan.Count < maxFiles && bytes + (plan.Count + 1L) * segmentSize <= maxBytes; segment++)
        {
            var name = WalFileName.Parse(WalFileName.SegmentName(history.TimelineForSegment(segment, segmentSize), segment, segmentSize));
            if (File.Exists(spool.PrefetchedPath(name.Name)))
            {
                if (segment > requestedSegment + (ulong)maxFiles * 2)
                    break;
                continue;
            }
            plan.Add(name);
        }

        int fetched = 0;
        for (int i = 0; i < plan.Count; i += Parallelism)
        {
            var results = await Task.WhenAll(plan.Skip(i).Take(Parallelism)
                .Select(name => DownloadAsync(spool, repository, name, cancellationToken)));
            fetched += results.Count(got => got);
            if (results.Contains(false))
                break; // the archive has no more yet
        }
        logger.LogInformation("prefetch: {Count} segment(s) after {File} into the spool (timeline {Timeline}), {Ms} ms",
            fetched, requested.Name, history.Timeline, clock.ElapsedMilliseconds);
        return ExitCodes.Ok;
    }

    /// <summary>Downloads one object into the spool: decoded and verified into a temporary file, recorded,
    /// and then renamed into place, so that an entry's data never appears without its record; false
    /// when the archive does not have it.</summary>
    private static async Task<bool> DownloadAsync(SpoolDirectory spool, Repository repository, WalFileName name, CancellationToken cancellationToken)
    {
        string key = repository.Layout.KeyFor(name);
        ObjectReader reader;
        try
        {
            reader = await repository.Store.OpenReadAsync(key, cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            return false;
        }
        string data = spool.PrefetchedPath(name.Name);
        string temp = data + ".tmp";
        TemporaryFiles.Register(temp);
        try
        {
            DecodedObject decoded;
            var spoolChecksum = new XxHash128Filter();
            using (reader)
            using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
                decoded = await ObjectCodec.DecodeAsync(reader.Body, reader.Length, name,
                    new FilterGroup(spoolChecksum, new FetchCommand.FileSink(handle)), cancellationToken, repository.Keys);
            if (decoded.Header.SystemIdentifier != spool.SystemIdentifier)
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)} is from cluster {decoded.Header.SystemIdentifier}, not {spool.SystemIdentifier}");
            SpoolDirectory.WriteRecord(spool.PrefetchRecordPath(name.Name), new PrefetchRecord
            {
                Repository = repository.Url,
                Key = key,
                RawSha256 = decoded.Header.Sha256Hex,
                SpoolXxHash128 = spoolChecksum.Hex,
                RawLength = decoded.Header.RawLength,
                SystemIdentifier = decoded.Header.SystemIdentifier,
                Fetched = DateTimeOffset.UtcNow,
            }, SpoolJsonContext.Default.PrefetchRecord);
            File.Move(temp, data, overwrite: true);
            return true;
        }
        catch (CorruptObjectException e)
        {
            throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)} is corrupt: {e.Message}", e);
        }
        finally
        {
            TemporaryFiles.Remove(temp);
        }
    }

    /// <summary>The history recovery follows from <paramref name="timeline"/>: that timeline's own, or the
    /// newest later one in the archive whose history still puts the requested segment on it (PostgreSQL's
    /// recovery_target_timeline = 'latest', the default).</summary>
    private static async Task<TimelineHistory> NewestHistoryAsync(Repository repository, uint timeline, ulong requestedSegment, uint segmentSize, CancellationToken cancellationToken)
    {
        var chosen = timeline == 1 ? TimelineHistory.Initial
            : await ReadHistoryAsync(repository, timeline, cancellationToken) ?? TimelineHistory.Parse(timeline, "");
        for (uint next = timeline + 1; next < timeline + 64; next++)
        {
            var candidate = await ReadHistoryAsync(repository, next, cancellationToken);
            if (candidate is null)
                break;
            if (candidate.TimelineForSegment(requestedSegment, segmentSize) == timeline)
                chosen = candidate;
        }
        return chosen;
    }

    private static async Task<TimelineHistory?> ReadHistoryAsync(Repository repository, uint timeline, CancellationToken cancellationToken)
    {
        var name = WalFileName.Parse($"{timeline:X8}.history");
        ObjectReader reader;
        try
        {
            reader = await repository.Store.OpenReadAsync(repository.Layout.KeyFor(name), cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            return null;
        }
        using (reader)
        {
            using var text = new Pipeline.PooledBuffer();
            try
            {
                await ObjectCodec.DecodeAsync(reader.Body, reader.Length, name, text, cancellationToken, repository.Keys);
                var bytes = new byte[text.Length];
                text.CopyTo(0, bytes);
                return TimelineHistory.Parse(timeline, System.Text.Encoding.UTF8.GetString(bytes));
            }
            catch (Exception e) when (e is CorruptObjectException or WalFormatException)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{name.Name} in {repository.Url}: {e.Message}", e);
            }
        }
    }

    private static (int Count, long Bytes) Usage(SpoolDirectory spool)
    {
        int count = 0;
        long bytes = 0;
        foreach (var file in new DirectoryInfo(spool.PrefetchPath).EnumerateFiles())
        {
            if (!WalFileName.TryParse(file.Name, out _))
                continue;
            count++;
            bytes += file.Length;
        }
        return (count, bytes);
    }

    /// <summary>Removes what recovery will not ask for: entries at or behind the requested segment, entries
    /// older than <see cref="EntryLifetime"/>, halves of entries (a record whose data a fetch took, data
    /// whose record is gone), and a killed worker's temporary files.</summary>
    private static void RemoveStale(SpoolDirectory spool, ulong requestedSegment, uint segmentSize)
    {
        foreach (var file in new DirectoryInfo(spool.PrefetchPath).EnumerateFiles())
        {
            string baseName = file.Name.EndsWith(".record", StringComparison.Ordinal) ? file.Name[..^".record".Length] : file.Name;
            bool keep = WalFileName.TryParse(baseName, out var name)
                        && name.Kind == WalFileKind.Segment
                        && name.SegmentNumber(segmentSize) > requestedSegment
                        && DateTime.UtcNow - file.LastWriteTimeUtc < EntryLifetime
                        && File.Exists(spool.PrefetchedPath(baseName))
                        && File.Exists(spool.PrefetchRecordPath(baseName));
            if (!keep)
                SpoolDirectory.TryDelete(file.FullName);
        }
    }
}
