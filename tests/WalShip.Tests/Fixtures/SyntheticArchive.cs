using System.Text;
using WalShip.Archive;
using WalShip.Commands;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Tests.Unit;
using WalShip.Wal;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// Builds an archive through the store API exactly as push does: walship.json first, then each file
/// encoded (valid WAL pages for segments, 1 MiB segments to stay small) and stored create-only with
/// push's metadata. Lets admin tests make timelines, gaps and strays without running PostgreSQL.
/// </summary>
public sealed class SyntheticArchive(Repository repository, ulong systemIdentifier = SyntheticWal.DefaultSystemIdentifier)
{
    public const uint SegmentSize = SyntheticWal.OneMiB;

    public Repository Repository { get; } = repository;

    public async Task BindAsync() =>
        await Repository.BindAsync(systemIdentifier, SegmentSize, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);

    public static string Segment(uint timeline, ulong number) => WalFileName.SegmentName(timeline, number, SegmentSize);

    /// <summary>Stores segments <paramref name="first"/>..<paramref name="last"/> of a timeline; returns their names.</summary>
    public async Task<List<string>> AddSegmentsAsync(uint timeline, ulong first, ulong last, ulong? clusterId = null)
    {
        var names = new List<string>();
        for (ulong n = first; n <= last; n++)
        {
            string name = Segment(timeline, n);
            // Few valid pages keep the objects small; the rest is zero-filled as after pg_switch_wal().
            await PutAsync(name, SyntheticWal.Segment(name, SegmentSize, validPages: 4, systemIdentifier: clusterId ?? systemIdentifier, seed: (int)n));
            names.Add(name);
        }
        return names;
    }

    public Task AddPartialAsync(uint timeline, ulong number) =>
        PutAsync(Segment(timeline, number) + ".partial", SyntheticWal.Segment(Segment(timeline, number) + ".partial", SegmentSize, validPages: 2, systemIdentifier: systemIdentifier));

    /// <summary>A timeline history file: one line per ancestor, "parent	X/X	reason".</summary>
    public Task AddHistoryAsync(uint timeline, params (uint Parent, ulong SwitchLsn)[] ancestors) =>
        PutAsync($"{timeline:X8}.history", Encoding.ASCII.GetBytes(string.Concat(ancestors.Select(a =>
            $"{a.Parent}\t{TimelineHistory.FormatLsn(a.SwitchLsn)}\tno recovery target specified\n"))));

    /// <summary>A backup history file as pg_backup_stop writes it; returns its name.</summary>
    public async Task<string> AddBackupLabelAsync(uint timeline, ulong startLsn, string label)
    {
        string segment = WalFileName.SegmentName(timeline, startLsn / SegmentSize, SegmentSize);
        string name = $"{segment}.{startLsn % SegmentSize:X8}.backup";
        string text = $"START WAL LOCATION: {TimelineHistory.FormatLsn(startLsn)} (file {segment})\n" +
                      $"STOP WAL LOCATION: {TimelineHistory.FormatLsn(startLsn + 0x100)} (file {segment})\n" +
                      "CHECKPOINT LOCATION: 0/0\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n" +
                      "START TIME: 2026-11-25 10:00:00 UTC\n" + $"LABEL: {label}\nSTART TIMELINE: {timeline}\n";
        await PutAsync(name, Encoding.ASCII.GetBytes(text));
        return name;
    }

    /// <summary>Raw bytes of every WAL file stored so far (segments, .partial, .history, .backup), not strays.</summary>
    public long RawBytesStored { get; private set; }

    /// <summary>A complete walship base backup in the catalog (backup.json and a stand-in data object) whose
    /// WAL runs from <paramref name="startLsn"/> to <paramref name="stopLsn"/>, with its .backup label archived.</summary>
    public async Task AddWalshipBackupAsync(string name, uint timeline, ulong startLsn, ulong stopLsn)
    {
        string label = await AddBackupLabelAsync(timeline, startLsn, "walship " + name);
        byte[] data = Encoding.ASCII.GetBytes("stand-in for " + name);
        var manifest = new BackupManifest
        {
            Name = name,
            Label = "walship " + name,
            SystemIdentifier = systemIdentifier.ToString(System.Globalization.CultureInfo.InvariantCulture),
            PgVersion = "15",
            Timeline = timeline,
            StartLsn = new Lsn(startLsn).ToString(),
            StartWalFile = WalFileName.SegmentName(timeline, startLsn / SegmentSize, SegmentSize),
            StopLsn = new Lsn(stopLsn).ToString(),
            StopWalFile = WalFileName.SegmentName(timeline, stopLsn / SegmentSize, SegmentSize),
            BackupHistoryFile = label,
            Finished = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddSeconds(startLsn / SegmentSize),
            RawBytes = data.Length,
            RawSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data)),
            StoredBytes = data.Length,
        };
        foreach (var (key, bytes) in new[] { (Repository.Layout.BackupDataKey(name), data), (Repository.Layout.BackupManifestKey(name), manifest.ToUtf8()) })
        {
            using var body = new PooledBuffer();
            body.Write(bytes);
            await Repository.Store.PutIfAbsentAsync(key, body, new Dictionary<string, string>(), CancellationToken.None);
        }
    }

    public async Task PutAsync(string fileName, byte[] raw)
    {
        var name = WalFileName.Parse(fileName);
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(raw), name, 1, systemIdentifier, CancellationToken.None);
        var header = encoded.Header;
        var metadata = new Dictionary<string, string>
        {
            ["walship-format"] = ObjectHeader.FormatVersion.ToString(),
            ["walship-raw-sha256"] = header.Sha256Hex,
            ["walship-raw-length"] = header.RawLength.ToString(),
        };
        await Repository.Store.PutIfAbsentAsync(Repository.Layout.KeyFor(name), encoded.Body, metadata, CancellationToken.None);
        RawBytesStored += raw.Length;
    }

    /// <summary>Stores arbitrary bytes at a key relative to the repository prefix (a stray object).</summary>
    public async Task PutRawAsync(string relativeKey, byte[] content)
    {
        using var body = new PooledBuffer();
        body.Write(content);
        string key = Repository.Layout.Prefix.Length == 0 ? relativeKey : $"{Repository.Layout.Prefix}/{relativeKey}";
        await Repository.Store.PutIfAbsentAsync(key, body, new Dictionary<string, string>(), CancellationToken.None);
    }

    /// <summary>Every object key under the repository prefix, sorted.</summary>
    public async Task<List<string>> AllKeysAsync()
    {
        var keys = new List<string>();
        string prefix = Repository.Layout.Prefix.Length == 0 ? "" : Repository.Layout.Prefix + "/";
        await foreach (var entry in Repository.Store.ListAsync(prefix, delimited: false, CancellationToken.None))
            keys.Add(entry.Key);
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    public string KeyOf(string fileName) => Repository.Layout.KeyFor(WalFileName.Parse(fileName));
}
