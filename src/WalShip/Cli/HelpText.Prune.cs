namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Prune = """
        walship prune [options]

        Deletes old WAL from the archive. A DRY RUN unless --confirm: it prints what it would
        delete (per timeline, with counts and bytes) and deletes nothing.

        What to delete (at least one; when several are given, a file must match all):
          --before SEGMENT   WAL older than this segment, like archive_cleanup_command's %r
                             (the timeline part is ignored, as pg_archivecleanup does).
          --older-than DUR   WAL archived longer ago than DUR (7d, 36h).
          --retain N         keep the newest N base backups and everything from the start
                             (START WAL LOCATION) of the oldest of them on. Backups are walship's
                             (walship backup list) and other tools' (.backup labels in the
                             archive, e.g. pg_basebackup's), newest by start LSN; with fewer
                             than N, nothing is deleted. Older walship backups whose WAL from
                             start to stop this prune deletes can no longer be restored: they
                             are listed, and deleted with --confirm (backup.json first, then
                             their data, and before any WAL). Other tools' backups are only
                             counted, never deleted.

        What is never deleted:
          - .history files (recovery needs them to find any timeline);
          - with --retain, a retained backup or any WAL from the oldest retained backup's
            start on, on every timeline;
          - WAL at or after the point where the newest timeline began, unless
            --allow-current-timeline. On an archive that was never promoted the newest
            timeline is 1, so pruning it needs that flag; a promotion makes older timelines'
            WAL before the switch point prunable without it.

        Deletes go oldest first, 1,000 per request (S3 DeleteObjects). An object already gone
        counts as deleted, so a prune that was interrupted (Ctrl-C, a lost connection) is
        finished by running the same command again. Progress goes to stderr.

        Exit codes: 0 done (or dry run); 12 some objects could not be deleted (listed on
        stderr and in --json "failures"; run again; a backup that could not be deleted
        stops the prune before any WAL is deleted); 2 usage, 3 config, 4 auth, 5 transient,
        6 throttled, 10 interrupted (run again to finish).

        Examples:
          walship prune --retain 2 --allow-current-timeline            # dry run
          walship prune --retain 2 --allow-current-timeline --confirm
          walship prune --older-than 14d --allow-current-timeline --confirm --json
          archive_cleanup_command = 'walship prune --before %r --allow-current-timeline --confirm'
        """;
}
