using System.Security.Cryptography;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>Chunked AES-256-GCM and the encrypted object format: round trips at chunk boundaries, and
/// every kind of tampering (flipped byte, reorder, truncation, extension, header change, wrong key) caught.</summary>
public class EncryptionTests
{
    private const string Seg = "000000010000000200000ABC";
    private static readonly EncryptionKey KeyA = new(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
    private static readonly EncryptionKey KeyB = new(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());

    private sealed class Collect : IByteFilter
    {
        public readonly MemoryStream Bytes = new();
        public bool Completed;
        public void Write(ReadOnlySpan<byte> data) => Bytes.Write(data);
        public void Complete() => Completed = true;
    }

    private static readonly byte[] ObjectKey = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] FinalData = RandomNumberGenerator.GetBytes(72);

    private static byte[] Seal(byte[] plain, int writeSize = 7919)
    {
        var sink = new Collect();
        using (var encrypt = new AesGcmEncryptFilter(sink, ObjectKey, () => FinalData))
        {
            for (int offset = 0; offset < plain.Length; offset += writeSize)
                encrypt.Write(plain.AsSpan(offset, Math.Min(writeSize, plain.Length - offset)));
            encrypt.Complete();
        }
        Assert.True(sink.Completed);
        return sink.Bytes.ToArray();
    }

    private static byte[] Open(byte[] stored, byte[]? key = null, byte[]? finalData = null, int writeSize = 4099)
    {
        var sink = new Collect();
        using var decrypt = new AesGcmDecryptFilter(sink, key ?? ObjectKey, finalData ?? FinalData);
        for (int offset = 0; offset < stored.Length; offset += writeSize)
            decrypt.Write(stored.AsSpan(offset, Math.Min(writeSize, stored.Length - offset)));
        decrypt.Complete();
        Assert.True(sink.Completed);
        return sink.Bytes.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(AesGcmChunks.ChunkSize - 1)]
    [InlineData(AesGcmChunks.ChunkSize)]
    [InlineData(AesGcmChunks.ChunkSize + 1)]
    [InlineData(3 * AesGcmChunks.ChunkSize)]
    [InlineData(5 * AesGcmChunks.ChunkSize + 12345)]
    public void RoundTripsAtChunkBoundaries(int length)
    {
        byte[] plain = RandomNumberGenerator.GetBytes(length);
        byte[] stored = Seal(plain);
        Assert.Equal(AesGcmChunks.StoredLength(length), stored.Length);
        Assert.Equal(plain, Open(stored));
        if (length >= 16)
            Assert.False(stored.AsSpan().IndexOf(plain.AsSpan(0, 16)) >= 0, "plaintext visible in the ciphertext");
    }

    [Fact]
    public void FlippedByteAnywhereFails()
    {
        byte[] stored = Seal(RandomNumberGenerator.GetBytes(2 * AesGcmChunks.ChunkSize + 100));
        foreach (int position in new[] { 0, 5, AesGcmChunks.ChunkSize + 3, AesGcmChunks.ChunkSize + AesGcmChunks.TagSize + 1, stored.Length - 1 })
        {
            byte[] copy = (byte[])stored.Clone();
            copy[position] ^= 0x01;
            var e = Assert.Throws<InvalidDataException>(() => Open(copy));
            Assert.Contains("decryption failed at chunk", e.Message);
        }
    }

    [Fact]
    public void ReorderedChunksFail()
    {
        const int sealedChunk = AesGcmChunks.ChunkSize + AesGcmChunks.TagSize;
        byte[] stored = Seal(RandomNumberGenerator.GetBytes(3 * AesGcmChunks.ChunkSize + 10));
        byte[] swapped = (byte[])stored.Clone();
        stored.AsSpan(0, sealedChunk).CopyTo(swapped.AsSpan(sealedChunk));
        stored.AsSpan(sealedChunk, sealedChunk).CopyTo(swapped);
        Assert.Contains("chunk 0", Assert.Throws<InvalidDataException>(() => Open(swapped)).Message);
    }

    [Fact]
    public void TruncationAtAChunkBoundaryFails()
    {
        const int sealedChunk = AesGcmChunks.ChunkSize + AesGcmChunks.TagSize;
        byte[] stored = Seal(RandomNumberGenerator.GetBytes(3 * AesGcmChunks.ChunkSize + 10));
        // Two whole chunks: each verifies on its own, but the second was not sealed as the last.
        var e = Assert.Throws<InvalidDataException>(() => Open(stored[..(2 * sealedChunk)]));
        Assert.Contains("chunk 1 (the last)", e.Message);
        // Cut inside a chunk: what is left of the last chunk is shorter than a tag.
        Assert.Contains("chunk 1 is 5 bytes", Assert.Throws<InvalidDataException>(() => Open(stored[..(sealedChunk + 5)])).Message);
        // Cut inside a chunk but longer than a tag: it fails authentication.
        Assert.Contains("chunk 1 (the last)", Assert.Throws<InvalidDataException>(() => Open(stored[..(sealedChunk + 500)])).Message);
    }

    [Fact]
    public void ExtensionFails()
    {
        byte[] plain = RandomNumberGenerator.GetBytes(AesGcmChunks.ChunkSize);
        byte[] stored = Seal(plain);
        // Append a valid-looking sealed chunk: the real last chunk is now opened as not-last.
        byte[] extended = [.. stored, .. Seal([])];
        Assert.Contains("chunk 0", Assert.Throws<InvalidDataException>(() => Open(extended)).Message);
    }

    [Fact]
    public void ChangedFinalAssociatedDataOrKeyFails()
    {
        byte[] stored = Seal(RandomNumberGenerator.GetBytes(1000));
        byte[] otherHeader = (byte[])FinalData.Clone();
        otherHeader[10] ^= 0x80;
        Assert.Throws<InvalidDataException>(() => Open(stored, finalData: otherHeader));
        Assert.Throws<InvalidDataException>(() => Open(stored, key: RandomNumberGenerator.GetBytes(32)));
        Assert.Contains("shorter than its tag", Assert.Throws<InvalidDataException>(() => Open(stored[..10])).Message);
    }

    [Fact]
    public void KeyIdIsStableAndDoesNotRevealTheKey()
    {
        var again = new EncryptionKey(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        Assert.Equal(KeyA.Id, again.Id);
        Assert.NotEqual(KeyA.Id, KeyB.Id);
        Assert.Equal(16, KeyA.IdText.Length);
        Assert.DoesNotContain("0001020304050607", KeyA.IdText);
    }

    private static async Task<byte[]> EncodeAsync(byte[] raw, KeyRing keys, string fileName = Seg)
    {
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(raw), WalFileName.Parse(fileName), 1, 42, CancellationToken.None, 1, keys);
        var bytes = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, bytes);
        return bytes;
    }

    private static async Task<byte[]> DecodeAsync(byte[] stored, KeyRing keys, string fileName = Seg)
    {
        var sink = new Collect();
        await ObjectCodec.DecodeAsync(new MemoryStream(stored), stored.Length, WalFileName.Parse(fileName), sink, CancellationToken.None, keys);
        return sink.Bytes.ToArray();
    }

    private static KeyRing Encrypting(EncryptionKey key, params EncryptionKey[] older) => new(key, true, older);

    [Fact]
    public async Task EncryptedSegmentRoundTripsAndRecordsCipherAndKeyId()
    {
        byte[] raw = SyntheticWal.Segment(Seg, validPages: 60);
        byte[] stored = await EncodeAsync(raw, Encrypting(KeyA));
        var header = ObjectHeader.Parse(stored);
        Assert.Equal(Cipher.Aes256Gcm, header.Cipher);
        Assert.Equal(KeyA.Id, header.KeyId);
        Assert.Equal(Codec.Zstd, header.Codec);
        Assert.Equal(SHA256.HashData(raw), header.RawSha256.ToArray());
        Assert.Equal(raw, await DecodeAsync(stored, Encrypting(KeyA)));
        // Two encodings of the same file differ (per-object salt), and never repeat the plaintext.
        Assert.NotEqual(stored[ObjectHeader.Size..], (await EncodeAsync(raw, Encrypting(KeyA)))[ObjectHeader.Size..]);
    }

    [Fact]
    public async Task HistoryFileRoundTripsEncrypted()
    {
        byte[] raw = "1\t0/3000000\tno recovery target specified\n"u8.ToArray();
        byte[] stored = await EncodeAsync(raw, Encrypting(KeyA), "00000002.history");
        Assert.Equal(raw, await DecodeAsync(stored, Encrypting(KeyA), "00000002.history"));
    }

    [Fact]
    public async Task RotationFindsTheOlderKeyById()
    {
        byte[] raw = SyntheticWal.Segment(Seg, validPages: 10);
        byte[] stored = await EncodeAsync(raw, Encrypting(KeyA));
        Assert.Equal(raw, await DecodeAsync(stored, Encrypting(KeyB, KeyA)));
        Assert.Equal(raw, await DecodeAsync(stored, new KeyRing(null, false, [KeyA])));
    }

    [Fact]
    public async Task WrongOrMissingKeyNamesTheKeyIds()
    {
        byte[] stored = await EncodeAsync(SyntheticWal.Segment(Seg, validPages: 10), Encrypting(KeyA));
        var wrong = await Assert.ThrowsAsync<ObjectKeyException>(() => DecodeAsync(stored, Encrypting(KeyB)));
        Assert.Contains($"object was encrypted with key id {KeyA.IdText}; you gave key id {KeyB.IdText}", wrong.Message);
        var missing = await Assert.ThrowsAsync<ObjectKeyException>(() => DecodeAsync(stored, KeyRing.Empty));
        Assert.Contains("no key is configured", missing.Message);
    }

    [Fact]
    public async Task TamperedEncryptedObjectsAreCorrupt()
    {
        byte[] stored = await EncodeAsync(SyntheticWal.Segment(Seg, validPages: 60), Encrypting(KeyA));
        foreach (int position in new[] { ObjectHeader.Size + 3, ObjectHeader.Size + 40, stored.Length / 2, stored.Length - 1 })
        {
            byte[] copy = (byte[])stored.Clone();
            copy[position] ^= 0x04;
            await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(copy, Encrypting(KeyA)));
        }
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored[..^20], Encrypting(KeyA)));
        await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored[..(ObjectHeader.Size + 10)], Encrypting(KeyA)));
    }

    [Fact]
    public async Task HeaderChangedWithAValidChecksumIsCaught()
    {
        byte[] raw = SyntheticWal.Segment(Seg, validPages: 10);
        byte[] stored = await EncodeAsync(raw, Encrypting(KeyA));
        // Rewrite the header as an attacker could (the CRC is no secret): another system identifier.
        var header = ObjectHeader.Parse(stored);
        (header with { SystemIdentifier = header.SystemIdentifier + 1 }).WriteTo(stored);
        var e = await Assert.ThrowsAsync<CorruptObjectException>(() => DecodeAsync(stored, Encrypting(KeyA)));
        Assert.Contains("decryption failed", e.Message);
    }

    [Fact]
    public void KeyFilesHoldRawBytesHexOrBase64_AndPrivateOnly()
    {
        using var dir = Fixtures.TestPaths.CreateTempDir("walship-keys");
        byte[] material = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        string Write(string name, byte[] content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
        {
            string path = Path.Combine(dir.Path, name);
            File.WriteAllBytes(path, content);
            File.SetUnixFileMode(path, mode);
            return path;
        }

        foreach (var content in new[]
                 {
                     material,
                     System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(material) + "\n"),
                     System.Text.Encoding.ASCII.GetBytes("  " + Convert.ToHexString(material) + "\r\n"),
                     System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(material) + "\n"),
                 })
            Assert.Equal(KeyA.Id, Commands.EncryptionKeys.LoadKeyFile(Write("k", content), "--encryption-key-file").Id);

        foreach (var bad in new[] { material[..31], new byte[33], System.Text.Encoding.ASCII.GetBytes(Convert.ToHexString(material)[..62]), "not a key"u8.ToArray() })
        {
            var e = Assert.Throws<Storage.StorageException>(() => Commands.EncryptionKeys.LoadKeyFile(Write("bad", bad), "--encryption-key-file"));
            Assert.Equal(Storage.ErrorClass.Usage, e.Class);
            Assert.Contains("does not hold a 32-byte key", e.Message);
        }

        string shared = Write("shared", material, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Contains("chmod 600", Assert.Throws<Storage.StorageException>(() => Commands.EncryptionKeys.LoadKeyFile(shared, "x")).Message);
        Assert.Contains("cannot read", Assert.Throws<Storage.StorageException>(() => Commands.EncryptionKeys.LoadKeyFile(Path.Combine(dir.Path, "missing"), "x")).Message);
    }

    [Fact]
    public async Task PlaintextObjectsStillDecodeWithKeysConfigured()
    {
        byte[] raw = SyntheticWal.Segment(Seg, validPages: 10);
        byte[] stored = await EncodeAsync(raw, KeyRing.Empty);
        Assert.Equal(Cipher.None, ObjectHeader.Parse(stored).Cipher);
        Assert.Equal(0UL, ObjectHeader.Parse(stored).KeyId);
        Assert.Equal(raw, await DecodeAsync(stored, Encrypting(KeyA)));
    }
}
