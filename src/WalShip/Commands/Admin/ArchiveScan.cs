using System.Collections.Concurrent;
using WalShip.Archive;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>One WAL object found in the archive: the file it holds, its key, stored size and time.</summary>
public sealed record ArchivedFile(WalFileName Name, string Key, long StoredBytes, DateTimeOffset LastModified)
{
    /// <summary>Position in the WAL sequence, whatever the segment size: log id, then segment id.
    /// History files have none (0).</summary>
    public ulong Position => Name.Kind == WalFileKind.History ? 0 : ((ulong)Name.LogId << 32) | Name.SegmentId;
}

/// <summary>What a listing of the WAL area found: walship's files, and objects that are not walship's.</summary>
public sealed class ArchiveScan(IReadOnlyList<ArchivedFile> files, IReadOnlyList<ListedEntry> foreign)
{
    /// <summary>Walship's WAL files, sorted by timeline, then position, then name.</summary>
    public IReadOnlyList<ArchivedFile> Files { get; } = files;

    /// <summary>Objects under the WAL prefix at keys where walship never writes.</summary>
    public IReadOnlyList<ListedEntry> Foreign { get; } = foreign;

    /// <summary>Sorts after any key character walship or PostgreSQL would use (S3 orders by UTF-8 bytes), and
    /// is still valid in the XML a server echoes StartAfter in. A stray key it skips is still found: every
    /// key under a timeline or stray prefix is listed from that prefix.</summary>
    private const string PastEveryKey = "\uFFFD";

    /// <summary>
    /// Lists the WAL area the way the layout allows on any store: a skip-scan for the
    /// timelines, one per timeline for its history file and partitions, then every partition in
    /// parallel (<paramref name="parallelism"/> at once), each usually a single page. Entries are
    /// counted on <paramref name="progress"/> as they stream in.
    /// </summary>
    public static async Task<ArchiveScan> RunAsync(IObjectStore store, ArchiveLayout layout, int parallelism,
        Func<uint, bool> wantTimeline, ProgressReporter? progress, CancellationToken cancellationToken)
    {
        var files = new ConcurrentBag<ArchivedFile>();
        var foreign = new ConcurrentBag<ListedEntry>();
        var timelines = new List<uint>();
        var strayPrefixes = new List<string>();

        // Timelines by skip-scan: the first key after everything of the timeline found last names the next
        // one. A request per timeline, on any store; a delimited listing would do on S3, but servers that
        // fold only keys one level down (s3rver) miss timelines that have no .history file, like timeline 1.
        string walPrefix = layout.WalPrefix;
        string? after = null;
        while (true)
        {
            ListedEntry? next = null;
            await foreach (var entry in store.ListAsync(walPrefix, delimited: false, cancellationToken, after))
            {
                next = entry;
                break;
            }
            if (next is not { } found)
                break;
            int slash = found.Key.IndexOf('/', walPrefix.Length);
            if (slash < 0)
            {
                foreign.Add(found);
                progress?.Add(1);
                after = found.Key;
                continue;
            }
            string directory = found.Key[..(slash + 1)];
            if (layout.TryParseTimelinePrefix(directory, out uint timeline))
            {
                if (wantTimeline(timeline))
                    timelines.Add(timeline);
            }
            else
                strayPrefixes.Add(directory);
            after = directory + PastEveryKey;
        }

        // Partitions of every timeline, found in parallel; keys straight under a timeline are its history file.
        var partitions = new ConcurrentBag<string>();
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(timelines, options, async (timeline, token) =>
        {
            await foreach (var entry in store.ListAsync(layout.TimelinePrefix(timeline), delimited: true, token))
            {
                if (entry.IsPrefix)
                    partitions.Add(entry.Key);
                else
                    Classify(entry);
            }
        });

        // Everything below a partition, or below a prefix that is not a timeline, is listed in full: what
        // does not parse back to its own key is not walship's.
        await Parallel.ForEachAsync(partitions.Concat(strayPrefixes), options, async (prefix, token) =>
        {
            await foreach (var entry in store.ListAsync(prefix, delimited: false, token))
                Classify(entry);
        });

        var sorted = files.ToList();
        sorted.Sort(static (a, b) =>
        {
            int c = a.Name.Timeline.CompareTo(b.Name.Timeline);
            if (c == 0) c = a.Position.CompareTo(b.Position);
            return c != 0 ? c : string.CompareOrdinal(a.Name.Name, b.Name.Name);
        });
        var strays = foreign.ToList();
        strays.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new ArchiveScan(sorted, strays);

        void Classify(ListedEntry entry)
        {
            progress?.Add(1);
            if (layout.TryParseKey(entry.Key, out var name))
                files.Add(new ArchivedFile(name, entry.Key, entry.Size, entry.LastModified));
            else
                foreign.Add(entry);
        }
    }
}
