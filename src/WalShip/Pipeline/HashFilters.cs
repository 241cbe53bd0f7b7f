using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace WalShip.Pipeline;

/// <summary>A cryptographic hash of everything written: SHA-256 is the identity of a WAL file's raw
/// bytes; MD5 only feeds S3's Content-MD5 header, which servers without flexible checksums still verify.</summary>
public sealed class HashFilter(HashAlgorithmName algorithm) : IByteFilter, IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(algorithm);
    private byte[]? _digest;

    public static HashFilter Sha256() => new(HashAlgorithmName.SHA256);

    public static HashFilter Md5() => new(HashAlgorithmName.MD5);

    public void Write(ReadOnlySpan<byte> data) => _hash.AppendData(data);

    public void Complete() => _digest = _hash.GetHashAndReset();

    public byte[] Digest => _digest ?? throw new InvalidOperationException("hash not complete");

    public void Dispose() => _hash.Dispose();
}

/// <summary>XXH128 of everything written: a fast checksum that ties a local file to bytes whose SHA-256
/// was verified in the same read (a prefetched spool entry as the worker wrote it; a WAL file as
/// push-ahead uploaded it). It catches the file changing on local disk (bit rot, a stray write) at
/// several times SHA-256's speed, on paths where a call must end in milliseconds. It is no defence
/// against someone who can already write the spool or pg_wal, and need not be.</summary>
public sealed class XxHash128Filter : IByteFilter
{
    private readonly XxHash128 _hash = new();
    private string? _hex;

    public void Write(ReadOnlySpan<byte> data) => _hash.Append(data);

    public void Complete() => _hex = Convert.ToHexStringLower(_hash.GetHashAndReset());

    public string Hex => _hex ?? throw new InvalidOperationException("hash not complete");
}

/// <summary>CRC32C of everything written: the transport checksum S3 verifies on receipt.</summary>
public sealed class Crc32CFilter : IByteFilter
{
    private readonly Crc32 _crc = new(Crc32ParameterSet.Crc32C);

    public void Write(ReadOnlySpan<byte> data) => _crc.Append(data);

    public void Complete() { }

    public uint Value => _crc.GetCurrentHashAsUInt32();

    /// <summary>The form S3's x-amz-checksum-crc32c header takes: base64 of the big-endian value.</summary>
    public string ToBase64() => ToS3Base64(Value);

    public static string ToS3Base64(uint crc)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, crc);
        return Convert.ToBase64String(bytes);
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, data);
}

/// <summary>Counts bytes, and stops a stream that grows beyond its declared length (a decompression bomb
/// or a corrupt object) before it can use unbounded memory or disk.</summary>
public sealed class SizeFilter(long limit = long.MaxValue, string what = "stream") : IByteFilter
{
    public long Length { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        Length += data.Length;
        if (Length > limit)
            throw new InvalidDataException($"{what} is longer than the {limit} bytes it declares");
    }

    public void Complete() { }
}
