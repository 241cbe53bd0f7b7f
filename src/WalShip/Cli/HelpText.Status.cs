namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Status = """
        walship status [options]

        Shows, in one screen, whether archiving keeps up (on a primary) or how far the archive
        is ahead of replay (on a standby). Reads the data directory (--pgdata, or PGDATA), the
        server (--connection; without it, the server running in --pgdata through its socket)
        and probes the repository (--repo) by name: a few lookups, never a listing.

        On a primary: archive_mode and archive_command, pg_stat_archiver, the .ready files in
        pg_wal/archive_status (how many, how old), the last segment in the repository, and the
        lag in segments, bytes and seconds. On a standby: the replayed position, how many
        segments the repository holds beyond it, and any newer timeline (a promotion).

        Exit codes: 0 all well; 11 behind: --backlog-warn or more files wait to be archived
        (primary) or are archived but not replayed (standby); 2 usage; and when the server
        (--connection) or the repository cannot be read, that failure's code (3 config, 4 auth,
        5 transient, ...) after printing what could be read.

        Output: text; --json, one object (format 1: role, status, server, archiver,
        archive_status, repository, lag, standby, warnings; null when unknown); or
        --prometheus, OpenMetrics text (walship_archive_ready_files, walship_lag_segments,
        walship_lag_seconds, walship_status_behind, ...) for a scrape or a textfile collector.

        Examples:
          walship status --pgdata /var/lib/postgresql/15/main
          walship status --connection 'host=/var/run/postgresql user=postgres' --json
          walship status --pgdata "$PGDATA" --backlog-warn 64 --prometheus
        """;
}
