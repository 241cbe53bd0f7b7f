using WalShip.Wal;

namespace WalShip.Archive;

/// <summary>
/// Where things live in a repository. One deterministic key per WAL file, so fetch is a single GET and
/// an absent file is a single 404; files are grouped by timeline so a listing can go timeline by timeline.
/// </summary>
public sealed class ArchiveLayout(string prefix)
{
    public string Prefix { get; } = prefix.Trim('/');

    public string ManifestKey => Join("walship.json");

    public string KeyFor(WalFileName file) => Join($"wal/{file.Timeline:X8}/{file.Name}");

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
