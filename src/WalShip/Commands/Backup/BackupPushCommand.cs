using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Backup;

public sealed record BackupPushOptions(string PgBaseBackup, string? ConnectionString, int CompressionLevel, int CompressionThreads,
    long PartSize, TimeSpan WalWait);

/// <summary>
/// walship backup push: pg_basebackup's tar → [size, SHA-256, tar observer] → zstd → [AES-GCM] → parts → a streaming
/// create-only upload, a few parts in flight whatever the database size. Then it waits until the primary
/// has archived the backup history file and the stop segment, and writes backup.json last.
/// </summary>
public sealed class BackupPushCommand(Repository repository, ILogger logger, BackupPushOptions options)
{
    private const int ReadChunk = 1 << 20;

    public async Task<BackupManifest> RunAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var store = repository.Store;
        var layout = repository.Layout;
        var started = DateTimeOffset.UtcNow;
        string name = "base_" + started.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string dataKey = layout.BackupDataKey(name);
        string manifestKey = layout.BackupManifestKey(name);
        if (await store.GetLengthAsync(dataKey, cancellationToken) is not null || await store.GetLengthAsync(manifestKey, cancellationToken) is not null)
            throw new StorageException(ErrorClass.Conflict, $"a backup named {name} already exists in {repository.Url}; try again in a second");

        var tar = new TarStreamObserver();
        using var parts = new PartSink(options.PartSize);
        var key = repository.Keys is { EncryptOnPush: true } keys ? keys.Current : null;
        using var data = new BackupDataEncoder(name, parts, key, options.CompressionLevel, options.CompressionThreads, observer: tar);
        long storedBytes;
        using (var process = PgBaseBackupProcess.Launch(options.PgBaseBackup, options.ConnectionString, "walship " + name))
        {
            await using var upload = await store.BeginUploadAsync(dataKey, cancellationToken);
            try
            {
                await PumpAsync(process.Output, data, parts, upload, cancellationToken);
                await process.WaitForSuccessAsync(cancellationToken);
            }
            catch (Exception e) when (e is InvalidDataException)
            {
                process.Kill();
                throw new StorageException(ErrorClass.Corrupt, e.Message, e);
            }
            catch
            {
                process.Kill(); // the upload is aborted when it is disposed
                throw;
            }
            if (tar.HasTablespaces)
                throw new StorageException(ErrorClass.Config, "the cluster has tablespaces, which walship backup push does not support");
            string labelText = tar.TextOf("backup_label")
                               ?? throw new StorageException(ErrorClass.Corrupt, "pg_basebackup's output has no backup_label; is it a PostgreSQL base backup?");
            _ = BackupLabel.Parse(labelText);
            storedBytes = await upload.CompleteAsync(cancellationToken);
        }

        var label = BackupLabel.Parse(tar.TextOf("backup_label")!);
        ulong systemIdentifier = tar.SystemIdentifier
                                 ?? throw new StorageException(ErrorClass.Corrupt, "pg_basebackup's output has no global/pg_control");
        logger.LogInformation("backup push {Name}: stored {Location}, {Raw} -> {Stored} bytes, {Entries} files, {Cipher}, {Ms} ms; waiting for the archive to hold WAL {Start} to the stop point",
            name, store.Describe(dataKey), data.RawBytes, storedBytes, tar.Entries, key is null ? "not encrypted" : "aes-256-gcm with key id " + key.IdText,
            clock.ElapsedMilliseconds, label.StartWalFile);

        var repositoryManifest = await WaitForAsync(() => repository.ReadManifestAsync(cancellationToken), "the repository's walship.json (is archive_command walship push to this repository?)", cancellationToken);
        if (repositoryManifest.SystemIdentifierValue != systemIdentifier)
            throw new StorageException(ErrorClass.Config,
                $"the backed-up cluster is {systemIdentifier}, but {repository.Url} belongs to cluster {repositoryManifest.SystemIdentifier}; back up to the repository this cluster archives to");
        uint segmentSize = repositoryManifest.WalSegmentSize;
        var historyName = WalFileName.Parse($"{label.StartWalFile}.{label.StartLsn.Value % segmentSize:X8}.backup");
        var history = await WaitForAsync(() => ReadBackupHistoryAsync(historyName, cancellationToken), $"{historyName} in the archive", cancellationToken);
        if (history.StartLsn != label.StartLsn || history.StopLsn is not { } stopLsn || history.StopWalFile is not { } stopFile)
            throw new StorageException(ErrorClass.Corrupt, $"{historyName} in the archive does not describe this backup (start {history.StartLsn}, expected {label.StartLsn})");
        string stopKey = layout.KeyFor(WalFileName.Parse(stopFile));
        await WaitForAsync(async () => await store.GetLengthAsync(stopKey, cancellationToken) is not null ? stopKey : null,
            $"stop segment {stopFile} in the archive", cancellationToken);

        var manifest = new BackupManifest
        {
            Name = name,
            Label = label.Label,
            SystemIdentifier = systemIdentifier.ToString(CultureInfo.InvariantCulture),
            PgVersion = tar.TextOf("PG_VERSION")?.Trim() ?? "",
            Timeline = label.StartTimeline,
            StartLsn = label.StartLsn.ToString(),
            StartWalFile = label.StartWalFile,
            CheckpointLsn = label.CheckpointLsn.ToString(),
            StopLsn = stopLsn.ToString(),
            StopWalFile = stopFile,
            BackupHistoryFile = historyName.Name,
            Started = started,
            Finished = DateTimeOffset.UtcNow,
            RawBytes = data.RawBytes,
            RawSha256 = data.RawSha256,
            StoredBytes = storedBytes,
            Format = key is null ? BackupManifest.PlaintextFormat : BackupManifest.EncryptedFormat,
            Cipher = key is null ? BackupManifest.NoCipher : BackupManifest.Aes256Gcm,
            KeyId = key?.IdText,
            CreatedBy = "walship " + BuildInfo.Version,
        };
        using (var body = new PooledBuffer())
        {
            body.Write(manifest.ToUtf8());
            await store.PutIfAbsentAsync(manifestKey, body, new Dictionary<string, string>(), cancellationToken);
        }
        logger.LogInformation("backup push {Name}: complete, WAL {Start} to {Stop} archived, {Ms} ms, peak RSS {PeakKiB} KiB",
            name, label.StartWalFile, stopFile, clock.ElapsedMilliseconds, PeakRssKiB());
        return manifest;
    }

    /// <summary>VmHWM from /proc/self/status: the memory a backup really took, for the log.</summary>
    private static long PeakRssKiB()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }
        return -1;
    }

    private static async Task PumpAsync(Stream source, IByteFilter pipeline, PartSink parts, IObjectUpload upload, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadChunk);
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, ReadChunk), cancellationToken)) > 0)
            {
                pipeline.Write(buffer.AsSpan(0, read));
                await parts.SendReadyAsync(upload, cancellationToken);
            }
            pipeline.Complete();
            await parts.SendReadyAsync(upload, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The backup history file, or null while it is not archived yet.</summary>
    private async Task<BackupLabel?> ReadBackupHistoryAsync(WalFileName historyName, CancellationToken cancellationToken)
    {
        string key = repository.Layout.KeyFor(historyName);
        ObjectReader reader;
        try
        {
            reader = await repository.Store.OpenReadAsync(key, cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            return null;
        }
        using (reader)
        using (var text = new PooledBuffer())
        {
            try
            {
                await ObjectCodec.DecodeAsync(reader.Body, reader.Length, historyName, text, cancellationToken, repository.Keys);
            }
            catch (CorruptObjectException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)} is corrupt: {e.Message}", e);
            }
            byte[] bytes = new byte[text.Length];
            text.CopyTo(0, bytes);
            try
            {
                return BackupLabel.Parse(Encoding.UTF8.GetString(bytes));
            }
            catch (WalFormatException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)}: {e.Message}", e);
            }
        }
    }

    /// <summary>Polls until <paramref name="probe"/> answers, for at most the WAL wait: pg_basebackup itself
    /// waits for the archiver, so this normally answers at once.</summary>
    private async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, string what, CancellationToken cancellationToken) where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } found)
                return found;
            if (clock.Elapsed >= options.WalWait)
                throw new StorageException(ErrorClass.Transient,
                    $"gave up after {options.WalWait.TotalSeconds:0} s waiting for {what}: the backup's data is stored but the backup is incomplete until its WAL is archived (check archive_command and pg_stat_archiver)");
            logger.LogDebug("backup push: waiting for {What}", what);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }
}
