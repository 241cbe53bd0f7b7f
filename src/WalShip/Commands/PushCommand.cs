using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands;

/// <summary>One WAL file as it is archived: its key, the SHA-256 and length of its raw bytes, and the
/// length of the object that holds them.</summary>
public readonly record struct PushedFile(string Key, string RawSha256, long RawLength, long StoredLength);

/// <summary>
/// archive_command: walship push %p %f. Exits 0 only once the object is stored and read back; refuses
/// files from another cluster and never overwrites an object whose content differs.
/// </summary>
public sealed class PushCommand(Repository repository, ILogger logger, int compressionLevel, int compressionThreads)
{
    public async Task<int> RunAsync(string walPath, string fileName, string? dataDirectoryOption, CancellationToken cancellationToken)
    {
        await PushAsync(walPath, fileName, dataDirectoryOption, cancellationToken);
        return ExitCodes.Ok;
    }

    /// <summary>Archives the file, or proves it already archived identically; returns what is stored.
    /// <paramref name="rawObserver"/> sees every byte of the file as it is read for the archive.</summary>
    public async Task<PushedFile> PushAsync(string walPath, string fileName, string? dataDirectoryOption, CancellationToken cancellationToken,
        IByteFilter? rawObserver = null)
    {
        var clock = Stopwatch.StartNew();
        if (!WalFileName.TryParse(fileName, out var name))
            throw new StorageException(ErrorClass.Usage, $"'{fileName}' is not a WAL file name PostgreSQL archives (segment, .history, .backup or .partial)");
        var (fullPath, dataDirectory) = WalPaths.Resolve(walPath, dataDirectoryOption);
        if (Path.GetFileName(fullPath) != name.Name)
            throw new StorageException(ErrorClass.Usage, $"%p '{walPath}' does not name %f '{fileName}'");

        var store = repository.Store;
        string key = repository.Layout.KeyFor(name);
        // Both answers are needed only after the file has been read; ask while reading.
        var manifestTask = repository.ReadManifestAsync(cancellationToken);
        var existingTask = store.GetLengthAsync(key, cancellationToken);

        ulong? clusterId = PgControl.TryReadSystemIdentifier(dataDirectory);
        EncodedObject encoded;
        try
        {
            encoded = await EncodeAsync(fullPath, name, clusterId ?? 0, rawObserver, cancellationToken);
        }
        catch
        {
            // Let the requests in flight finish before the store (and its client) is disposed.
            await Task.WhenAll(manifestTask, existingTask).ContinueWith(static _ => { }, CancellationToken.None,
                TaskContinuationOptions.None, TaskScheduler.Default);
            throw;
        }
        using var encodedScope = encoded;
        var header = encoded.Header;
        var manifest = await manifestTask;
        bool exists = await existingTask is not null;

        if (encoded.Wal is { } wal && clusterId is { } controlId && wal.SystemIdentifier != controlId)
            throw new StorageException(ErrorClass.Corrupt,
                $"{name} belongs to cluster {wal.SystemIdentifier}, but {dataDirectory} is cluster {controlId}; refusing to archive it");

        ulong fileCluster = header.SystemIdentifier;
        if (manifest is null && encoded.Wal is { } first)
            manifest = await repository.BindAsync(first.SystemIdentifier, first.SegmentSize, logger, cancellationToken);
        if (manifest is not null && fileCluster != 0 && manifest.SystemIdentifierValue != fileCluster)
            throw new StorageException(ErrorClass.Corrupt,
                $"{name} is from cluster {fileCluster}, but {repository.Url} belongs to cluster {manifest.SystemIdentifier}; refusing to mix clusters in one repository (use another prefix)");

        string outcome;
        if (exists)
        {
            outcome = await CompareWithArchivedAsync(name, key, encoded, cancellationToken);
        }
        else
        {
            try
            {
                // The store reads the object back before it returns: length, and on S3 the SHA-256 metadata.
                await store.PutIfAbsentAsync(key, encoded.Body, Metadata(header), cancellationToken);
                outcome = "stored at";
            }
            catch (StorageException e) when (e.Class == ErrorClass.Conflict)
            {
                // Another writer got there first (the store honoured If-None-Match): same rule as above.
                outcome = await CompareWithArchivedAsync(name, key, encoded, cancellationToken);
            }
        }

        logger.LogInformation("push {File}: {Outcome} {Location}, {BytesIn} -> {BytesOut} bytes ({Ratio}x), {Ms} ms",
            name.Name, outcome, store.Describe(key), header.RawLength, encoded.Body.Length,
            Math.Round((double)header.RawLength / Math.Max(1, encoded.Body.Length), 2), clock.ElapsedMilliseconds);
        return new PushedFile(key, header.Sha256Hex, header.RawLength, encoded.Body.Length);
    }

    private async Task<EncodedObject> EncodeAsync(string fullPath, WalFileName name, ulong clusterId, IByteFilter? rawObserver, CancellationToken cancellationToken)
    {
        FileStream file;
        try
        {
            file = new FileStream(fullPath, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read,
                Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
                BufferSize = 0,
            });
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new StorageException(ErrorClass.Local, $"{fullPath} does not exist");
        }
        catch (UnauthorizedAccessException)
        {
            throw new StorageException(ErrorClass.Local, $"cannot read {fullPath}: permission denied");
        }
        catch (IOException e)
        {
            throw new StorageException(ErrorClass.Local, $"cannot read {fullPath}: {e.Message}");
        }

        await using (file)
        {
            try
            {
                return await ObjectCodec.EncodeAsync(file, name, compressionLevel, clusterId, cancellationToken, compressionThreads, repository.Keys, rawObserver);
            }
            catch (WalFormatException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"refusing to archive {fullPath}: {e.Message}");
            }
            catch (IOException e)
            {
                throw new StorageException(ErrorClass.Local, $"cannot read {fullPath}: {e.Message}");
            }
        }
    }

    /// <summary>An object already exists: identical content is success, anything else is refused loudly.
    /// The stored object is decoded in full, not judged by its metadata. One exception: an object whose
    /// header claims exactly this file's SHA-256 and length but whose body does not verify is a torn
    /// upload of this very file (a process killed mid-PUT, on a server that keeps partial bodies), and
    /// is replaced, or the archiver would be stuck on it forever; so is an object too short to hold a header.</summary>
    private async Task<string> CompareWithArchivedAsync(WalFileName name, string key, EncodedObject encoded, CancellationToken cancellationToken)
    {
        var store = repository.Store;
        var ours = encoded.Header;
        DecodedObject archived;
        try
        {
            using var reader = await store.OpenReadAsync(key, cancellationToken);
            archived = await ObjectCodec.DecodeAsync(reader.Body, reader.Length, name, NullFilter.Instance, cancellationToken, repository.Keys);
        }
        catch (ObjectKeyException e)
        {
            throw new StorageException(ErrorClass.Config, $"{store.Describe(key)} already exists and cannot be compared with this file: {e.Message}");
        }
        catch (Exception e) when (e is CorruptObjectException || e is StorageException { Class: ErrorClass.Corrupt })
        {
            if (!await ClaimsSameContentAsync(key, ours, cancellationToken))
                throw new StorageException(ErrorClass.Conflict,
                    $"{store.Describe(key)} already exists but does not verify ({e.Message}); refusing to overwrite it. Inspect it and remove it by hand if it is damaged");
            logger.LogWarning("push {File}: {Location} is a torn upload of this same file ({Problem}); replacing it",
                name.Name, store.Describe(key), e.Message);
            await store.ReplaceAsync(key, encoded.Body, Metadata(ours), cancellationToken);
            return "repaired a torn upload at";
        }
        catch (EndOfStreamException e)
        {
            throw new StorageException(ErrorClass.Transient, $"reading {store.Describe(key)}: {e.Message}");
        }

        if (!archived.Header.RawSha256.Span.SequenceEqual(ours.RawSha256.Span))
            throw new StorageException(ErrorClass.Conflict,
                $"{store.Describe(key)} already exists with different content (sha256 {archived.Header.Sha256Hex}, this file {ours.Sha256Hex}); refusing to overwrite. " +
                "Two clusters may be archiving to one repository, or this server's WAL diverged from the archive");
        return "already archived, identical, at";
    }

    private async Task<bool> ClaimsSameContentAsync(string key, ObjectHeader ours, CancellationToken cancellationToken)
    {
        byte[] bytes = new byte[ObjectHeader.Size];
        using var reader = await repository.Store.OpenReadAsync(key, cancellationToken);
        int got = await reader.Body.ReadAtLeastAsync(bytes, bytes.Length, throwOnEndOfStream: false, cancellationToken);
        // Every object walship completes starts with a whole header; a shorter one (s3rver keeps even an
        // empty body when the uploader is killed before sending any) is an upload cut short, never data.
        if (got < ObjectHeader.Size && reader.Length < ObjectHeader.Size)
            return true;
        try
        {
            var theirs = ObjectHeader.Parse(bytes.AsSpan(0, got));
            return theirs.Kind == ours.Kind && theirs.RawLength == ours.RawLength
                   && theirs.SystemIdentifier == ours.SystemIdentifier
                   && theirs.RawSha256.Span.SequenceEqual(ours.RawSha256.Span);
        }
        catch (CorruptObjectException)
        {
            return false;
        }
    }

    private static Dictionary<string, string> Metadata(ObjectHeader header) => new()
    {
        ["walship-format"] = ObjectHeader.FormatVersion.ToString(),
        ["walship-raw-sha256"] = header.Sha256Hex,
        ["walship-raw-length"] = header.RawLength.ToString(),
    };
}
