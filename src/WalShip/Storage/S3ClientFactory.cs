using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.S3;
using Microsoft.Extensions.Logging;

namespace WalShip.Storage;

public sealed record S3Settings(
    string? Region,
    string? Endpoint,
    bool ForcePathStyle,
    string? CaFile,
    string? Profile,
    bool UseInstanceMetadata,
    TimeSpan RequestTimeout,
    AssumeRoleSettings? Role = null,
    string? StsEndpoint = null,
    string? StsRegion = null,
    bool S3IsTheOnlyTlsPeer = false);

/// <summary>An S3 client and the credentials it signs with; <see cref="AssumedRole"/> is set with --role-arn.</summary>
public sealed record S3Connection(AmazonS3Client Client, AWSCredentials Credentials, AssumedRoleCredentials? AssumedRole);

/// <summary>
/// Builds the S3 client from walship's settings. Credentials come from the SDK's own default chain
/// (environment, profile, web identity, container), with one change: the EC2 instance metadata service
/// is only asked when --use-instance-metadata says so, because off EC2 an unanswered IMDS probe costs
/// seconds per call.
/// </summary>
public static class S3ClientFactory
{
    /// <summary>Builds the client; <paramref name="credentials"/> replaces the default chain (tests).</summary>
    public static AmazonS3Client Create(S3Settings settings, AWSCredentials? credentials = null) =>
        Connect(settings, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, credentials).Client;

    public static S3Connection Connect(S3Settings settings, ILogger logger, AWSCredentials? credentials = null)
    {
        if (!settings.UseInstanceMetadata)
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");

        string region = settings.Region
                        ?? ProfileRegion(settings.Profile)
                        ?? (settings.Endpoint is not null ? "us-east-1" : null)
                        ?? throw new StorageException(ErrorClass.Config,
                            "no AWS region: set --region, WALSHIP_REGION or AWS_REGION (walship does not guess it from instance metadata)");

        var config = new AmazonS3Config
        {
            RegionEndpoint = RegionEndpoint.GetBySystemName(region),
            ForcePathStyle = settings.ForcePathStyle,
            Timeout = settings.RequestTimeout,
            ConnectTimeout = TimeSpan.FromSeconds(Math.Min(10, settings.RequestTimeout.TotalSeconds)),
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = 4,
            // Checksums are computed by walship and sent as plain headers (see S3ObjectStore).
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (settings.Endpoint is not null)
        {
            config.ServiceURL = settings.Endpoint;
            config.AuthenticationRegion = region;
        }
        // The CA file matters only for TLS, and parsing a full bundle (AWS_CA_BUNDLE often names the
        // system's, ~150 certificates) costs tens of milliseconds: load it at the first handshake.
        bool plainHttp = settings.Endpoint?.StartsWith("http://", StringComparison.OrdinalIgnoreCase) == true;
        if (settings.CaFile is { } caFile && !plainHttp)
        {
            if (!File.Exists(caFile))
                throw new StorageException(ErrorClass.Config, $"CA file {caFile} does not exist");
            config.HttpClientFactory = new PrivateCaHttpClientFactory(new Lazy<X509Certificate2Collection>(() => LoadCa(caFile)));
        }

        var (resolved, assumedRole) = credentials is not null ? (credentials, null) : ResolveCredentials(settings, region, logger);
        // Credentials that never refresh make no call of their own (STS, SSO, web identity), so the
        // S3 endpoint is the process's only TLS peer and the system store can be narrowed to its CA.
        if (settings.CaFile is { } trusted && !plainHttp && settings.S3IsTheOnlyTlsPeer && resolved is not RefreshingAWSCredentials)
        {
            SystemTrustStore.ConfineTo(trusted);
            logger.LogDebug("system trust store confined to {CaFile}: the S3 endpoint is the only TLS peer of this call", trusted);
        }
        return new S3Connection(new AmazonS3Client(resolved, config), resolved, assumedRole);
    }

    /// <summary>The source credentials (--profile or the default chain), and with --role-arn the role
    /// assumed with them.</summary>
    public static (AWSCredentials Credentials, AssumedRoleCredentials? AssumedRole) ResolveCredentials(S3Settings settings, string region, ILogger logger)
    {
        // The default chain's web identity provider (EKS IRSA) asks the SDK's registry for an STS client.
        StsClients.RegisterForSdkProviders(settings.StsRegion ?? region, settings.StsEndpoint, settings.RequestTimeout);
        var source = ResolveSourceCredentials(settings);
        if (settings.Role is not { } role)
            return (source, null);
        var assumed = new AssumedRoleCredentials(source, SourceIdentity(source, settings.Profile), role, settings.RequestTimeout, logger);
        return (assumed, assumed);
    }

    /// <summary>
    /// What identifies the source credentials in the cache key without calling anything: the access key
    /// id of static keys, the role of web identity, else the provider and profile. Temporary source
    /// credentials that change on every run (web identity) must not make every run miss the cache.
    /// </summary>
    private static string SourceIdentity(AWSCredentials source, string? profile) => source switch
    {
        AssumeRoleWithWebIdentityCredentials webIdentity => "web-identity:" + webIdentity.RoleArn,
        RefreshingAWSCredentials refreshing => $"provider:{refreshing.GetType().Name}:{profile ?? Environment.GetEnvironmentVariable("AWS_PROFILE") ?? ""}",
        _ => "key:" + source.GetCredentials().AccessKey,
    };

    private static AWSCredentials ResolveSourceCredentials(S3Settings settings)
    {
        if (settings.Profile is not null)
        {
            var chain = new CredentialProfileStoreChain();
            if (!chain.TryGetAWSCredentials(settings.Profile, out var fromProfile))
                throw new StorageException(ErrorClass.Config, $"AWS profile '{settings.Profile}' not found in ~/.aws/credentials or ~/.aws/config");
            return fromProfile;
        }
        try
        {
            return Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials(null);
        }
        catch (AmazonClientException e)
        {
            throw new StorageException(ErrorClass.Auth,
                "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or web identity variables" +
                (settings.UseInstanceMetadata ? "" : ", or allow the EC2 instance role with --use-instance-metadata"), e);
        }
    }

    private static string? ProfileRegion(string? profile)
    {
        string? name = profile ?? Environment.GetEnvironmentVariable("AWS_PROFILE");
        if (name is null)
            return null;
        return new CredentialProfileStoreChain().TryGetProfile(name, out var found) ? found.Region?.SystemName : null;
    }

    private static X509Certificate2Collection LoadCa(string path)
    {
        try
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPemFile(path);
            if (collection.Count == 0)
                throw new StorageException(ErrorClass.Config, $"CA file {path} holds no PEM certificates");
            return collection;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new StorageException(ErrorClass.Config, $"cannot load CA file {path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Trusts the given CAs (and only them) for the S3 endpoint; verification stays SslStream's own, with
    /// them as its chain policy. The policy alone does not stop .NET loading the system store
    /// (100-170 ms of CPU per process); push and fetch avoid that with <see cref="SystemTrustStore"/>.
    /// </summary>
    private sealed class PrivateCaHttpClientFactory(Lazy<X509Certificate2Collection> roots) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(roots.Value);
            var handler = new SocketsHttpHandler
            {
                ConnectTimeout = clientConfig.ConnectTimeout ?? TimeSpan.FromSeconds(10),
                SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy },
            };
            return new HttpClient(handler) { Timeout = clientConfig.Timeout ?? TimeSpan.FromSeconds(100) };
        }

        // One client for the process: every request after the first reuses its TLS connection.
        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;
        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
        public override string? GetConfigUniqueString(IClientConfig clientConfig) => "walship-private-ca";
    }
}
