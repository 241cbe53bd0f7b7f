using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace WalShip.Tests.Fixtures;

/// <summary>An IAM user with long-term keys in one "account", and what it may do to which buckets.</summary>
public sealed record AwsUser(string Account, string Name, string AccessKeyId, string SecretAccessKey, BucketGrant[] Grants)
{
    public string Arn => $"arn:aws:iam::{Account}:user/{Name}";
}

/// <summary>Permissions on one bucket: read (GET/HEAD objects), list, write (PUT, multipart), delete.</summary>
public sealed record BucketGrant(string Bucket, bool Read = true, bool List = true, bool Write = false, bool Delete = false);

/// <summary>An IAM role: the account it lives in, whom it trusts (accounts, with an external id), its grants,
/// and optionally the web identity token that may assume it.</summary>
public sealed record AwsRole(string Account, string Name, string[] TrustedAccounts, string? ExternalId, BucketGrant[] Grants, string? WebIdentityToken = null)
{
    public string Arn => $"arn:aws:iam::{Account}:role/{Name}";
}

/// <summary>
/// A loopback STS endpoint and an S3 front to s3rver that enforces credentials the way AWS does. STS
/// (Query API over POST) answers AssumeRole (SigV4-signed by a known user; the role must trust the user's
/// account with the right external id), AssumeRoleWithWebIdentity (unsigned; the token must match the
/// role's) and GetCallerIdentity, issuing temporary credentials that expire after
/// <see cref="IssuedLifetime"/> if set, else after the DurationSeconds asked for. The S3 front forwards a
/// request to s3rver only if its SigV4 signature verifies with a known key, a temporary key's session
/// token matches and has not expired, the body matches x-amz-content-sha256 and the identity's grants
/// allow the operation on the bucket; otherwise it answers AWS's XML errors (InvalidAccessKeyId,
/// SignatureDoesNotMatch, InvalidToken, ExpiredToken, AccessDenied).
/// </summary>
public sealed class AuthGateway : IAsyncDisposable
{
    public const string Region = "us-east-1";
    private static readonly HttpClient s_upstream = new() { Timeout = TimeSpan.FromSeconds(60) };

    private readonly HttpListener _sts;
    private readonly HttpListener _s3;
    private readonly string _upstream;
    private readonly Dictionary<string, AwsUser> _users;
    private readonly Dictionary<string, AwsRole> _roles;
    private readonly ConcurrentDictionary<string, Session> _sessions = new();
    private readonly ConcurrentDictionary<string, int> _stsCalls = new();
    private readonly ConcurrentDictionary<string, int> _s3Errors = new();
    private readonly Task[] _loops;
    private int _s3Forwarded;

    private sealed record Session(string AccessKeyId, string SecretAccessKey, string Token, DateTimeOffset Expiration, AwsRole Role, string SessionName)
    {
        public volatile bool Revoked;
    }

    private AuthGateway(string upstream, IEnumerable<AwsUser> users, IEnumerable<AwsRole> roles)
    {
        _upstream = upstream.TrimEnd('/');
        _users = users.ToDictionary(u => u.AccessKeyId);
        _roles = roles.ToDictionary(r => r.Arn);
        (_sts, StsPort) = Listen();
        (_s3, S3Port) = Listen();
        _loops = [Task.Run(() => ServeAsync(_sts, HandleStsAsync)), Task.Run(() => ServeAsync(_s3, HandleS3Async))];
    }

    /// <summary>Starts the gateway in front of <paramref name="s3rverEndpoint"/>.</summary>
    public static AuthGateway Start(string s3rverEndpoint, IEnumerable<AwsUser> users, IEnumerable<AwsRole> roles) => new(s3rverEndpoint, users, roles);

    public int StsPort { get; }
    public int S3Port { get; }
    public string StsEndpoint => $"http://127.0.0.1:{StsPort}";
    public string S3Endpoint => $"http://127.0.0.1:{S3Port}";

    /// <summary>When set, every credential issued from now on expires after this, whatever was asked for.</summary>
    public TimeSpan? IssuedLifetime { get; set; }

    /// <summary>STS calls of one action (AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity), answered or refused.</summary>
    public int StsCalls(string action) => _stsCalls.GetValueOrDefault(action);

    /// <summary>S3 requests refused with this error code.</summary>
    public int S3Errors(string code) => _s3Errors.GetValueOrDefault(code);

    /// <summary>S3 requests that passed every check and went to s3rver.</summary>
    public int S3Forwarded => Volatile.Read(ref _s3Forwarded);

    /// <summary>Makes every session issued so far answer ExpiredToken, as if their time had run out early.</summary>
    public void ExpireAllSessions()
    {
        foreach (var session in _sessions.Values)
            session.Revoked = true;
    }

    private static (HttpListener, int) Listen()
    {
        for (int attempt = 0; ; attempt++)
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
            }
        }
    }

    private static async Task ServeAsync(HttpListener listener, Func<HttpListenerContext, Task> handle)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                try
                {
                    await handle(context);
                }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
                {
                    // The client went away.
                }
                catch (Exception e)
                {
                    try
                    {
                        await RespondAsync(context.Response, 500, "application/xml", S3ErrorXml("InternalError", e.Message));
                    }
                    catch (Exception) { }
                }
            });
        }
    }

    // ---------------------------------------------------------------- STS

    private async Task HandleStsAsync(HttpListenerContext context)
    {
        var request = context.Request;
        byte[] body = await ReadBodyAsync(request);
        var form = ParseQuery(request.HttpMethod == "POST" ? Encoding.UTF8.GetString(body) : request.Url?.Query.TrimStart('?') ?? "");
        string action = form.GetValueOrDefault("Action", "");
        _stsCalls.AddOrUpdate(action, 1, (_, n) => n + 1);

        if (action == "AssumeRoleWithWebIdentity")
        {
            string roleArn = form.GetValueOrDefault("RoleArn", "");
            if (!_roles.TryGetValue(roleArn, out var webRole) || webRole.WebIdentityToken is null
                || form.GetValueOrDefault("WebIdentityToken") != webRole.WebIdentityToken)
            {
                await StsErrorAsync(context.Response, 403, "AccessDenied", $"Not authorized to perform sts:AssumeRoleWithWebIdentity on {roleArn}");
                return;
            }
            var issued = Issue(webRole, form.GetValueOrDefault("RoleSessionName", "web"), form);
            await RespondAsync(context.Response, 200, "text/xml", CredentialsXml("AssumeRoleWithWebIdentity", issued));
            return;
        }

        var (caller, error) = Authenticate(request, body, "sts");
        if (caller is null)
        {
            await StsErrorAsync(context.Response, error!.Value.Status, error.Value.Code, error.Value.Message);
            return;
        }
        switch (action)
        {
            case "GetCallerIdentity":
                await RespondAsync(context.Response, 200, "text/xml", $"""
                    <GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>{caller.Arn}</Arn><UserId>{caller.UserId}</UserId><Account>{caller.Account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{Guid.NewGuid()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>
                    """);
                return;
            case "AssumeRole":
                string roleArn = form.GetValueOrDefault("RoleArn", "");
                if (!_roles.TryGetValue(roleArn, out var role) || !role.TrustedAccounts.Contains(caller.Account)
                    || (role.ExternalId is not null && form.GetValueOrDefault("ExternalId") != role.ExternalId))
                {
                    await StsErrorAsync(context.Response, 403, "AccessDenied",
                        $"User: {caller.Arn} is not authorized to perform: sts:AssumeRole on resource: {roleArn}");
                    return;
                }
                var issued = Issue(role, form.GetValueOrDefault("RoleSessionName", "session"), form);
                await RespondAsync(context.Response, 200, "text/xml", CredentialsXml("AssumeRole", issued));
                return;
            default:
                await StsErrorAsync(context.Response, 400, "InvalidAction", $"Could not find operation {action} for version 2011-06-15");
                return;
        }
    }

    private Session Issue(AwsRole role, string sessionName, Dictionary<string, string> form)
    {
        var lifetime = IssuedLifetime
                       ?? TimeSpan.FromSeconds(int.TryParse(form.GetValueOrDefault("DurationSeconds"), CultureInfo.InvariantCulture, out int seconds) ? seconds : 3600);
        var session = new Session("ASIA" + RandomToken(8), RandomToken(20), "FQoG" + RandomToken(40),
            DateTimeOffset.UtcNow + lifetime, role, sessionName);
        _sessions[session.AccessKeyId] = session;
        return session;
    }

    private static string CredentialsXml(string action, Session session) => $"""
        <{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result><Credentials><AccessKeyId>{session.AccessKeyId}</AccessKeyId><SecretAccessKey>{session.SecretAccessKey}</SecretAccessKey><SessionToken>{session.Token}</SessionToken><Expiration>{session.Expiration.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA{RandomToken(6)}:{session.SessionName}</AssumedRoleId><Arn>arn:aws:sts::{session.Role.Account}:assumed-role/{session.Role.Name}/{session.SessionName}</Arn></AssumedRoleUser></{action}Result><ResponseMetadata><RequestId>{Guid.NewGuid()}</RequestId></ResponseMetadata></{action}Response>
        """;

    private static Task StsErrorAsync(HttpListenerResponse response, int status, string code, string message) =>
        RespondAsync(response, status, "text/xml", $"""
            <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message></Error><RequestId>{Guid.NewGuid()}</RequestId></ErrorResponse>
            """);

    // ---------------------------------------------------------------- S3

    private static bool IsDeleteObjects(string query) =>
        query.TrimStart('?').Split('&').Any(part => part is "delete" or "delete=");

    private async Task HandleS3Async(HttpListenerContext context)
    {
        var request = context.Request;
        byte[] body = await ReadBodyAsync(request);
        var (caller, error) = Authenticate(request, body, "s3");
        if (caller is null)
        {
            await S3ErrorAsync(context, error!.Value.Status, error.Value.Code, error.Value.Message);
            return;
        }
        string rawPath = request.RawUrl!.Split('?', 2)[0];
        string bucket = Uri.UnescapeDataString(rawPath.TrimStart('/').Split('/', 2)[0]);
        bool hasKey = rawPath.TrimStart('/').Split('/', 2) is [_, { Length: > 0 }];
        var grant = caller.Grants.FirstOrDefault(g => g.Bucket == bucket);
        bool batchDelete = request.HttpMethod == "POST" && !hasKey && IsDeleteObjects(request.Url!.Query);
        if (batchDelete && grant?.Delete != true && grant is not null)
        {
            // Like S3: DeleteObjects itself succeeds, and each key it may not delete comes back as an error.
            await DeniedDeleteResultAsync(context, body);
            return;
        }
        bool allowed = request.HttpMethod switch
        {
            // DeleteObjects (POST /bucket?delete) needs s3:DeleteObject, as on AWS.
            "POST" when batchDelete => grant?.Delete == true,
            "GET" or "HEAD" => hasKey ? grant?.Read == true : grant?.List == true,
            "PUT" or "POST" => hasKey && grant?.Write == true,
            "DELETE" => hasKey && (grant?.Delete == true || (request.Url!.Query.Contains("uploadId=") && grant?.Write == true)),
            _ => false,
        };
        if (!allowed)
        {
            await S3ErrorAsync(context, 403, "AccessDenied", "Access Denied");
            return;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), _upstream + request.RawUrl);
        if (body.Length > 0 || request.HttpMethod is "PUT" or "POST")
            forward.Content = new ByteArrayContent(body);
        foreach (string? name in request.Headers.AllKeys)
        {
            if (name is null || name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Host", StringComparison.OrdinalIgnoreCase)
                || name.Equals("X-Amz-Security-Token", StringComparison.OrdinalIgnoreCase) || name.Equals("Expect", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                continue;
            string value = request.Headers[name]!;
            if (!forward.Headers.TryAddWithoutValidation(name, value))
                forward.Content?.Headers.TryAddWithoutValidation(name, value);
        }
        using var upstream = await s_upstream.SendAsync(forward, HttpCompletionOption.ResponseContentRead);
        Interlocked.Increment(ref _s3Forwarded);
        var response = context.Response;
        response.StatusCode = (int)upstream.StatusCode;
        foreach (var header in upstream.Headers.Concat(upstream.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding" or "Connection" or "Keep-Alive" or "Content-Length")
                continue;
            response.Headers[header.Key] = string.Join(",", header.Value);
        }
        byte[] content = await upstream.Content.ReadAsByteArrayAsync();
        if (request.HttpMethod == "HEAD")
        {
            response.ContentLength64 = upstream.Content.Headers.ContentLength ?? 0;
            response.Close();
            return;
        }
        response.ContentLength64 = content.Length;
        await response.OutputStream.WriteAsync(content);
        response.Close();
    }

    private async Task DeniedDeleteResultAsync(HttpListenerContext context, byte[] body)
    {
        _s3Errors.AddOrUpdate("AccessDenied", 1, (_, n) => n + 1);
        var keys = System.Xml.Linq.XDocument.Parse(Encoding.UTF8.GetString(body)).Descendants()
            .Where(element => element.Name.LocalName == "Key").Select(element => element.Value);
        var result = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        foreach (string key in keys)
            result.Append("<Error><Key>").Append(SecurityElement.Escape(key)).Append("</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
        byte[] content = Encoding.UTF8.GetBytes(result.Append("</DeleteResult>").ToString());
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/xml";
        context.Response.ContentLength64 = content.Length;
        await context.Response.OutputStream.WriteAsync(content);
        context.Response.Close();
    }

    private async Task S3ErrorAsync(HttpListenerContext context, int status, string code, string message)
    {
        _s3Errors.AddOrUpdate(code, 1, (_, n) => n + 1);
        if (context.Request.HttpMethod == "HEAD")
        {
            // A HEAD answer has no body, so S3 cannot name the error: the status is all the client sees.
            context.Response.StatusCode = status;
            context.Response.ContentLength64 = 0;
            context.Response.Close();
            return;
        }
        await RespondAsync(context.Response, status, "application/xml", S3ErrorXml(code, message));
    }

    private static string S3ErrorXml(string code, string message) =>
        $"""<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message><RequestId>{RandomToken(8)}</RequestId></Error>""";

    // ---------------------------------------------------------------- SigV4

    private sealed record Caller(string Account, string Arn, string UserId, BucketGrant[] Grants);

    private readonly record struct AuthError(int Status, string Code, string Message);

    /// <summary>Checks the SigV4 signature with the secret the gateway knows for the access key, and for
    /// temporary keys the session token and its expiry.</summary>
    private (Caller?, AuthError?) Authenticate(HttpListenerRequest request, byte[] body, string service)
    {
        string? authorization = request.Headers["Authorization"];
        if (authorization is null || !authorization.StartsWith("AWS4-HMAC-SHA256 ", StringComparison.Ordinal))
            return (null, new AuthError(403, service == "s3" ? "AccessDenied" : "MissingAuthenticationToken", "Request is missing Authentication Token"));
        var parts = authorization["AWS4-HMAC-SHA256 ".Length..].Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders)
            || !parts.TryGetValue("Signature", out var signature))
            return (null, new AuthError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed"));
        string[] scope = credential.Split('/');
        if (scope.Length != 5)
            return (null, new AuthError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed"));
        string accessKeyId = scope[0];

        string secret;
        Caller caller;
        string? token = request.Headers["X-Amz-Security-Token"];
        if (_users.TryGetValue(accessKeyId, out var user))
        {
            secret = user.SecretAccessKey;
            caller = new Caller(user.Account, user.Arn, "AIDA" + user.Name.ToUpperInvariant(), user.Grants);
        }
        else if (_sessions.TryGetValue(accessKeyId, out var session))
        {
            if (token is null || token != session.Token)
                return (null, new AuthError(400, service == "s3" ? "InvalidToken" : "InvalidClientTokenId", "The provided token is malformed or otherwise invalid."));
            if (session.Revoked || DateTimeOffset.UtcNow >= session.Expiration)
                return (null, new AuthError(400, service == "s3" ? "ExpiredToken" : "ExpiredTokenException", "The provided token has expired."));
            secret = session.SecretAccessKey;
            caller = new Caller(session.Role.Account, $"arn:aws:sts::{session.Role.Account}:assumed-role/{session.Role.Name}/{session.SessionName}",
                $"AROA{session.Role.Name.ToUpperInvariant()}:{session.SessionName}", session.Role.Grants);
        }
        else
            return (null, new AuthError(403, service == "s3" ? "InvalidAccessKeyId" : "InvalidClientTokenId",
                "The AWS Access Key Id you provided does not exist in our records."));

        string payloadHash = request.Headers["x-amz-content-sha256"] ?? Convert.ToHexStringLower(SHA256.HashData(body));
        if (payloadHash.Length == 64 && !payloadHash.Equals(Convert.ToHexStringLower(SHA256.HashData(body)), StringComparison.OrdinalIgnoreCase))
            return (null, new AuthError(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."));

        string[] rawTarget = request.RawUrl!.Split('?', 2);
        var canonicalHeaders = new StringBuilder();
        foreach (string name in signedHeaders.Split(';'))
        {
            string value = name == "host" ? request.Headers["Host"] ?? "" : request.Headers[name] ?? "";
            canonicalHeaders.Append(name).Append(':').Append(string.Join(' ', value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))).Append('\n');
        }
        string canonicalRequest = string.Join('\n',
            request.HttpMethod,
            rawTarget[0],
            CanonicalQuery(rawTarget.Length > 1 ? rawTarget[1] : ""),
            canonicalHeaders.ToString(),
            signedHeaders,
            payloadHash);
        string amzDate = request.Headers["X-Amz-Date"] ?? "";
        string stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{string.Join('/', scope[1..])}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        byte[] key = Encoding.UTF8.GetBytes("AWS4" + secret);
        foreach (string step in scope[1..])
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(step));
        string expected = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature)))
            return (null, new AuthError(403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."));
        return (caller, null);
    }

    private static string CanonicalQuery(string query)
    {
        if (query.Length == 0)
            return "";
        return string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => (Name: Encode(Uri.UnescapeDataString(p[0])), Value: Encode(p.Length > 1 ? Uri.UnescapeDataString(p[1]) : "")))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Name}={p.Value}"));

        static string Encode(string text)
        {
            var encoded = new StringBuilder();
            foreach (byte b in Encoding.UTF8.GetBytes(text))
            {
                char c = (char)b;
                if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')
                    encoded.Append(c);
                else
                    encoded.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            return encoded.ToString();
        }
    }

    // ---------------------------------------------------------------- helpers

    private static Dictionary<string, string> ParseQuery(string text)
    {
        var values = new Dictionary<string, string>();
        foreach (string pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = pair.Split('=', 2);
            values[Uri.UnescapeDataString(kv[0].Replace('+', ' '))] = kv.Length > 1 ? Uri.UnescapeDataString(kv[1].Replace('+', ' ')) : "";
        }
        return values;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpListenerRequest request)
    {
        if (!request.HasEntityBody)
            return [];
        using var buffer = new MemoryStream();
        await request.InputStream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static async Task RespondAsync(HttpListenerResponse response, int status, string contentType, string body)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }

    private static string RandomToken(int bytes) => Convert.ToHexString(RandomNumberGenerator.GetBytes(bytes));

    public async ValueTask DisposeAsync()
    {
        _sts.Stop();
        _s3.Stop();
        _sts.Close();
        _s3.Close();
        await Task.WhenAll(_loops);
    }
}
