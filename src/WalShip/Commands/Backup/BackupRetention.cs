using WalShip.Archive;
using WalShip.Wal;

namespace WalShip.Commands.Backup;

/// <summary>The WAL a backup needs starts at its START WAL LOCATION on its timeline.</summary>
public readonly record struct WalStart(uint Timeline, Lsn Lsn, string WalFile);

/// <summary>What retention must keep: prune learns from here which WAL the retained backups need.</summary>
public static class BackupRetention
{
    /// <summary>
    /// The oldest WAL start needed by the newest <paramref name="retain"/> complete backups (newest by
    /// finish time), or null when there is no backup to keep (no backups, or retain below 1): then no
    /// backup constrains pruning. WAL from this segment on (on this timeline and the timelines after
    /// it) must stay. LSNs grow across timeline switches, so the smallest start LSN is the oldest.
    /// </summary>
    public static WalStart? OldestWalNeeded(IEnumerable<BackupManifest> backups, int retain)
    {
        if (retain < 1)
            return null;
        WalStart? oldest = null;
        foreach (var backup in backups.OrderByDescending(b => b.Finished).ThenByDescending(b => b.Name, StringComparer.Ordinal).Take(retain))
        {
            var start = new WalStart(backup.Timeline, Lsn.Parse(backup.StartLsn), backup.StartWalFile);
            if (oldest is not { } current || start.Lsn.Value < current.Lsn.Value
                || (start.Lsn.Value == current.Lsn.Value && start.Timeline < current.Timeline))
                oldest = start;
        }
        return oldest;
    }
}
