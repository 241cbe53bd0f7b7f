using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands;

/// <summary>How PostgreSQL is recovering, which decides what a failed fetch may answer.</summary>
public enum RecoveryMode
{
    /// <summary>standby.signal: exit 1 on failure and PostgreSQL asks again later.</summary>
    Standby,
    /// <summary>recovery.signal, or no signal file (pg_rewind, by hand): a failure must not look like
    /// "end of archive", or recovery would stop early and promote with data missing.</summary>
    ArchiveRecovery,
}

/// <summary>
/// restore_command: walship fetch %f %p. One GET; the object is decoded and verified into a temporary
/// file beside %p, which is renamed into place only when every check has passed.
/// </summary>
public sealed class FetchCommand(Repository repository, ILogger logger)
{
    public static RecoveryMode DetectMode(string dataDirectory) =>
        File.Exists(Path.Join(dataDirectory, "standby.signal")) ? RecoveryMode.Standby : RecoveryMode.ArchiveRecovery;

    public async Task<int> RunAsync(WalFileName name, string fullPath, string dataDirectory, RecoveryMode mode, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var store = repository.Store;
        string key = repository.Layout.KeyFor(name);

        ObjectReader reader;
        try
        {
            reader = await store.OpenReadAsync(key, cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            if (mode != RecoveryMode.Standby)
                await ProveArchiveIsThereAsync(name, dataDirectory, cancellationToken);
            logger.LogInformation("fetch {File}: not in archive ({Location}), {Ms} ms", name.Name, store.Describe(key), clock.ElapsedMilliseconds);
            return ExitCodes.NotInArchive;
        }

        DecodedObject decoded;
        string temp = fullPath + ".walship-tmp";
        using (reader)
        {
            TemporaryFiles.Register(temp);
            try
            {
                decoded = await DecodeToFileAsync(name, reader, temp, repository.Keys, cancellationToken);
                await CheckClusterAsync(name, decoded, dataDirectory, cancellationToken);
                // RECOVERYXLOG and RECOVERYHISTORY need no fsync: after a crash PostgreSQL removes them and
                // asks again. Anything else (pg_rewind, a copy by hand) is made durable before it appears.
                if (Path.GetFileName(fullPath) is not ("RECOVERYXLOG" or "RECOVERYHISTORY"))
                    FlushToDisk(temp);
                File.Move(temp, fullPath, overwrite: true);
            }
            catch (EndOfStreamException e)
            {
                throw new StorageException(ErrorClass.Transient, $"reading {store.Describe(key)}: {e.Message}", e);
            }
            catch (CorruptObjectException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{store.Describe(key)} is corrupt: {e.Message}", e);
            }
            catch (ObjectKeyException e)
            {
                throw new StorageException(ErrorClass.Config, $"cannot decrypt {store.Describe(key)}: {e.Message}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException(ErrorClass.Local, $"cannot write {fullPath}: {e.Message}", e);
            }
            finally
            {
                TemporaryFiles.Remove(temp);
            }
        }

        logger.LogInformation("fetch {File}: restored from {Location}, {BytesIn} -> {BytesOut} bytes, {Ms} ms",
            name.Name, store.Describe(key), decoded.StoredBytes, decoded.Header.RawLength, clock.ElapsedMilliseconds);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// A missing key proves a file absent only in a repository that exists. An empty directory where
    /// an NFS archive should be mounted, or a mistyped prefix, also answers "no such key" for every
    /// file; outside standby mode that answer would end recovery early, so the manifest must be there
    /// and belong to this cluster.
    /// </summary>
    private async Task ProveArchiveIsThereAsync(WalFileName name, string dataDirectory, CancellationToken cancellationToken)
    {
        var manifest = await repository.ReadManifestAsync(cancellationToken)
                       ?? throw new StorageException(ErrorClass.Config,
                           $"{name} is not in {repository.Url}, but that repository has no walship.json either: a wrong --repo, " +
                           "or an archive directory that is not mounted. Refusing to report the file as absent");
        if (PgControl.TryReadSystemIdentifier(dataDirectory) is { } clusterId && clusterId != manifest.SystemIdentifierValue)
            throw new StorageException(ErrorClass.Config,
                $"{repository.Url} belongs to cluster {manifest.SystemIdentifier}, but {dataDirectory} is cluster {clusterId}: wrong --repo");
    }

    private static async Task<DecodedObject> DecodeToFileAsync(WalFileName name, ObjectReader reader, string temp, KeyRing keys, CancellationToken cancellationToken)
    {
        using var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None);
        var sink = new FileSink(handle);
        return await ObjectCodec.DecodeAsync(reader.Body, reader.Length, name, sink, cancellationToken, keys);
    }

    /// <summary>Never hand a standby WAL from another cluster: compare with its pg_control, or with the
    /// repository's manifest when there is no pg_control to read (pg_rewind's target, a manual call).</summary>
    private async Task CheckClusterAsync(WalFileName name, DecodedObject decoded, string dataDirectory, CancellationToken cancellationToken)
    {
        ulong fileCluster = decoded.Header.SystemIdentifier;
        if (fileCluster == 0)
            return;
        ulong? expected = PgControl.TryReadSystemIdentifier(dataDirectory);
        string against = $"{dataDirectory} (pg_control)";
        if (expected is null && await repository.ReadManifestAsync(cancellationToken) is { } manifest)
        {
            expected = manifest.SystemIdentifierValue;
            against = $"{repository.Url} (manifest)";
        }
        if (expected is { } id && id != fileCluster)
            throw new StorageException(ErrorClass.Corrupt,
                $"{name} in the archive is from cluster {fileCluster}, but {against} is cluster {id}; refusing to restore it");
    }

    private static void FlushToDisk(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.FlushToDisk(handle);
    }

    /// <summary>Writes decoded bytes straight to the file. Synchronous on purpose: on Linux a write to the
    /// page cache is a memory copy, and async file writes would only add a thread-pool hop per chunk.</summary>
    internal sealed class FileSink(Microsoft.Win32.SafeHandles.SafeFileHandle handle) : IByteFilter
    {
        private long _offset;

        public void Write(ReadOnlySpan<byte> data)
        {
            RandomAccess.Write(handle, data, _offset);
            _offset += data.Length;
        }

        public void Complete() { }
    }
}
