using System.Buffers.Binary;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Archive;

public enum Codec : byte
{
    None = 0,
    Zstd = 1,
}

public enum Cipher : byte
{
    None = 0,
    /// <summary>Chunked AES-256-GCM (Pipeline/AesGcmFilters.cs); a 32-byte salt follows the header.</summary>
    Aes256Gcm = 1,
}

/// <summary>
/// The fixed 72-byte header in front of every archived WAL file. It makes an object self-describing:
/// fetch needs nothing but the object to decode and verify it.
/// <code>
///  0  "WSHP"           magic
///  4  u8               format version (1)
///  5  u8               codec (0 none, 1 zstd)
///  6  u8               cipher (0 none, 1 aes-256-gcm)
///  7  u8               file kind (segment, history, backup, partial)
///  8  u64              raw length
/// 16  u64              PostgreSQL system identifier (0 when the file has no WAL pages)
/// 24  byte[8]          key id of the encryption key (0 when not encrypted)
/// 32  byte[32]         SHA-256 of the raw file
/// 64  u32              reserved, 0
/// 68  u32              CRC32C of bytes 0..67
/// </code>
/// All integers little-endian. An encrypted object's body starts with the 32-byte salt of its key,
/// and the header is authenticated with the body's last chunk.
/// </summary>
public readonly record struct ObjectHeader(
    Codec Codec,
    WalFileKind Kind,
    long RawLength,
    ulong SystemIdentifier,
    ReadOnlyMemory<byte> RawSha256,
    Cipher Cipher = Cipher.None,
    ulong KeyId = 0)
{
    public const int Size = 72;
    public const byte FormatVersion = 1;
    private static ReadOnlySpan<byte> Magic => "WSHP"u8;

    public void WriteTo(Span<byte> destination)
    {
        if (RawSha256.Length != 32)
            throw new InvalidOperationException("SHA-256 must be 32 bytes");
        destination = destination[..Size];
        destination.Clear();
        Magic.CopyTo(destination);
        destination[4] = FormatVersion;
        destination[5] = (byte)Codec;
        destination[6] = (byte)Cipher;
        destination[7] = (byte)Kind;
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], RawLength);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], SystemIdentifier);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], KeyId);
        RawSha256.Span.CopyTo(destination[32..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[68..], Crc32CFilter.Compute(destination[..68]));
    }

    /// <summary>Parses and checks a header; every failure is a <see cref="CorruptObjectException"/>.</summary>
    public static ObjectHeader Parse(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
            throw new CorruptObjectException($"object is {source.Length} bytes, shorter than the {Size}-byte walship header");
        if (!source[..4].SequenceEqual(Magic))
            throw new CorruptObjectException("object does not start with the walship header (not written by walship?)");
        if (source[4] != FormatVersion)
            throw new CorruptObjectException($"object format version {source[4]} is not supported by this walship (reads version {FormatVersion})");
        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(source[68..]);
        if (storedCrc != Crc32CFilter.Compute(source[..68]))
            throw new CorruptObjectException("object header checksum mismatch");
        if (source[5] > (byte)Codec.Zstd)
            throw new CorruptObjectException($"unknown codec {source[5]}");
        if (source[6] > (byte)Cipher.Aes256Gcm)
            throw new CorruptObjectException($"object is encrypted with cipher {source[6]}, which this walship cannot read");
        if (source[7] > (byte)WalFileKind.Partial)
            throw new CorruptObjectException($"unknown file kind {source[7]}");
        long rawLength = BinaryPrimitives.ReadInt64LittleEndian(source[8..]);
        if (rawLength < 0 || rawLength > (1L << 30))
            throw new CorruptObjectException($"implausible raw length {rawLength}");

        return new ObjectHeader(
            (Codec)source[5],
            (WalFileKind)source[7],
            rawLength,
            BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
            source.Slice(32, 32).ToArray(),
            (Cipher)source[6],
            BinaryPrimitives.ReadUInt64BigEndian(source[24..]));
    }

    /// <summary>The key id as walship prints it: 16 hex digits.</summary>
    public static string FormatKeyId(ulong keyId) => keyId.ToString("x16");

    public string Sha256Hex => Convert.ToHexStringLower(RawSha256.Span);
}

/// <summary>An archived object is not what walship wrote: wrong format, failed checksum, truncated.</summary>
public sealed class CorruptObjectException(string message, Exception? inner = null) : Exception(message, inner);
