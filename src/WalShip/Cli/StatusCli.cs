using WalShip.Commands.Status;

namespace WalShip.Cli;

/// <summary>`walship status`: reads its options, gathers the report and prints it as text, --json or --prometheus.</summary>
public static class StatusCli
{
    public static async Task<int> RunAsync(Invocation invocation)
    {
        var settings = invocation.Settings;
        bool json = settings.GetSwitch(OptionSpec.Json), prometheus = settings.GetSwitch(OptionSpec.Prometheus);
        if (json && prometheus)
            throw new UsageException("--json and --prometheus exclude each other");
        string? dataDirectory = settings.Get(OptionSpec.PgData) ?? (Environment.GetEnvironmentVariable("PGDATA") is { Length: > 0 } pgdata ? pgdata : null);
        string? connection = settings.Get(OptionSpec.Connection);
        if (dataDirectory is null && connection is null)
            throw new UsageException("status needs --pgdata DIR (or PGDATA) and/or --connection CONNINFO; see walship help status");
        var options = new StatusOptions(dataDirectory, connection, settings.GetInt(OptionSpec.BacklogWarn, 1, 1_000_000));

        var deadline = settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));
        using var repository = RepositoryOpener.Open(settings, invocation.Logger, deadline);
        var command = new StatusCommand(repository);
        var report = await command.GatherAsync(options, invocation.Token);
        Console.Out.Write(json ? report.ToJson() : prometheus ? StatusRender.OpenMetrics(report) : StatusRender.Text(report));
        return command.ExitCode(report);
    }
}
