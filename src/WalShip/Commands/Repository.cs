using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Storage;

namespace WalShip.Commands;

/// <summary>A repository opened from its URL: the store, and where things live in it.</summary>
public sealed class Repository(IObjectStore store, ArchiveLayout layout, string url, KeyRing? keys = null) : IDisposable
{
    /// <summary>Client-side encryption keys: push encrypts with the current one, decoding finds one by key id.</summary>
    public KeyRing Keys { get; } = keys ?? KeyRing.Empty;

    public IObjectStore Store { get; } = store;
    public ArchiveLayout Layout { get; } = layout;
    public string Url { get; } = url;

    public static Repository Open(string url, Func<string, IObjectStore> s3StoreForBucket) => Open(url, null, s3StoreForBucket);

    public static Repository Open(string url, EncryptionKeys? encryptionKeys, Func<string, IObjectStore> s3StoreForBucket)
    {
        var keys = encryptionKeys?.Ring ?? KeyRing.Empty;
        if (url.StartsWith("file://", StringComparison.Ordinal))
        {
            string path = Uri.UnescapeDataString(url["file://".Length..]);
            if (path.Contains('\0'))
                throw new StorageException(ErrorClass.Usage, $"repository URL '{url}' contains a NUL byte");
            if (!path.StartsWith('/'))
                throw new StorageException(ErrorClass.Usage, $"repository URL '{url}' needs an absolute path: file:///path/to/repo");
            return new Repository(new FileObjectStore(path), new ArchiveLayout(""), url, keys);
        }
        if (url.StartsWith("s3://", StringComparison.Ordinal))
        {
            string rest = url["s3://".Length..];
            int slash = rest.IndexOf('/');
            string bucket = slash < 0 ? rest : rest[..slash];
            string prefix = slash < 0 ? "" : rest[(slash + 1)..];
            if (!IsValidBucketName(bucket))
                throw new StorageException(ErrorClass.Usage, $"'{bucket}' in repository URL '{url}' is not a valid S3 bucket name");
            if (prefix.Contains("//") || prefix.Split('/').Any(part => part is "." or ".."))
                throw new StorageException(ErrorClass.Usage, $"repository prefix '{prefix}' has empty, '.' or '..' parts");
            return new Repository(s3StoreForBucket(bucket), new ArchiveLayout(prefix), url, keys);
        }
        throw new StorageException(ErrorClass.Usage, $"repository URL '{url}' must start with s3:// or file://");
    }

    internal static bool IsValidBucketName(string name) =>
        name.Length is >= 3 and <= 63
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')
        && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]);

    /// <summary>The repository's manifest, or null when it has none yet.</summary>
    public async Task<RepositoryManifest?> ReadManifestAsync(CancellationToken cancellationToken)
    {
        ObjectReader reader;
        try
        {
            reader = await Store.OpenReadAsync(Layout.ManifestKey, cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            return null;
        }
        using (reader)
        {
            if (reader.Length > 64 * 1024)
                throw new StorageException(ErrorClass.Corrupt, $"{Store.Describe(Layout.ManifestKey)} is {reader.Length} bytes; not a walship manifest");
            var bytes = new byte[reader.Length];
            await reader.Body.ReadExactlyAsync(bytes, cancellationToken);
            try
            {
                return RepositoryManifest.Parse(bytes);
            }
            catch (CorruptObjectException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{Store.Describe(Layout.ManifestKey)}: {e.Message}", e);
            }
        }
    }

    /// <summary>Binds the repository to a cluster, create-only; returns the manifest that won.</summary>
    public async Task<RepositoryManifest> BindAsync(ulong systemIdentifier, uint segmentSize, ILogger logger, CancellationToken cancellationToken)
    {
        var manifest = new RepositoryManifest
        {
            SystemIdentifier = systemIdentifier.ToString(),
            WalSegmentSize = segmentSize,
            Created = DateTimeOffset.UtcNow,
            CreatedBy = "walship " + BuildInfo.Version,
        };
        using var body = new Pipeline.PooledBuffer();
        body.Write(manifest.ToUtf8());
        try
        {
            await Store.PutIfAbsentAsync(Layout.ManifestKey, body, new Dictionary<string, string>(), cancellationToken);
            logger.LogInformation("bound repository {Repository} to cluster {SystemIdentifier}", Url, systemIdentifier);
            return manifest;
        }
        catch (StorageException e) when (e.Class == ErrorClass.Conflict)
        {
            return await ReadManifestAsync(cancellationToken)
                   ?? throw new StorageException(ErrorClass.Transient, "repository manifest exists but could not be read back");
        }
    }

    public void Dispose() => Store.Dispose();
}
