using System.Text.Json;
using System.Text.Json.Serialization;

namespace WalShip.Archive;

/// <summary>
/// The small object that binds a repository prefix to one PostgreSQL cluster. Written once, create-only,
/// by the first push; after that every push and fetch checks the cluster against it.
/// </summary>
public sealed class RepositoryManifest
{
    [JsonPropertyName("format")] public int Format { get; init; } = 1;
    [JsonPropertyName("system_identifier")] public string SystemIdentifier { get; init; } = "";
    [JsonPropertyName("wal_segment_size")] public uint WalSegmentSize { get; init; }
    [JsonPropertyName("created")] public DateTimeOffset Created { get; init; }
    [JsonPropertyName("created_by")] public string CreatedBy { get; init; } = "";

    public ulong SystemIdentifierValue =>
        ulong.TryParse(SystemIdentifier, out ulong id) && id != 0
            ? id
            : throw new CorruptObjectException($"repository manifest has an invalid system_identifier '{SystemIdentifier}'");

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, ManifestJsonContext.Default.RepositoryManifest);

    public static RepositoryManifest Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize(json, ManifestJsonContext.Default.RepositoryManifest)
                           ?? throw new CorruptObjectException("repository manifest is empty");
            if (manifest.Format != 1)
                throw new CorruptObjectException($"repository manifest format {manifest.Format} is not supported");
            _ = manifest.SystemIdentifierValue;
            return manifest;
        }
        catch (JsonException e)
        {
            throw new CorruptObjectException($"repository manifest is not valid JSON: {e.Message}", e);
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(RepositoryManifest))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
