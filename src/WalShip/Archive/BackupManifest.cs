using System.Text.Json;
using System.Text.Json.Serialization;

namespace WalShip.Archive;

/// <summary>
/// backup/&lt;name&gt;/backup.json: what a base backup holds and needs. Written create-only and LAST, after
/// the data object is stored and the WAL from start to stop is archived, so a backup without it is
/// incomplete and is never listed or restored. The data object (base.tar.zst) is a plain zstd stream of
/// pg_basebackup's tar, without the 72-byte WAL object header: its length is not known when the upload
/// starts, so its identity (raw length and SHA-256, stored length) lives here instead. The schema is
/// what `walship backup list --json` prints for each backup.
/// </summary>
public sealed class BackupManifest
{
    public const int CurrentFormat = 1;

    [JsonPropertyName("format")] public int Format { get; init; } = CurrentFormat;
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("label")] public string Label { get; init; } = "";
    [JsonPropertyName("system_identifier")] public string SystemIdentifier { get; init; } = "";
    [JsonPropertyName("pg_version")] public string PgVersion { get; init; } = "";
    [JsonPropertyName("timeline")] public uint Timeline { get; init; }
    [JsonPropertyName("start_lsn")] public string StartLsn { get; init; } = "";
    [JsonPropertyName("start_wal_file")] public string StartWalFile { get; init; } = "";
    [JsonPropertyName("checkpoint_lsn")] public string CheckpointLsn { get; init; } = "";
    [JsonPropertyName("stop_lsn")] public string StopLsn { get; init; } = "";
    [JsonPropertyName("stop_wal_file")] public string StopWalFile { get; init; } = "";
    [JsonPropertyName("backup_history_file")] public string BackupHistoryFile { get; init; } = "";
    [JsonPropertyName("started")] public DateTimeOffset Started { get; init; }
    [JsonPropertyName("finished")] public DateTimeOffset Finished { get; init; }
    [JsonPropertyName("data_object")] public string DataObject { get; init; } = "base.tar.zst";
    [JsonPropertyName("compression")] public string Compression { get; init; } = "zstd";
    [JsonPropertyName("raw_bytes")] public long RawBytes { get; init; }
    [JsonPropertyName("raw_sha256")] public string RawSha256 { get; init; } = "";
    [JsonPropertyName("stored_bytes")] public long StoredBytes { get; init; }
    [JsonPropertyName("created_by")] public string CreatedBy { get; init; } = "";

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, BackupJsonContext.Default.BackupManifest);

    public static BackupManifest Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize(json, BackupJsonContext.Default.BackupManifest)
                           ?? throw new CorruptObjectException("backup manifest is empty");
            if (manifest.Format != CurrentFormat)
                throw new CorruptObjectException($"backup manifest format {manifest.Format} is not supported by this walship");
            if (manifest.Name.Length == 0 || manifest.StoredBytes <= 0 || manifest.RawSha256.Length != 64 || manifest.Compression != "zstd")
                throw new CorruptObjectException("backup manifest lacks its name, sizes, checksum or a known compression");
            return manifest;
        }
        catch (JsonException e)
        {
            throw new CorruptObjectException($"backup manifest is not valid JSON: {e.Message}", e);
        }
    }

    public static string ListToJson(IReadOnlyList<BackupManifest> backups) =>
        JsonSerializer.Serialize([.. backups], BackupJsonContext.Default.BackupManifestArray);
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(BackupManifest[]))]
internal sealed partial class BackupJsonContext : JsonSerializerContext;
