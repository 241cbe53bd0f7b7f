using System.Diagnostics;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>Regressions found in review: ways the process itself could break PostgreSQL's contract.</summary>
public sealed class ContractRegressionTests : IAsyncLifetime
{
    private const string Segment = "000000010000000000000004";
    private TestTempDir _tmp = null!;
    private FileRepositoryBackend _repo = null!;

    public Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-contract");
        _repo = new FileRepositoryBackend();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _repo.DisposeAsync();
        await _tmp.DisposeAsync();
    }

    private string DataDir(string name, string? signal = null) =>
        _tmp.CreateDataDirectory(name, signal, Segment, SyntheticWal.Segment(Segment, SyntheticWal.OneMiB));

    [Theory]
    [InlineData("--config", "/nonexistent/walship.conf")]
    [InlineData("--deadline", "5x")]
    [InlineData("--repo", "ftp://nowhere")]
    public async Task AFetchUsageError_IsNeverExit1_WhereverTheOptionStands(string option, string value)
    {
        string data = DataDir("usage", signal: "recovery.signal");
        var env = new Dictionary<string, string>(_repo.Environment);
        var before = await WalshipBinary.RunAsync([option, value, "fetch", Segment, "pg_wal/RECOVERYXLOG"], env, data);
        Assert.True(before.ExitCode == 200, before.StdErr);
        var after = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG", option, value], env, data);
        Assert.True(after.ExitCode == 200, after.StdErr);
    }

    [Fact]
    public async Task ADataDirectoryReachedThroughASymlink_IsAccepted()
    {
        string data = DataDir("real");
        string link = Path.Combine(_tmp.Path, "linked");
        File.CreateSymbolicLink(link, data);
        var env = new Dictionary<string, string>(_repo.Environment);
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--pgdata", link], env, data);
        Assert.True(push.ExitCode == 0, push.StdErr);
    }

    [Fact]
    public async Task AConfigFileThatBlocks_CannotHoldTheCallPastItsDeadline()
    {
        string data = DataDir("fifo");
        string fifo = Path.Combine(_tmp.Path, "walship.conf");
        (await ProcessRunner.RunAsync("mkfifo", [fifo], null, null, TimeSpan.FromSeconds(10))).EnsureSuccess("mkfifo");
        File.SetUnixFileMode(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(fifo);
        var env = new Dictionary<string, string>(_repo.Environment) { ["WALSHIP_DEADLINE"] = "2s" };

        var clock = Stopwatch.StartNew();
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--config", fifo], env, data, TimeSpan.FromSeconds(60));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Equal(5, push.ExitCode); // an ordinary failure code, never death by a signal
    }
}
