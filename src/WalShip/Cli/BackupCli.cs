using Microsoft.Extensions.Logging;
using WalShip.Commands;
using WalShip.Commands.Backup;

namespace WalShip.Cli;

/// <summary>walship backup push|list|fetch|delete: settings in, one command out.</summary>
public static class BackupCli
{
    private static readonly TimeSpan WalWait = TimeSpan.FromMinutes(5);

    public static async Task<int> RunAsync(Invocation invocation)
    {
        var (arguments, settings, logger, token) = (invocation.Arguments, invocation.Settings, invocation.Logger, invocation.Token);
        string subcommand = arguments[0];
        int expected = subcommand switch
        {
            "push" or "list" => 1,
            "delete" => 2,
            "fetch" => 3,
            _ => throw new UsageException($"unknown backup subcommand '{subcommand}' (push, list, fetch or delete; see walship help backup)"),
        };
        if (arguments.Count != expected)
            throw new UsageException($"backup {subcommand} takes {expected - 1} argument{(expected == 2 ? "" : "s")} (got {arguments.Count - 1}); see walship help backup");
        OnlyFor(settings, "push", subcommand, OptionSpec.PgBaseBackup, OptionSpec.Connection);
        OnlyFor(settings, "fetch", subcommand, OptionSpec.Standby, OptionSpec.TargetTime, OptionSpec.TargetLsn, OptionSpec.TargetAction);
        OnlyFor(settings, "list", subcommand, OptionSpec.Json);

        var timeout = settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));
        using var repository = RepositoryOpener.Open(settings, logger, timeout);
        long partSize = settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30);
        int concurrency = settings.GetInt(OptionSpec.UploadConcurrency, 1, 64);
        switch (subcommand)
        {
            case "push":
                var options = new BackupPushOptions(settings.Get(OptionSpec.PgBaseBackup)!, settings.Get(OptionSpec.Connection),
                    settings.GetInt(OptionSpec.CompressionLevel, 1, 19), settings.GetInt(OptionSpec.CompressionThreads, 1, 64), partSize, WalWait);
                var pushed = await new BackupPushCommand(repository, logger, options).RunAsync(token);
                Console.Out.WriteLine(pushed.Name);
                return ExitCodes.Ok;
            case "list":
                var (complete, incomplete) = await new BackupCatalog(repository).ListAsync(token);
                foreach (string name in incomplete)
                    logger.LogWarning("backup {Name} is incomplete (data without backup.json): a failed backup push or an interrupted delete; remove it with walship backup delete {Name}", name, name);
                Console.Out.Write(BackupCatalog.Render(complete, settings.GetSwitch(OptionSpec.Json)));
                return ExitCodes.Ok;
            case "fetch":
                if (settings.Get(OptionSpec.ExternalId) is not null && settings.Source(OptionSpec.ExternalId) != settings.Get(OptionSpec.Config))
                    logger.LogWarning("backup fetch: the external id (from {Source}) goes into restore_command in postgresql.auto.conf, which any superuser can read with SHOW; " +
                                      "put role-arn and external-id in a --config file to keep it there instead", settings.Source(OptionSpec.ExternalId));
                var recovery = new RecoverySetup(settings.GetSwitch(OptionSpec.Standby), RestoreCommand(settings),
                    settings.Get(OptionSpec.TargetTime), settings.Get(OptionSpec.TargetLsn), TargetAction(settings));
                var fetched = await new BackupFetchCommand(repository, logger, new BackupFetchOptions(partSize, concurrency))
                    .RunAsync(arguments[1], arguments[2], recovery, token);
                Console.Out.WriteLine(fetched.Name);
                return ExitCodes.Ok;
            default:
                string target = BackupCatalog.CheckName(arguments[1]);
                if (!await new BackupCatalog(repository).DeleteAsync(target, token))
                    throw new Storage.StorageException(Storage.ErrorClass.Absent, $"{repository.Url} has no backup named {target}");
                logger.LogInformation("backup delete {Name}: deleted", target);
                return ExitCodes.Ok;
        }
    }

    private static void OnlyFor(Settings settings, string allowed, string subcommand, params OptionSpec[] specs)
    {
        if (subcommand == allowed)
            return;
        foreach (var spec in specs)
            if (settings.Source(spec) == "--" + spec.Name)
                throw new UsageException($"option --{spec.Name} is for backup {allowed}, not backup {subcommand}");
    }

    private static string? TargetAction(Settings settings) => settings.Get(OptionSpec.TargetAction) switch
    {
        null => null,
        var action when action is "pause" or "promote" or "shutdown" => action,
        var other => throw new UsageException($"invalid target-action '{other}': expected pause, promote or shutdown"),
    };

    /// <summary>
    /// restore_command for the restored cluster: this walship binary with the repository settings this fetch
    /// used, written out as flags so that the server does not depend on its environment for them.
    /// Credentials are never written: they stay in the environment, a profile or a role.
    /// </summary>
    public static string RestoreCommand(Settings settings)
    {
        var words = new List<string> { Environment.ProcessPath ?? "walship" };
        foreach (var spec in OptionSpec.All)
        {
            if (spec.IsFlagOnly || spec.Name is "log-format" or "log-level" || IsSecret(spec.Name))
                continue;
            string source = settings.Source(spec);
            if (source is "default" or "unset" || (spec != OptionSpec.Config && source == settings.Get(OptionSpec.Config)))
                continue; // defaults stay defaults; the config file's values come with --config
            string value = settings.Get(spec)!;
            words.Add(spec.IsSwitch ? $"--{spec.Name}={value}" : $"--{spec.Name}");
            if (!spec.IsSwitch)
                words.Add(value);
        }
        words.AddRange(["fetch", "%f", "%p"]);
        return string.Join(' ', words.Select(word => word is "%f" or "%p" ? word : ShellQuote(word)));
    }

    private static bool IsSecret(string name) =>
        name.Contains("secret", StringComparison.Ordinal) || name.Contains("password", StringComparison.Ordinal)
        || name.Contains("token", StringComparison.Ordinal) || name.EndsWith("-key", StringComparison.Ordinal);

    /// <summary>PostgreSQL runs restore_command through /bin/sh.</summary>
    public static string ShellQuote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or ':' or '=' or '@' or ',' or '+')
            ? word
            : "'" + word.Replace("'", "'\\''") + "'";
}
