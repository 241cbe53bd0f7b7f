using System.Text.Json;
using WalShip.Commands;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// prune with the native binary when S3 refuses deletes: account A's writer key, which may not delete,
/// through the SigV4-checking gateway. S3 answers DeleteObjects with 200 and an AccessDenied per key, so
/// the refusal can only be seen in the response body. Nothing may be reported deleted that is not, and a
/// backup that cannot be deleted must stop the prune before any of its WAL goes.
/// </summary>
public sealed class PruneDeniedDeleteTests(CrossAccount accounts) : IClassFixture<CrossAccount>, IAsyncLifetime
{
    private readonly string _prefix = "clusters/" + Guid.NewGuid().ToString("N")[..12];
    private TestTempDir _tmp = null!;
    private Repository _repository = null!;
    private SyntheticArchive _archive = null!;

    public async Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-prune-denied");
        _repository = S3RepositoryBackend.OpenS3Repository($"s3://{CrossAccount.Bucket}/{_prefix}", accounts.Gateway.S3Endpoint,
            AuthGateway.Region, CrossAccount.PrimaryUser.AccessKeyId, CrossAccount.PrimaryUser.SecretAccessKey);
        _archive = new SyntheticArchive(_repository);
        await _archive.BindAsync();
    }

    public async Task DisposeAsync()
    {
        _repository.Dispose();
        await _tmp.DisposeAsync();
    }

    private static string Seg(ulong number) => SyntheticArchive.Segment(1, number);

    private Dictionary<string, string> Writer()
    {
        var env = accounts.AccountA(_prefix);
        env["AWS_ACCESS_KEY_ID"] = CrossAccount.NoDeleteUser.AccessKeyId;
        env["AWS_SECRET_ACCESS_KEY"] = CrossAccount.NoDeleteUser.SecretAccessKey;
        return env;
    }

    private async Task<(int ExitCode, JsonElement Report, string StdErr)> PruneAsync(Dictionary<string, string> env, params string[] args)
    {
        var result = await WalshipBinary.RunAsync(["prune", "--json", "--allow-current-timeline", .. args], env, _tmp.Path);
        try
        {
            return (result.ExitCode, JsonDocument.Parse(result.StdOut).RootElement.Clone(), result.StdErr);
        }
        catch (JsonException e)
        {
            throw new Xunit.Sdk.XunitException($"prune printed no JSON ({e.Message}); exit {result.ExitCode}\n{result.StdOut}\n{result.StdErr}");
        }
    }

    [Fact]
    public async Task DeniedWalDeletes_ExitPartial_ReportEveryKey_DeleteNothing_AndARunWithRightsFinishes()
    {
        await _archive.AddSegmentsAsync(1, 1, 6);
        var before = await _archive.AllKeysAsync();
        string[] selected = [Seg(1), Seg(2), Seg(3), Seg(4)];

        var denied = await PruneAsync(Writer(), "--before", Seg(5), "--confirm");
        Assert.True(denied.ExitCode == ExitCodes.PartialFailure, $"exit {denied.ExitCode}\n{denied.StdErr}");
        Assert.Equal(0, denied.Report.GetProperty("deleted_objects").GetInt32());
        var failures = denied.Report.GetProperty("failures").EnumerateArray()
            .Select(f => (Key: f.GetProperty("key").GetString()!, Code: f.GetProperty("code").GetString()!)).ToList();
        Assert.Equal(selected.Select(s => (_archive.KeyOf(s), "AccessDenied")), failures);
        Assert.Equal(selected.Length, denied.StdErr.Split('\n').Count(l => l.StartsWith("walship: error: could not delete", StringComparison.Ordinal)));
        Assert.Equal(before, await _archive.AllKeysAsync());

        var done = await PruneAsync(accounts.AccountA(_prefix), "--before", Seg(5), "--confirm");
        Assert.True(done.ExitCode == 0, done.StdErr);
        Assert.Equal(selected.Length, done.Report.GetProperty("deleted_objects").GetInt32());
        Assert.Empty(done.Report.GetProperty("failures").EnumerateArray());
        Assert.Equal(before.Except(selected.Select(_archive.KeyOf)).ToList(), await _archive.AllKeysAsync());
    }

    [Fact]
    public async Task ABackupThatCannotBeDeleted_StopsThePruneBeforeAnyOfItsWalGoes()
    {
        await _archive.AddSegmentsAsync(1, 1, 6);
        ulong segment = SyntheticArchive.SegmentSize;
        await _archive.AddWalshipBackupAsync("base_old", 1, 1 * segment + 0x28, 2 * segment + 0x100);
        await _archive.AddWalshipBackupAsync("base_new", 1, 4 * segment + 0x28, 5 * segment + 0x100);
        var before = await _archive.AllKeysAsync();

        var denied = await PruneAsync(Writer(), "--retain", "1", "--confirm");
        Assert.True(denied.ExitCode == ExitCodes.PartialFailure, $"exit {denied.ExitCode}\n{denied.StdErr}");
        Assert.Equal(["base_old"], denied.Report.GetProperty("selected_backups").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal(0, denied.Report.GetProperty("deleted_backups").GetInt32());
        Assert.Equal(0, denied.Report.GetProperty("deleted_objects").GetInt32());
        Assert.Contains("could not delete backup base_old", denied.StdErr);
        Assert.Contains("no WAL was deleted", denied.StdErr);
        Assert.Equal(before, await _archive.AllKeysAsync());

        var done = await PruneAsync(accounts.AccountA(_prefix), "--retain", "1", "--confirm");
        Assert.True(done.ExitCode == 0, done.StdErr);
        Assert.Equal(1, done.Report.GetProperty("deleted_backups").GetInt32());
        var left = await _archive.AllKeysAsync();
        Assert.DoesNotContain(_repository.Layout.BackupManifestKey("base_old"), left);
        Assert.Contains(_repository.Layout.BackupManifestKey("base_new"), left);
        Assert.DoesNotContain(_archive.KeyOf(Seg(1)), left);
        Assert.Contains(_archive.KeyOf(Seg(4)), left);
    }
}
