using WalShip.Pipeline;

namespace WalShip.Archive;

/// <summary>
/// Base backup data as stored (see <see cref="BackupManifest"/>): the tar → [size, SHA-256, observer] →
/// zstd → [salted AES-GCM chunks] → <paramref name="stored"/>. Feed it the tar, call Complete, then the
/// raw size and SHA-256 go into backup.json.
/// </summary>
public sealed class BackupDataEncoder : IByteFilter, IDisposable
{
    private readonly SizeFilter _size = new();
    private readonly HashFilter _sha = HashFilter.Sha256();
    private readonly AesGcmEncryptFilter? _encrypt;
    private readonly ZstdCompressFilter _compress;
    private readonly FilterGroup _pipeline;

    public BackupDataEncoder(string name, IByteFilter stored, EncryptionKey? key, int compressionLevel, int compressionThreads, IByteFilter? observer = null)
    {
        Key = key;
        // Complete() runs size and SHA-256 before the compressor flushes into the cipher, so the backup's
        // identity is known when the last chunk, which authenticates it, is sealed.
        _encrypt = key is null ? null
            : AesGcmChunks.StartSaltedEncryption(stored, key.Material, () => BackupManifest.DataAssociatedData(name, _size.Length, _sha.Digest));
        _compress = new ZstdCompressFilter((IByteFilter?)_encrypt ?? stored, compressionLevel, compressionThreads);
        _pipeline = observer is null ? new FilterGroup(_size, _sha, _compress) : new FilterGroup(_size, _sha, observer, _compress);
    }

    /// <summary>The key the data is encrypted with, or null.</summary>
    public EncryptionKey? Key { get; }

    public long RawBytes => _size.Length;

    public string RawSha256 => Convert.ToHexStringLower(_sha.Digest);

    public void Write(ReadOnlySpan<byte> data) => _pipeline.Write(data);

    public void Complete() => _pipeline.Complete();

    public void Dispose()
    {
        _compress.Dispose();
        _encrypt?.Dispose();
        _sha.Dispose();
    }
}

/// <summary>
/// The way back: stored bytes, in order and in pieces of any size (consecutive ranged GETs) → [AES-GCM] →
/// zstd → [size, SHA-256] → <paramref name="tar"/>. Nothing is trusted until <see cref="Complete"/> has
/// checked the size and SHA-256 against backup.json; damage is an InvalidDataException or a
/// <see cref="CorruptObjectException"/>. The chunk stream needs no alignment of the pieces to chunks: a
/// chunk split between two ranges is completed by the next one.
/// </summary>
public sealed class BackupDataDecoder : IByteFilter, IDisposable
{
    private readonly BackupManifest _manifest;
    private readonly SizeFilter _size;
    private readonly HashFilter _sha = HashFilter.Sha256();
    private readonly ZstdDecompressFilter _decompress;
    private readonly AesGcmSaltedDecryptFilter? _decrypt;

    /// <param name="key">The key backup.json names (<see cref="KeyRing.Find"/>), or null for plaintext data.</param>
    public BackupDataDecoder(BackupManifest manifest, EncryptionKey? key, IByteFilter tar)
    {
        if (manifest.IsEncrypted != key is not null)
            throw new ArgumentException(manifest.IsEncrypted ? "encrypted backup data needs its key" : "backup data is not encrypted", nameof(key));
        if (key is not null && key.IdText != manifest.KeyId)
            throw new ArgumentException($"backup {manifest.Name} is encrypted with key id {manifest.KeyId}, not {key.IdText}", nameof(key));
        _manifest = manifest;
        _size = new SizeFilter(manifest.RawBytes, "restored tar");
        _decompress = new ZstdDecompressFilter(new FilterGroup(_size, _sha, tar));
        _decrypt = key is null ? null : new AesGcmSaltedDecryptFilter(_decompress, key.Material, manifest.DataAssociatedData());
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_decrypt is not null)
            _decrypt.Write(data);
        else
            _decompress.Write(data);
    }

    public void Complete()
    {
        if (_decrypt is not null)
            _decrypt.Complete();
        else
            _decompress.Complete();
        if (_size.Length != _manifest.RawBytes)
            throw new CorruptObjectException($"it decodes to {_size.Length} bytes, backup.json says {_manifest.RawBytes}");
        if (!Convert.ToHexStringLower(_sha.Digest).Equals(_manifest.RawSha256, StringComparison.Ordinal))
            throw new CorruptObjectException("the SHA-256 of the restored tar does not match backup.json");
    }

    public void Dispose()
    {
        _decrypt?.Dispose();
        _decompress.Dispose();
        _sha.Dispose();
    }
}
