using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.RuntimeDependencies;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.Logging;

namespace WalShip.Storage;

/// <summary>What --role-arn and its companions say. <see cref="ExternalId"/> is a shared secret: it is
/// sent to STS and hashed into the cache key, and appears in no message.</summary>
public sealed record AssumeRoleSettings(
    string RoleArn,
    string? ExternalId,
    string SessionName,
    TimeSpan Duration,
    string? StsEndpoint,
    string StsRegion,
    string? CacheDirectory);

/// <summary>
/// Credentials of an assumed role, through the SDK's refreshing machinery: the SDK asks for new ones
/// when the current ones come near expiry, and its STS client retries the call. Before asking STS, the
/// file cache is consulted, and after it the new credentials are stored there.
/// </summary>
public sealed class AssumedRoleCredentials : RefreshingAWSCredentials
{
    private readonly AmazonSecurityTokenServiceClient _sts;
    private readonly AssumeRoleSettings _role;
    private readonly CredentialCache? _cache;
    private readonly string _cacheKey;
    private readonly string _sourceDescription;
    private readonly ILogger _logger;

    public AssumedRoleCredentials(AWSCredentials source, string sourceIdentity, AssumeRoleSettings role, TimeSpan requestTimeout, ILogger logger)
    {
        SourceCredentials = source;
        _role = role;
        _logger = logger;
        _sourceDescription = sourceIdentity;
        _sts = new AmazonSecurityTokenServiceClient(source, StsClients.Config(role.StsRegion, role.StsEndpoint, requestTimeout));
        _cache = role.CacheDirectory is null ? null : new CredentialCache(role.CacheDirectory, logger);
        _cacheKey = CredentialCache.KeyFor(role.RoleArn, role.ExternalId, sourceIdentity, role.StsEndpoint);
        // The margin is applied to the expiration handed to the SDK (see State), which scales it with
        // the credentials' lifetime; the SDK's own buffers assume hour-long credentials.
        PreemptExpiryTime = TimeSpan.Zero;
        ExpirationBuffer = TimeSpan.Zero;
    }

    public string RoleArn => _role.RoleArn;

    /// <summary>The credentials the role is assumed with.</summary>
    public AWSCredentials SourceCredentials { get; }

    /// <summary>AssumeRole calls this process made (for tests and the debug log).</summary>
    public int StsCalls { get; private set; }

    /// <summary>Drops the current credentials, here and in the cache: S3 said they expired or are invalid.</summary>
    public void Invalidate()
    {
        ClearCredentials();
        _cache?.Remove(_cacheKey);
    }

    protected override CredentialsRefreshState GenerateNewCredentials() =>
        GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        if (_cache?.TryRead(_cacheKey, DateTimeOffset.UtcNow) is { } cached)
        {
            _logger.LogDebug("using cached credentials of role {Role}, valid until {Expiration:O}", _role.RoleArn, cached.Expiration);
            return State(cached);
        }

        var request = new AssumeRoleRequest
        {
            RoleArn = _role.RoleArn,
            RoleSessionName = _role.SessionName,
            DurationSeconds = (int)_role.Duration.TotalSeconds,
            ExternalId = _role.ExternalId,
        };
        AssumeRoleResponse response;
        var issued = DateTimeOffset.UtcNow;
        try
        {
            StsCalls++;
            response = await _sts.AssumeRoleAsync(request);
        }
        catch (Exception e)
        {
            throw StsClients.Classify(e, $"cannot assume role {_role.RoleArn} with the source credentials ({_sourceDescription})",
                _role.ExternalId, _role.StsEndpoint);
        }
        var credentials = response.Credentials;
        var expiration = credentials.Expiration is { } expires ? new DateTimeOffset(expires.ToUniversalTime(), TimeSpan.Zero) : issued + _role.Duration;
        var fresh = new CachedCredentials
        {
            Key = _cacheKey,
            AccessKeyId = credentials.AccessKeyId,
            SecretAccessKey = credentials.SecretAccessKey,
            SessionToken = credentials.SessionToken,
            Issued = issued,
            Expiration = expiration,
        };
        _logger.LogInformation("assumed role {Role} as {Arn}, credentials valid until {Expiration:O}",
            _role.RoleArn, response.AssumedRoleUser?.Arn ?? "?", expiration);
        _cache?.Write(fresh);
        return State(fresh);
    }

    private static CredentialsRefreshState State(CachedCredentials credentials) => new(
        new ImmutableCredentials(credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken),
        (credentials.Expiration - credentials.RenewalMargin).UtcDateTime);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _sts.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>STS clients: walship's own (GetCallerIdentity, AssumeRole) and the one the SDK's own
/// providers (web identity, EKS IRSA) need, which under NativeAOT must be registered, not reflected.</summary>
public static class StsClients
{
    private static int s_registered;

    public static AmazonSecurityTokenServiceConfig Config(string region, string? endpoint, TimeSpan requestTimeout)
    {
        var config = new AmazonSecurityTokenServiceConfig
        {
            RegionEndpoint = RegionEndpoint.GetBySystemName(region),
            Timeout = requestTimeout,
            ConnectTimeout = TimeSpan.FromSeconds(Math.Min(10, requestTimeout.TotalSeconds)),
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = 3,
        };
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            config.AuthenticationRegion = region;
        }
        return config;
    }

    /// <summary>
    /// Registers the STS client the SDK's web identity provider asks the runtime registry for (under
    /// NativeAOT it cannot load AWSSDK.SecurityToken by reflection). AssumeRoleWithWebIdentity is an
    /// unsigned call, so the client has no credentials of its own: giving it any would send the SDK
    /// round the default chain, back to web identity.
    /// </summary>
    public static void RegisterForSdkProviders(string? region, string? endpoint, TimeSpan requestTimeout)
    {
        if (Interlocked.Exchange(ref s_registered, 1) != 0)
            return;
        GlobalRuntimeDependencyRegistry.Instance.RegisterSecurityTokenServiceClient(context =>
            new AmazonSecurityTokenServiceClient(new AnonymousAWSCredentials(),
                Config(region ?? context.SecurityTokenServiceClientContextData?.Region?.SystemName ?? "us-east-1", endpoint, requestTimeout)));
    }

    /// <summary>Who the credentials belong to (sts:GetCallerIdentity, which needs no permission).</summary>
    public static async Task<(string Arn, string Account)> WhoAmIAsync(AWSCredentials credentials, string region, string? endpoint,
        TimeSpan requestTimeout, CancellationToken cancellationToken)
    {
        using var sts = new AmazonSecurityTokenServiceClient(credentials, Config(region, endpoint, requestTimeout));
        try
        {
            var identity = await sts.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken);
            return (identity.Arn, identity.Account);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Classify(e, "asking STS whom the credentials belong to (GetCallerIdentity)", null, endpoint);
        }
    }

    /// <summary>An STS failure in one clear line, with the external id scrubbed from whatever STS said.</summary>
    public static StorageException Classify(Exception e, string what, string? externalId, string? endpoint)
    {
        if (e is StorageException storage)
            return storage;
        string Scrub(string message) => string.IsNullOrEmpty(externalId) ? message : message.Replace(externalId, "***", StringComparison.Ordinal);
        if (e is AmazonServiceException service && !string.IsNullOrEmpty(service.ErrorCode))
        {
            string detail = $"{what}: {service.ErrorCode}: {Scrub(service.Message)}";
            return service.ErrorCode switch
            {
                "AccessDenied" => new(ErrorClass.Auth,
                    detail + " (check --role-arn, --external-id and the role's trust policy, which must trust this account with this external id)", e),
                "InvalidClientTokenId" or "SignatureDoesNotMatch" or "MissingAuthenticationToken" or "IncompleteSignature"
                    => new(ErrorClass.Auth, detail + " (the source credentials are wrong or disabled)", e),
                "ExpiredToken" or "ExpiredTokenException" or "InvalidIdentityToken" or "IDPRejectedClaim"
                    => new(ErrorClass.Auth, detail, e),
                "RegionDisabledException" => new(ErrorClass.Config, detail + " (activate STS in this region, or set --sts-region)", e),
                "Throttling" or "ThrottlingException" or "RequestLimitExceeded" => new(ErrorClass.Throttled, detail, e),
                "ValidationError" or "MalformedPolicyDocument" or "PackedPolicyTooLarge"
                    => new(ErrorClass.Config, detail + " (check --role-arn, --role-session-name and --role-duration)", e),
                _ => service.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
                    ? new(ErrorClass.Auth, detail, e)
                    : (int)service.StatusCode >= 500 ? new(ErrorClass.Transient, detail, e) : new(ErrorClass.Config, detail, e),
            };
        }
        if (e is AmazonClientException && e.Message.Contains("credential", StringComparison.OrdinalIgnoreCase))
            return new(ErrorClass.Auth, $"{what}: no usable source credentials ({Scrub(e.Message)})", e);
        string where = endpoint ?? "the STS endpoint";
        return new(ErrorClass.Transient, $"{what}: cannot reach {where}: {Scrub(e.Message)}", e);
    }
}
