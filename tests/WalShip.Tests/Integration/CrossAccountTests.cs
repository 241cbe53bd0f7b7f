using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// Two "AWS accounts" in front of one s3rver (<see cref="AuthGateway"/>): account A owns the bucket and
/// a primary archives into it with A's own keys; account B has keys of its own and nothing in A except a
/// role it may assume with an external id, which may read and list A's bucket.
/// </summary>
public sealed class CrossAccount : IAsyncLifetime
{
    public const string Bucket = "account-a-wal";
    public const string ExternalId = "ext-7f3a9c21";
    public const string WebIdentityToken = "eyJhbGciOiJSUzI1NiJ9.test-token.signature";

    public static readonly AwsUser PrimaryUser = new("111111111111", "primary", "AKIAPRIMARY000000001", "primary-secret-key",
        [new BucketGrant(Bucket, Read: true, List: true, Write: true, Delete: true)]);
    public static readonly AwsUser NoDeleteUser = new("111111111111", "writer", "AKIAWRITER0000000001", "writer-secret-key",
        [new BucketGrant(Bucket, Read: true, List: true, Write: true, Delete: false)]);
    public static readonly AwsUser StandbyUser = new("222222222222", "standby", "AKIASTANDBY000000001", "standby-secret-key", []);
    public static readonly AwsRole ReaderRole = new("111111111111", "walship-reader", ["222222222222"], ExternalId, [new BucketGrant(Bucket)]);
    public static readonly AwsRole WebIdentityRole = new("111111111111", "walship-irsa", [], null, [new BucketGrant(Bucket)], WebIdentityToken);

    public S3Server S3 { get; private set; } = null!;
    public AuthGateway Gateway { get; private set; } = null!;
    public TestTempDir Tmp { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Tmp = TestPaths.CreateTempDir("walship-xacct");
        S3 = await S3Server.StartAsync();
        await S3.CreateBucketAsync(Bucket);
        Gateway = AuthGateway.Start(S3.Endpoint, [PrimaryUser, NoDeleteUser, StandbyUser], [ReaderRole, WebIdentityRole]);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await S3.DisposeAsync();
        await Tmp.DisposeAsync();
    }

    private Dictionary<string, string> Common(string prefix) => new()
    {
        ["WALSHIP_REPO"] = $"s3://{Bucket}/{prefix}",
        ["WALSHIP_ENDPOINT"] = Gateway.S3Endpoint,
        ["WALSHIP_PATH_STYLE"] = "true",
        ["WALSHIP_STS_ENDPOINT"] = Gateway.StsEndpoint,
        ["AWS_REGION"] = AuthGateway.Region,
    };

    /// <summary>Account A's own keys: what the primary uses.</summary>
    public Dictionary<string, string> AccountA(string prefix)
    {
        var env = Common(prefix);
        env["AWS_ACCESS_KEY_ID"] = PrimaryUser.AccessKeyId;
        env["AWS_SECRET_ACCESS_KEY"] = PrimaryUser.SecretAccessKey;
        return env;
    }

    /// <summary>A primary in account A, archiving with walship into the bucket under <paramref name="prefix"/>.</summary>
    public async Task<PgCluster> StartArchivingPrimaryAsync(string parentDirectory, string prefix)
    {
        var primary = await PgCluster.InitAsync("primary", parentDirectory);
        primary.AppendConfig($"""
            archive_mode = on
            archive_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " push %p %f")}
            wal_level = replica
            """);
        await primary.StartAsync(AccountA(prefix));
        return primary;
    }

    /// <summary>Account B's keys and the role in A: what the standby uses. The cache directory must not exist
    /// yet or belong to postgres, which runs walship.</summary>
    public Dictionary<string, string> AccountB(string prefix, string cacheDirectory, string externalId = ExternalId)
    {
        var env = Common(prefix);
        env["AWS_ACCESS_KEY_ID"] = StandbyUser.AccessKeyId;
        env["AWS_SECRET_ACCESS_KEY"] = StandbyUser.SecretAccessKey;
        env["WALSHIP_ROLE_ARN"] = ReaderRole.Arn;
        env["WALSHIP_EXTERNAL_ID"] = externalId;
        env["WALSHIP_STS_ENDPOINT"] = Gateway.StsEndpoint;
        env["WALSHIP_CREDENTIAL_CACHE"] = cacheDirectory;
        return env;
    }
}

public sealed class CrossAccountTests(CrossAccount accounts) : IClassFixture<CrossAccount>, IAsyncLifetime
{
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(90);
    private TestTempDir _tmp = null!;
    // Every test's primary is a new cluster, so each gets its own repository prefix.
    private readonly string _prefix = "clusters/" + Guid.NewGuid().ToString("N")[..12];

    private Dictionary<string, string> AccountA() => accounts.AccountA(_prefix);

    private Dictionary<string, string> AccountB(string cacheDirectory, string externalId = CrossAccount.ExternalId) =>
        accounts.AccountB(_prefix, cacheDirectory, externalId);

    public Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-xacct-test");
        PgUser.ChownToPostgres(_tmp.Path);
        accounts.Gateway.IssuedLifetime = null;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _tmp.DisposeAsync();

    private Task<PgCluster> StartPrimaryAsync() => accounts.StartArchivingPrimaryAsync(_tmp, _prefix);

    private static Task<string> SwitchAndWaitArchivedAsync(PgCluster cluster) => cluster.SwitchWalAndWaitArchivedAsync(CatchUp);

    /// <summary>A primary in account A that has archived some segments; returns their names.</summary>
    private async Task<(PgCluster Primary, List<string> Segments)> ArchiveSomeAsync(int count)
    {
        var primary = await StartPrimaryAsync();
        var segments = new List<string>();
        for (int i = 0; i < count; i++)
        {
            await primary.QueryAsync($"create table t{i} as select generate_series(1, 2000) x");
            segments.Add(await SwitchAndWaitArchivedAsync(primary));
        }
        return (primary, segments);
    }

    private string CacheDir => Path.Combine(_tmp.Path, "cache");

    private async Task<ProcessResult> FetchAsync(string segment, Dictionary<string, string> env)
    {
        string data = _tmp.CreateDataDirectory("fetch-" + Guid.NewGuid().ToString("N")[..8], signal: "recovery.signal");
        var result = await WalshipBinary.RunAsync(["fetch", segment, "pg_wal/RECOVERYXLOG"], env, data);
        if (result.ExitCode == 0)
            Assert.True(File.Exists(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));
        return result;
    }

    [Fact]
    public async Task AWrongExternalId_IsRefusedAsAnAuthError_WithoutShowingTheId()
    {
        var (primary, segments) = await ArchiveSomeAsync(1);
        await using var _ = primary;
        int before = accounts.Gateway.StsCalls("AssumeRole");
        int forwarded = accounts.Gateway.S3Forwarded;

        var result = await FetchAsync(segments[0], AccountB(CacheDir, externalId: "guessed-wrong-id"));

        Assert.Equal(200, result.ExitCode);
        Assert.Contains("cannot assume role " + CrossAccount.ReaderRole.Arn, result.StdErr);
        Assert.Contains("AccessDenied", result.StdErr);
        Assert.Contains("--external-id", result.StdErr);
        Assert.Contains("[auth, exit 200]", result.StdErr);
        Assert.DoesNotContain("guessed-wrong-id", result.StdErr);
        Assert.DoesNotContain(CrossAccount.StandbyUser.SecretAccessKey, result.StdErr);
        Assert.True(accounts.Gateway.StsCalls("AssumeRole") > before);
        Assert.Equal(forwarded, accounts.Gateway.S3Forwarded); // no role, no S3 request
        Assert.Empty(Directory.Exists(CacheDir) ? Directory.GetFiles(CacheDir) : []);

        // Account B's own keys, without the role, are refused by the bucket.
        var env = AccountB(CacheDir);
        env.Remove("WALSHIP_ROLE_ARN");
        env.Remove("WALSHIP_EXTERNAL_ID");
        var direct = await FetchAsync(segments[0], env);
        Assert.Equal(200, direct.ExitCode);
        Assert.Contains("AccessDenied", direct.StdErr);

        // The gateway verifies signatures: account A's key id with a wrong secret is refused.
        var forged = AccountA();
        forged["AWS_SECRET_ACCESS_KEY"] = "not-the-secret";
        var wrongSecret = await FetchAsync(segments[0], forged);
        Assert.Equal(200, wrongSecret.ExitCode);
        Assert.Contains("SignatureDoesNotMatch", wrongSecret.StdErr);
    }

    [Fact]
    public async Task CachedCredentials_MeanNoStsCallOnTheNextFetch_AndTheCacheFileIsPrivate()
    {
        var (primary, segments) = await ArchiveSomeAsync(2);
        await using var _ = primary;
        var env = AccountB(CacheDir);
        int before = accounts.Gateway.StsCalls("AssumeRole");

        var first = await FetchAsync(segments[0], env);
        Assert.True(first.ExitCode == 0, first.StdErr);
        Assert.Equal(before + 1, accounts.Gateway.StsCalls("AssumeRole"));
        Assert.Contains("assumed role " + CrossAccount.ReaderRole.Arn, first.StdErr);

        var second = await FetchAsync(segments[1], env);
        Assert.True(second.ExitCode == 0, second.StdErr);
        var third = await FetchAsync(segments[0], env);
        Assert.True(third.ExitCode == 0, third.StdErr);
        Assert.Equal(before + 1, accounts.Gateway.StsCalls("AssumeRole"));
        Assert.DoesNotContain("assumed role", second.StdErr);

        string file = Assert.Single(Directory.GetFiles(CacheDir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(CacheDir));
        Assert.DoesNotContain(CrossAccount.ExternalId, File.ReadAllText(file));
        Assert.DoesNotContain(CrossAccount.ExternalId, first.StdErr + second.StdErr);
    }

    [Fact]
    public async Task ACacheFileWithWrongPermissionsOrContent_IsIgnoredWithAWarning_AndReplaced()
    {
        var (primary, segments) = await ArchiveSomeAsync(1);
        await using var _ = primary;
        var env = AccountB(CacheDir);
        Assert.Equal(0, (await FetchAsync(segments[0], env)).ExitCode);
        string file = Assert.Single(Directory.GetFiles(CacheDir));

        // Readable by others: not trusted, STS is asked, and the file is replaced by a private one.
        int before = accounts.Gateway.StsCalls("AssumeRole");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var widened = await FetchAsync(segments[0], env);
        Assert.True(widened.ExitCode == 0, widened.StdErr);
        Assert.Contains("ignoring the credential cache file", widened.StdErr);
        Assert.Contains("group or others may read it", widened.StdErr);
        Assert.Equal(before + 1, accounts.Gateway.StsCalls("AssumeRole"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));

        // Garbage.
        File.WriteAllText(file, "{ this is not a credential file");
        var garbage = await FetchAsync(segments[0], env);
        Assert.True(garbage.ExitCode == 0, garbage.StdErr);
        Assert.Contains("not a valid credential file", garbage.StdErr);
        Assert.Equal(before + 2, accounts.Gateway.StsCalls("AssumeRole"));

        // Owned by someone else (root), readable but not by its owner's choice: the owner is checked first.
        string planted = File.ReadAllText(file);
        File.Delete(file);
        File.WriteAllText(file, planted);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var foreign = await FetchAsync(segments[0], env);
        Assert.Contains("not by this user", foreign.StdErr);
        Assert.Equal(before + 3, accounts.Gateway.StsCalls("AssumeRole"));
    }

    [Fact]
    public async Task CredentialsThatExpireMidRun_AreRenewed_AndAnExpiredTokenIsRetriedWithNewOnes()
    {
        var (primary, segments) = await ArchiveSomeAsync(1);
        await using var _ = primary;
        var env = AccountB(CacheDir);
        accounts.Gateway.IssuedLifetime = TimeSpan.FromSeconds(8);
        int before = accounts.Gateway.StsCalls("AssumeRole");

        // Fetches spanning two lifetimes: new credentials once the old ones enter their last quarter.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(14))
        {
            var result = await FetchAsync(segments[0], env);
            Assert.True(result.ExitCode == 0, result.StdErr);
            await Task.Delay(500);
        }
        int calls = accounts.Gateway.StsCalls("AssumeRole") - before;
        Assert.InRange(calls, 2, 3);
        Assert.Equal(0, accounts.Gateway.S3Errors("ExpiredToken"));

        // Sessions that S3 suddenly calls expired (revoked, or a clock ahead of ours) while the cache still
        // trusts them: the fetch drops them, assumes the role again and succeeds within its deadline.
        accounts.Gateway.IssuedLifetime = TimeSpan.FromMinutes(10);
        Assert.Equal(0, (await FetchAsync(segments[0], env)).ExitCode);
        accounts.Gateway.ExpireAllSessions();
        int beforeRenewal = accounts.Gateway.StsCalls("AssumeRole");
        var renewed = await FetchAsync(segments[0], env);
        Assert.True(renewed.ExitCode == 0, renewed.StdErr);
        Assert.Contains("assuming the role again", renewed.StdErr);
        Assert.Equal(beforeRenewal + 1, accounts.Gateway.StsCalls("AssumeRole"));
        Assert.True(accounts.Gateway.S3Errors("ExpiredToken") >= 1);
        var after = await FetchAsync(segments[0], env);
        Assert.True(after.ExitCode == 0, after.StdErr);
        Assert.Equal(beforeRenewal + 1, accounts.Gateway.StsCalls("AssumeRole"));
    }

    [Fact]
    public async Task WebIdentity_FromTheDefaultChain_WorksInTheNativeBinary()
    {
        var (primary, segments) = await ArchiveSomeAsync(1);
        await using var _ = primary;
        string tokenFile = Path.Combine(_tmp.Path, "web-identity-token");
        File.WriteAllText(tokenFile, CrossAccount.WebIdentityToken);
        PgUser.ChownToPostgres(tokenFile);
        var env = AccountA();
        env.Remove("AWS_ACCESS_KEY_ID");
        env.Remove("AWS_SECRET_ACCESS_KEY");
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile;
        env["AWS_ROLE_ARN"] = CrossAccount.WebIdentityRole.Arn;
        env["AWS_ROLE_SESSION_NAME"] = "walship-irsa-test";
        env["WALSHIP_STS_ENDPOINT"] = accounts.Gateway.StsEndpoint;
        env["WALSHIP_DEADLINE"] = "20s";
        int before = accounts.Gateway.StsCalls("AssumeRoleWithWebIdentity");

        var result = await FetchAsync(segments[0], env);

        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.True(accounts.Gateway.StsCalls("AssumeRoleWithWebIdentity") > before);
    }

    [Fact]
    public async Task AStandbyInAccountB_ReplaysWalArchivedInAccountA_CallingStsOncePerCredentialLifetime()
    {
        await using var primary = await StartPrimaryAsync();
        await primary.PgBenchInitAsync(scale: 1);
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        standby.AppendConfig($"""
            restore_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " fetch %f %p")}
            wal_retrieve_retry_interval = '200ms'
            """);
        standby.CreateSignalFile("standby.signal");
        accounts.Gateway.IssuedLifetime = TimeSpan.FromSeconds(20);
        int before = accounts.Gateway.StsCalls("AssumeRole");
        int deniedBefore = accounts.Gateway.S3Errors("AccessDenied");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await standby.StartAsync(AccountB(Path.Combine(_tmp.Path, "standby-cache")));

        // Keep the primary writing and switching segments for longer than one credential lifetime.
        string expected = "";
        for (int round = 0; clock.Elapsed < TimeSpan.FromSeconds(30) || round < 4; round++)
        {
            await primary.PgBenchRunAsync(transactions: 100, clients: 2);
            await primary.QueryAsync($"create table if not exists marker(n int); insert into marker values ({round})");
            expected = await primary.QueryAsync("select count(*) from marker");
            await SwitchAndWaitArchivedAsync(primary);
        }
        await standby.WaitForAsync(async () => await standby.QueryAsync("select count(*) from marker") == expected, CatchUp,
            "the standby to replay the primary's WAL through account B's role");
        var elapsed = clock.Elapsed;

        Assert.Equal(await primary.QueryAsync("select sum(abalance) from pgbench_accounts"),
            await standby.QueryAsync("select sum(abalance) from pgbench_accounts"));
        Assert.Equal("t", await standby.QueryAsync("select pg_is_in_recovery()"));
        string log = standby.ReadLog();
        int restored = log.Split("restored log file").Length - 1;
        int stsCalls = accounts.Gateway.StsCalls("AssumeRole") - before;
        // Credentials are renewed in the last quarter of their 20 s: at most one call per 15 s, plus the first.
        int allowed = (int)Math.Ceiling(elapsed.TotalSeconds / 15) + 1;
        Assert.True(restored >= 4, $"only {restored} files restored:\n{log}");
        Assert.True(stsCalls >= 1 && stsCalls <= allowed,
            $"{stsCalls} AssumeRole calls for {restored} restored files in {elapsed.TotalSeconds:0} s (allowed {allowed})");
        Assert.Equal(0, accounts.Gateway.S3Errors("ExpiredToken"));
        Assert.Equal(deniedBefore, accounts.Gateway.S3Errors("AccessDenied"));
    }
}
