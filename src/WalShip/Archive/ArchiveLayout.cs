using WalShip.Wal;

namespace WalShip.Archive;

/// <summary>
/// Where things live in a repository. One deterministic key per WAL file, so fetch is a single GET and
/// an absent file is a single 404:
/// <code>
/// &lt;prefix&gt;/walship.json
/// &lt;prefix&gt;/wal/&lt;TLI&gt;/&lt;TLI&gt;.history
/// &lt;prefix&gt;/wal/&lt;TLI&gt;/&lt;TLI+logId, 16 hex&gt;/&lt;segment, .partial or .backup name&gt;
/// </code>
/// Segments are partitioned by timeline and by the first 16 hex digits of their name (256 segments of
/// 16 MiB per partition), as pgBackRest does. A listing then goes partition by partition, in parallel,
/// each partition one short page, instead of paging through one huge prefix a thousand keys at a time.
/// </summary>
public sealed class ArchiveLayout(string prefix)
{
    private const string WalDirectory = "wal";

    public string Prefix { get; } = prefix.Trim('/');

    public string ManifestKey => Join("walship.json");

    public string KeyFor(WalFileName file) => file.Kind == WalFileKind.History
        ? Join($"{WalDirectory}/{file.Timeline:X8}/{file.Name}")
        : Join($"{WalDirectory}/{file.Timeline:X8}/{file.Name[..16]}/{file.Name}");

    /// <summary>The prefix under which all WAL objects live; delimited listing of it yields one prefix per timeline.</summary>
    public string WalPrefix => Join(WalDirectory + "/");

    /// <summary>The prefix of one timeline: its .history file, and one partition prefix per log id.</summary>
    public string TimelinePrefix(uint timeline) => Join($"{WalDirectory}/{timeline:X8}/");

    /// <summary>The timeline a timeline prefix (as a delimited listing returns it) stands for.</summary>
    public bool TryParseTimelinePrefix(string key, out uint timeline)
    {
        timeline = 0;
        string wal = WalPrefix;
        return key.Length == wal.Length + 9 && key.StartsWith(wal, StringComparison.Ordinal) && key[^1] == '/'
               && WalFileName.TryParse($"{key.AsSpan(wal.Length, 8)}.history", out var history)
               && (timeline = history.Timeline) != 0;
    }

    /// <summary>The WAL file an object key holds, when the key is exactly where walship puts that file.
    /// Anything else under the prefix is not walship's.</summary>
    public bool TryParseKey(string key, out WalFileName file)
    {
        file = default;
        int slash = key.LastIndexOf('/');
        return slash >= 0 && WalFileName.TryParse(key[(slash + 1)..], out file) && KeyFor(file) == key;
    }

    /// <summary>A throw-away object `walship check` writes and deletes to prove it may.</summary>
    public string CheckProbeKey(string id) => Join($"walship-check/{id}");

    // --- Base backups: <prefix>/backup/<name>/base.tar.zst, then backup.json written last ---

    /// <summary>The prefix every base backup's objects share, for listing them.</summary>
    public string BackupsPrefix => Join("backup/");

    public string BackupDataKey(string backupName) => Join($"backup/{backupName}/base.tar.zst");

    public string BackupManifestKey(string backupName) => Join($"backup/{backupName}/backup.json");

    /// <summary>The backup name of a key under <see cref="BackupsPrefix"/>, and whether it is the manifest.</summary>
    public (string Name, bool IsManifest)? ParseBackupKey(string key)
    {
        if (!key.StartsWith(BackupsPrefix, StringComparison.Ordinal))
            return null;
        string rest = key[BackupsPrefix.Length..];
        int slash = rest.IndexOf('/');
        if (slash <= 0)
            return null;
        return (rest[..slash], rest[(slash + 1)..] == "backup.json");
    }

    private string Join(string relative) => Prefix.Length == 0 ? relative : $"{Prefix}/{relative}";
}
