namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Backup = """
        walship backup push   [options]
        walship backup list   [--json]
        walship backup fetch  [options] NAME|LATEST DATADIR
        walship backup delete NAME

        Base backups in the same repository as the WAL, so that a standby (or a restored
        server) can be built from the repository alone, with no network path to the primary.

        push    Runs pg_basebackup -D - -F tar -X none --checkpoint=fast against the primary
                (--connection, or the PG* variables) and streams its tar through zstd and
                SHA-256 (and with --encryption aes-256-gcm, client-side AES-256-GCM with
                the current key; backup.json records cipher and key id) into a multipart upload: memory stays at a few --part-size parts in
                flight (--upload-concurrency) whatever the database size. The primary must
                archive with walship push to this repository (archive_mode = on): the backup
                is complete only once the WAL from its start to its stop point is archived,
                and backup/NAME/backup.json is written last. Prints the backup's name.
                Tablespaces are refused. Exit 0 only for a complete backup.
        list    Complete backups, oldest first: name, finish time, sizes, WAL range.
                --json prints the backup.json of each (see README, Base backups).
                Incomplete backups (a failed push, an interrupted delete) are warned about.
        fetch   Restores a backup into DATADIR, which must be empty or absent. Parallel
                ranged GETs, then decryption (with the key backup.json names, found among
                the current key and --decryption-key-files; without it fetch stops before
                touching DATADIR), zstd, SHA-256 and tar extraction (absolute paths, '..',
                links leaving the directory, hard links and devices are refused). Writes
                restore_command = 'walship ... fetch %f %p' (same repository settings, never
                credentials) into postgresql.auto.conf, and standby.signal with --standby, else
                recovery.signal (with --target-time/--target-lsn/--target-action). While it
                runs, and after a failure, DATADIR holds walship-restore-incomplete and
                PostgreSQL refuses to start; remove the directory and fetch again.
        delete  Deletes backup.json first, then the data, so a half-deleted backup is never
                listed as complete. WAL is not deleted (walship prune --retain N keeps the
                newest N backups and their WAL, and deletes older ones with their WAL).

        Examples:
          walship --repo s3://my-bucket/prod-db backup push --connection 'host=db1 user=replicator'
          walship --repo s3://my-bucket/prod-db backup list
          walship --repo s3://my-bucket/prod-db backup fetch LATEST /var/lib/postgresql/15/main --standby
          walship --repo s3://my-bucket/prod-db backup delete base_20260101T120000Z
          walship backup list --json      # with WALSHIP_REPO set, e.g. in a script
        """;
}
