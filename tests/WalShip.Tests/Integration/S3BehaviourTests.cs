using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>S3-specific behaviour of the native binary: multipart uploads, deadlines against a server
/// that never answers, and configuration errors that must not look like "absent".</summary>
public sealed class S3BehaviourTests : IAsyncLifetime
{
    private const string Segment = "000000010000000000000005";
    private S3RepositoryBackend _repo = null!;
    private TestTempDir _tmp = null!;

    public async Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-s3");
        _repo = await S3RepositoryBackend.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _repo.DisposeAsync();
        await _tmp.DisposeAsync();
    }

    private string DataDirWith(string name, byte[]? segment = null) => _tmp.CreateDataDirectory(name, null, Segment, segment);

    private Dictionary<string, string> Env(params (string Key, string Value)[] extra) => _repo.EnvironmentWith(extra);

    [Fact]
    public async Task ALargeObject_GoesUpInParallelParts_AndComesBackIdentical()
    {
        // Half-random page bodies compress to about 8 MiB: with 5 MiB parts, a two-part upload.
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDirWith("multipart", segment);

        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--part-size", "5MiB", "--log-level", "debug"], Env(), data);
        Assert.True(push.ExitCode == 0, push.StdErr);
        Assert.Contains("multipart upload", push.StdErr);
        Assert.Contains("2 parts", push.StdErr);
        byte[] stored = _repo.ReadObject(RepositoryBackend.SegmentKey(Segment))!;
        Assert.True(stored.Length > 5 << 20, $"stored object is only {stored.Length} bytes");

        var fetch = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG"], Env(), data);
        Assert.True(fetch.ExitCode == 0, fetch.StdErr);
        Assert.Equal(segment, File.ReadAllBytes(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));

        var again = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--part-size", "5MiB"], Env(), data);
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Contains("identical", again.StdErr);
    }

    [Fact]
    public async Task AServerThatNeverAnswers_CannotHoldACallBeyondItsDeadline()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<TcpClient>();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                    held.Add(await silent.AcceptTcpClientAsync());
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        });
        string endpoint = $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}";
        string data = DataDirWith("deadline", SyntheticWal.Segment(Segment, SyntheticWal.OneMiB));
        File.WriteAllText(Path.Combine(data, "recovery.signal"), "");

        var clock = Stopwatch.StartNew();
        var fetch = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG", "--deadline", "2s"],
            Env(("WALSHIP_ENDPOINT", endpoint)), data, TimeSpan.FromSeconds(30));
        var fetchTime = clock.Elapsed;
        Assert.Equal(200, fetch.ExitCode);
        Assert.True(fetchTime < TimeSpan.FromSeconds(9), $"fetch took {fetchTime}");
        Assert.False(File.Exists(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));

        clock.Restart();
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--deadline", "2s"],
            Env(("WALSHIP_ENDPOINT", endpoint)), data, TimeSpan.FromSeconds(30));
        var pushTime = clock.Elapsed;
        Assert.Equal(5, push.ExitCode);
        Assert.True(pushTime < TimeSpan.FromSeconds(9), $"push took {pushTime}");
        Assert.Contains("deadline", push.StdErr);

        silent.Stop();
        foreach (var client in held)
            client.Dispose();
        await accepting;
    }

    [Fact]
    public async Task AMissingBucket_IsAConfigurationError_NeverAbsent()
    {
        string data = DataDirWith("nobucket", SyntheticWal.Segment(Segment, SyntheticWal.OneMiB));
        var env = Env(("WALSHIP_REPO", "s3://no-such-bucket/prefix"));

        var fetch = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG"], env, data);
        Assert.Equal(200, fetch.ExitCode);
        Assert.Contains("bucket does not exist", fetch.StdErr);

        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment], env, data);
        Assert.Equal(3, push.ExitCode);
        Assert.Contains("bucket does not exist", push.StdErr);
    }
}
