using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;
using Xunit.Abstractions;

namespace WalShip.Tests.Integration;

/// <summary>
/// One file repository holding one archived 1 MiB segment, shared by the robustness tests: a bad call
/// that were wrongly accepted would find something to fetch, and any change to the repository shows.
/// </summary>
public sealed class RobustnessFixture : IAsyncLifetime
{
    public const string Segment = "000000010000000000000001";

    public FileRepositoryBackend Repo { get; private set; } = null!;
    public TestTempDir Tmp { get; private set; } = null!;
    public byte[] SegmentBytes { get; } = SyntheticWal.Segment(Segment, SyntheticWal.OneMiB, validPages: 60);

    public string RepoPath => Repo.Url["file://".Length..];

    public async Task InitializeAsync()
    {
        Tmp = TestPaths.CreateTempDir("walship-robust");
        Repo = new FileRepositoryBackend();
        string data = Tmp.CreateSubdirectory("seed");
        Directory.CreateDirectory(Path.Combine(data, "pg_wal"));
        File.WriteAllBytes(Path.Combine(data, "pg_wal", Segment), SegmentBytes);
        PgUser.ChownToPostgres(data, recursive: true);
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment], new Dictionary<string, string>(Repo.Environment), data);
        Assert.True(push.ExitCode == 0, push.ToString());
    }

    public async Task DisposeAsync()
    {
        await Repo.DisposeAsync();
        await Tmp.DisposeAsync();
    }
}

/// <summary>
/// The native binary against hostile or broken input, signals, and local failures. Each failure must be
/// one "walship: error:" line, a documented exit code (push: small; fetch: 200 or 1), and no side effect.
/// </summary>
public sealed class RobustnessTests(RobustnessFixture fixture, ITestOutputHelper output) : IClassFixture<RobustnessFixture>
{
    private const string Seg = RobustnessFixture.Segment;
    private const string Seg2 = "000000010000000000000002";
    private const string Seg3 = "000000010000000000000003";
    private const string Seg4 = "000000010000000000000004";
    private const string Seg5 = "000000010000000000000005";

    // ---------------------------------------------------------------- helpers

    private string NewDataDir(string name, string? signal = null) =>
        fixture.Tmp.CreateDataDirectory($"{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 9, 60)], signal, Seg, fixture.SegmentBytes);

    private Dictionary<string, string> FileEnv(params (string Key, string Value)[] extra) => fixture.Repo.EnvironmentWith(extra);

    /// <summary>Every file under the directories: relative path → SHA-256 (directories as "dir").</summary>
    private static Dictionary<string, string> Snapshot(params string[] roots)
    {
        var files = new Dictionary<string, string>();
        foreach (string root in roots)
        {
            foreach (string entry in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
            {
                files[entry] = Directory.Exists(entry)
                    ? "dir"
                    : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry)));
            }
        }
        return files;
    }

    private static void AssertSameFiles(Dictionary<string, string> before, Dictionary<string, string> after, string context)
    {
        var added = after.Keys.Except(before.Keys).ToList();
        var removed = before.Keys.Except(after.Keys).ToList();
        var changed = before.Keys.Intersect(after.Keys).Where(k => before[k] != after[k]).ToList();
        Assert.True(added.Count == 0 && removed.Count == 0 && changed.Count == 0,
            $"{context}: files changed. added [{string.Join(", ", added)}] removed [{string.Join(", ", removed)}] changed [{string.Join(", ", changed)}]");
    }

    private static void AssertOneErrorLine(ProcessResult result)
    {
        string[] lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected exactly one stderr line, got {lines.Length}: {result}");
        Assert.True(lines[0].StartsWith("walship: error:", StringComparison.Ordinal), $"stderr line does not start with 'walship: error:': {result}");
        Assert.True(result.StdErr.EndsWith('\n'), $"stderr line is not terminated: {result}");
        Assert.True(result.StdOut.Length == 0, $"stdout is not empty: {result}");
    }

    private static IEnumerable<string> TempFiles(string data) =>
        Directory.EnumerateFiles(data, "*.walship-tmp", SearchOption.AllDirectories);

    // ---------------------------------------------------------------- a. bad input

    /// <summary>A bad-input case: the arguments (given the data dir and a scratch dir), optional setup, and the exit code.</summary>
    private sealed record BadInput(Func<string, string, string[]> Args, int ExitCode, Action<string, string>? Setup = null);

    private static string Config(string scratch, string text)
    {
        string path = Path.Combine(scratch, "walship.conf");
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(path);
        return path;
    }

    private static readonly Dictionary<string, BadInput> s_badInputs = new()
    {
        ["push with 0 arguments"] = new((_, _) => ["push"], 2),
        ["push with 1 argument"] = new((_, _) => ["push", $"pg_wal/{Seg}"], 2),
        ["push with 3 arguments"] = new((_, _) => ["push", $"pg_wal/{Seg}", Seg, Seg], 2),
        ["fetch with 0 arguments"] = new((_, _) => ["fetch"], 200),
        ["fetch with 1 argument"] = new((_, _) => ["fetch", Seg], 200),
        ["fetch with 3 arguments"] = new((_, _) => ["fetch", Seg, "pg_wal/RECOVERYXLOG", "extra"], 200),

        ["push of an invalid WAL name"] = new((_, _) => ["push", "pg_wal/00000001000000000000000a", "00000001000000000000000a"], 2,
            (data, _) => File.Copy(Path.Combine(data, "pg_wal", Seg), Path.Combine(data, "pg_wal", "00000001000000000000000a"))),
        ["fetch of an invalid WAL name"] = new((_, _) => ["fetch", "RECOVERYXLOG", "pg_wal/RECOVERYXLOG"], 200),
        ["push with ../ in %f"] = new((_, _) => ["push", $"pg_wal/{Seg}", $"../{Seg}"], 2),
        ["push with pg_wal/ in %f"] = new((_, _) => ["push", $"pg_wal/{Seg}", $"pg_wal/{Seg}"], 2),
        ["fetch with ../ in %f"] = new((_, _) => ["fetch", $"../{Seg}", "pg_wal/RECOVERYXLOG"], 200),
        ["fetch with pg_wal/ in %f"] = new((_, _) => ["fetch", $"pg_wal/{Seg}", "pg_wal/RECOVERYXLOG"], 200),

        ["push of /etc/passwd"] = new((_, _) => ["push", "/etc/passwd", Seg], 2),
        ["push of base/1/1259"] = new((_, _) => ["push", "base/1/1259", Seg], 2, (data, _) => MakeRelation(data)),
        ["push of pg_wal/../base/1/1259"] = new((_, _) => ["push", "pg_wal/../base/1/1259", Seg], 2, (data, _) => MakeRelation(data)),
        ["fetch into /etc/passwd"] = new((_, _) => ["fetch", Seg, "/etc/passwd"], 200),
        ["fetch into base/1/1259"] = new((_, _) => ["fetch", Seg, "base/1/1259"], 200, (data, _) => MakeRelation(data)),
        ["fetch into pg_wal/../base/1/1259"] = new((_, _) => ["fetch", Seg, "pg_wal/../base/1/1259"], 200, (data, _) => MakeRelation(data)),
        ["fetch into a directory"] = new((_, _) => ["fetch", Seg, "pg_wal/"], 200),
        ["push where %p names another file than %f"] = new((_, _) => ["push", $"pg_wal/{Seg2}", Seg], 2,
            (data, _) => File.Copy(Path.Combine(data, "pg_wal", Seg), Path.Combine(data, "pg_wal", Seg2))),
        ["push where %f names another file than %p"] = new((_, _) => ["push", $"pg_wal/{Seg}", Seg2], 2),

        ["push of a truncated segment"] = new((_, _) => ["push", $"pg_wal/{Seg3}", Seg3], 7,
            (data, _) => File.WriteAllBytes(Path.Combine(data, "pg_wal", Seg3),
                SyntheticWal.Segment(Seg3, SyntheticWal.OneMiB)[..(int)(SyntheticWal.OneMiB / 2)])),
        ["push of random bytes with a WAL name"] = new((_, _) => ["push", $"pg_wal/{Seg4}", Seg4], 7,
            (data, _) => File.WriteAllBytes(Path.Combine(data, "pg_wal", Seg4), RandomBytes((int)SyntheticWal.OneMiB, 4))),
        ["push of a text file with a WAL name"] = new((_, _) => ["push", $"pg_wal/{Seg5}", Seg5], 7,
            (data, _) => File.WriteAllText(Path.Combine(data, "pg_wal", Seg5), string.Concat(Enumerable.Repeat("this is not WAL\n", 4096)))),
        ["push of an empty file with a WAL name"] = new((_, _) => ["push", $"pg_wal/{Seg5}", Seg5], 7,
            (data, _) => File.WriteAllBytes(Path.Combine(data, "pg_wal", Seg5), [])),

        ["push with a config line without '='"] = new((_, s) => ["--config", Config(s, "repo file:///nowhere\n"), "push", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with a config line without '='"] = new((_, s) => ["--config", Config(s, "repo file:///nowhere\n"), "fetch", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push with an unknown config key"] = new((_, s) => ["--config", Config(s, "# comment\nreop = file:///nowhere\n"), "push", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with an unknown config key"] = new((_, s) => ["--config", Config(s, "# comment\nreop = file:///nowhere\n"), "fetch", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push with a config file that does not exist"] = new((_, s) => ["--config", Path.Combine(s, "missing.conf"), "push", $"pg_wal/{Seg}", Seg], 2),
        ["push with an empty --config="] = new((_, _) => ["--config=", "push", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with an empty --config="] = new((_, _) => ["--config=", "fetch", Seg, "pg_wal/RECOVERYXLOG"], 200),

        // restore_command = 'walship --config /etc/walship.conf fetch %f %p' is the README's own form: an option
        // before the command must not turn a fatal fetch failure into a small "not available" code.
        ["fetch after --log-level info, with ../ in %f"] = new((_, _) => ["--log-level", "info", "fetch", $"../{Seg}", "pg_wal/RECOVERYXLOG"], 200),
        ["fetch after --deadline forever"] = new((_, _) => ["--deadline", "forever", "fetch", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push with --bogus"] = new((_, _) => ["--bogus", "push", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with --bogus"] = new((_, _) => ["fetch", "--bogus", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push with --deadline forever"] = new((_, _) => ["push", "--deadline", "forever", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with --deadline forever"] = new((_, _) => ["fetch", "--deadline", "forever", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push with a --deadline too long for a TimeSpan"] = new((_, _) => ["push", "--deadline", "99999999999999999999", $"pg_wal/{Seg}", Seg], 2),
        ["push with --compression-level 99"] = new((_, _) => ["push", "--compression-level", "99", $"pg_wal/{Seg}", Seg], 2),
        ["push with --log-format xml"] = new((_, _) => ["push", "--log-format", "xml", $"pg_wal/{Seg}", Seg], 2),
        ["fetch with --fatal-exit-code 1"] = new((_, _) => ["fetch", "--fatal-exit-code", "1", Seg, "pg_wal/RECOVERYXLOG"], 200),

        ["push to ftp://x"] = new((_, _) => ["push", "--repo", "ftp://x", $"pg_wal/{Seg}", Seg], 2),
        ["fetch from ftp://x"] = new((_, _) => ["fetch", "--repo", "ftp://x", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push to a relative file:// URL"] = new((_, _) => ["push", "--repo", "file://relative/dir", $"pg_wal/{Seg}", Seg], 2),
        ["push to file:// with a NUL byte"] = new((_, _) => ["push", "--repo", "file:///tmp/x%00y", $"pg_wal/{Seg}", Seg], 2),
        ["push to an invalid bucket"] = new((_, _) => ["push", "--repo", "s3://Not_A_Bucket/prefix", $"pg_wal/{Seg}", Seg], 2),
        ["fetch from an invalid bucket"] = new((_, _) => ["fetch", "--repo", "s3://Not_A_Bucket/prefix", Seg, "pg_wal/RECOVERYXLOG"], 200),
        ["push to a too short bucket name"] = new((_, _) => ["push", "--repo", "s3://ab/prefix", $"pg_wal/{Seg}", Seg], 2),
        ["push to a prefix with .."] = new((_, _) => ["push", "--repo", "s3://good-bucket/a/../b", $"pg_wal/{Seg}", Seg], 2),
    };

    public static IEnumerable<object[]> BadInputNames() => s_badInputs.Keys.Select(k => new object[] { k });

    private static void MakeRelation(string data)
    {
        string dir = Path.Combine(data, "base", "1");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "1259"), RandomBytes(8192, 1259));
        PgUser.ChownToPostgres(Path.Combine(data, "base"), recursive: true);
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(BadInputNames))]
    public async Task BadInput_FailsWithOneErrorLine_AndChangesNothing(string name)
    {
        var input = s_badInputs[name];
        string data = NewDataDir("bad");
        string scratch = fixture.Tmp.CreateSubdirectory($"scratch-{Guid.NewGuid():N}");
        input.Setup?.Invoke(data, scratch);
        PgUser.ChownToPostgres(data, recursive: true);
        string[] args = input.Args(data, scratch);
        string passwd = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes("/etc/passwd")));
        var before = Snapshot(data, fixture.RepoPath, scratch);

        var result = await WalshipBinary.RunAsync(args, FileEnv(), data, TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == input.ExitCode, $"{name}: expected exit {input.ExitCode}: {result}");
        Assert.True(result.ExitCode is not (0 or 1), $"{name}: {result}");
        if (args.Contains("push"))
            Assert.InRange(result.ExitCode, 2, 125);
        AssertOneErrorLine(result);
        AssertSameFiles(before, Snapshot(data, fixture.RepoPath, scratch), name);
        Assert.Equal(passwd, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes("/etc/passwd"))));
    }

    /// <summary>A fetch that fails on its arguments must still say 1 in standby mode (the standby asks again)
    /// and never 1 otherwise; a bad argument is never "absent".</summary>
    [Fact]
    public async Task BadFetchArguments_InStandbyMode_ExitOne_AndChangeNothing()
    {
        string data = NewDataDir("bad-standby", "standby.signal");
        var before = Snapshot(data, fixture.RepoPath);
        foreach (string[] args in new[]
                 {
                     new[] { "fetch", "../" + Seg, "pg_wal/RECOVERYXLOG" },
                     new[] { "fetch", Seg, "/etc/passwd" },
                     new[] { "fetch", "--bogus", Seg, "pg_wal/RECOVERYXLOG" },
                     new[] { "fetch", "--repo", "ftp://x", Seg, "pg_wal/RECOVERYXLOG" },
                 })
        {
            var result = await WalshipBinary.RunAsync(args, FileEnv(), data, TimeSpan.FromSeconds(30));
            Assert.True(result.ExitCode == 1, result.ToString());
            AssertOneErrorLine(result);
        }
        AssertSameFiles(before, Snapshot(data, fixture.RepoPath), "standby bad input");
    }

    // ---------------------------------------------------------------- b./c. signals

    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>A TCP server that accepts and then runs <paramref name="serve"/> on each connection (by default:
    /// reads and never answers).</summary>
    private sealed class FakeEndpoint : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _accepted;

        public FakeEndpoint(Func<NetworkStream, CancellationToken, Task>? serve = null)
        {
            _listener.Start();
            _accepting = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                        lock (_held)
                            _held.Add(client);
                        Interlocked.Increment(ref _accepted);
                        if (serve is not null)
                            _ = Task.Run(async () =>
                            {
                                try { await serve(client.GetStream(), _stop.Token); }
                                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
                            });
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { }
            });
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public int Accepted => Volatile.Read(ref _accepted);

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_held)
                foreach (var client in _held)
                    client.Dispose();
            await _accepting;
            _stop.Dispose();
        }
    }

    private static Dictionary<string, string> S3Env(string endpoint, params (string Key, string Value)[] extra)
    {
        var env = new Dictionary<string, string>
        {
            ["WALSHIP_REPO"] = "s3://walship-test/robust",
            ["WALSHIP_ENDPOINT"] = endpoint,
            ["WALSHIP_PATH_STYLE"] = "true",
            ["AWS_REGION"] = "us-east-1",
            ["AWS_ACCESS_KEY_ID"] = "S3RVER",
            ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
        };
        foreach (var (key, value) in extra)
            env[key] = value;
        return env;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(20);
        }
    }

    public static IEnumerable<object[]> SignalCases() =>
    [
        ["push", "", 10],
        ["fetch", "recovery.signal", 200],
        ["fetch", "standby.signal", 1],
    ];

    [Theory]
    [MemberData(nameof(SignalCases))]
    public async Task Sigterm_WhileTheServerIsSilent_ExitsPromptlyWithItsOwnCode(string command, string signal, int expected)
    {
        const string big = "000000010000000000000010";
        await using var silent = new FakeEndpoint();
        string data = NewDataDir($"sigterm-{command}", signal.Length > 0 ? signal : null);
        string wal = Path.Combine(data, "pg_wal");
        File.WriteAllBytes(Path.Combine(wal, big), SyntheticWal.Segment(big, SyntheticWal.SixteenMiB));
        PgUser.ChownToPostgres(data, recursive: true);
        string[] args = command == "push"
            ? ["push", "--deadline", "60s", $"pg_wal/{big}", big]
            : ["fetch", "--deadline", "60s", big, "pg_wal/RECOVERYXLOG"];

        using var walship = new RunningWalship(args, S3Env(silent.Url), data);
        await WaitUntilAsync(() => silent.Accepted > 0 || walship.HasExited, TimeSpan.FromSeconds(15), "walship to connect");
        Assert.False(walship.HasExited, "walship exited before the signal");
        await Task.Delay(1000);
        Assert.False(walship.HasExited, "walship exited before the signal");

        var clock = Stopwatch.StartNew();
        walship.Signal(SigTerm);
        var (code, stdout, stderr) = await walship.WaitAsync(TimeSpan.FromSeconds(30));
        var took = clock.Elapsed;

        string context = $"{command} {signal}: exit {code} after {took.TotalSeconds:0.0} s\nstderr: {stderr}\nstdout: {stdout}";
        Assert.True(code != 128 + SigTerm, $"killed by SIGTERM instead of exiting: {context}");
        Assert.True(code == expected, context);
        Assert.True(took < TimeSpan.FromSeconds(5), context);
        Assert.Contains("interrupted", stderr);
        Assert.Empty(TempFiles(data));
        Assert.False(File.Exists(Path.Combine(wal, "RECOVERYXLOG")), context);
        if (command == "push")
            Assert.True(File.Exists(Path.Combine(wal, big)), "push must leave %p in place");
    }

    [Fact]
    public async Task Sigkill_InTheMiddleOfAFetch_LeavesNoPartialFile_AndTheNextFetchSucceeds()
    {
        const string big = "000000010000000000000011";
        byte[] segment = SyntheticWal.Segment(big, SyntheticWal.SixteenMiB);
        await using var repo = new FileRepositoryBackend();
        var repoEnv = new Dictionary<string, string>(repo.Environment);

        string source = NewDataDir("sigkill-src");
        File.WriteAllBytes(Path.Combine(source, "pg_wal", big), segment);
        PgUser.ChownToPostgres(source, recursive: true);
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{big}", big], repoEnv, source);
        Assert.True(push.ExitCode == 0, push.ToString());
        byte[] stored = repo.ReadObject(RepositoryBackend.SegmentKey(big))!;

        // Announces the whole object, sends its first half, then stalls with the connection open.
        await using var stalling = new FakeEndpoint(async (stream, token) =>
        {
            var request = new List<byte>();
            var one = new byte[1];
            while (!(request.Count >= 4 && request[^4] == '\r' && request[^3] == '\n' && request[^2] == '\r' && request[^1] == '\n'))
            {
                if (await stream.ReadAsync(one, token) == 0)
                    return;
                request.Add(one[0]);
            }
            string headers = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" +
                             $"Content-Length: {stored.Length}\r\nETag: \"0123456789abcdef0123456789abcdef\"\r\n" +
                             "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nx-amz-request-id: robust\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(headers), token);
            await stream.WriteAsync(stored.AsMemory(0, stored.Length / 2), token);
            await stream.FlushAsync(token);
            await Task.Delay(Timeout.Infinite, token);
        });

        string data = NewDataDir("sigkill", "recovery.signal");
        string target = Path.Combine(data, "pg_wal", "RECOVERYXLOG");
        using (var walship = new RunningWalship(["fetch", "--deadline", "60s", big, "pg_wal/RECOVERYXLOG"], S3Env(stalling.Url), data))
        {
            await WaitUntilAsync(() => (File.Exists(target + ".walship-tmp") && new FileInfo(target + ".walship-tmp").Length > 0) || walship.HasExited,
                TimeSpan.FromSeconds(20), "the fetch to start writing its temporary file");
            if (walship.HasExited)
                Assert.Fail("fetch ended before it could be killed: " + (await walship.WaitAsync(TimeSpan.FromSeconds(5))).StdErr);
            await Task.Delay(200);
            walship.Signal(SigKill);
            var (code, _, _) = await walship.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(128 + SigKill, code);
        }
        Assert.False(File.Exists(target), "%p exists after SIGKILL mid-fetch");

        var fetch = await WalshipBinary.RunAsync(["fetch", big, "pg_wal/RECOVERYXLOG"], repoEnv, data);
        Assert.True(fetch.ExitCode == 0, fetch.ToString());
        Assert.True(File.ReadAllBytes(target).AsSpan().SequenceEqual(segment), "fetched file differs from the segment");
        Assert.Empty(TempFiles(data));
    }

    // ---------------------------------------------------------------- d. local failures

    [Fact]
    public async Task FetchIntoAReadOnlyPgWal_FailsFatally_WithoutAFile()
    {
        string data = NewDataDir("ro-wal", "recovery.signal");
        string wal = Path.Combine(data, "pg_wal");
        File.SetUnixFileMode(wal, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
                                  | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            var result = await WalshipBinary.RunAsync(["fetch", Seg, "pg_wal/RECOVERYXLOG"], FileEnv(), data);
            Assert.True(result.ExitCode == 200, result.ToString());
            AssertOneErrorLine(result);
            Assert.Contains("RECOVERYXLOG", result.StdErr);
            Assert.False(File.Exists(Path.Combine(wal, "RECOVERYXLOG")));
            Assert.Empty(TempFiles(data));
        }
        finally
        {
            File.SetUnixFileMode(wal, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task PushOfAnUnreadableFile_ExitsNine_WithAClearMessage()
    {
        string data = NewDataDir("unreadable");
        string path = Path.Combine(data, "pg_wal", Seg2);
        File.WriteAllBytes(path, SyntheticWal.Segment(Seg2, SyntheticWal.OneMiB));
        PgUser.ChownToPostgres(path);
        File.SetUnixFileMode(path, UnixFileMode.None);
        var before = Snapshot(fixture.RepoPath);

        var result = await WalshipBinary.RunAsync(["push", $"pg_wal/{Seg2}", Seg2], FileEnv(), data);

        Assert.True(result.ExitCode == 9, result.ToString());
        AssertOneErrorLine(result);
        Assert.Contains("permission denied", result.StdErr, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(Seg2, result.StdErr);
        AssertSameFiles(before, Snapshot(fixture.RepoPath), "unreadable push");

        // A missing %p is local I/O too, not "stored".
        var missing = await WalshipBinary.RunAsync(["push", $"pg_wal/{Seg3}", Seg3], FileEnv(), data);
        Assert.True(missing.ExitCode == 9, missing.ToString());
        AssertOneErrorLine(missing);
    }

    [Fact]
    public async Task FetchOntoAFullDisk_FailsFatally_AndCleansUp()
    {
        const string big = "000000010000000000000012";
        if (!PgUser.RunsAsRoot)
        {
            output.WriteLine("skipped: mounting a small tmpfs needs root; nothing cheaper simulates ENOSPC");
            return;
        }
        await using var repo = new FileRepositoryBackend();
        var repoEnv = new Dictionary<string, string>(repo.Environment);
        string source = NewDataDir("full-src");
        byte[] segment = SyntheticWal.Segment(big, SyntheticWal.SixteenMiB);
        File.WriteAllBytes(Path.Combine(source, "pg_wal", big), segment);
        PgUser.ChownToPostgres(source, recursive: true);
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{big}", big], repoEnv, source);
        Assert.True(push.ExitCode == 0, push.ToString());

        string data = fixture.Tmp.CreateSubdirectory($"full-{Guid.NewGuid():N}");
        File.WriteAllText(Path.Combine(data, "recovery.signal"), "");
        string wal = Path.Combine(data, "pg_wal");
        Directory.CreateDirectory(wal);
        PgUser.ChownToPostgres(data, recursive: true);
        var (uid, gid) = PgUser.PostgresIds;
        var mount = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", $"size=2m,mode=0700,uid={uid},gid={gid}", "tmpfs", wal],
            null, null, TimeSpan.FromSeconds(20));
        if (mount.ExitCode != 0)
        {
            // No mount privilege here (e.g. an unprivileged container): a full disk cannot be simulated cheaply.
            output.WriteLine($"skipped: {mount}");
            return;
        }
        output.WriteLine($"tmpfs of 2 MiB mounted on {wal}");
        try
        {
            var fetch = await WalshipBinary.RunAsync(["fetch", big, "pg_wal/RECOVERYXLOG"], repoEnv, data);
            Assert.True(fetch.ExitCode == 200, fetch.ToString());
            AssertOneErrorLine(fetch);
            Assert.Contains("space", fetch.StdErr, StringComparison.OrdinalIgnoreCase);
            Assert.Empty(Directory.EnumerateFileSystemEntries(wal));

            // Standby mode: the same failure is "ask again later", never fatal.
            File.Delete(Path.Combine(data, "recovery.signal"));
            File.WriteAllText(Path.Combine(data, "standby.signal"), "");
            var standby = await WalshipBinary.RunAsync(["fetch", big, "pg_wal/RECOVERYXLOG"], repoEnv, data);
            Assert.True(standby.ExitCode == 1, standby.ToString());
            Assert.Empty(Directory.EnumerateFileSystemEntries(wal));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", wal], null, null, TimeSpan.FromSeconds(20));
        }
    }

    // ---------------------------------------------------------------- e. secrets

    private const string SecretMarker = "SecretMarkerQx7vK2mP9wR4tY8n";
    private const string TokenMarker = "TokenMarkerZb3nL6hJ1cF5dG0sA";

    [Fact]
    public async Task Secrets_NeverAppearInOutput_OfFailingCalls()
    {
        await using var s3 = await S3RepositoryBackend.StartAsync();
        int closedPort = TestPaths.GetFreeTcpPort();
        string data = NewDataDir("secrets", "recovery.signal");

        var scenarios = new List<(string Name, Dictionary<string, string> Env)>();
        foreach (var (where, endpoint, repo) in new[]
                 {
                     ("wrong bucket", s3.Environment["WALSHIP_ENDPOINT"], "s3://no-such-bucket/prefix"),
                     ("unreachable endpoint", $"http://127.0.0.1:{closedPort}", "s3://walship-test/prefix"),
                 })
        {
            var env = new Dictionary<string, string>(s3.Environment)
            {
                ["WALSHIP_REPO"] = repo,
                ["WALSHIP_ENDPOINT"] = endpoint,
                ["AWS_SECRET_ACCESS_KEY"] = SecretMarker,
                ["AWS_SESSION_TOKEN"] = TokenMarker,
            };
            scenarios.Add((where, env));
        }

        var runs = new List<Task<(string What, ProcessResult Result)>>();
        foreach (var (where, env) in scenarios)
            foreach (string format in new[] { "text", "json" })
                foreach (string command in new[] { "push", "fetch" })
                {
                    string[] args = command == "push"
                        ? ["push", "--log-level", "debug", "--log-format", format, "--deadline", "3s", $"pg_wal/{Seg}", Seg]
                        : ["fetch", "--log-level", "debug", "--log-format", format, "--deadline", "3s", Seg, "pg_wal/RECOVERYXLOG"];
                    string what = $"{command} {where} {format}";
                    runs.Add(Task.Run(async () => (what, await WalshipBinary.RunAsync(args, env, data, TimeSpan.FromSeconds(30)))));
                }

        foreach (var (what, result) in await Task.WhenAll(runs))
        {
            Assert.True(result.ExitCode != 0, $"{what}: {result}");
            Assert.True(result.StdErr.Length > 0, $"{what}: no diagnostics at all: {result}");
            foreach (string marker in new[] { SecretMarker, TokenMarker })
            {
                Assert.DoesNotContain(marker, result.StdErr, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(marker, result.StdOut, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>README: "a bad config line is reported by its number, not its text". A secret pasted on a line
    /// of its own with base64's trailing '=' must not come back in the message, in any letter case.</summary>
    [Fact]
    public async Task ASecretPastedIntoTheConfigFile_IsNeverEchoed()
    {
        string data = NewDataDir("config-secret");
        string scratch = fixture.Tmp.CreateSubdirectory($"scratch-{Guid.NewGuid():N}");
        foreach (string line in new[] { SecretMarker + "=", SecretMarker + "==", SecretMarker, $"{SecretMarker} = {TokenMarker}", $"region = {TokenMarker}\n{SecretMarker}=" })
        {
            string config = Config(scratch, $"repo = {fixture.Repo.Url}\n{line}\n");
            var result = await WalshipBinary.RunAsync(["--config", config, "push", $"pg_wal/{Seg}", Seg], new Dictionary<string, string>(), data);
            Assert.True(result.ExitCode == 2, $"config line '{line}': {result}");
            AssertOneErrorLine(result);
            Assert.Contains(line.Contains('\n') ? ":3:" : ":2:", result.StdErr);
            Assert.DoesNotContain(SecretMarker, result.StdErr, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(TokenMarker, result.StdErr, StringComparison.OrdinalIgnoreCase);
        }
    }

    // ---------------------------------------------------------------- f. help and version

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    [InlineData("help push")]
    [InlineData("help fetch")]
    [InlineData("push --help")]
    public async Task Help_ExitsZero_AndListsTheOptions(string args)
    {
        var result = await WalshipBinary.RunAsync(args.Split(' '), new Dictionary<string, string>(), fixture.Tmp.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.StdErr);
        Assert.Contains("Options (flag / environment variable", result.StdOut);
        foreach (string option in new[] { "--repo URL", "--region REGION", "--endpoint URL", "--deadline DURATION", "--fatal-exit-code N", "--config FILE" })
            Assert.Contains(option, result.StdOut);
        if (args.Contains("push"))
            Assert.Contains("walship push [options] %p %f", result.StdOut);
        if (args.Contains("fetch"))
            Assert.Contains("walship fetch [options] %f %p", result.StdOut);
    }

    [Fact]
    public async Task Version_PrintsNameAndVersion()
    {
        foreach (string flag in new[] { "--version", "-V" })
        {
            var result = await WalshipBinary.RunAsync([flag], new Dictionary<string, string>(), fixture.Tmp.Path);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Matches(new Regex(@"\Awalship [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown), built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|unknown)\)\n\z"), result.StdOut);
            Assert.Equal("", result.StdErr);
        }
    }

    [Fact]
    public async Task NoCommand_PrintsHelp_AndExitsTwo()
    {
        var result = await WalshipBinary.RunAsync([], new Dictionary<string, string>(), fixture.Tmp.Path);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("Usage:", result.StdOut);
    }
}
