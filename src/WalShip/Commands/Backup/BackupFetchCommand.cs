using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;

namespace WalShip.Commands.Backup;

/// <summary>How the restored cluster recovers: the settings backup fetch writes into it.</summary>
public sealed record RecoverySetup(bool Standby, string RestoreCommand, string? TargetTime, string? TargetLsn, string? TargetAction);

public sealed record BackupFetchOptions(long RangeSize, int Concurrency);

/// <summary>
/// walship backup fetch: parallel ranged GETs, taken in order → [AES-GCM] → zstd → [size, SHA-256] → tar extraction into
/// an empty data directory. The directory holds walship-restore-incomplete until everything is extracted,
/// the SHA-256 of the whole tar matches backup.json and the recovery settings are written; a failed fetch
/// leaves it there, and PostgreSQL then refuses to start (see <see cref="IncompleteMarker"/>).
/// </summary>
public sealed class BackupFetchCommand(Repository repository, ILogger logger, BackupFetchOptions options)
{
    /// <summary>Left in the data directory while a restore is incomplete. When the fetch fails, a
    /// setting of the same name (which PostgreSQL does not know) also goes into postgresql.auto.conf, so
    /// pg_ctl start fails loudly instead of starting a cluster restored in part.</summary>
    public const string IncompleteMarker = "walship-restore-incomplete";

    private const int PipeLimit = 8 << 20;
    private const int MaxAttempts = 3;

    public async Task<BackupManifest> RunAsync(string nameOrLatest, string dataDirectory, RecoverySetup recovery, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var manifest = await new BackupCatalog(repository).FindAsync(nameOrLatest, cancellationToken);
        string dataKey = repository.Layout.BackupDataKey(manifest.Name);
        string location = repository.Store.Describe(dataKey);
        long length = await repository.Store.GetLengthAsync(dataKey, cancellationToken)
                      ?? throw new StorageException(ErrorClass.Corrupt, $"backup {manifest.Name} has a manifest but its data {location} is missing");
        if (length != manifest.StoredBytes)
            throw new StorageException(ErrorClass.Corrupt, $"{location} is {length} bytes, but backup.json says {manifest.StoredBytes}");

        // A missing key is a configuration problem found before the data directory is touched, so the
        // same command runs again with the key; damage found later leaves the directory marked incomplete.
        EncryptionKey? key = null;
        if (manifest.IsEncrypted)
        {
            try
            {
                key = repository.Keys.Find(manifest.KeyIdValue());
            }
            catch (ObjectKeyException e)
            {
                throw new StorageException(ErrorClass.Config, $"cannot decrypt backup {manifest.Name}: {e.Message}", e);
            }
        }

        string root = PrepareEmptyDirectory(dataDirectory);
        string marker = Path.Join(root, IncompleteMarker);
        await File.WriteAllTextAsync(marker,
            $"walship backup fetch of {manifest.Name} from {repository.Url} started {DateTimeOffset.UtcNow:O} and has not completed.\n" +
            "This directory is NOT a usable data directory. Remove it and run walship backup fetch again.\n", cancellationToken);
        logger.LogInformation("backup fetch {Name}: {Bytes} bytes from {Location} into {Directory}", manifest.Name, length, location, root);

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: PipeLimit, resumeWriterThreshold: PipeLimit / 2, useSynchronizationContext: false));
        var producer = Task.Run(() => DownloadAndDecodeAsync(dataKey, length, manifest, key, pipe.Writer, cancellationToken), cancellationToken);
        int entries;
        try
        {
            await using var tar = pipe.Reader.AsStream();
            entries = await SafeTarExtractor.ExtractAsync(tar, root, cancellationToken);
            await tar.CopyToAsync(Stream.Null, cancellationToken); // the tar's end padding, so the hash sees every byte
            await producer;
        }
        catch (Exception e)
        {
            await pipe.Reader.CompleteAsync(e);
            MarkFailed(root);
            // The download's own failure (corrupt, network) is the cause; the extractor only saw it end early.
            try
            {
                await producer;
            }
            catch (Exception cause) when (cause is not OperationCanceledException || e is OperationCanceledException)
            {
                throw Classify(cause, manifest, location);
            }
            throw Classify(e, manifest, location);
        }

        WriteRecoverySettings(root, manifest, recovery);
        File.Delete(marker);
        logger.LogInformation("backup fetch {Name}: {Entries} files restored and verified (SHA-256 {Sha}), {Mode}, {Ms} ms",
            manifest.Name, entries, manifest.RawSha256[..16], recovery.Standby ? "standby.signal" : "recovery.signal", clock.ElapsedMilliseconds);
        return manifest;
    }

    private static Exception Classify(Exception e, BackupManifest manifest, string location) => e switch
    {
        StorageException storage => storage,
        CorruptObjectException or InvalidDataException or FormatException =>
            new StorageException(ErrorClass.Corrupt, $"backup {manifest.Name} ({location}) is corrupt: {e.Message}; the data directory is left marked {IncompleteMarker}", e),
        UnsafeArchiveException => new StorageException(ErrorClass.Corrupt, $"backup {manifest.Name}: {e.Message}; the data directory is left marked {IncompleteMarker}", e),
        EndOfStreamException => new StorageException(ErrorClass.Transient, $"reading {location}: {e.Message}", e),
        _ => e,
    };

    private static void MarkFailed(string root)
    {
        try
        {
            File.AppendAllText(Path.Join(root, "postgresql.auto.conf"),
                $"\n# walship backup fetch failed: this directory is incomplete. Remove it and fetch again.\nwalship_restore_incomplete = 'see {IncompleteMarker}'\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The marker file still says it.
        }
    }

    /// <summary>The data directory must be empty or absent: a restore never mixes with existing files.</summary>
    private static string PrepareEmptyDirectory(string dataDirectory)
    {
        string root = Path.GetFullPath(dataDirectory);
        if (Directory.Exists(root))
        {
            if (Directory.EnumerateFileSystemEntries(root).Any())
                throw new StorageException(ErrorClass.Usage, $"{root} is not empty; backup fetch restores only into an empty or new directory");
        }
        else
        {
            Directory.CreateDirectory(root);
        }
        // PostgreSQL refuses a data directory others can read.
        File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return root;
    }

    /// <summary>Ranges are fetched up to the concurrency ahead of the decoder and taken strictly in order.</summary>
    private async Task DownloadAndDecodeAsync(string key, long length, BackupManifest manifest, EncryptionKey? encryptionKey, PipeWriter writer, CancellationToken cancellationToken)
    {
        var pending = new Queue<Task<PooledBuffer>>();
        long next = 0;
        try
        {
            using var stored = new BackupDataDecoder(manifest, encryptionKey, new PipeSink(writer));
            while (true)
            {
                while (pending.Count < options.Concurrency && next < length)
                {
                    long take = Math.Min(options.RangeSize, length - next);
                    pending.Enqueue(FetchRangeAsync(key, next, take, cancellationToken));
                    next += take;
                }
                if (!pending.TryDequeue(out var range))
                    break;
                using var buffer = await range;
                buffer.WriteTo(stored);
            }
            stored.Complete();
            await writer.CompleteAsync();
        }
        catch (Exception e)
        {
            await writer.CompleteAsync(e);
            while (pending.TryDequeue(out var left))
            {
                try
                {
                    (await left).Dispose();
                }
                catch (Exception)
                {
                    // Already failing for the first error.
                }
            }
            throw;
        }
    }

    /// <summary>One range into a pooled buffer; a dropped connection or throttling is retried.</summary>
    private async Task<PooledBuffer> FetchRangeAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            var buffer = new PooledBuffer();
            try
            {
                using var reader = await repository.Store.OpenReadAsync(key, offset, length, cancellationToken);
                byte[] chunk = ArrayPool<byte>.Shared.Rent(256 * 1024);
                try
                {
                    int read;
                    while ((read = await reader.Body.ReadAsync(chunk, cancellationToken)) > 0)
                        buffer.Write(chunk.AsSpan(0, read));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }
                if (buffer.Length != length)
                    throw new StorageException(ErrorClass.Transient, $"reading {repository.Store.Describe(key)} at {offset}: got {buffer.Length} of {length} bytes");
                return buffer;
            }
            catch (StorageException e) when (e.Class is ErrorClass.Transient or ErrorClass.Throttled && attempt < MaxAttempts && !cancellationToken.IsCancellationRequested)
            {
                buffer.Dispose();
                logger.LogWarning("backup fetch: range at {Offset} failed ({Message}); retrying", offset, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(attempt), cancellationToken);
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }
    }

    private static void WriteRecoverySettings(string root, BackupManifest manifest, RecoverySetup recovery)
    {
        var conf = new StringBuilder($"\n# Added by walship backup fetch {manifest.Name} ({DateTimeOffset.UtcNow:O})\n");
        conf.Append($"restore_command = {ConfQuote(recovery.RestoreCommand)}\n");
        if (recovery.TargetTime is { } time)
            conf.Append($"recovery_target_time = {ConfQuote(time)}\n");
        if (recovery.TargetLsn is { } lsn)
            conf.Append($"recovery_target_lsn = {ConfQuote(lsn)}\n");
        if (recovery.TargetAction is { } action)
            conf.Append($"recovery_target_action = {ConfQuote(action)}\n");
        File.AppendAllText(Path.Join(root, "postgresql.auto.conf"), conf.ToString());
        string signal = Path.Join(root, recovery.Standby ? "standby.signal" : "recovery.signal");
        using (File.Create(signal, 0, FileOptions.None))
        {
        }
        File.SetUnixFileMode(signal, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>A postgresql.conf string literal.</summary>
    public static string ConfQuote(string value) => "'" + value.Replace("'", "''") + "'";

    /// <summary>Hands decoded bytes to the extractor through a bounded pipe: when the extractor lags
    /// by the pipe's limit, the download waits here, so memory stays bounded.</summary>
    private sealed class PipeSink(PipeWriter writer) : IByteFilter
    {
        private const int FlushEvery = 256 * 1024;
        private int _unflushed;

        public void Write(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                var target = writer.GetSpan();
                int take = Math.Min(target.Length, data.Length);
                data[..take].CopyTo(target);
                writer.Advance(take);
                data = data[take..];
                _unflushed += take;
                if (_unflushed >= FlushEvery)
                    Flush();
            }
        }

        public void Complete() => Flush();

        private void Flush()
        {
            _unflushed = 0;
            var result = writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            if (result.IsCompleted || result.IsCanceled)
                throw new OperationCanceledException("the extraction stopped");
        }
    }
}
