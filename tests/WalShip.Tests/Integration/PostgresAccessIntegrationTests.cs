using WalShip.Commands.Postgres;
using WalShip.Storage;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>The PostgreSQL access layer against a real PostgreSQL 15: the config reader agrees with the server's
/// own reading (pg_file_settings), and the client reads what psql reads.</summary>
public sealed class PostgresAccessIntegrationTests
{
    [Fact]
    public async Task ConfigReader_AgreesWithPgFileSettings_OnIncludesAndQuoting()
    {
        using var tmp = TestPaths.CreateTempDir("pgaccess-conf");
        await using var cluster = await PgCluster.InitAsync("primary", tmp);
        string confD = Path.Join(cluster.DataDir, "conf.d");
        Directory.CreateDirectory(confD);
        File.WriteAllText(Path.Join(confD, "10-archive.conf"),
            "archive_mode = on\narchive_command = 'walship push \"%p\" %f # it''s \\'quoted\\''\ninclude_if_exists '../absent.conf'\n");
        File.WriteAllText(Path.Join(confD, "20-override.conf"), "archive_timeout 5min\ninclude 'sub/deeper.conf'\n");
        Directory.CreateDirectory(Path.Join(confD, "sub"));
        File.WriteAllText(Path.Join(confD, "sub", "deeper.conf"), "application_name = caf\u00e9-1.2:x/y\nwork_mem = 0x40MB\n");
        File.WriteAllText(Path.Join(confD, ".hidden.conf"), "archive_timeout = 1\n");
        cluster.AppendConfig("include_dir = 'conf.d'\nrestore_command = '\\101\\t\\q'\nseq_page_cost = .5e+1");
        File.AppendAllText(Path.Join(cluster.DataDir, "postgresql.auto.conf"), "archive_timeout = '90s'\n");
        PgUser.ChownToPostgres(cluster.DataDir, recursive: true);
        await cluster.StartAsync();

        var ours = new DataDirectory(cluster.DataDir).ReadConfig();
        // pg_file_settings re-reads the files now, as the server would on reload; the last row of a name wins.
        string rows = await cluster.QueryAsync(
            "SELECT DISTINCT ON (lower(name)) lower(name) || E'\\x1f' || setting || E'\\x1f' || sourcefile || E'\\x1f' || sourceline " +
            "FROM pg_file_settings WHERE error IS NULL ORDER BY lower(name), seqno DESC");
        var theirs = rows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(row => row.Split('\x1f')).ToList();
        Assert.True(theirs.Count > 10, rows);
        foreach (var row in theirs)
        {
            var setting = ours.Find(row[0]);
            Assert.True(setting is not null, $"walship did not see {row[0]} from {row[2]}:{row[3]}");
            Assert.Equal(row[1], setting!.Value);
            Assert.Equal(row[2], setting.File);
            Assert.Equal(row[3], setting.Line.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(theirs.Count, ours.Settings.Count());
        Assert.Equal("90s", ours.Get("archive_timeout"));
        Assert.Equal("walship push \"%p\" %f # it's 'quoted'", ours.Get("archive_command"));
        Assert.Equal(await cluster.QueryAsync("SHOW archive_command"), ours.Get("archive_command"));
    }

    [Fact]
    public async Task Client_ReadsPrimaryAndStandbyState()
    {
        using var tmp = TestPaths.CreateTempDir("pgaccess-client");
        await using var primary = await PgCluster.InitAsync("primary", tmp);
        primary.AppendConfig("archive_mode = on\narchive_command = 'true'");
        await primary.StartAsync();

        await using (var client = await PostgresClient.ConnectAsync(primary.ConnectionString, CancellationToken.None))
        {
            Assert.Equal("on", await client.ShowAsync("archive_mode", CancellationToken.None));
            Assert.Null(await client.ShowAsync("no_such.setting", CancellationToken.None));
            Assert.False(await client.IsInRecoveryAsync(CancellationToken.None));

            string switched = await primary.SwitchWalAsync();
            await primary.WaitForAsync(async () => (await client.ReadArchiverAsync(CancellationToken.None)).LastArchivedWal == switched,
                TimeSpan.FromSeconds(30), $"archiver to report {switched}");
            var archiver = await client.ReadArchiverAsync(CancellationToken.None);
            Assert.True(archiver.ArchivedCount >= 1);
            Assert.Equal(0, archiver.FailedCount);
            Assert.NotNull(archiver.LastArchivedTime);
            Assert.NotNull(archiver.StatsReset);

            var state = await client.ReadWalStateAsync(CancellationToken.None);
            Assert.False(state.InRecovery);
            Assert.Equal(16u << 20, state.WalSegmentSize);
            Assert.Equal(1u, state.Timeline);
            Assert.InRange(state.ServerVersionNumber, 150000, 159999);
            Assert.NotNull(state.CurrentLsn);
            Assert.Equal(await primary.CurrentWalFileAsync(), state.CurrentWalFile);
            Assert.Equal(state.CurrentWalFile, state.CurrentLsn!.Value.SegmentNameBefore(state.Timeline, state.WalSegmentSize));
            Assert.Equal(state.CurrentWalFile, await client.WalFileNameAsync(state.CurrentLsn.Value, CancellationToken.None));
            Assert.Null(state.LastReplayLsn);
        }

        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync();
        Assert.Equal(ServerRole.Standby, new DataDirectory(standby.DataDir).ReadRole());
        await using (var client = await PostgresClient.ConnectAsync($"postgresql://postgres@127.0.0.1:{standby.Port}/postgres", CancellationToken.None))
        {
            var state = await client.ReadWalStateAsync(CancellationToken.None);
            Assert.True(state.InRecovery);
            Assert.Null(state.CurrentLsn);
            Assert.Null(state.CurrentWalFile);
            Assert.NotNull(state.LastReplayLsn);
            Assert.Equal(1u, state.Timeline);
        }
    }

    [Fact]
    public async Task Client_FailsWithOneClassedLine()
    {
        using var tmp = TestPaths.CreateTempDir("pgaccess-errors");
        await using var cluster = await PgCluster.InitAsync("primary", tmp);
        await cluster.StartAsync();

        var wrongDatabase = await Assert.ThrowsAsync<StorageException>(() =>
            PostgresClient.ConnectAsync($"host=127.0.0.1 port={cluster.Port} user=postgres dbname=nope", CancellationToken.None));
        Assert.Equal(ErrorClass.Config, wrongDatabase.Class);
        Assert.Contains("\"nope\" does not exist", wrongDatabase.Message);

        int closedPort = TestPaths.GetFreeTcpPort();
        var refused = await Assert.ThrowsAsync<StorageException>(() =>
            PostgresClient.ConnectAsync($"host=127.0.0.1 port={closedPort} user=postgres", CancellationToken.None));
        Assert.Equal(ErrorClass.Transient, refused.Class);
        Assert.Contains($"127.0.0.1:{closedPort}", refused.Message);
        Assert.Contains("refused", refused.Message, StringComparison.OrdinalIgnoreCase);

        var badString = await Assert.ThrowsAsync<StorageException>(() => PostgresClient.ConnectAsync("host=x service=y", CancellationToken.None));
        Assert.Equal(ErrorClass.Usage, badString.Class);
    }
}
