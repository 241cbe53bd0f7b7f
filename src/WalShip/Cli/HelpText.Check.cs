namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Check = """
        walship check [options]

        Verifies a live configuration end to end, with the same settings push and fetch use,
        and says in plain words what is wrong. Run it on the primary and on every standby,
        as the user PostgreSQL runs as (sudo -u postgres walship check ...).

        What it checks, each with its own message:
          identity         who the credentials belong to (sts:GetCallerIdentity)
          assume-role      with --role-arn: that the role can be assumed (asks STS afresh,
                           past the credential cache), and as whom
          list, read       that the repository can be listed and walship.json read
          write, delete    on a primary: writes and deletes a probe object under the prefix
                           (a denied delete is a warning: only pruning needs s3:DeleteObject)
          system-identifier  that walship.json belongs to this cluster (global/pg_control)
          archive_mode, wal_level, archive_library, archive_command   on a primary
          signal, recovery.conf, restore_command                      on a standby
        PostgreSQL settings are read from --pgdata (postgresql.conf, its includes and
        postgresql.auto.conf, as the server reads them) or from a running server (--connection).
        A data directory with standby.signal or recovery.signal, or a server in recovery, is
        checked as a standby; --standby checks as one before standby.signal exists.

        Exit codes: 0 nothing failed (warnings allowed); otherwise the code of the first
        failure: 3 config, 4 auth, 5 transient, 7 wrong cluster, 9 local.

        Examples:
          sudo -u postgres walship check --pgdata /var/lib/postgresql/16/main
          sudo -u postgres walship check --standby --pgdata /var/lib/postgresql/16/main \
              --role-arn arn:aws:iam::111122223333:role/walship-reader --external-id "$EXTERNAL_ID"
          walship check --connection 'host=/var/run/postgresql port=5432' --json
        """;
}
