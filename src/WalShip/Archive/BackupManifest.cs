using System.Text.Json;
using System.Text.Json.Serialization;

namespace WalShip.Archive;

/// <summary>
/// backup/&lt;name&gt;/backup.json: what a base backup holds and needs. Written create-only and LAST, after
/// the data object is stored and the WAL from start to stop is archived, so a backup without it is
/// incomplete and is never listed or restored. The data object (base.tar.zst) is a zstd stream of
/// pg_basebackup's tar, without the 72-byte WAL object header: its length is not known when the upload
/// starts, so its identity (raw length and SHA-256, stored length) lives here instead. With client-side
/// encryption (format 2, cipher aes-256-gcm) the zstd stream is a salted AES-GCM chunk stream, the same
/// chunks and per-object HKDF key as a WAL object's body (Pipeline.AesGcmChunks); what the WAL object's
/// header is to its last chunk, <see cref="DataAssociatedData"/> (name, raw length and SHA-256) is here,
/// so data swapped between backups, or a backup.json changed to match altered data, fails to decrypt.
/// Format 1 (unencrypted) stays what it was, so older walship versions still read plaintext backups, and
/// refuse encrypted ones by their format instead of taking ciphertext for corrupt zstd. The schema is
/// what `walship backup list --json` prints for each backup.
/// </summary>
public sealed class BackupManifest
{
    public const int PlaintextFormat = 1;
    public const int EncryptedFormat = 2;
    public const string NoCipher = "none";
    public const string Aes256Gcm = "aes-256-gcm";

    [JsonPropertyName("format")] public int Format { get; init; } = PlaintextFormat;
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
    [JsonPropertyName("cipher")] public string Cipher { get; init; } = NoCipher;
    /// <summary>The encryption key's id (16 hex digits, as in WAL object headers), or null when not encrypted.</summary>
    [JsonPropertyName("key_id")] public string? KeyId { get; init; }
    [JsonPropertyName("created_by")] public string CreatedBy { get; init; } = "";

    [JsonIgnore] public bool IsEncrypted => Cipher == Aes256Gcm;

    /// <summary>The key id as a number, for <see cref="KeyRing.Find"/>.</summary>
    public ulong KeyIdValue() => ulong.Parse(KeyId!, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What the last chunk of encrypted backup data authenticates besides itself: the backup's
    /// identity, known only once the whole tar has been read.</summary>
    public static byte[] DataAssociatedData(string name, long rawBytes, ReadOnlySpan<byte> rawSha256) =>
        System.Text.Encoding.UTF8.GetBytes($"walship backup data v1\n{name}\n{rawBytes}\n{Convert.ToHexStringLower(rawSha256)}\n");

    public byte[] DataAssociatedData() => DataAssociatedData(Name, RawBytes, Convert.FromHexString(RawSha256));

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, BackupJsonContext.Default.BackupManifest);

    public static BackupManifest Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize(json, BackupJsonContext.Default.BackupManifest)
                           ?? throw new CorruptObjectException("backup manifest is empty");
            if (manifest.Format is not (PlaintextFormat or EncryptedFormat))
                throw new CorruptObjectException($"backup manifest format {manifest.Format} is not supported by this walship");
            if (manifest.Name.Length == 0 || manifest.StoredBytes <= 0 || manifest.RawSha256.Length != 64
                || !manifest.RawSha256.All(char.IsAsciiHexDigitLower) || manifest.Compression != "zstd")
                throw new CorruptObjectException("backup manifest lacks its name, sizes, checksum or a known compression");
            bool encrypted = manifest.Format == EncryptedFormat;
            if (encrypted != manifest.IsEncrypted || (!encrypted && manifest.Cipher != NoCipher)
                || encrypted != (manifest.KeyId is not null) || (encrypted && !IsKeyId(manifest.KeyId!)))
                throw new CorruptObjectException($"backup manifest format {manifest.Format} does not match its cipher '{manifest.Cipher}' and key id");
            return manifest;
        }
        catch (JsonException e)
        {
            throw new CorruptObjectException($"backup manifest is not valid JSON: {e.Message}", e);
        }
    }

    private static bool IsKeyId(string text) => text.Length == 16 && text.All(char.IsAsciiHexDigitLower);

    public static string ListToJson(IReadOnlyList<BackupManifest> backups) =>
        JsonSerializer.Serialize([.. backups], BackupJsonContext.Default.BackupManifestArray);
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(BackupManifest[]))]
internal sealed partial class BackupJsonContext : JsonSerializerContext;
