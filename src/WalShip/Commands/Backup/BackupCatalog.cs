using System.Globalization;
using System.Text;
using WalShip.Archive;
using WalShip.Storage;

namespace WalShip.Commands.Backup;

/// <summary>The base backups of a repository: a backup exists when its backup.json does.</summary>
public sealed class BackupCatalog(Repository repository)
{
    public const string Latest = "LATEST";

    /// <summary>Complete backups (oldest first), and the names of incomplete ones: data without a manifest,
    /// left by a backup push that failed or a backup delete that was interrupted.</summary>
    public async Task<(IReadOnlyList<BackupManifest> Complete, IReadOnlyList<string> Incomplete)> ListAsync(CancellationToken cancellationToken)
    {
        var layout = repository.Layout;
        var withManifest = new SortedSet<string>(StringComparer.Ordinal);
        var all = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var stored in repository.Store.ListAsync(layout.BackupsPrefix, delimited: false, cancellationToken))
        {
            if (layout.ParseBackupKey(stored.Key) is not { } parsed)
                continue;
            all.Add(parsed.Name);
            if (parsed.IsManifest)
                withManifest.Add(parsed.Name);
        }
        var complete = new List<BackupManifest>();
        foreach (string name in withManifest)
            complete.Add(await ReadAsync(name, cancellationToken));
        complete.Sort((a, b) => a.Finished != b.Finished ? a.Finished.CompareTo(b.Finished) : string.CompareOrdinal(a.Name, b.Name));
        return (complete, all.Except(withManifest).ToList());
    }

    /// <summary>The named backup's manifest, or the newest one for <see cref="Latest"/>.</summary>
    public async Task<BackupManifest> FindAsync(string nameOrLatest, CancellationToken cancellationToken)
    {
        if (nameOrLatest != Latest)
            return await ReadAsync(CheckName(nameOrLatest), cancellationToken);
        var (complete, _) = await ListAsync(cancellationToken);
        return complete.Count > 0
            ? complete[^1]
            : throw new StorageException(ErrorClass.Absent, $"{repository.Url} has no complete base backup (take one with walship backup push)");
    }

    public async Task<BackupManifest> ReadAsync(string name, CancellationToken cancellationToken)
    {
        string key = repository.Layout.BackupManifestKey(CheckName(name));
        ObjectReader reader;
        try
        {
            reader = await repository.Store.OpenReadAsync(key, cancellationToken);
        }
        catch (StorageException e) when (e.Class == ErrorClass.Absent)
        {
            throw new StorageException(ErrorClass.Absent, $"{repository.Url} has no complete backup named {name} (see walship backup list)", e);
        }
        using (reader)
        {
            if (reader.Length > 1 << 20)
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)} is {reader.Length} bytes; not a backup manifest");
            var bytes = new byte[reader.Length];
            await reader.Body.ReadExactlyAsync(bytes, cancellationToken);
            try
            {
                var manifest = BackupManifest.Parse(bytes);
                if (manifest.Name != name)
                    throw new CorruptObjectException($"it names backup {manifest.Name}");
                return manifest;
            }
            catch (CorruptObjectException e)
            {
                throw new StorageException(ErrorClass.Corrupt, $"{repository.Store.Describe(key)}: {e.Message}", e);
            }
        }
    }

    /// <summary>Deletes the manifest first, then the data: a half-deleted backup is incomplete, never listed as complete.</summary>
    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        var layout = repository.Layout;
        string manifestKey = layout.BackupManifestKey(CheckName(name));
        string dataKey = layout.BackupDataKey(name);
        bool existed = await repository.Store.GetLengthAsync(manifestKey, cancellationToken) is not null
                       | await repository.Store.GetLengthAsync(dataKey, cancellationToken) is not null;
        if (!existed)
            return false;
        // The manifest goes first, so a delete cut short never leaves a backup listed as complete.
        await DeleteOneAsync(manifestKey, cancellationToken);
        await DeleteOneAsync(dataKey, cancellationToken);
        return true;
    }

    private async Task DeleteOneAsync(string key, CancellationToken cancellationToken)
    {
        var failures = await repository.Store.DeleteAsync([key], cancellationToken);
        if (failures.Count > 0)
            throw new StorageException(failures[0].IsAccessDenied ? ErrorClass.Auth : ErrorClass.Transient,
                $"cannot delete {repository.Store.Describe(key)}: {failures[0].Code} {failures[0].Message}");
    }

    /// <summary>Backup names become keys: letters, digits, '_', '-' and '.', never '.' or '..' alone.</summary>
    public static string CheckName(string name) =>
        name.Length is > 0 and <= 100 && name is not ("." or "..") && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')
            ? name
            : throw new StorageException(ErrorClass.Usage, $"'{name}' is not a backup name (like base_20260101T120000Z, or LATEST)");

    /// <summary>backup list's output: a table, or the manifests as a JSON array.</summary>
    public static string Render(IReadOnlyList<BackupManifest> backups, bool json) =>
        json ? BackupManifest.ListToJson(backups) + "\n" : Table(backups);

    private static string Table(IReadOnlyList<BackupManifest> backups)
    {
        if (backups.Count == 0)
            return "no complete backups\n";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{"NAME",-22} {"FINISHED (UTC)",-20} {"RAW",10} {"STORED",10}  {"PG",-3} WAL\n");
        foreach (var b in backups)
            text.Append(CultureInfo.InvariantCulture,
                $"{b.Name,-22} {b.Finished.UtcDateTime:yyyy-MM-dd HH:mm:ss} {Size(b.RawBytes),10} {Size(b.StoredBytes),10}  {b.PgVersion,-3} {b.StartWalFile}..{b.StopWalFile}\n");
        return text.ToString();
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0}GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0}MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.0}KiB",
        _ => $"{bytes}B",
    };
}
