using System.Diagnostics;
using System.Text.RegularExpressions;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// A local s3rver 3.7.1 (tests/s3rver) on 127.0.0.1 with a free port and its own temp data dir.
/// Quirks: started with <c>node --openssl-legacy-provider</c> (ListObjectsV2 continuation tokens use DES);
/// SigV4 signatures are NOT verified, but a signed request must use access key id "S3RVER" and carry
/// x-amz-content-sha256; unsigned requests are accepted; bucket names must be 3-63 chars.
/// Objects live under DataDir/&lt;bucket&gt;/&lt;key&gt;._S3rver_object.
/// </summary>
public sealed partial class S3Server : IAsyncDisposable
{
    public const string AccessKeyId = "S3RVER";
    public const string SecretAccessKey = "S3RVER";
    public const string Region = "us-east-1";

    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(30);
    // Only the fixture's own probes and bucket creation use this client; with TLS the server's
    // certificate comes from a throw-away test CA, which walship itself must be told about.
    private static readonly HttpClient s_http = new(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
    }) { Timeout = TimeSpan.FromSeconds(10) };

    private readonly Process _process;
    private readonly TestTempDir _dataDir;
    private readonly LogBuffer _log;
    private int _disposed;

    private S3Server(Process process, TestTempDir dataDir, LogBuffer log)
    {
        _process = process;
        _dataDir = dataDir;
        _log = log;
    }

    public int Port { get; private set; }

    /// <summary>e.g. http://127.0.0.1:41234 (path-style addressing).</summary>
    public string Endpoint => $"{(_tls ? "https" : "http")}://127.0.0.1:{Port}";

    private bool _tls;

    public string DataDir => _dataDir.Path;

    /// <summary>Recent stdout/stderr of s3rver (request log), for diagnostics.</summary>
    public string ReadLog() => _log.Text;

    /// <summary>Starts s3rver; with <paramref name="tlsKeyPem"/> and <paramref name="tlsCertPem"/> (file paths)
    /// it serves HTTPS.</summary>
    public static async Task<S3Server> StartAsync(CancellationToken cancellationToken = default, string? tlsKeyPem = null, string? tlsCertPem = null)
    {
        var script = Path.Combine(TestPaths.S3rverDir, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
            throw new InvalidOperationException(
                $"s3rver is not installed ({script} missing). Run packaging/install-deps.sh (it runs `npm ci` in tests/s3rver).");
        var node = FindOnPath("node") ?? throw new InvalidOperationException(
            "`node` is not on PATH. Run packaging/install-deps.sh to install Node.js.");

        var dataDir = TestPaths.CreateTempDir("s3rver");
        var psi = new ProcessStartInfo(node)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestPaths.S3rverDir,
        };
        foreach (var a in new[]
                 {
                     "--openssl-legacy-provider", script,
                     "--directory", dataDir.Path,
                     "--address", "127.0.0.1",
                     "--port", "0", // s3rver binds an ephemeral port and prints it: no port race
                     "--no-vhost-buckets",
                 })
            psi.ArgumentList.Add(a);
        if (tlsKeyPem is not null && tlsCertPem is not null)
        {
            psi.ArgumentList.Add("--key");
            psi.ArgumentList.Add(tlsKeyPem);
            psi.ArgumentList.Add("--cert");
            psi.ArgumentList.Add(tlsCertPem);
        }
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["FORCE_COLOR"] = "0";

        var log = new LogBuffer();
        var portTcs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            log.Add(e.Data);
            var m = ListeningRegex().Match(e.Data);
            if (m.Success)
                portTcs.TrySetResult(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
                log.Add(e.Data);
        };
        process.Exited += (_, _) => portTcs.TrySetException(new InvalidOperationException("s3rver exited during startup."));

        try
        {
            process.Start();
        }
        catch (Exception ex)
        {
            process.Dispose();
            dataDir.Dispose();
            throw new InvalidOperationException($"Could not start s3rver with `{node}`: {ex.Message}", ex);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        var server = new S3Server(process, dataDir, log) { _tls = tlsKeyPem is not null && tlsCertPem is not null };
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(s_startTimeout);
            try
            {
                server.Port = await portTcs.Task.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
                throw server.StartupFailure("did not report its listening port", ex);
            }

            // Wait until it answers HTTP (any status code counts as alive).
            while (true)
            {
                try
                {
                    using var resp = await s_http.GetAsync(server.Endpoint + "/", cts.Token).ConfigureAwait(false);
                    return server;
                }
                catch (HttpRequestException) when (!cts.IsCancellationRequested && !process.HasExited)
                {
                    await Task.Delay(100, cts.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
                {
                    throw server.StartupFailure("did not answer HTTP", ex);
                }
            }
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Creates a bucket with a plain (unsigned) PUT /name.</summary>
    public async Task CreateBucketAsync(string name, CancellationToken cancellationToken = default)
    {
        using var req = new HttpRequestMessage(HttpMethod.Put, $"{Endpoint}/{Uri.EscapeDataString(name)}")
        {
            Content = new ByteArrayContent([]),
        };
        using var resp = await s_http.SendAsync(req, cancellationToken).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
        {
            var body = await resp.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new InvalidOperationException($"s3rver: PUT /{name} returned {(int)resp.StatusCode}: {body}");
        }
    }

    /// <summary>Path of the file in which s3rver stores an object's bytes.</summary>
    public string ObjectFilePath(string bucket, string key) => Path.Combine(DataDir, bucket, key + "._S3rver_object");

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Task.Run(() => ProcessRunner.KillTree(_process)).ConfigureAwait(false);
        _process.Dispose();
        _dataDir.Dispose();
    }

    private InvalidOperationException StartupFailure(string what, Exception inner)
    {
        var exit = _process.HasExited ? $" (exited with code {_process.ExitCode})" : "";
        return new InvalidOperationException(
            $"s3rver {what} within {s_startTimeout.TotalSeconds:F0}s{exit}.{ProcessRunner.Section("s3rver log", _log.Text)}", inner);
    }

    private static string? FindOnPath(string exe)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    [GeneratedRegex(@"listening on \S+?:(\d+)")]
    private static partial Regex ListeningRegex();

    /// <summary>Keeps the last lines of a process's output.</summary>
    private sealed class LogBuffer
    {
        private const int MaxLines = 500;
        private readonly Queue<string> _lines = new();

        public void Add(string line)
        {
            line = AnsiRegex().Replace(line, "");
            lock (_lines)
            {
                _lines.Enqueue(line);
                while (_lines.Count > MaxLines)
                    _lines.Dequeue();
            }
        }

        public string Text
        {
            get
            {
                lock (_lines)
                    return string.Join('\n', _lines);
            }
        }
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex AnsiRegex();
}
