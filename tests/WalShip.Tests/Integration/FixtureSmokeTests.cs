using System.Net;
using System.Text;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>Proves the integration fixtures (s3rver, PostgreSQL clusters) work on this machine.</summary>
public sealed class FixtureSmokeTests
{
    [Fact]
    public async Task S3Server_RoundTripsObjectOverHttp()
    {
        await using var s3 = await S3Server.StartAsync();
        Assert.StartsWith("http://127.0.0.1:", s3.Endpoint);

        await s3.CreateBucketAsync("smoke-bucket");
        Assert.True(Directory.Exists(Path.Combine(s3.DataDir, "smoke-bucket")));

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var payload = new byte[70_000];
        new Random(42).NextBytes(payload);
        var url = $"{s3.Endpoint}/smoke-bucket/wal/000000010000000000000001";

        using (var put = await http.PutAsync(url, new ByteArrayContent(payload)))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var roundTripped = await http.GetByteArrayAsync(url);
        Assert.Equal(payload, roundTripped);
        Assert.Equal(payload, await File.ReadAllBytesAsync(s3.ObjectFilePath("smoke-bucket", "wal/000000010000000000000001")));

        using (var missing = await http.GetAsync($"{s3.Endpoint}/smoke-bucket/wal/nope"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // ListObjectsV2 pagination needs --openssl-legacy-provider (continuation tokens are DES-encrypted).
        using (var second = await http.PutAsync($"{s3.Endpoint}/smoke-bucket/wal/000000010000000000000002", new ByteArrayContent(Encoding.ASCII.GetBytes("x"))))
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var page1 = await http.GetStringAsync($"{s3.Endpoint}/smoke-bucket?list-type=2&max-keys=1");
        var token = System.Xml.Linq.XDocument.Parse(page1).Descendants().Single(e => e.Name.LocalName == "NextContinuationToken").Value;
        var page2 = await http.GetStringAsync($"{s3.Endpoint}/smoke-bucket?list-type=2&continuation-token={Uri.EscapeDataString(token)}");
        Assert.Contains("<Key>wal/000000010000000000000002</Key>", page2);
        Assert.DoesNotContain("<Key>wal/000000010000000000000001</Key>", page2);
    }

    [Fact]
    public async Task PgCluster_InitStartPgbenchAndBaseBackupStandby()
    {
        using var tmp = TestPaths.CreateTempDir("smoke-pg");
        await using var primary = await PgCluster.InitAsync("primary", tmp);
        await primary.StartAsync(new Dictionary<string, string> { ["WALSHIP_SMOKE_MARKER"] = "from-env" });

        Assert.Equal("1", await primary.QueryAsync("select 1"));
        Assert.Equal("f", await primary.QueryAsync("select pg_is_in_recovery()"));
        Assert.Equal("127.0.0.1", await primary.QueryAsync("show listen_addresses"));
        Assert.Equal(primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), await primary.QueryAsync("show port"));

        await primary.PgBenchInitAsync(scale: 1);
        Assert.Equal("100000", await primary.QueryAsync("select count(*) from pgbench_accounts"));
        var bench = await primary.PgBenchRunAsync(transactions: 20, clients: 2);
        Assert.Contains("number of transactions actually processed: 40/40", bench.StdOut);

        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        Assert.NotEqual(primary.Port, standby.Port);
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync();

        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));
        Assert.Equal("100000", await standby.QueryAsync("select count(*) from pgbench_accounts"));
        Assert.Equal("t", await primary.QueryAsync("select pg_is_in_recovery() = false"));

        await standby.PromoteAsync();
        await standby.WaitForAsync(
            async () => await standby.QueryAsync("select pg_is_in_recovery()") == "f", TimeSpan.FromSeconds(20), "promotion");
        Assert.False(File.Exists(Path.Combine(standby.DataDir, "standby.signal")));

        await primary.StopAsync();
        Assert.False(primary.IsRunning);
        Assert.Contains("database system is shut down", primary.ReadLog());
    }

    [Fact]
    public async Task PgCluster_PassesStartEnvironmentToArchiveCommand()
    {
        using var tmp = TestPaths.CreateTempDir("smoke-env");
        var outFile = Path.Combine(tmp.Path, "archive-env.txt");
        await using var pg = await PgCluster.InitAsync("pg", tmp);
        // archive_command runs under /bin/sh in the server; it must see the env given to StartAsync.
        pg.AppendConfig($"""
            archive_mode = on
            archive_command = {PgCluster.ConfigQuote($"echo \"$WALSHIP_SMOKE_MARKER %f\" >> {outFile}")}
            """);
        await pg.StartAsync(new Dictionary<string, string> { ["WALSHIP_SMOKE_MARKER"] = "marker-42" });

        await pg.QueryAsync("create table t(x int); insert into t values (1)");
        var segment = await pg.SwitchWalAsync();
        await pg.WaitForAsync(
            () => Task.FromResult(File.Exists(outFile) && File.ReadAllText(outFile).Contains($"marker-42 {segment}")),
            TimeSpan.FromSeconds(20),
            $"archive_command to record {segment}");
    }
}
