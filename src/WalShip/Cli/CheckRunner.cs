using WalShip.Commands;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>Runs `walship check` from the settings: opens the repository (assuming the role afresh, past
/// the credential cache) and prints the report as text or JSON.</summary>
public static class CheckRunner
{
    public static async Task<int> RunAsync(Invocation invocation)
    {
        var settings = invocation.Settings;
        var timeout = TimeSpan.FromSeconds(30);
        using var repository = RepositoryOpener.Open(settings, invocation.Logger, timeout, out var connection, cacheCredentials: false);
        CloudIdentity? cloud = null;
        if (connection is not null)
        {
            string region = settings.Get(OptionSpec.StsRegion) ?? settings.Get(OptionSpec.Region) ?? "us-east-1";
            var source = connection.AssumedRole?.SourceCredentials ?? connection.Credentials;
            cloud = new CloudIdentity(source, connection.AssumedRole, region, settings.Get(OptionSpec.StsEndpoint), timeout);
        }
        string? dataDirectory = settings.Get(OptionSpec.PgData) ?? (settings.Get(OptionSpec.Connection) is null ? Environment.GetEnvironmentVariable("PGDATA") : null);
        var check = new CheckCommand(repository, cloud, dataDirectory, settings.Get(OptionSpec.Connection), settings.GetSwitch(OptionSpec.Standby), invocation.Logger);
        var report = await check.RunAsync(invocation.Token);
        if (settings.GetSwitch(OptionSpec.Json))
            Console.Out.WriteLine(CheckCommand.ToJson(report));
        else
        {
            foreach (var result in report.Checks)
                Console.Out.WriteLine($"{result.Status.ToUpperInvariant(),-4}  {result.Name}: {result.Message}");
            int failed = report.Checks.Count(c => c.Status == "fail");
            Console.Out.WriteLine(failed == 0
                ? $"walship check: {report.Repository} is ready for this {report.Side}"
                : $"walship check: {failed} problem{(failed == 1 ? "" : "s")} for this {report.Side}, see FAIL above");
        }
        return CheckCommand.ExitCode(report);
    }
}
