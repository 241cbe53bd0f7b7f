using System.Text.Json;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>`walship check` against the two-account gateway and real clusters: a correct setup passes on both
/// sides, and every misconfiguration gets its own message.</summary>
public sealed class CheckCommandTests(CrossAccount accounts) : IClassFixture<CrossAccount>, IAsyncLifetime
{
    private static readonly TimeSpan CatchUp = TimeSpan.FromSeconds(90);
    private readonly string _prefix = "clusters/" + Guid.NewGuid().ToString("N")[..12];
    private TestTempDir _tmp = null!;

    public Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-check");
        PgUser.ChownToPostgres(_tmp.Path);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _tmp.DisposeAsync();

    private string Cache => Path.Combine(_tmp.Path, "cache");

    private async Task<(int ExitCode, JsonElement Report, string StdErr)> CheckAsync(Dictionary<string, string> env, params string[] args)
    {
        var result = await WalshipBinary.RunAsync(["check", "--json", .. args], env, _tmp.Path);
        JsonElement report;
        try
        {
            report = JsonDocument.Parse(result.StdOut).RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new Xunit.Sdk.XunitException($"check printed no JSON ({e.Message}); exit {result.ExitCode}\n{result.StdOut}\n{result.StdErr}");
        }
        return (result.ExitCode, report, result.StdErr);
    }

    private static (string Status, string Message) Find(JsonElement report, string name)
    {
        foreach (var check in report.GetProperty("checks").EnumerateArray())
            if (check.GetProperty("name").GetString() == name)
                return (check.GetProperty("status").GetString()!, check.GetProperty("message").GetString()!);
        throw new Xunit.Sdk.XunitException($"no check named {name} in {report}");
    }

    private async Task<PgCluster> StartArchivingPrimaryAsync()
    {
        var primary = await accounts.StartArchivingPrimaryAsync(_tmp.Path, _prefix);
        await primary.SwitchWalAndWaitArchivedAsync(CatchUp);
        return primary;
    }

    [Fact]
    public async Task ACorrectSetup_PassesOnBothSides_AndEveryMisconfigurationHasItsOwnMessage()
    {
        await using var primary = await StartArchivingPrimaryAsync();
        var messages = new List<string>();

        // The primary, with account A's keys: everything passes, the probe object is gone again.
        var ok = await CheckAsync(accounts.AccountA(_prefix), "--pgdata", primary.DataDir);
        Assert.True(ok.ExitCode == 0, ok.Report.ToString() + ok.StdErr);
        Assert.True(ok.Report.GetProperty("ok").GetBoolean());
        Assert.Equal("primary", ok.Report.GetProperty("side").GetString());
        foreach (string name in new[] { "identity", "list", "read", "write", "delete", "system-identifier", "archive_mode", "archive_command" })
            Assert.Equal("ok", Find(ok.Report, name).Status);
        Assert.Contains(CrossAccount.PrimaryUser.Arn, Find(ok.Report, "identity").Message);

        // Through a connection string instead of the files.
        var byConnection = await CheckAsync(accounts.AccountA(_prefix), "--connection", primary.ConnectionString);
        Assert.True(byConnection.ExitCode == 0, byConnection.Report.ToString());
        Assert.Equal("ok", Find(byConnection.Report, "archive_command").Status);
        Assert.Equal("ok", Find(byConnection.Report, "system-identifier").Status);

        // A writer without s3:DeleteObject: a warning that names the permission, not a failure.
        var noDelete = accounts.AccountA(_prefix);
        noDelete["AWS_ACCESS_KEY_ID"] = CrossAccount.NoDeleteUser.AccessKeyId;
        noDelete["AWS_SECRET_ACCESS_KEY"] = CrossAccount.NoDeleteUser.SecretAccessKey;
        var warned = await CheckAsync(noDelete, "--pgdata", primary.DataDir);
        Assert.Equal(0, warned.ExitCode);
        Assert.Equal("warn", Find(warned.Report, "delete").Status);
        Assert.Contains("s3:DeleteObject", Find(warned.Report, "delete").Message);
        messages.Add(Find(warned.Report, "delete").Message);

        // The standby side, with account B and the role: a base backup configured correctly passes.
        await using var standby = await PgCluster.BaseBackupAsync(primary, "standby");
        standby.AppendConfig($"restore_command = {PgCluster.ConfigQuote(WalshipBinary.Path + " fetch %f %p")}");
        standby.CreateSignalFile("standby.signal");
        var reader = accounts.AccountB(_prefix, Cache);
        int stsBefore = accounts.Gateway.StsCalls("AssumeRole");
        var standbyOk = await CheckAsync(reader, "--pgdata", standby.DataDir);
        Assert.True(standbyOk.ExitCode == 0, standbyOk.Report.ToString() + standbyOk.StdErr);
        Assert.Equal("standby", standbyOk.Report.GetProperty("side").GetString());
        Assert.Contains("assumed-role/walship-reader", Find(standbyOk.Report, "assume-role").Message);
        Assert.Equal(stsBefore + 1, accounts.Gateway.StsCalls("AssumeRole"));
        Assert.DoesNotContain(standbyOk.Report.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "write");

        // Wrong external id: auth failure, exit 4, and the id is never printed.
        var wrongId = await CheckAsync(accounts.AccountB(_prefix, Cache, externalId: "not-the-id"), "--pgdata", standby.DataDir);
        Assert.Equal(4, wrongId.ExitCode);
        Assert.Equal("fail", Find(wrongId.Report, "assume-role").Status);
        Assert.Contains("--external-id", Find(wrongId.Report, "assume-role").Message);
        Assert.DoesNotContain("not-the-id", wrongId.Report.ToString() + wrongId.StdErr);
        messages.Add(Find(wrongId.Report, "assume-role").Message);

        // Account B's keys without the role: it may not list the bucket.
        var noRole = accounts.AccountB(_prefix, Cache);
        noRole.Remove("WALSHIP_ROLE_ARN");
        noRole.Remove("WALSHIP_EXTERNAL_ID");
        var denied = await CheckAsync(noRole, "--pgdata", standby.DataDir);
        Assert.Equal(4, denied.ExitCode);
        Assert.Contains("s3:ListBucket", Find(denied.Report, "list").Message);
        messages.Add(Find(denied.Report, "list").Message);
        messages.Add(Find(denied.Report, "read").Message);

        // Standby settings: no restore_command, no standby.signal, a leftover recovery.conf.
        File.Delete(Path.Combine(standby.DataDir, "standby.signal"));
        File.WriteAllText(Path.Combine(standby.DataDir, "postgresql.auto.conf"), "restore_command = ''\n");
        File.WriteAllText(Path.Combine(standby.DataDir, "recovery.conf"), "standby_mode = on\n");
        PgUser.ChownToPostgres(standby.DataDir, recursive: true);
        var broken = await CheckAsync(reader, "--standby", "--pgdata", standby.DataDir);
        Assert.Equal(3, broken.ExitCode);
        foreach (string name in new[] { "signal", "restore_command", "recovery.conf" })
        {
            Assert.Equal("fail", Find(broken.Report, name).Status);
            messages.Add(Find(broken.Report, name).Message);
        }
        Assert.Contains("standby.signal", Find(broken.Report, "signal").Message);

        File.WriteAllText(Path.Combine(standby.DataDir, "postgresql.auto.conf"), "restore_command = 'walship fetch %p %f'\n");
        var swapped = await CheckAsync(reader, "--standby", "--pgdata", standby.DataDir);
        messages.Add(Find(swapped.Report, "restore_command").Message);
        Assert.Contains("fetch takes %f then %p", Find(swapped.Report, "restore_command").Message);

        // Primary settings: archiving off and a foreign archive_command, in the primary's auto.conf.
        File.WriteAllText(Path.Combine(primary.DataDir, "postgresql.auto.conf"), "archive_mode = off\narchive_command = 'cp %p /mnt/wal/%f'\n");
        var primaryBroken = await CheckAsync(accounts.AccountA(_prefix), "--pgdata", primary.DataDir);
        Assert.Equal(3, primaryBroken.ExitCode);
        messages.Add(Find(primaryBroken.Report, "archive_mode").Message);
        messages.Add(Find(primaryBroken.Report, "archive_command").Message);
        File.WriteAllText(Path.Combine(primary.DataDir, "postgresql.auto.conf"), "");

        // Another cluster's data directory against this repository.
        await using var other = await PgCluster.InitAsync("other", _tmp);
        other.CreateSignalFile("standby.signal");
        var wrongCluster = await CheckAsync(reader, "--pgdata", other.DataDir);
        Assert.Equal("fail", Find(wrongCluster.Report, "system-identifier").Status);
        messages.Add(Find(wrongCluster.Report, "system-identifier").Message);

        Assert.Equal(messages.Count, messages.Distinct().Count());
    }

    [Fact]
    public async Task TextOutput_SaysWhatIsWrongInPlainWords()
    {
        var env = accounts.AccountB(_prefix, Cache, externalId: "wrong-external-id");
        var result = await WalshipBinary.RunAsync(["check", "--standby"], env, _tmp.Path);
        Assert.Equal(4, result.ExitCode);
        Assert.Contains("FAIL  assume-role: cannot assume role " + CrossAccount.ReaderRole.Arn, result.StdOut);
        Assert.Contains("problem", result.StdOut);
        Assert.DoesNotContain("wrong-external-id", result.StdOut + result.StdErr);
    }
}
