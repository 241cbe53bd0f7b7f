using Xunit;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// Scenarios that run once per repository kind: a sealed subclass per kind (file://, S3, cross-account)
/// says which <see cref="RepositoryBackend"/> to create. Every test gets a fresh repository and a temp
/// dir (for clusters and scratch data directories), both removed after it, so no test sees another's
/// archive.
/// </summary>
public abstract class RepositoryKindScenarios(string tempDirPrefix) : IAsyncLifetime
{
    protected TestTempDir Tmp { get; private set; } = null!;

    protected RepositoryBackend Repo { get; private set; } = null!;

    protected abstract Task<RepositoryBackend> CreateBackendAsync();

    public virtual async Task InitializeAsync()
    {
        Tmp = TestPaths.CreateTempDir(tempDirPrefix);
        Repo = await CreateBackendAsync();
    }

    public virtual async Task DisposeAsync()
    {
        await Repo.DisposeAsync();
        await Tmp.DisposeAsync();
    }

    /// <summary>walship's environment for the repository, with some variables added or replaced.</summary>
    protected virtual Dictionary<string, string> Env(params (string Key, string Value)[] extra) => Repo.EnvironmentWith(extra);

    /// <summary>
    /// A new cluster in <see cref="Tmp"/> with archive_mode on and, unless told otherwise, walship push as
    /// its archive_command; started with <paramref name="env"/> (by default <see cref="Env"/>).
    /// </summary>
    protected async Task<PgCluster> StartArchivingPrimaryAsync(string name = "primary", IDictionary<string, string>? env = null,
        string? archiveCommand = null)
    {
        var primary = await PgCluster.InitAsync(name, Tmp);
        primary.AppendConfig($"""
            archive_mode = on
            archive_command = {PgCluster.ConfigQuote(archiveCommand ?? WalshipBinary.Path + " push %p %f")}
            wal_level = replica
            """);
        await primary.StartAsync(env ?? Env());
        return primary;
    }

    /// <summary>Makes walship fetch the standby's restore_command (and, with <paramref name="archiveToo"/>,
    /// walship push its archive_command), retrying a missing file every 200 ms.</summary>
    protected static void ConfigureRestore(PgCluster standby, bool archiveToo = false)
    {
        standby.AppendConfig($"""
            restore_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " fetch %f %p")}
            wal_retrieve_retry_interval = '200ms'
            """);
        if (archiveToo)
            standby.AppendConfig($"""
                archive_mode = on
                archive_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " push %p %f")}
                """);
    }
}
