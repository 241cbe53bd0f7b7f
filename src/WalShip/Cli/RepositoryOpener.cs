using Microsoft.Extensions.Logging;
using WalShip.Commands;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>Opens the repository the settings name, with the S3 client they describe.</summary>
public static class RepositoryOpener
{
    public static Repository Open(Settings settings, ILogger logger, TimeSpan deadline) => Open(settings, logger, deadline, out _);

    /// <summary>Opens the repository for push, fetch and their look-ahead workers: calls that talk TLS
    /// to nothing but S3 (no PostgreSQL connection), so --ca-file may narrow the system trust store.</summary>
    public static Repository OpenForWal(Settings settings, ILogger logger, TimeSpan deadline) =>
        Open(settings, logger, deadline, out _, s3IsTheOnlyTlsPeer: true);

    /// <summary>Opens the repository; <paramref name="connection"/> is the S3 connection of an s3:// one.
    /// With <paramref name="cacheCredentials"/> false, a role is assumed afresh, past the credential cache.</summary>
    public static Repository Open(Settings settings, ILogger logger, TimeSpan deadline, out S3Connection? connection, bool cacheCredentials = true,
        bool s3IsTheOnlyTlsPeer = false)
    {
        string url = settings.Get(OptionSpec.Repo)!;
        var serverSideEncryption = EncryptionSettings.ServerSide(settings, url);
        var keys = EncryptionSettings.Keys(settings);
        S3Connection? opened = null;
        var repository = Repository.Open(url, keys, bucket =>
        {
            var s3 = new S3Settings(
                settings.Get(OptionSpec.Region),
                settings.Get(OptionSpec.Endpoint),
                settings.GetSwitch(OptionSpec.PathStyle),
                settings.Get(OptionSpec.CaFile),
                settings.Get(OptionSpec.Profile),
                settings.GetSwitch(OptionSpec.UseInstanceMetadata),
                deadline,
                cacheCredentials ? AssumeRole(settings) : AssumeRole(settings) is { } role ? role with { CacheDirectory = null } : null,
                settings.Get(OptionSpec.StsEndpoint),
                settings.Get(OptionSpec.StsRegion),
                s3IsTheOnlyTlsPeer);
            long partSize = settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30);
            int concurrency = settings.GetInt(OptionSpec.UploadConcurrency, 1, 64);
            opened = S3ClientFactory.Connect(s3, logger);
            return new S3ObjectStore(opened.Client, bucket, partSize, concurrency, logger, serverSideEncryption, opened.AssumedRole);
        });
        connection = opened;
        return repository;
    }

    /// <summary>The --role-arn settings, or null without --role-arn (then its companions are refused).</summary>
    public static AssumeRoleSettings? AssumeRole(Settings settings)
    {
        string? roleArn = settings.Get(OptionSpec.RoleArn);
        if (roleArn is null)
        {
            foreach (var companion in new[] { OptionSpec.ExternalId, OptionSpec.RoleSessionName })
                if (settings.Get(companion) is not null)
                    throw new UsageException($"--{companion.Name} (from {settings.Source(companion)}) needs --role-arn");
            return null;
        }
        if (!roleArn.StartsWith("arn:", StringComparison.Ordinal) || !roleArn.Contains(":role/", StringComparison.Ordinal))
            throw new UsageException($"--role-arn '{roleArn}' is not a role ARN like arn:aws:iam::111122223333:role/walship-reader");
        string? externalId = settings.Get(OptionSpec.ExternalId);
        if (externalId is not null && (externalId.Length is < 2 or > 1224 || externalId.Any(c => !(char.IsAsciiLetterOrDigit(c) || "+=,.@:/-_".Contains(c)))))
            throw new UsageException($"--external-id (from {settings.Source(OptionSpec.ExternalId)}) must be 2 to 1224 letters, digits or +=,.@:/-_");
        string sessionName = settings.Get(OptionSpec.RoleSessionName) ?? DefaultSessionName();
        if (sessionName.Length is < 2 or > 64 || sessionName.Any(c => !(char.IsAsciiLetterOrDigit(c) || "+=,.@-_".Contains(c))))
            throw new UsageException($"--role-session-name '{sessionName}' must be 2 to 64 letters, digits or +=,.@-_");
        var duration = settings.GetDuration(OptionSpec.RoleDuration, TimeSpan.FromMinutes(15), TimeSpan.FromHours(12));
        string? region = settings.Get(OptionSpec.StsRegion) ?? settings.Get(OptionSpec.Region);
        string? endpoint = settings.Get(OptionSpec.StsEndpoint);
        string? cache = settings.Get(OptionSpec.CredentialCache) switch
        {
            "off" => null,
            { } dir when !dir.StartsWith('/') => throw new UsageException($"--credential-cache '{dir}' must be an absolute path, or off"),
            { } dir => dir,
            null => CredentialCache.DefaultDirectory(Environment.GetEnvironmentVariable),
        };
        return new AssumeRoleSettings(roleArn, externalId, sessionName, duration, endpoint,
            region ?? (endpoint is not null ? "us-east-1" : throw new UsageException("--role-arn needs a region for STS: set --sts-region or --region")),
            cache);
    }

    private static string DefaultSessionName()
    {
        var name = new string(("walship-" + Environment.MachineName).Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_').ToArray());
        return name.Length > 64 ? name[..64] : name;
    }
}
