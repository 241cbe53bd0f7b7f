using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>A run of consecutive segment numbers on one timeline, inclusive.</summary>
public readonly record struct SegmentRange(ulong First, ulong Last)
{
    public ulong Count => Last - First + 1;
}

/// <summary>An archived <c>.backup</c> file and what its label says: where the base backup's WAL starts.</summary>
public sealed record ArchivedBackupLabel(ArchivedFile File, ulong StartLsn, string StartFile, string Label)
{
    /// <summary>Parses a backup history file as pg_backup_stop writes it (Wal.BackupLabel); null when it is
    /// not one, so a damaged label is reported rather than trusted.</summary>
    public static ArchivedBackupLabel? Parse(ArchivedFile file, string text)
    {
        try
        {
            var label = BackupLabel.Parse(text);
            return new ArchivedBackupLabel(file, label.StartLsn.Value, label.StartWalFile, label.Label);
        }
        catch (WalFormatException)
        {
            return null;
        }
    }
}

/// <summary>One timeline as the archive shows it.</summary>
public sealed class TimelineView(uint timeline)
{
    public uint Timeline { get; } = timeline;
    /// <summary>From this timeline's .history file: the timeline it branched from, and where.</summary>
    public TimelineSwitch? Branch { get; set; }
    public ArchivedFile? History { get; set; }
    public List<ArchivedFile> Segments { get; } = [];
    public List<ArchivedFile> Partials { get; } = [];
    public List<ArchivedFile> Backups { get; } = [];
    public List<SegmentRange> Ranges { get; } = [];
    public List<SegmentRange> Gaps { get; } = [];
}

/// <summary>
/// The archive as timelines, contiguous ranges and gaps, built from a listing. Raw sizes need no
/// request per object: every segment and .partial file is wal_segment_size bytes raw, and the few
/// .history and .backup files are read anyway (for parents, switch points and labels), which yields theirs.
/// </summary>
public sealed class ArchiveInventory
{
    public const uint DefaultSegmentSize = 16u << 20;

    private readonly IReadOnlyDictionary<string, long> _smallFileRawBytes;

    private ArchiveInventory(uint segmentSize, SortedDictionary<uint, TimelineView> timelines, IReadOnlyList<ArchivedFile> files,
        IReadOnlyDictionary<string, long> smallFileRawBytes)
    {
        SegmentSize = segmentSize;
        Timelines = timelines;
        Files = files;
        _smallFileRawBytes = smallFileRawBytes;
    }

    public uint SegmentSize { get; }
    public SortedDictionary<uint, TimelineView> Timelines { get; }
    public IReadOnlyList<ArchivedFile> Files { get; }

    /// <summary>The newest timeline the archive knows of, from its segments or history files.</summary>
    public uint HighestTimeline => Timelines.Count == 0 ? 1 : Timelines.Keys.Max();

    /// <summary>
    /// The first segment number of the highest timeline's WAL: the segment holding its switch point
    /// (from its .history file). 0 for timeline 1, and 0 when the history file is missing, so that
    /// a caller protecting "the current timeline" protects everything rather than guess.
    /// </summary>
    public ulong CurrentTimelineStartSegment =>
        Timelines.TryGetValue(HighestTimeline, out var view) && view.Branch is { } branch ? branch.SwitchPoint / SegmentSize : 0;

    /// <param name="smallFileRawBytes">Raw sizes of .history and .backup files by key, as
    /// <see cref="ReadHistoriesAsync"/> and <see cref="ReadBackupLabelsAsync"/> learn them; segments need none.</param>
    public static ArchiveInventory Build(IEnumerable<ArchivedFile> files, uint segmentSize, IReadOnlyDictionary<uint, TimelineHistory> histories,
        IReadOnlyDictionary<string, long>? smallFileRawBytes = null)
    {
        var timelines = new SortedDictionary<uint, TimelineView>();
        var all = new List<ArchivedFile>();
        foreach (var file in files)
        {
            all.Add(file);
            var view = Get(file.Name.Timeline);
            switch (file.Name.Kind)
            {
                case WalFileKind.Segment: view.Segments.Add(file); break;
                case WalFileKind.Partial: view.Partials.Add(file); break;
                case WalFileKind.Backup: view.Backups.Add(file); break;
                case WalFileKind.History: view.History = file; break;
            }
        }
        foreach (var (timeline, history) in histories)
            if (history.Ancestors.Count > 0)
                Get(timeline).Branch = history.Ancestors[^1];

        foreach (var view in timelines.Values)
        {
            view.Segments.Sort(static (a, b) => a.Position.CompareTo(b.Position));
            SegmentRange? current = null;
            foreach (var segment in view.Segments)
            {
                ulong number = segment.Name.SegmentNumber(segmentSize);
                if (current is { } range && number == range.Last + 1)
                    current = range with { Last = number };
                else
                {
                    if (current is { } done)
                    {
                        view.Ranges.Add(done);
                        view.Gaps.Add(new SegmentRange(done.Last + 1, number - 1));
                    }
                    current = new SegmentRange(number, number);
                }
            }
            if (current is { } last)
                view.Ranges.Add(last);
        }
        return new ArchiveInventory(segmentSize, timelines, all, smallFileRawBytes ?? new Dictionary<string, long>());

        TimelineView Get(uint timeline)
        {
            if (!timelines.TryGetValue(timeline, out var view))
                timelines[timeline] = view = new TimelineView(timeline);
            return view;
        }
    }

    public string SegmentName(uint timeline, ulong segmentNumber) => WalFileName.SegmentName(timeline, segmentNumber, SegmentSize);

    /// <summary>Raw bytes of a file: wal_segment_size for segments and .partial files (no request needed),
    /// the verified header's length for the .history and .backup files that were read; null when unknown.</summary>
    public long? RawBytes(ArchivedFile file) =>
        file.Name.HasWalPages ? SegmentSize
        : _smallFileRawBytes.TryGetValue(file.Key, out long bytes) ? bytes
        : null;

    /// <summary>Decodes and verifies a small archived file (.history, .backup) and returns its text.</summary>
    public static async Task<string> ReadTextAsync(Repository repository, ArchivedFile file, CancellationToken cancellationToken) =>
        (await ReadSmallFileAsync(repository, file, cancellationToken)).Text;

    /// <summary>Decodes and verifies a small archived file: its text, and its raw length, which the
    /// decoder has checked against the object header.</summary>
    private static async Task<(string Text, long RawBytes)> ReadSmallFileAsync(Repository repository, ArchivedFile file, CancellationToken cancellationToken)
    {
        using var reader = await repository.Store.OpenReadAsync(file.Key, cancellationToken);
        using var sink = new PooledBuffer();
        try
        {
            await ObjectCodec.DecodeAsync(reader.Body, reader.Length, file.Name, sink, cancellationToken, repository.Keys);
        }
        catch (CorruptObjectException e)
        {
            throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(file.Key)} is corrupt: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new StorageException(ErrorClass.Transient, $"reading {repository.Store.Describe(file.Key)}: {e.Message}", e);
        }
        var bytes = new byte[sink.Length];
        sink.CopyTo(0, bytes);
        return (Encoding.UTF8.GetString(bytes), bytes.Length);
    }

    /// <summary>Reads every .history file in the scan (few and small), in parallel. Each file's raw size
    /// goes into <paramref name="rawBytes"/> when given (see <see cref="Build"/>).</summary>
    public static async Task<Dictionary<uint, TimelineHistory>> ReadHistoriesAsync(Repository repository, IEnumerable<ArchivedFile> files,
        int parallelism, CancellationToken cancellationToken, ConcurrentDictionary<string, long>? rawBytes = null)
    {
        var histories = new Dictionary<uint, TimelineHistory>();
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(files.Where(f => f.Name.Kind == WalFileKind.History), options, async (file, token) =>
        {
            var (text, raw) = await ReadSmallFileAsync(repository, file, token);
            rawBytes?.TryAdd(file.Key, raw);
            TimelineHistory history;
            try
            {
                history = TimelineHistory.Parse(file.Name.Timeline, text);
            }
            catch (WalFormatException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(file.Key)}: {e.Message}", e);
            }
            lock (histories)
                histories[file.Name.Timeline] = history;
        });
        return histories;
    }

    /// <summary>Reads the .backup labels in the scan, newest start location first. Each file's raw size
    /// goes into <paramref name="rawBytes"/> when given (see <see cref="Build"/>).</summary>
    public static async Task<List<ArchivedBackupLabel>> ReadBackupLabelsAsync(Repository repository, IEnumerable<ArchivedFile> files,
        int parallelism, CancellationToken cancellationToken, ConcurrentDictionary<string, long>? rawBytes = null)
    {
        var labels = new List<ArchivedBackupLabel>();
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(files.Where(f => f.Name.Kind == WalFileKind.Backup), options, async (file, token) =>
        {
            var (text, raw) = await ReadSmallFileAsync(repository, file, token);
            rawBytes?.TryAdd(file.Key, raw);
            var label = ArchivedBackupLabel.Parse(file, text)
                        ?? throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(file.Key)} has no START WAL LOCATION line");
            lock (labels)
                labels.Add(label);
        });
        labels.Sort(static (a, b) => b.StartLsn != a.StartLsn ? b.StartLsn.CompareTo(a.StartLsn) : string.CompareOrdinal(b.File.Name.Name, a.File.Name.Name));
        return labels;
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
