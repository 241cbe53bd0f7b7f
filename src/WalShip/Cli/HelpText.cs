using System.Text;

namespace WalShip.Cli;

/// <summary>The --help texts. The options part comes from <see cref="OptionSpec.All"/>, so it cannot drift.</summary>
public static partial class HelpText
{
    public static string Overview()
    {
        var text = new StringBuilder("walship - ship PostgreSQL WAL to S3 (or a directory) and back\n\nUsage:\n");
        foreach (var entry in CommandTable.All)
            text.Append($"  walship {entry.Synopsis,-28} {entry.Summary}\n");
        text.Append($"  walship {"help [COMMAND]",-28} this text, or a command's\n");
        text.Append("  walship --version\n\n");
        text.Append(OverviewBody);
        return text.ToString();
    }

    private const string OverviewBody = """
        In postgresql.conf on the primary:
          archive_mode = on
          archive_command = 'walship push %p %f'
        On a standby (with an empty standby.signal in the data directory):
          restore_command = 'walship fetch %f %p'

        Settings come from --flags, WALSHIP_* variables, a config file (--config) and the
        standard AWS variables, in that order. Run 'walship help push' for the details.

        """;

    public const string Push = """
        walship push [options] %p %f

        Archives one WAL file. PostgreSQL runs it as archive_command = 'walship push %p %f'
        from the data directory, one file at a time.

        What it does:
          - checks that %f is a WAL file name and %p is that file in pg_wal;
          - reads every WAL page header: magic, timeline, page address, and the cluster's
            system identifier, which must match pg_control and the repository;
          - compresses (zstd) and hashes (SHA-256) the file, and uploads it under one fixed key;
          - reads the object's size back, and only then exits 0.
        The first push binds the repository to this cluster. If the file is already archived
        with identical content, push exits 0; with different content it fails and never
        overwrites. PostgreSQL retries any non-zero exit later, keeping the file in pg_wal.

        Exit codes: 0 stored (or already identical); 2 usage, 3 config, 4 auth, 5 transient,
        6 throttled, 7 corrupt or wrong cluster, 8 different object exists, 9 local I/O,
        10 interrupted. Never above 125, so the archiver never stops.

        Examples:
          archive_command = 'walship push %p %f'
          archive_command = 'walship --repo s3://my-bucket/prod-db push %p %f'
          cd $PGDATA && walship push pg_wal/000000010000000000000042 000000010000000000000042
        """;

    public const string Fetch = """
        walship fetch [options] %f %p

        Restores one WAL file. PostgreSQL runs it as restore_command = 'walship fetch %f %p'
        from the data directory; %p is usually pg_wal/RECOVERYXLOG.

        What it does: one GET of the file's key; decompresses and verifies length, SHA-256,
        every WAL page header and the cluster's system identifier into a temporary file
        beside %p, then renames it into place. %p never holds a partial or unverified file.

        Exit codes:
          0    %p holds the verified file.
          1    the archive proves the file is absent: no such key, in a repository whose
               walship.json belongs to this cluster (PostgreSQL probes many such names).
               With standby.signal, also any other failure: the standby asks again soon.
          200  any other failure without standby.signal (archive recovery, pg_rewind, by hand):
               network, auth, corrupt object, wrong cluster, an empty or unmounted repository,
               deadline. Above 125, PostgreSQL stops instead of taking the failure for the end
               of the archive and promoting with WAL missing. Network errors and throttling are
               retried with backoff until --deadline first. Change it with --fatal-exit-code.

        Examples:
          restore_command = 'walship fetch %f %p'
          restore_command = 'walship --repo s3://my-bucket/prod-db --region eu-west-1 fetch %f %p'
        """;

    /// <summary>The options reference: all options, or those of one command.</summary>
    public static string Options(string? command = null)
    {
        var text = new StringBuilder("Options (flag / environment variable; also 'name = value' in the config file):\n");
        foreach (var spec in OptionSpec.For(command))
        {
            string flag = spec.IsSwitch ? $"--{spec.Name}" : $"--{spec.Name} {spec.ValueHint}";
            if (spec.IsFlagOnly)
                text.Append($"  {flag}\n      flag only, for {string.Join(", ", spec.Commands!)}");
            else
                text.Append($"  {flag}\n      {spec.EnvironmentVariable}");
            if (spec.AwsFallbackEnv is { } aws)
                text.Append($", then {string.Join(", ", aws)}");
            text.Append('\n');
            text.Append($"      {spec.Help}");
            if (spec.Default is not null)
                text.Append($" Default: {spec.Default}.");
            text.Append('\n');
        }
        return text.ToString();
    }

    public static string For(string? command) => command is not null && CommandTable.Find(command) is { } entry
        ? entry.Help + "\n\n" + Options(entry.Name)
        : Overview() + "\n" + Options();
}
