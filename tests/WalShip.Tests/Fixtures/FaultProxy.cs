using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WalShip.Tests.Fixtures;

/// <summary>What <see cref="FaultProxy"/> does with one request.</summary>
public enum FaultKind
{
    /// <summary>Forward the request and the response unchanged.</summary>
    PassThrough,
    /// <summary>Answer with an S3-style XML error; nothing reaches the server.</summary>
    Respond,
    /// <summary>Read the request head, then reset the connection (RST); nothing reaches the server.</summary>
    ResetBeforeForwarding,
    /// <summary>Forward the head and half of the request body to the server, then reset both connections.</summary>
    ResetMidRequestBody,
    /// <summary>Forward the request; send the response head and half of its body, then reset the connection.</summary>
    ResetMidResponse,
    /// <summary>Forward the request; send the response head (with its full Content-Length) and half of its body,
    /// then close the connection cleanly (FIN).</summary>
    TruncateResponse,
    /// <summary>Wait, then forward unchanged.</summary>
    Delay,
    /// <summary>Forward the request; send the response head and half of its body, then send nothing more for
    /// <see cref="FaultAction.DelayBy"/> (default: the proxy's I/O timeout) and reset the connection.</summary>
    StallMidResponse,
}

/// <summary>One action of <see cref="FaultProxy"/>; build them with the static members.</summary>
public sealed record FaultAction(FaultKind Kind, int Status = 0, string? ErrorCode = null, TimeSpan DelayBy = default)
{
    public static readonly FaultAction PassThrough = new(FaultKind.PassThrough);
    public static readonly FaultAction ResetBeforeForwarding = new(FaultKind.ResetBeforeForwarding);
    public static readonly FaultAction ResetMidRequestBody = new(FaultKind.ResetMidRequestBody);
    public static readonly FaultAction ResetMidResponse = new(FaultKind.ResetMidResponse);
    public static readonly FaultAction TruncateResponse = new(FaultKind.TruncateResponse);

    /// <summary>An S3 error, e.g. Respond(503, "SlowDown"), Respond(500, "InternalError"), Respond(403, "AccessDenied").</summary>
    public static FaultAction Respond(int status, string errorCode) => new(FaultKind.Respond, status, errorCode);

    public static FaultAction Delay(TimeSpan by) => new(FaultKind.Delay, DelayBy: by);

    public static FaultAction StallMidResponse(TimeSpan? by = null) => new(FaultKind.StallMidResponse, DelayBy: by ?? TimeSpan.Zero);

    /// <summary>The key under which <see cref="FaultProxy.Counts"/> counts this action (delays are counted together).</summary>
    public string Label => Kind switch
    {
        FaultKind.Respond => $"Respond {Status} {ErrorCode}",
        _ => Kind.ToString(),
    };
}

/// <summary>What a <see cref="FaultRule"/> sees of a request. <paramref name="Number"/> counts the proxy's
/// requests from 1; <paramref name="Random"/> is the proxy's seeded generator (rules run one at a time).</summary>
public sealed record FaultRequest(string Method, string Target, long Number, bool HasBody, Random Random,
    IReadOnlyList<(string Name, string Value)>? Headers = null)
{
    /// <summary>The value of a request header (case-insensitive name), or null.</summary>
    public string? Header(string name) =>
        Headers?.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The path without the query, e.g. /bucket/prefix/wal/00000001/0000000100000000/000000010000000000000005.</summary>
    public string Path => Target.Split('?', 2)[0];

    /// <summary>The query without '?', or "".</summary>
    public string Query => Target.Split('?', 2) is [_, var query] ? query : "";

    /// <summary>True when the query has the parameter name=value (or just name when value is null).</summary>
    public bool HasQuery(string name, string? value = null) =>
        Query.Split('&', StringSplitOptions.RemoveEmptyEntries).Any(part =>
            value is null ? part == name || part.StartsWith(name + "=", StringComparison.Ordinal) : part == $"{name}={value}");
}

public delegate FaultAction FaultRule(FaultRequest request);

/// <summary>Ready-made rules. They may keep state: the proxy calls its rule under a lock.</summary>
public static class FaultRules
{
    public static FaultRule Always(FaultAction action) => _ => action;

    /// <summary><paramref name="action"/> for the first <paramref name="times"/> requests that match, then pass through.</summary>
    public static FaultRule FirstMatching(Func<FaultRequest, bool> match, FaultAction action, int times = 1)
    {
        int left = times;
        return request =>
        {
            if (left > 0 && match(request))
            {
                left--;
                return action;
            }
            return FaultAction.PassThrough;
        };
    }

    /// <summary><paramref name="action"/> for every request that matches, pass through otherwise.</summary>
    public static FaultRule Matching(Func<FaultRequest, bool> match, FaultAction action) =>
        request => match(request) ? action : FaultAction.PassThrough;

    /// <summary>With probability <paramref name="probability"/>, one of <paramref name="mix"/> chosen by weight.</summary>
    public static FaultRule Random(double probability, params (double Weight, Func<Random, FaultAction> Make)[] mix)
    {
        double total = mix.Sum(m => m.Weight);
        return request =>
        {
            if (request.Random.NextDouble() >= probability)
                return FaultAction.PassThrough;
            double pick = request.Random.NextDouble() * total;
            foreach (var (weight, make) in mix)
            {
                if (pick < weight)
                    return make(request.Random);
                pick -= weight;
            }
            return mix[^1].Make(request.Random);
        };
    }
}

/// <summary>One request the proxy saw, and what it did with it.</summary>
public sealed record FaultLogEntry(long Number, string Method, string Target, string Action);

/// <summary>
/// An HTTP/1.1 proxy on 127.0.0.1 in front of an S3 server (s3rver) that injects faults per request:
/// error responses, connection resets before, during and after the request, truncated responses and
/// delays. Point walship's endpoint (path-style, plain http) at <see cref="Endpoint"/>.
/// Client connections are kept alive; each request gets its own upstream connection. The proxy answers
/// <c>Expect: 100-continue</c> itself (and strips it upstream). Request bodies may have a Content-Length or
/// be chunked; responses may have a Content-Length, be chunked, or end at close. Every socket operation
/// has a timeout, and <see cref="DisposeAsync"/> closes every connection and waits for every task.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private const int MaxHeadBytes = 64 * 1024;
    private static readonly byte[] s_continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private readonly Socket _listener;
    private readonly DnsEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, byte> _sockets = new();
    private readonly ConcurrentDictionary<Task, byte> _connections = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentQueue<FaultLogEntry> _log = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly Lock _ruleGate = new();
    private readonly Random _random;
    private readonly Task _acceptLoop;
    private long _requests;
    private long _connectionsAccepted;
    private volatile FaultRule _rule;
    private int _disposed;

    private FaultProxy(string upstreamEndpoint, FaultRule rule, int seed, TimeSpan ioTimeout)
    {
        var uri = new Uri(upstreamEndpoint);
        if (uri.Scheme != "http")
            throw new ArgumentException($"FaultProxy forwards plain http only, not {upstreamEndpoint}", nameof(upstreamEndpoint));
        _upstream = new DnsEndPoint(uri.Host, uri.Port);
        _rule = rule;
        _random = new Random(seed);
        IoTimeout = ioTimeout;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Starts a proxy to <paramref name="upstreamEndpoint"/> (e.g. http://127.0.0.1:41234).</summary>
    public static FaultProxy Start(string upstreamEndpoint, FaultRule? rule = null, int seed = 1, TimeSpan? ioTimeout = null) =>
        new(upstreamEndpoint, rule ?? FaultRules.Always(FaultAction.PassThrough), seed, ioTimeout ?? TimeSpan.FromSeconds(30));

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Limit for every single read, write or connect (and for an idle keep-alive connection).</summary>
    public TimeSpan IoTimeout { get; }

    /// <summary>The rule asked for each request; may be replaced at any time.</summary>
    public FaultRule Rule
    {
        get => _rule;
        set => _rule = value;
    }

    public long RequestCount => Interlocked.Read(ref _requests);

    /// <summary>Client connections accepted so far (keep-alive reuses one for many requests).</summary>
    public long ConnectionCount => Interlocked.Read(ref _connectionsAccepted);

    /// <summary>Requests per action label (see <see cref="FaultAction.Label"/>).</summary>
    public IReadOnlyDictionary<string, long> Counts() => new SortedDictionary<string, long>(_counts, StringComparer.Ordinal);

    public long Count(string label) => _counts.TryGetValue(label, out long n) ? n : 0;

    /// <summary>Faults injected: every request whose action was not PassThrough.</summary>
    public long FaultCount => _counts.Where(c => c.Key != nameof(FaultKind.PassThrough)).Sum(c => c.Value);

    /// <summary>Every request seen, in the order the rule was asked.</summary>
    public IReadOnlyList<FaultLogEntry> Log() => [.. _log.OrderBy(e => e.Number)];

    /// <summary>Unexpected failures inside the proxy (not injected ones), for diagnostics.</summary>
    public IReadOnlyList<string> Errors() => [.. _errors];

    /// <summary>One line: total requests and the count per action.</summary>
    public string Summary() =>
        $"{RequestCount} requests: " + string.Join(", ", Counts().Select(c => $"{c.Key} {c.Value}"));

    public void ResetCounts()
    {
        _counts.Clear();
        _log.Clear();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested)
                    return;
                Note($"accept: {e.Message}");
                continue;
            }
            client.NoDelay = true;
            Interlocked.Increment(ref _connectionsAccepted);
            Track(client);
            if (_stop.IsCancellationRequested)
            {
                Untrack(client, reset: true);
                return;
            }
            var task = Task.Run(() => ServeAsync(client));
            _connections[task] = 0;
            _ = task.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    /// <summary>Serves one client connection: request after request until either side closes.</summary>
    private async Task ServeAsync(Socket clientSocket)
    {
        var client = new Connection(clientSocket, this);
        bool reset = false;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var head = await client.ReadHeadAsync(idle: true).ConfigureAwait(false);
                if (head is null)
                    return;
                var outcome = await HandleRequestAsync(client, RequestHead.Parse(head)).ConfigureAwait(false);
                if (outcome == Outcome.Reset)
                {
                    reset = true;
                    return;
                }
                if (outcome == Outcome.Close)
                    return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            if (!_stop.IsCancellationRequested && e is InvalidDataException)
                Note($"client connection: {e.Message}");
            reset = true;
        }
        catch (Exception e)
        {
            Note($"proxy failure: {e}");
            reset = true;
        }
        finally
        {
            Untrack(clientSocket, reset);
        }
    }

    private enum Outcome
    {
        KeepAlive,
        Close,
        Reset,
    }

    private async Task<Outcome> HandleRequestAsync(Connection client, RequestHead request)
    {
        long number = Interlocked.Increment(ref _requests);
        FaultAction action;
        lock (_ruleGate)
            action = _rule(new FaultRequest(request.Method, request.Target, number, request.Body.HasBody, _random, request.Headers));
        _counts.AddOrUpdate(action.Label, 1, (_, n) => n + 1);
        _log.Enqueue(new FaultLogEntry(number, request.Method, request.Target, action.Label));

        bool closeAfter = request.WantsClose;
        switch (action.Kind)
        {
            case FaultKind.ResetBeforeForwarding:
                return Outcome.Reset;

            case FaultKind.Respond:
                if (request.ExpectsContinue && request.Body.HasBody)
                    closeAfter = true; // the client may or may not send the body now: do not reuse the connection
                else
                    await client.DiscardBodyAsync(request.Body).ConfigureAwait(false);
                await client.WriteAsync(ErrorResponse(action.Status, action.ErrorCode ?? "InternalError", request.Method == "HEAD", closeAfter)).ConfigureAwait(false);
                if (closeAfter)
                {
                    client.ShutdownSend();
                    return Outcome.Close;
                }
                return Outcome.KeepAlive;

            case FaultKind.Delay:
                await Task.Delay(action.DelayBy, _stop.Token).ConfigureAwait(false);
                break;
        }

        // Forward the request on a fresh upstream connection.
        if (request.ExpectsContinue && request.Body.HasBody)
            await client.WriteAsync(s_continue).ConfigureAwait(false);
        var upstreamSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Track(upstreamSocket);
        bool resetUpstream = true;
        try
        {
            using (var connect = Timeout())
                await upstreamSocket.ConnectAsync(_upstream, connect.Token).ConfigureAwait(false);
            var upstream = new Connection(upstreamSocket, this);
            await upstream.WriteAsync(request.ForwardedHead()).ConfigureAwait(false);

            if (action.Kind == FaultKind.ResetMidRequestBody)
            {
                await client.RelayBodyAsync(upstream, request.Body, partial: true).ConfigureAwait(false);
                await Task.Delay(50, _stop.Token).ConfigureAwait(false); // let the partial body reach the server first
                return Outcome.Reset;
            }
            await client.RelayBodyAsync(upstream, request.Body, partial: false).ConfigureAwait(false);

            ResponseHead response;
            while (true)
            {
                var raw = await upstream.ReadHeadAsync(idle: false).ConfigureAwait(false)
                          ?? throw new IOException("the server closed the connection without answering");
                response = ResponseHead.Parse(raw, request.Method);
                if (response.Status is >= 100 and < 200 && response.Status != 101)
                    continue; // interim responses (we answered 100-continue ourselves)
                break;
            }

            switch (action.Kind)
            {
                case FaultKind.ResetMidResponse or FaultKind.TruncateResponse or FaultKind.StallMidResponse:
                    if (response.Body.HasBody)
                    {
                        await client.WriteAsync(response.Raw).ConfigureAwait(false);
                        await upstream.RelayBodyAsync(client, response.Body, partial: true).ConfigureAwait(false);
                    }
                    else
                    {
                        await client.WriteAsync(response.Raw.AsMemory(0, response.Raw.Length / 2)).ConfigureAwait(false);
                    }
                    if (action.Kind == FaultKind.StallMidResponse)
                        await Task.Delay(action.DelayBy > TimeSpan.Zero ? action.DelayBy : IoTimeout, _stop.Token).ConfigureAwait(false);
                    if (action.Kind == FaultKind.TruncateResponse)
                    {
                        client.ShutdownSend();
                        return Outcome.Close;
                    }
                    await Task.Delay(20, _stop.Token).ConfigureAwait(false); // let what was sent leave before the RST
                    return Outcome.Reset;

                default:
                    await client.WriteAsync(response.Raw).ConfigureAwait(false);
                    await upstream.RelayBodyAsync(client, response.Body, partial: false).ConfigureAwait(false);
                    resetUpstream = false;
                    if (response.WantsClose || response.Body.UntilClose)
                    {
                        client.ShutdownSend();
                        return Outcome.Close;
                    }
                    return closeAfter ? Outcome.Close : Outcome.KeepAlive;
            }
        }
        finally
        {
            Untrack(upstreamSocket, resetUpstream);
        }
    }

    private static byte[] ErrorResponse(int status, string code, bool head, bool close)
    {
        string requestId = Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        byte[] body = head ? [] : Encoding.UTF8.GetBytes(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
            $"<Error><Code>{code}</Code><Message>injected by FaultProxy</Message><RequestId>{requestId}</RequestId><HostId>faultproxy</HostId></Error>");
        string reason = status switch
        {
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            412 => "Precondition Failed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Error",
        };
        string headText =
            $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {reason}\r\n" +
            "Content-Type: application/xml\r\n" +
            $"Content-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\n" +
            $"x-amz-request-id: {requestId}\r\n" +
            $"Date: {DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)}\r\n" +
            $"Connection: {(close ? "close" : "keep-alive")}\r\n\r\n";
        return [.. Encoding.ASCII.GetBytes(headText), .. body];
    }

    private CancellationTokenSource Timeout()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(IoTimeout);
        return cts;
    }

    private void Note(string error)
    {
        if (_errors.Count < 1000)
            _errors.Enqueue(error);
    }

    private void Track(Socket socket) => _sockets[socket] = 0;

    private void Untrack(Socket socket, bool reset)
    {
        _sockets.TryRemove(socket, out _);
        Close(socket, reset);
    }

    private static void Close(Socket socket, bool reset)
    {
        try
        {
            if (reset)
                socket.LingerState = new LingerOption(true, 0); // close with RST
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stop.Cancel();
        _listener.Dispose();
        foreach (var socket in _sockets.Keys)
            Close(socket, reset: true);
        var pending = _connections.Keys.Append(_acceptLoop).ToArray();
        try
        {
            await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"FaultProxy: {pending.Count(t => !t.IsCompleted)} connection task(s) still running 10 s after dispose");
        }
        catch (Exception)
        {
            // the connection tasks catch their own I/O errors; anything else was already recorded
        }
        _stop.Dispose();
    }

    /// <summary>How a message body is delimited.</summary>
    private readonly record struct BodyFraming(long Length, bool Chunked, bool UntilClose)
    {
        public static readonly BodyFraming None = new(0, false, false);
        public bool HasBody => Chunked || UntilClose || Length > 0;
    }

    private static List<(string Name, string Value)> ParseHeaders(string[] lines)
    {
        var headers = new List<(string, string)>();
        foreach (string line in lines.Skip(1))
        {
            if (line.Length == 0)
                continue;
            int colon = line.IndexOf(':');
            if (colon <= 0)
                throw new InvalidDataException($"malformed header line '{line}'");
            headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        return headers;
    }

    private static string? Header(List<(string Name, string Value)> headers, string name) =>
        headers.LastOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    private static bool HasToken(string? value, string token) =>
        value is not null && value.Split(',').Any(t => t.Trim().Equals(token, StringComparison.OrdinalIgnoreCase));

    private static BodyFraming Framing(List<(string Name, string Value)> headers, bool isResponse)
    {
        if (HasToken(Header(headers, "Transfer-Encoding"), "chunked"))
            return new BodyFraming(0, true, false);
        if (Header(headers, "Content-Length") is { } length)
        {
            if (!long.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                throw new InvalidDataException($"bad Content-Length '{length}'");
            return new BodyFraming(n, false, false);
        }
        return isResponse ? new BodyFraming(0, false, true) : BodyFraming.None;
    }

    private sealed class RequestHead
    {
        private RequestHead(string method, string target, string version, List<(string Name, string Value)> headers)
        {
            Method = method;
            Target = target;
            Version = version;
            Headers = headers;
            Body = Framing(headers, isResponse: false);
            ExpectsContinue = HasToken(Header(headers, "Expect"), "100-continue");
            WantsClose = HasToken(Header(headers, "Connection"), "close") || version == "HTTP/1.0";
        }

        public string Method { get; }
        public string Target { get; }
        public string Version { get; }
        public List<(string Name, string Value)> Headers { get; }
        public BodyFraming Body { get; }
        public bool ExpectsContinue { get; }
        public bool WantsClose { get; }

        public static RequestHead Parse(byte[] raw)
        {
            string[] lines = Encoding.Latin1.GetString(raw).Split("\r\n");
            string[] start = lines[0].Split(' ');
            if (start.Length != 3 || !start[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
                throw new InvalidDataException($"malformed request line '{lines[0]}'");
            return new RequestHead(start[0], start[1], start[2], ParseHeaders(lines));
        }

        /// <summary>The head as sent upstream: unchanged but for Expect, which the proxy answered itself.</summary>
        public byte[] ForwardedHead()
        {
            var text = new StringBuilder($"{Method} {Target} {Version}\r\n");
            foreach (var (name, value) in Headers)
            {
                if (!name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
                    text.Append(name).Append(": ").Append(value).Append("\r\n");
            }
            text.Append("\r\n");
            return Encoding.Latin1.GetBytes(text.ToString());
        }
    }

    private sealed class ResponseHead
    {
        private ResponseHead(byte[] raw, int status, BodyFraming body, bool wantsClose)
        {
            Raw = raw;
            Status = status;
            Body = body;
            WantsClose = wantsClose;
        }

        public byte[] Raw { get; }
        public int Status { get; }
        public BodyFraming Body { get; }
        public bool WantsClose { get; }

        public static ResponseHead Parse(byte[] raw, string requestMethod)
        {
            string[] lines = Encoding.Latin1.GetString(raw).Split("\r\n");
            string[] start = lines[0].Split(' ', 3);
            if (start.Length < 2 || !start[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
                || !int.TryParse(start[1], NumberStyles.None, CultureInfo.InvariantCulture, out int status))
                throw new InvalidDataException($"malformed status line '{lines[0]}'");
            var headers = ParseHeaders(lines);
            bool bodiless = requestMethod == "HEAD" || status is (>= 100 and < 200) or 204 or 304;
            var body = bodiless ? BodyFraming.None : Framing(headers, isResponse: true);
            bool close = HasToken(Header(headers, "Connection"), "close") || start[0] == "HTTP/1.0";
            return new ResponseHead(raw, status, body, close);
        }
    }

    /// <summary>A socket with a read buffer; every operation is bounded by <see cref="IoTimeout"/>.</summary>
    private sealed class Connection(Socket socket, FaultProxy proxy)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private int Buffered => _end - _start;

        /// <summary>Reads up to and including the blank line that ends a head; null at a clean close before
        /// any byte (or, when <paramref name="idle"/>, after an idle timeout on a keep-alive connection).</summary>
        public async Task<byte[]?> ReadHeadAsync(bool idle)
        {
            int scanned = 0;
            while (true)
            {
                int at = _buffer.AsSpan(_start + scanned, Buffered - scanned).IndexOf("\r\n\r\n"u8);
                if (at >= 0)
                {
                    int length = scanned + at + 4;
                    byte[] head = _buffer.AsSpan(_start, length).ToArray();
                    _start += length;
                    return head;
                }
                scanned = Math.Max(0, Buffered - 3);
                if (Buffered >= MaxHeadBytes)
                    throw new InvalidDataException($"message head longer than {MaxHeadBytes} bytes");
                int n;
                try
                {
                    n = await FillAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (idle && Buffered == 0 && !proxy._stop.IsCancellationRequested)
                {
                    return null;
                }
                if (n == 0)
                {
                    if (Buffered == 0)
                        return null;
                    throw new IOException("connection closed in the middle of a message head");
                }
            }
        }

        private async Task<int> FillAsync()
        {
            if (_start > 0)
            {
                _buffer.AsSpan(_start, Buffered).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
                throw new InvalidDataException("read buffer full");
            using var timeout = proxy.Timeout();
            int n = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            _end += n;
            return n;
        }

        /// <summary>Some bytes (at most <paramref name="max"/>) from the buffer or the socket; 0 at end of stream.</summary>
        private async Task<ReadOnlyMemory<byte>> ReadSomeAsync(long max)
        {
            if (Buffered == 0 && await FillAsync().ConfigureAwait(false) == 0)
                return ReadOnlyMemory<byte>.Empty;
            int n = (int)Math.Min(max, Buffered);
            var chunk = _buffer.AsMemory(_start, n);
            _start += n;
            return chunk;
        }

        private async Task<string> ReadLineAsync()
        {
            int scanned = 0;
            while (true)
            {
                int at = _buffer.AsSpan(_start + scanned, Buffered - scanned).IndexOf("\r\n"u8);
                if (at >= 0)
                {
                    string line = Encoding.Latin1.GetString(_buffer, _start, scanned + at);
                    _start += scanned + at + 2;
                    return line;
                }
                scanned = Math.Max(0, Buffered - 1);
                if (Buffered >= 8192)
                    throw new InvalidDataException("chunk line too long");
                if (await FillAsync().ConfigureAwait(false) == 0)
                    throw new IOException("connection closed in the middle of a chunked body");
            }
        }

        public async Task WriteAsync(ReadOnlyMemory<byte> data)
        {
            using var timeout = proxy.Timeout();
            while (!data.IsEmpty)
            {
                int sent = await socket.SendAsync(data, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                data = data[sent..];
            }
        }

        private Task<long> CopyAsync(Connection? to, long count) => CopyAsync(to, count, stopAtEnd: false);

        /// <summary>Copies <paramref name="count"/> bytes (or to end of stream with <paramref name="stopAtEnd"/>).</summary>
        private async Task<long> CopyAsync(Connection? to, long count, bool stopAtEnd)
        {
            long copied = 0;
            while (copied < count)
            {
                var chunk = await ReadSomeAsync(count - copied).ConfigureAwait(false);
                if (chunk.IsEmpty)
                {
                    if (stopAtEnd)
                        return copied;
                    throw new IOException($"connection closed after {copied} of {count} body bytes");
                }
                if (to is not null)
                    await to.WriteAsync(chunk).ConfigureAwait(false);
                copied += chunk.Length;
            }
            return copied;
        }

        public Task DiscardBodyAsync(BodyFraming body) => RelayBodyAsync(null, body, partial: false);

        /// <summary>Copies a body from this connection to <paramref name="to"/> (null: discard). With
        /// <paramref name="partial"/>, stops after about half of it (half of the first chunk when chunked).</summary>
        public async Task RelayBodyAsync(Connection? to, BodyFraming body, bool partial)
        {
            if (body.UntilClose)
            {
                await CopyAsync(to, partial ? 1 : long.MaxValue, stopAtEnd: true).ConfigureAwait(false);
                return;
            }
            if (!body.Chunked)
            {
                await CopyAsync(to, partial ? body.Length / 2 : body.Length).ConfigureAwait(false);
                return;
            }
            while (true)
            {
                string line = await ReadLineAsync().ConfigureAwait(false);
                string hex = line.Split(';', 2)[0].Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long size) || size < 0)
                    throw new InvalidDataException($"bad chunk size line '{line}'");
                if (to is not null)
                    await to.WriteAsync(Encoding.Latin1.GetBytes(line + "\r\n")).ConfigureAwait(false);
                if (partial)
                {
                    await CopyAsync(to, size / 2).ConfigureAwait(false);
                    return;
                }
                if (size == 0)
                {
                    // Trailers, then the blank line.
                    while (true)
                    {
                        string trailer = await ReadLineAsync().ConfigureAwait(false);
                        if (to is not null)
                            await to.WriteAsync(Encoding.Latin1.GetBytes(trailer + "\r\n")).ConfigureAwait(false);
                        if (trailer.Length == 0)
                            return;
                    }
                }
                await CopyAsync(to, size + 2).ConfigureAwait(false); // data and its CRLF
            }
        }

        /// <summary>Half-closes (FIN) so the peer sees a clean end of stream.</summary>
        public void ShutdownSend()
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
