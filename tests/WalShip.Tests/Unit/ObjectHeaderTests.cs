using System.Buffers.Binary;
using System.Security.Cryptography;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

public class ObjectHeaderTests
{
    private static readonly byte[] Sha = SHA256.HashData("some WAL"u8);

    private static ObjectHeader Sample(WalFileKind kind = WalFileKind.Segment) =>
        new(Codec.Zstd, kind, 16L << 20, 0x7123_4567_89AB_CDEFUL, Sha);

    private static byte[] Bytes(ObjectHeader header)
    {
        var bytes = new byte[ObjectHeader.Size];
        header.WriteTo(bytes);
        return bytes;
    }

    /// <summary>Sets one byte and re-seals the CRC, so the check under test is the one that fires.</summary>
    private static byte[] WithByte(int offset, byte value)
    {
        var bytes = Bytes(Sample());
        bytes[offset] = value;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(68), Crc32CFilter.Compute(bytes.AsSpan(0, 68)));
        return bytes;
    }

    [Theory]
    [InlineData(WalFileKind.Segment)]
    [InlineData(WalFileKind.History)]
    [InlineData(WalFileKind.Backup)]
    [InlineData(WalFileKind.Partial)]
    public void RoundTrips(WalFileKind kind)
    {
        var original = Sample(kind);
        var parsed = ObjectHeader.Parse(Bytes(original));
        Assert.Equal(Codec.Zstd, parsed.Codec);
        Assert.Equal(kind, parsed.Kind);
        Assert.Equal(16L << 20, parsed.RawLength);
        Assert.Equal(0x7123_4567_89AB_CDEFUL, parsed.SystemIdentifier);
        Assert.Equal(Sha, parsed.RawSha256.ToArray());
        Assert.Equal(Convert.ToHexStringLower(Sha), parsed.Sha256Hex);
    }

    [Fact]
    public void LayoutIsAsDocumented()
    {
        var bytes = Bytes(Sample(WalFileKind.Partial));
        Assert.Equal("WSHP"u8.ToArray(), bytes[..4]);
        Assert.Equal(1, bytes[4]);
        Assert.Equal((byte)Codec.Zstd, bytes[5]);
        Assert.Equal(0, bytes[6]);
        Assert.Equal((byte)WalFileKind.Partial, bytes[7]);
        Assert.Equal(16L << 20, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(0x7123_4567_89AB_CDEFUL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)));
        Assert.All(bytes[24..32], b => Assert.Equal(0, b));
        Assert.Equal(Sha, bytes[32..64]);
        Assert.All(bytes[64..68], b => Assert.Equal(0, b));
        Assert.Equal(Crc32CFilter.Compute(bytes.AsSpan(0, 68)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(68)));
    }

    [Fact]
    public void WriteToOverwritesStaleBytes()
    {
        var bytes = Enumerable.Repeat((byte)0xAA, ObjectHeader.Size + 8).ToArray();
        Sample().WriteTo(bytes);
        Assert.Equal(Bytes(Sample()), bytes[..ObjectHeader.Size]);
        Assert.All(bytes[ObjectHeader.Size..], b => Assert.Equal(0xAA, b));
    }

    [Fact]
    public void ParseIgnoresBytesAfterTheHeader()
    {
        var bytes = Bytes(Sample()).Concat(new byte[] { 1, 2, 3 }).ToArray();
        Assert.Equal(16L << 20, ObjectHeader.Parse(bytes).RawLength);
    }

    [Fact]
    public void EveryBitOfTheHeaderIsProtected()
    {
        var original = Bytes(Sample());
        for (int offset = 0; offset < ObjectHeader.Size; offset++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                var corrupt = (byte[])original.Clone();
                corrupt[offset] ^= (byte)(1 << bit);
                try
                {
                    ObjectHeader.Parse(corrupt);
                    Assert.Fail($"flipping bit {bit} of byte {offset} was not detected");
                }
                catch (CorruptObjectException)
                {
                }
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(71)]
    public void RejectsShortInput(int length)
    {
        var bytes = Bytes(Sample())[..length];
        Assert.Contains("shorter", Assert.Throws<CorruptObjectException>(() => ObjectHeader.Parse(bytes)).Message);
    }

    [Fact]
    public void RejectsForeignObject()
    {
        var bytes = new byte[ObjectHeader.Size];
        "PK\u0003\u0004"u8.CopyTo(bytes);
        Assert.Throws<CorruptObjectException>(() => ObjectHeader.Parse(bytes));
    }

    [Theory]
    [InlineData(4, 0, "version")]
    [InlineData(4, 2, "version")]
    [InlineData(5, 2, "codec")]
    [InlineData(5, 255, "codec")]
    [InlineData(6, 2, "cipher")]
    [InlineData(7, 4, "kind")]
    public void RejectsUnknownFieldValuesEvenWithValidChecksum(int offset, byte value, string expectedWord)
    {
        var e = Assert.Throws<CorruptObjectException>(() => ObjectHeader.Parse(WithByte(offset, value)));
        Assert.Contains(expectedWord, e.Message);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData((1L << 30) + 1)]
    [InlineData(long.MaxValue)]
    public void RejectsImplausibleRawLength(long rawLength)
    {
        var bytes = Bytes(new ObjectHeader(Codec.Zstd, WalFileKind.Segment, rawLength, 1, Sha));
        Assert.Contains("raw length", Assert.Throws<CorruptObjectException>(() => ObjectHeader.Parse(bytes)).Message);
    }

    [Fact]
    public void AcceptsLargestSegmentSize()
    {
        var bytes = Bytes(new ObjectHeader(Codec.None, WalFileKind.Segment, 1L << 30, 1, Sha));
        var parsed = ObjectHeader.Parse(bytes);
        Assert.Equal(1L << 30, parsed.RawLength);
        Assert.Equal(Codec.None, parsed.Codec);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    public void WriteToRequiresA32ByteHash(int hashLength)
    {
        var header = new ObjectHeader(Codec.Zstd, WalFileKind.Segment, 1, 1, new byte[hashLength]);
        Assert.Throws<InvalidOperationException>(() => header.WriteTo(new byte[ObjectHeader.Size]));
    }
}
