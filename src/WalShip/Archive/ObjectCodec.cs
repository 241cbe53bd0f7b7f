using System.Buffers;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Archive;

/// <summary>A WAL file turned into an archive object: the body to upload and what was learned reading it.</summary>
public sealed class EncodedObject(PooledBuffer body, ObjectHeader header, WalSegmentValidator? wal) : IDisposable
{
    public PooledBuffer Body { get; } = body;
    public ObjectHeader Header { get; } = header;
    public WalSegmentValidator? Wal { get; } = wal;

    public void Dispose() => Body.Dispose();
}

/// <summary>What decoding an archive object proved.</summary>
public readonly record struct DecodedObject(ObjectHeader Header, long StoredBytes, ulong PageSystemIdentifier);

/// <summary>
/// The two pipelines of the object format. Encode: read → [WAL page checks, SHA-256] → zstd → [AES-GCM]
/// → pooled buffer, behind a header patched in at the end. Decode: header → [AES-GCM] → zstd → [size
/// limit, SHA-256, WAL page checks] → caller's sink, and nothing is trusted until the last byte has been
/// checked. The SHA-256 is always of the raw file, so push compares content whatever the encryption.
/// </summary>
public static class ObjectCodec
{
    private const int ReadChunk = 1 << 20;

    /// <summary>Encodes <paramref name="raw"/>; <paramref name="rawObserver"/>, when given, sees the very
    /// bytes that were hashed and compressed (push-ahead takes a fast local checksum from the same read).</summary>
    public static async Task<EncodedObject> EncodeAsync(Stream raw, WalFileName name, int compressionLevel,
        ulong nonSegmentSystemIdentifier, CancellationToken cancellationToken, int compressionThreads = 1, KeyRing? keys = null,
        IByteFilter? rawObserver = null)
    {
        long rawLength = raw.Length;
        var key = keys is { EncryptOnPush: true } ? keys.Current : null;
        var body = new PooledBuffer();
        try
        {
            body.Write(stackalloc byte[ObjectHeader.Size]); // patched once the hash is known
            var wal = name.HasWalPages ? new WalSegmentValidator(name, rawLength) : null;
            using var sha = HashFilter.Sha256();
            var size = new SizeFilter();
            ObjectHeader? built = null;
            // Complete() runs size, WAL and SHA-256 before the compressor flushes into the cipher, so the
            // header is known when the last chunk, which authenticates it, is sealed.
            byte[] BuildHeader()
            {
                built = new ObjectHeader(Codec.Zstd, name.Kind, size.Length, wal?.SystemIdentifier ?? nonSegmentSystemIdentifier,
                    sha.Digest, key is null ? Cipher.None : Cipher.Aes256Gcm, key?.Id ?? 0);
                return HeaderBytes(built.Value);
            }

            using var encrypt = key is null ? null : AesGcmChunks.StartSaltedEncryption(body, key.Material, BuildHeader);
            using var compress = new ZstdCompressFilter((IByteFilter?)encrypt ?? body, compressionLevel, compressionThreads);
            var stages = new List<IByteFilter>(5) { size };
            if (wal is not null)
                stages.Add(wal);
            stages.Add(sha);
            if (rawObserver is not null)
                stages.Add(rawObserver);
            stages.Add(compress);
            var pipeline = new FilterGroup([.. stages]);

            await PumpAsync(raw, pipeline, null, cancellationToken);

            byte[] headerBytes = built is null ? BuildHeader() : HeaderBytes(built.Value);
            body.Overwrite(0, headerBytes);
            return new EncodedObject(body, built!.Value, wal);
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }

    private static byte[] HeaderBytes(ObjectHeader header)
    {
        byte[] bytes = new byte[ObjectHeader.Size];
        header.WriteTo(bytes);
        return bytes;
    }

    /// <summary>Decodes and verifies an object, writing the raw bytes to <paramref name="rawSink"/>.
    /// Throws <see cref="CorruptObjectException"/> for anything that does not verify, and
    /// <see cref="EndOfStreamException"/> when the store delivered fewer bytes than it announced, and
    /// <see cref="ObjectKeyException"/> when the object is encrypted with a key <paramref name="keys"/> lacks.</summary>
    public static async Task<DecodedObject> DecodeAsync(Stream stored, long storedLength, WalFileName name,
        IByteFilter rawSink, CancellationToken cancellationToken, KeyRing? keys = null)
    {
        byte[] headerBytes = new byte[ObjectHeader.Size];
        int got = await stored.ReadAtLeastAsync(headerBytes, ObjectHeader.Size, throwOnEndOfStream: false, cancellationToken);
        if (got < ObjectHeader.Size && storedLength >= ObjectHeader.Size)
            throw new EndOfStreamException($"connection ended after {got} of {storedLength} bytes");
        var header = ObjectHeader.Parse(headerBytes.AsSpan(0, got));
        if (header.Kind != name.Kind)
            throw new CorruptObjectException($"object holds a {header.Kind} file, but {name.Name} is a {name.Kind}");

        var size = new SizeFilter(header.RawLength, "decompressed object");
        using var sha = HashFilter.Sha256();
        var wal = name.HasWalPages ? new WalSegmentValidator(name, header.RawLength) : null;
        IByteFilter raw = wal is null ? new FilterGroup(size, sha, rawSink) : new FilterGroup(size, wal, sha, rawSink);
        using var decompress = header.Codec == Codec.Zstd ? new ZstdDecompressFilter(raw) : null;
        IByteFilter pipeline = (IByteFilter?)decompress ?? raw;
        // The body after the header is the salted chunk stream: the salt, then the chunks. The last chunk
        // authenticates the header.
        using var decrypt = header.Cipher == Cipher.Aes256Gcm
            ? new AesGcmSaltedDecryptFilter(pipeline, (keys ?? KeyRing.Empty).Find(header.KeyId).Material, headerBytes)
            : null;
        if (decrypt is not null)
            pipeline = decrypt;

        long storedBytes;
        try
        {
            storedBytes = ObjectHeader.Size + await PumpAsync(stored, pipeline, storedLength - ObjectHeader.Size, cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or WalFormatException)
        {
            throw new CorruptObjectException(e.Message, e);
        }

        if (size.Length != header.RawLength)
            throw new CorruptObjectException($"object decodes to {size.Length} bytes, its header says {header.RawLength}");
        if (!sha.Digest.AsSpan().SequenceEqual(header.RawSha256.Span))
            throw new CorruptObjectException("SHA-256 of the decoded file does not match the object header");
        if (wal is not null && wal.SystemIdentifier != header.SystemIdentifier)
            throw new CorruptObjectException($"WAL pages carry system identifier {wal.SystemIdentifier}, the object header says {header.SystemIdentifier}");
        return new DecodedObject(header, storedBytes, wal?.SystemIdentifier ?? 0);
    }

    /// <summary>Streams <paramref name="source"/> through <paramref name="pipeline"/> with one pooled
    /// buffer; when <paramref name="expected"/> is known, a short stream is an EndOfStreamException
    /// (a dropped connection), not a corrupt object.</summary>
    private static async Task<long> PumpAsync(Stream source, IByteFilter pipeline, long? expected, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadChunk);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, ReadChunk), cancellationToken)) > 0)
            {
                total += read;
                pipeline.Write(buffer.AsSpan(0, read));
            }
            if (expected is { } want && total < want)
                throw new EndOfStreamException($"connection ended after {total + ObjectHeader.Size} of {want + ObjectHeader.Size} bytes");
            pipeline.Complete();
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
