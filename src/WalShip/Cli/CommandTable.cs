using Microsoft.Extensions.Logging;

namespace WalShip.Cli;

/// <summary>What a command gets to run with: its positional arguments, resolved settings, the logger,
/// and a token cancelled at the deadline or on SIGTERM/SIGINT.</summary>
public sealed record Invocation(string Command, IReadOnlyList<string> Arguments, Settings Settings, ILogger Logger, CancellationToken Token);

/// <summary>
/// One walship command. <see cref="Run"/> is null for push and fetch, which <see cref="Program"/> runs
/// itself because of what they owe PostgreSQL before anything else (the failure code, the deadline).
/// An admin command's failures map to exit codes by <c>ExitCodes.For</c>.
/// </summary>
public sealed record CommandEntry(
    string Name,
    string Synopsis,
    string Summary,
    string Help,
    int MinArguments,
    int MaxArguments,
    Func<Invocation, Task<int>>? Run = null);

/// <summary>Every command, in the order --help lists them.</summary>
public static class CommandTable
{
    public static readonly CommandEntry Push = new("push", "push  [options] %p %f", "archive_command: store one WAL file", HelpText.Push, 2, 2);
    public static readonly CommandEntry Fetch = new("fetch", "fetch [options] %f %p", "restore_command: restore one WAL file", HelpText.Fetch, 2, 2);

    // Cross-account setup (issue 4).
    public static readonly CommandEntry Policy = new("policy", "policy [options]", "print IAM policies for a cross-account setup",
        HelpText.Policy, 0, 0, PolicyCli.RunAsync);

    // Operations (issue 8).
    public static readonly CommandEntry Status = new("status", "status [options]", "how far archiving (or a standby) is behind",
        HelpText.Status, 0, 0, StatusCli.RunAsync);

    // Base backups (issue 7).
    public static readonly CommandEntry Backup = new("backup", "backup SUBCOMMAND [ARGS]", "base backups: push, list, fetch, delete",
        HelpText.Backup, 1, 3, BackupCli.RunAsync);

    // Cross-account setup (issue 4).
    public static readonly CommandEntry Check = new("check", "check [options]", "verify credentials, bucket access and PostgreSQL settings", HelpText.Check, 0, 0,
        CheckRunner.RunAsync);

    // Admin commands: list, prune, verify.
    public static readonly CommandEntry List = new("list", "list  [options]", "show timelines, ranges, gaps and sizes", HelpText.List, 0, 0, AdminRunner.ListAsync);
    public static readonly CommandEntry Prune = new("prune", "prune [options]", "delete old WAL (dry run unless --confirm)", HelpText.Prune, 0, 0, AdminRunner.PruneAsync);
    public static readonly CommandEntry Verify = new("verify", "verify [options]", "re-read and check every archived object", HelpText.Verify, 0, 0, AdminRunner.VerifyAsync);

    public static readonly CommandEntry[] All =
    [
        Push, Fetch, Status, List, Prune, Verify, Check, Backup, Policy,
    ];

    /// <summary>Commands walship runs itself (detached look-ahead workers); not listed in --help.</summary>
    public static readonly CommandEntry[] Internal = [LookAhead.PushAheadWorker, LookAhead.PrefetchWorker];

    public static CommandEntry? Find(string name) => All.Concat(Internal).FirstOrDefault(entry => entry.Name == name);
}
