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

    private string Join(string relative) => Prefix.Length == 0 ? relative : $"{Prefix}/{relative}";
}
