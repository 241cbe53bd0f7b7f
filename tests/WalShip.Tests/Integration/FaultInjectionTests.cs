using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;
using Xunit.Abstractions;

namespace WalShip.Tests.Integration;

/// <summary>
/// The native binary against an S3 server behind <see cref="FaultProxy"/>: throttling, server errors,
/// denied access, connections reset or cut in the middle of a request or a response, and a server
/// slower than the deadline. Each test checks the exit code PostgreSQL sees, the error class in
/// stderr, and what is left in pg_wal and in the store.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Segment = "000000010000000000000005";
    private const string OtherSegment = "000000010000000000000006";
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(90);

    private S3RepositoryBackend _repo = null!;
    private FaultProxy _proxy = null!;
    private TestTempDir _tmp = null!;

    public async Task InitializeAsync()
    {
        _tmp = TestPaths.CreateTempDir("walship-faults");
        _repo = await S3RepositoryBackend.StartAsync();
        _proxy = FaultProxy.Start(_repo.Environment["WALSHIP_ENDPOINT"], seed: 7);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _repo.DisposeAsync();
        await _tmp.DisposeAsync();
    }

    /// <summary>A scratch data directory: pg_wal (with the segment, if given) and an optional signal file.</summary>
    private string DataDir(string name, string? signal = null, byte[]? segment = null, string segmentName = Segment) =>
        _tmp.CreateDataDirectory(name, signal, segmentName, segment);

    /// <summary>walship's environment through the proxy.</summary>
    private Dictionary<string, string> ViaProxy() =>
        new(_repo.Environment) { ["WALSHIP_ENDPOINT"] = _proxy.Endpoint };

    /// <summary>walship's environment straight to the server.</summary>
    private Dictionary<string, string> Direct() => new(_repo.Environment);

    private static Task<ProcessResult> PushAsync(string data, Dictionary<string, string> env, string segment = Segment, params string[] extra) =>
        WalshipBinary.RunAsync(["push", $"pg_wal/{segment}", segment, .. extra], env, data, CallTimeout);

    private static Task<ProcessResult> FetchAsync(string data, Dictionary<string, string> env, string segment = Segment, params string[] extra) =>
        WalshipBinary.RunAsync(["fetch", segment, "pg_wal/RECOVERYXLOG", .. extra], env, data, CallTimeout);

    private static bool IsSegmentRequest(FaultRequest r, string method, string segment = Segment) =>
        r.Method == method && r.Path.EndsWith("/" + segment, StringComparison.Ordinal);

    /// <summary>Pushes straight to the server, so that fetch tests have something to fetch.</summary>
    private async Task<byte[]> ArchiveDirectlyAsync(uint size = SyntheticWal.OneMiB)
    {
        byte[] segment = SyntheticWal.Segment(Segment, size);
        string data = DataDir("source-" + Guid.NewGuid().ToString("N")[..6], segment: segment);
        var push = await PushAsync(data, Direct(), Segment, "--part-size", "5MiB");
        Assert.True(push.ExitCode == 0, push.ToString());
        return segment;
    }

    /// <summary>pg_wal holds neither %p nor a temporary file.</summary>
    private static void AssertNothingRestored(string data)
    {
        string[] left = Directory.GetFiles(Path.Combine(data, "pg_wal")).Select(Path.GetFileName).ToArray()!;
        Assert.DoesNotContain("RECOVERYXLOG", left);
        Assert.DoesNotContain(left, f => f.EndsWith(".walship-tmp", StringComparison.Ordinal));
    }

    private static void AssertRestored(string data, byte[] expected, ProcessResult fetch)
    {
        Assert.True(fetch.ExitCode == 0, fetch.ToString());
        byte[] restored = File.ReadAllBytes(Path.Combine(data, "pg_wal", "RECOVERYXLOG"));
        Assert.True(expected.AsSpan().SequenceEqual(restored), $"restored {restored.Length} bytes differ from the {expected.Length} archived");
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(data, "pg_wal")), f => f.EndsWith(".walship-tmp", StringComparison.Ordinal));
    }

    private string Diagnostics(ProcessResult result) =>
        result + Environment.NewLine + "proxy: " + _proxy.Summary() + Environment.NewLine +
        string.Join(Environment.NewLine, _proxy.Log().TakeLast(40).Select(e => $"  #{e.Number} {e.Method} {e.Target} -> {e.Action}"));

    /// <summary>The fixture itself: keep-alive, Expect: 100-continue, Content-Length and chunked bodies, and
    /// that its faults look to a client like what they claim to be.</summary>
    [Fact]
    public async Task TheProxy_KeepsConnectionsAlive_AnswersExpectContinue_AndRelaysBothBodyFramings()
    {
        byte[] big = RandomNumberGenerator.GetBytes(300_000);
        int port = TestPaths.GetFreeTcpPort();
        using var upstream = new HttpListener();
        upstream.Prefixes.Add($"http://127.0.0.1:{port}/");
        upstream.Start();
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                HttpListenerContext context;
                try
                {
                    context = await upstream.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                try
                {
                    using var received = new MemoryStream();
                    await context.Request.InputStream.CopyToAsync(received);
                    byte[] answer = context.Request.Url!.AbsolutePath == "/echo"
                        ? Encoding.ASCII.GetBytes(Convert.ToHexString(SHA256.HashData(received.ToArray())))
                        : big;
                    if (context.Request.Url.AbsolutePath == "/chunked")
                        context.Response.SendChunked = true;
                    else
                        context.Response.ContentLength64 = answer.Length;
                    await context.Response.OutputStream.WriteAsync(answer);
                    context.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    context.Response.Abort(); // the proxy cut this request on purpose
                }
            }
        });

        await using (var proxy = FaultProxy.Start($"http://127.0.0.1:{port}", seed: 3, ioTimeout: TimeSpan.FromSeconds(10)))
        {
            // A client that waits long for "100 Continue": if the proxy did not answer it, each PUT would stall.
            using var http = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(20) })
            {
                Timeout = TimeSpan.FromSeconds(30),
            };
            byte[] upload = RandomNumberGenerator.GetBytes(1 << 20);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                using var put = new HttpRequestMessage(HttpMethod.Put, proxy.Endpoint + "/echo") { Content = new ByteArrayContent(upload) };
                put.Headers.ExpectContinue = true;
                using var response = await http.SendAsync(put);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), await response.Content.ReadAsStringAsync());
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"three PUTs with Expect: 100-continue took {clock.Elapsed}");
            Assert.Equal(big, await http.GetByteArrayAsync(proxy.Endpoint + "/chunked"));
            Assert.Equal(big, await http.GetByteArrayAsync(proxy.Endpoint + "/length"));
            Assert.Equal(1, proxy.ConnectionCount);

            proxy.Rule = FaultRules.Always(FaultAction.Respond(503, "SlowDown"));
            using (var slow = await http.GetAsync(proxy.Endpoint + "/length"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, slow.StatusCode);
                Assert.Contains("<Code>SlowDown</Code>", await slow.Content.ReadAsStringAsync());
            }
            Assert.Equal(1, proxy.ConnectionCount); // an error answer keeps the connection

            foreach (var kind in new[] { FaultKind.TruncateResponse, FaultKind.ResetMidResponse })
            {
                foreach (string path in new[] { "/length", "/chunked" })
                {
                    proxy.Rule = FaultRules.Always(new FaultAction(kind));
                    await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetByteArrayAsync(proxy.Endpoint + path));
                }
            }
            proxy.Rule = FaultRules.Always(FaultAction.ResetBeforeForwarding);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetByteArrayAsync(proxy.Endpoint + "/length"));
            proxy.Rule = FaultRules.Always(FaultAction.ResetMidRequestBody);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PutAsync(proxy.Endpoint + "/echo", new ByteArrayContent(upload)));

            proxy.Rule = FaultRules.Always(FaultAction.PassThrough);
            Assert.Equal(big, await http.GetByteArrayAsync(proxy.Endpoint + "/length"));
            Assert.Empty(proxy.Errors());
            Assert.Equal(2, proxy.Count("TruncateResponse"));
            Assert.Equal(2, proxy.Count("ResetMidResponse"));
        }

        upstream.Stop();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task OneSlowDownOnGet_IsAbsorbedByTheSdksRetries()
    {
        byte[] segment = await ArchiveDirectlyAsync();
        _proxy.Rule = FaultRules.FirstMatching(r => IsSegmentRequest(r, "GET"), FaultAction.Respond(503, "SlowDown"));
        string data = DataDir("fetch", "recovery.signal");

        var fetch = await FetchAsync(data, ViaProxy());

        AssertRestored(data, segment, fetch);
        Assert.Equal(1, _proxy.Count("Respond 503 SlowDown"));
        Assert.True(_proxy.Log().Count(e => e.Method == "GET" && e.Target.EndsWith(Segment, StringComparison.Ordinal)) >= 2, Diagnostics(fetch));
    }

    [Fact]
    public async Task SlowDownOnEveryRequest_StopsArchiveRecoveryWithinTheDeadline_AndTheStandbyAsksAgain()
    {
        await ArchiveDirectlyAsync();
        _proxy.Rule = FaultRules.Always(FaultAction.Respond(503, "SlowDown"));
        var deadline = TimeSpan.FromSeconds(10);

        string recovery = DataDir("recovery", "recovery.signal");
        var clock = Stopwatch.StartNew();
        var fetch = await FetchAsync(recovery, ViaProxy(), Segment, "--deadline", "10s");
        var elapsed = clock.Elapsed;
        Assert.True(fetch.ExitCode == 200, Diagnostics(fetch));
        // Throttled, or out of time while the SDK was still backing off from the throttling: both stop recovery.
        Assert.True(fetch.StdErr.Contains("[throttled, exit 200]") || fetch.StdErr.Contains("deadline of 10 s exceeded"), Diagnostics(fetch));
        Assert.True(elapsed < deadline + TimeSpan.FromSeconds(3), $"fetch took {elapsed}");
        Assert.True(_proxy.RequestCount > 1, "the SDK should have retried: " + _proxy.Summary());
        AssertNothingRestored(recovery);

        string standby = DataDir("standby", "standby.signal");
        var standbyFetch = await FetchAsync(standby, ViaProxy(), Segment, "--deadline", "10s");
        Assert.True(standbyFetch.ExitCode == 1, Diagnostics(standbyFetch));
        Assert.True(standbyFetch.StdErr.Contains("[throttled, exit 1]") || standbyFetch.StdErr.Contains("deadline of 10 s exceeded"), Diagnostics(standbyFetch));
        AssertNothingRestored(standby);
    }

    [Fact]
    public async Task AnOutageLongerThanTheSdksRetries_IsRiddenOutInArchiveRecovery_ButNotByAStandby()
    {
        byte[] segment = await ArchiveDirectlyAsync();
        // 12 failures outlast one call's SDK retries (5 attempts) twice over.
        _proxy.Rule = FaultRules.FirstMatching(r => IsSegmentRequest(r, "GET"), FaultAction.Respond(500, "InternalError"), times: 12);
        string recovery = DataDir("recovery", "recovery.signal");
        var fetch = await FetchAsync(recovery, ViaProxy(), Segment, "--deadline", "60s");
        AssertRestored(recovery, segment, fetch);
        Assert.Contains("retrying in", fetch.StdErr);
        Assert.Equal(12, _proxy.Count("Respond 500 InternalError"));

        _proxy.Rule = FaultRules.FirstMatching(r => IsSegmentRequest(r, "GET"), FaultAction.Respond(500, "InternalError"), times: 12);
        string standby = DataDir("standby", "standby.signal");
        var standbyFetch = await FetchAsync(standby, ViaProxy(), Segment, "--deadline", "60s");
        Assert.True(standbyFetch.ExitCode == 1, Diagnostics(standbyFetch)); // the standby asks again by itself
        Assert.DoesNotContain("retrying in", standbyFetch.StdErr);
        AssertNothingRestored(standby);
    }

    [Fact]
    public async Task SlowDownOnEveryRequest_PushFailsRetryably_AndCreatesNothing()
    {
        _proxy.Rule = FaultRules.Always(FaultAction.Respond(503, "SlowDown"));
        string data = DataDir("push", segment: SyntheticWal.Segment(Segment));

        var clock = Stopwatch.StartNew();
        var push = await PushAsync(data, ViaProxy(), Segment, "--deadline", "10s");
        var elapsed = clock.Elapsed;

        Assert.True(push.ExitCode is 6 or 5, Diagnostics(push));
        Assert.True(elapsed < TimeSpan.FromSeconds(13), $"push took {elapsed}");
        Assert.Null(_repo.ReadObject("walship.json"));
        Assert.Null(_repo.ReadObject(RepositoryBackend.SegmentKey(Segment)));
        Assert.True(File.Exists(Path.Combine(data, "pg_wal", Segment)), "push must never touch %p");
    }

    [Fact]
    public async Task InternalErrorOnPutOnce_IsRetried_AndTheObjectVerifies()
    {
        byte[] segment = SyntheticWal.Segment(Segment);
        string data = DataDir("push", segment: segment);
        _proxy.Rule = FaultRules.FirstMatching(r => IsSegmentRequest(r, "PUT"), FaultAction.Respond(500, "InternalError"));

        var push = await PushAsync(data, ViaProxy());

        Assert.True(push.ExitCode == 0, Diagnostics(push));
        Assert.Equal(1, _proxy.Count("Respond 500 InternalError"));
        Assert.True(_proxy.Log().Count(e => e.Method == "PUT" && e.Target.EndsWith(Segment, StringComparison.Ordinal)) >= 2, Diagnostics(push));
        string restore = DataDir("restore", "recovery.signal");
        AssertRestored(restore, segment, await FetchAsync(restore, Direct()));
    }

    [Fact]
    public async Task AccessDeniedOnGet_IsAnAuthFailure_NeverEndOfArchive()
    {
        await ArchiveDirectlyAsync();
        _proxy.Rule = FaultRules.Matching(r => r.Method == "GET", FaultAction.Respond(403, "AccessDenied"));
        string data = DataDir("fetch", "recovery.signal");

        var fetch = await FetchAsync(data, ViaProxy());

        Assert.True(fetch.ExitCode == 200, Diagnostics(fetch));
        Assert.Contains("[auth, exit 200]", fetch.StdErr);
        Assert.Contains("AccessDenied", fetch.StdErr);
        AssertNothingRestored(data);
    }

    [Theory]
    [InlineData(FaultKind.TruncateResponse)]
    [InlineData(FaultKind.ResetMidResponse)]
    public async Task ABrokenGetResponse_NeverYieldsAFile_NorEndOfArchive(FaultKind kind)
    {
        await ArchiveDirectlyAsync(SyntheticWal.SixteenMiB);
        _proxy.Rule = FaultRules.Matching(r => IsSegmentRequest(r, "GET"), new FaultAction(kind));
        string data = DataDir("fetch", "recovery.signal");

        var fetch = await FetchAsync(data, ViaProxy(), Segment, "--deadline", "20s");

        Assert.True(fetch.ExitCode is not (0 or 1), Diagnostics(fetch));
        Assert.Equal(200, fetch.ExitCode);
        Assert.Contains("[transient, exit 200]", fetch.StdErr);
        Assert.True(_proxy.Count(kind.ToString()) >= 1, _proxy.Summary());
        AssertNothingRestored(data);
    }

    [Fact]
    public async Task Sigterm_DuringAMultipartUpload_AbortsTheUpload_AndExitsWithItsOwnCode()
    {
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDir("sigterm-multipart", segment: segment);
        _proxy.Rule = FaultRules.Matching(r => r.Method == "PUT" && r.HasQuery("partNumber", "2"), FaultAction.Delay(TimeSpan.FromSeconds(60)));

        using var walship = new RunningWalship(
            ["push", "--deadline", "60s", "--part-size", "5MiB", "--upload-concurrency", "1", $"pg_wal/{Segment}", Segment], ViaProxy(), data);
        var waited = Stopwatch.StartNew();
        while (!_proxy.Log().Any(e => e.Method == "PUT" && e.Target.Contains("partNumber=2", StringComparison.Ordinal)))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30) && !walship.HasExited, "part 2 was never sent: " + _proxy.Summary());
            await Task.Delay(50);
        }

        walship.Signal(15); // SIGTERM
        var (code, _, stderr) = await walship.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(code == 10, $"exit {code}: {stderr}"); // its own code, not death by the signal (143)
        Assert.Contains("interrupted", stderr);
        Assert.Contains(_proxy.Log(), e => e.Method == "DELETE" && e.Target.Contains("uploadId=", StringComparison.Ordinal));
        Assert.Null(_repo.ReadObject(RepositoryBackend.SegmentKey(Segment)));
    }

    [Theory]
    [InlineData(301, "PermanentRedirect")]
    [InlineData(400, "AuthorizationHeaderMalformed")]
    public async Task ABucketInAnotherRegion_IsAConfigErrorThatSaysSo(int status, string code)
    {
        string data = DataDir("region", "recovery.signal", SyntheticWal.Segment(Segment, SyntheticWal.OneMiB));
        _proxy.Rule = FaultRules.Always(FaultAction.Respond(status, code));

        var push = await PushAsync(data, ViaProxy(), Segment, "--deadline", "10s");
        Assert.True(push.ExitCode == 3, Diagnostics(push));
        Assert.Contains("another region", push.StdErr);

        var fetch = await FetchAsync(data, ViaProxy(), Segment, "--deadline", "10s");
        Assert.True(fetch.ExitCode == 200, Diagnostics(fetch)); // never "absent", never retried as transient
        Assert.Contains("another region", fetch.StdErr);
        AssertNothingRestored(data);
    }

    [Fact]
    public async Task AnUploadTornByADyingProcess_IsRepairedByTheNextPush_NeverAStuckArchiver()
    {
        // The push's only PUT is cut mid-body, and every retry fails: as if walship had been killed
        // mid-upload. A lenient server (s3rver) keeps the partial body as the object; S3 never would.
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.OneMiB);
        string data = DataDir("torn", segment: segment);
        bool torn = false;
        _proxy.Rule = r =>
        {
            if (!IsSegmentRequest(r, "PUT"))
                return FaultAction.PassThrough;
            if (torn)
                return FaultAction.Respond(500, "InternalError");
            torn = true;
            return FaultAction.ResetMidRequestBody;
        };
        var dying = await PushAsync(data, ViaProxy(), Segment, "--deadline", "10s");
        Assert.NotEqual(0, dying.ExitCode);

        // Whatever the server kept, the next push must end with the complete, verified object.
        var next = await PushAsync(data, Direct());
        Assert.True(next.ExitCode == 0, Diagnostics(next));
        string fetchDir = DataDir("torn-fetch", "recovery.signal");
        var fetch = await FetchAsync(fetchDir, Direct());
        AssertRestored(fetchDir, segment, fetch);
    }

    [Theory]
    [InlineData(SyntheticWal.OneMiB, "8MiB")]      // one PUT
    [InlineData(SyntheticWal.SixteenMiB, "5MiB")]  // multipart: the first UploadPart is cut
    public async Task AConnectionResetInTheRequestBody_NeverLeavesAPartialObject(uint size, string partSize)
    {
        byte[] segment = SyntheticWal.Segment(Segment, size);
        string data = DataDir("push", segment: segment);
        _proxy.Rule = FaultRules.FirstMatching(r => IsSegmentRequest(r, "PUT"), FaultAction.ResetMidRequestBody);

        var push = await PushAsync(data, ViaProxy(), Segment, "--part-size", partSize);

        Assert.Equal(1, _proxy.Count(nameof(FaultKind.ResetMidRequestBody)));
        Assert.True(push.ExitCode is 0 or 5 or 6, Diagnostics(push));
        string key = RepositoryBackend.SegmentKey(Segment);
        if (push.ExitCode == 0)
            Assert.NotNull(_repo.ReadObject(key));
        if (_repo.ReadObject(key) is not null)
        {
            string restore = DataDir("restore", "recovery.signal");
            AssertRestored(restore, segment, await FetchAsync(restore, Direct()));
        }

        // Whatever happened, PostgreSQL's next try succeeds: no partial object blocks the archive with exit 8.
        var again = await PushAsync(data, Direct(), Segment, "--part-size", partSize);
        Assert.True(again.ExitCode == 0, again.ToString());
        string final = DataDir("restore-final", "recovery.signal");
        AssertRestored(final, segment, await FetchAsync(final, Direct()));
    }

    [Fact]
    public async Task AMultipartUploadWhoseSecondPartIsAlwaysThrottled_FailsAndIsAborted_AndALaterPushSucceeds()
    {
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDir("push", segment: segment);
        _proxy.Rule = FaultRules.Matching(r => r.Method == "PUT" && r.HasQuery("partNumber", "2"), FaultAction.Respond(503, "SlowDown"));

        var push = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB", "--deadline", "30s", "--log-level", "debug");

        Assert.True(push.ExitCode is not 0, Diagnostics(push));
        Assert.True(push.ExitCode is 6 or 5, Diagnostics(push));
        Assert.Contains("2 parts", push.StdErr);
        Assert.True(_proxy.Count("Respond 503 SlowDown") >= 2, "the SDK should have retried the part: " + _proxy.Summary());
        Assert.Contains(_proxy.Log(), e => e.Method == "DELETE" && e.Target.Contains("uploadId=", StringComparison.Ordinal));
        Assert.Null(_repo.ReadObject(RepositoryBackend.SegmentKey(Segment)));
        Assert.True(File.Exists(Path.Combine(data, "pg_wal", Segment)));

        _proxy.Rule = FaultRules.Always(FaultAction.PassThrough);
        var again = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB");
        Assert.True(again.ExitCode == 0, Diagnostics(again));
        string restore = DataDir("restore", "recovery.signal");
        AssertRestored(restore, segment, await FetchAsync(restore, ViaProxy()));
    }

    /// <summary>The PUT reached the store but its answer was lost. The SDK sends it again; real S3 then
    /// answers 412 (If-None-Match: *), which walship must resolve by comparing, not report as a conflict.</summary>
    [Fact]
    public async Task ALostPutResponse_ThenPreconditionFailedOnTheRetry_IsResolvedAsIdentical()
    {
        byte[] segment = SyntheticWal.Segment(Segment);
        string data = DataDir("push", segment: segment);
        int puts = 0;
        _proxy.Rule = r => !IsSegmentRequest(r, "PUT") ? FaultAction.PassThrough
            : ++puts == 1 ? FaultAction.ResetMidResponse
            : FaultAction.Respond(412, "PreconditionFailed");

        var push = await PushAsync(data, ViaProxy());

        Assert.True(push.ExitCode == 0, Diagnostics(push));
        Assert.Contains("identical", push.StdErr);
        Assert.Equal(1, _proxy.Count("ResetMidResponse"));
        Assert.True(_proxy.Count("Respond 412 PreconditionFailed") >= 1, Diagnostics(push));
        string restore = DataDir("restore", "recovery.signal");
        AssertRestored(restore, segment, await FetchAsync(restore, Direct()));
    }

    /// <summary>CompleteMultipartUpload reached the store but its answer was lost: the object exists, and
    /// the SDK's retry of the completion finds no such upload any more.</summary>
    [Fact]
    public async Task ALostCompleteMultipartUploadResponse_IsNeitherAConfigErrorNorAConflict()
    {
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDir("push", segment: segment);
        _proxy.Rule = FaultRules.FirstMatching(r => r.Method == "POST" && r.HasQuery("uploadId"), FaultAction.ResetMidResponse);

        var push = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB");

        output.WriteLine(Diagnostics(push));
        Assert.Equal(1, _proxy.Count("ResetMidResponse"));
        // The object is complete in the store: success, or at worst a transient failure PostgreSQL retries.
        Assert.True(push.ExitCode is 0 or 5, Diagnostics(push));
        var again = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB");
        Assert.True(again.ExitCode == 0, Diagnostics(again));
        string restore = DataDir("restore", "recovery.signal");
        AssertRestored(restore, segment, await FetchAsync(restore, Direct()));
    }

    /// <summary>As above, but the retried completion gets the answer MinIO and other S3-compatible servers give
    /// for an upload that is already completed: 404 NoSuchUpload (AWS itself answers a repeated completion with
    /// 200). The object is there; this is not a configuration problem.</summary>
    [Fact]
    public async Task ALostCompleteMultipartUploadResponse_ThenNoSuchUpload_IsNotAConfigError()
    {
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDir("push", segment: segment);
        int completions = 0;
        _proxy.Rule = r => !(r.Method == "POST" && r.HasQuery("uploadId")) ? FaultAction.PassThrough
            : ++completions == 1 ? FaultAction.ResetMidResponse
            : FaultAction.Respond(404, "NoSuchUpload");

        var push = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB");

        output.WriteLine(Diagnostics(push));
        Assert.NotNull(_repo.ReadObject(RepositoryBackend.SegmentKey(Segment)));
        Assert.True(push.ExitCode is 0 or 5, "a lost answer to a completed upload is at worst transient: " + Diagnostics(push));
    }

    /// <summary>S3 may answer CompleteMultipartUpload with 200 OK and an error in the body. That is not success.</summary>
    [Fact]
    public async Task ACompleteMultipartUploadAnsweredWith200AndAnErrorBody_IsNotTakenForSuccess()
    {
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.SixteenMiB);
        string data = DataDir("push", segment: segment);
        _proxy.Rule = FaultRules.FirstMatching(r => r.Method == "POST" && r.HasQuery("uploadId"), FaultAction.Respond(200, "InternalError"));

        var push = await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB");

        output.WriteLine(Diagnostics(push));
        Assert.Equal(1, _proxy.Count("Respond 200 InternalError"));
        Assert.True(push.ExitCode is 0 or 5, Diagnostics(push));
        if (push.ExitCode == 0)
        {
            string restore = DataDir("restore", "recovery.signal");
            AssertRestored(restore, segment, await FetchAsync(restore, Direct()));
        }
        else
        {
            Assert.True((await PushAsync(data, ViaProxy(), Segment, "--part-size", "5MiB")).ExitCode == 0);
        }
    }

    /// <summary>A download that stops half-way and never ends: the deadline ends the call, and the
    /// half-written temporary file is removed.</summary>
    [Fact]
    public async Task ADownloadThatStallsHalfWay_EndsAtTheDeadline_AndLeavesNoTemporaryFile()
    {
        await ArchiveDirectlyAsync(SyntheticWal.SixteenMiB);
        _proxy.Rule = FaultRules.Matching(r => IsSegmentRequest(r, "GET"), FaultAction.StallMidResponse(TimeSpan.FromSeconds(60)));
        string data = DataDir("stall", "recovery.signal");

        var clock = Stopwatch.StartNew();
        var fetch = await FetchAsync(data, ViaProxy(), Segment, "--deadline", "3s");
        var elapsed = clock.Elapsed;

        Assert.True(fetch.ExitCode == 200, Diagnostics(fetch));
        Assert.True(elapsed < TimeSpan.FromSeconds(9), $"fetch took {elapsed}");
        Assert.Equal(1, _proxy.Count(nameof(FaultKind.StallMidResponse)));
        AssertNothingRestored(data);
    }

    [Fact]
    public async Task AServerSlowerThanTheDeadline_CannotHoldFetchOrPush()
    {
        await ArchiveDirectlyAsync();
        _proxy.Rule = FaultRules.Always(FaultAction.Delay(TimeSpan.FromSeconds(60)));
        string data = DataDir("slow", "recovery.signal", SyntheticWal.Segment(OtherSegment), OtherSegment);

        var clock = Stopwatch.StartNew();
        var fetch = await FetchAsync(data, ViaProxy(), Segment, "--deadline", "2s");
        var fetchTime = clock.Elapsed;
        Assert.True(fetch.ExitCode == 200, Diagnostics(fetch));
        Assert.True(fetchTime < TimeSpan.FromSeconds(8), $"fetch took {fetchTime}");
        AssertNothingRestored(data);

        clock.Restart();
        var push = await PushAsync(data, ViaProxy(), OtherSegment, "--deadline", "2s");
        var pushTime = clock.Elapsed;
        Assert.True(push.ExitCode == 5, Diagnostics(push));
        Assert.Contains("deadline", push.StdErr);
        Assert.True(pushTime < TimeSpan.FromSeconds(8), $"push took {pushTime}");
        Assert.Null(_repo.ReadObject(RepositoryBackend.SegmentKey(OtherSegment)));
    }
}
