using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace WalShip.Pipeline;

/// <summary>
/// Chunked AES-256-GCM, so an object encrypts and decrypts as a stream while every byte stays
/// authenticated. The stream is a sequence of chunks, each <see cref="ChunkSize"/> bytes of plaintext
/// (the last one 0 to <see cref="ChunkSize"/>) followed by its 16-byte tag. Chunk i is sealed with
/// nonce = i (big-endian, 12 bytes) and associated data = i, a final-chunk flag and, for the last chunk
/// only, the caller's final associated data (the object header). So a reordered chunk fails its index, a
/// stream cut at a chunk boundary fails because its new last chunk was sealed as not final, a stream
/// extended past its real end fails because the real last chunk was sealed as final, and a changed
/// header fails the last chunk. A counter nonce is safe only because every object has its own key
/// (<see cref="DeriveObjectKey"/>, from a random 32-byte salt).
/// </summary>
public static class AesGcmChunks
{
    public const int ChunkSize = 64 * 1024;
    public const int TagSize = 16;
    public const int NonceSize = 12;
    public const int KeySize = 32;
    public const int SaltSize = 32;
    private const int IndexAssociatedDataSize = 9;
    private static ReadOnlySpan<byte> ObjectKeyInfo => "walship aes-256-gcm object key v1"u8;

    /// <summary>The per-object key: HKDF-SHA256 of the master key with the object's random salt.</summary>
    public static void DeriveObjectKey(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> salt, Span<byte> objectKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, objectKey[..KeySize], salt, ObjectKeyInfo);

    /// <summary>Stored size of <paramref name="plaintextLength"/> bytes: every chunk adds a tag, and there is
    /// always a last chunk, an empty one for empty input.</summary>
    public static long StoredLength(long plaintextLength) =>
        plaintextLength + Math.Max(1, (plaintextLength + ChunkSize - 1) / ChunkSize) * TagSize;

    internal static void Nonce(ulong index, Span<byte> nonce)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(nonce[(NonceSize - 8)..], index);
    }

    /// <summary>Associated data of chunk <paramref name="index"/>, written into <paramref name="buffer"/>
    /// (which holds room for the final associated data); returns the part to use.</summary>
    internal static ReadOnlySpan<byte> AssociatedData(Span<byte> buffer, ulong index, bool final, ReadOnlySpan<byte> finalAssociatedData)
    {
        BinaryPrimitives.WriteUInt64BigEndian(buffer, index);
        buffer[8] = final ? (byte)1 : (byte)0;
        if (!final)
            return buffer[..IndexAssociatedDataSize];
        finalAssociatedData.CopyTo(buffer[IndexAssociatedDataSize..]);
        return buffer[..(IndexAssociatedDataSize + finalAssociatedData.Length)];
    }

    internal static byte[] AssociatedDataBuffer(int finalLength) => new byte[IndexAssociatedDataSize + finalLength];

    /// <summary>Starts a salted stream: writes a new random salt to <paramref name="output"/> and returns the
    /// filter that encrypts what follows under the key derived from it. Both the WAL object format (after
    /// its header) and base backup data (at offset 0) are such a stream.</summary>
    public static AesGcmEncryptFilter StartSaltedEncryption(IByteFilter output, ReadOnlySpan<byte> masterKey, Func<byte[]> finalAssociatedData)
    {
        Span<byte> salt = stackalloc byte[SaltSize];
        RandomNumberGenerator.Fill(salt);
        output.Write(salt);
        Span<byte> objectKey = stackalloc byte[KeySize];
        DeriveObjectKey(masterKey, salt, objectKey);
        try
        {
            return new AesGcmEncryptFilter(output, objectKey, finalAssociatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(objectKey);
        }
    }
}

/// <summary>Decrypts a salted stream (<see cref="AesGcmChunks.StartSaltedEncryption"/>) fed in pieces of any
/// size: the first <see cref="AesGcmChunks.SaltSize"/> bytes are the salt, and the per-object key is derived
/// once they have arrived. For data read as consecutive ranges, where no reader sees the start alone.</summary>
public sealed class AesGcmSaltedDecryptFilter(IByteFilter next, ReadOnlySpan<byte> masterKey, byte[] finalAssociatedData) : IByteFilter, IDisposable
{
    private readonly byte[] _masterKey = masterKey.ToArray();
    private readonly byte[] _salt = new byte[AesGcmChunks.SaltSize];
    private int _saltFilled;
    private AesGcmDecryptFilter? _decrypt;

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_decrypt is null)
        {
            int take = Math.Min(_salt.Length - _saltFilled, data.Length);
            data[..take].CopyTo(_salt.AsSpan(_saltFilled));
            _saltFilled += take;
            data = data[take..];
            if (_saltFilled < _salt.Length)
                return;
            Span<byte> objectKey = stackalloc byte[AesGcmChunks.KeySize];
            AesGcmChunks.DeriveObjectKey(_masterKey, _salt, objectKey);
            _decrypt = new AesGcmDecryptFilter(next, objectKey, finalAssociatedData);
            CryptographicOperations.ZeroMemory(objectKey);
            CryptographicOperations.ZeroMemory(_masterKey);
        }
        _decrypt.Write(data);
    }

    public void Complete()
    {
        if (_decrypt is null)
            throw new InvalidDataException($"encrypted data is truncated: {_saltFilled} bytes, no room for its {AesGcmChunks.SaltSize}-byte salt");
        _decrypt.Complete();
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_masterKey);
        _decrypt?.Dispose();
    }
}

/// <summary>Encrypts a stream into authenticated chunks (see <see cref="AesGcmChunks"/>) and passes them on.
/// <paramref name="finalAssociatedData"/> is asked for once, when the stream ends: the object header
/// is known only then.</summary>
public sealed class AesGcmEncryptFilter : IByteFilter, IDisposable
{
    private readonly IByteFilter _next;
    private readonly AesGcm _aes;
    private readonly Func<byte[]> _finalAssociatedData;
    private readonly byte[] _plain = ArrayPool<byte>.Shared.Rent(AesGcmChunks.ChunkSize);
    private readonly byte[] _sealed = ArrayPool<byte>.Shared.Rent(AesGcmChunks.ChunkSize + AesGcmChunks.TagSize);
    private readonly byte[] _associatedData = AesGcmChunks.AssociatedDataBuffer(0);
    private int _filled;
    private ulong _index;

    public AesGcmEncryptFilter(IByteFilter next, ReadOnlySpan<byte> objectKey, Func<byte[]> finalAssociatedData)
    {
        _next = next;
        _aes = new AesGcm(objectKey, AesGcmChunks.TagSize);
        _finalAssociatedData = finalAssociatedData;
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            // A full chunk is sealed only once more data arrives: until then it may be the last one.
            if (_filled == AesGcmChunks.ChunkSize)
                Seal(final: false, []);
            int take = Math.Min(AesGcmChunks.ChunkSize - _filled, data.Length);
            data[..take].CopyTo(_plain.AsSpan(_filled));
            _filled += take;
            data = data[take..];
        }
    }

    public void Complete()
    {
        byte[] finalData = _finalAssociatedData();
        Seal(final: true, finalData);
        _next.Complete();
    }

    private void Seal(bool final, ReadOnlySpan<byte> finalData)
    {
        Span<byte> nonce = stackalloc byte[AesGcmChunks.NonceSize];
        AesGcmChunks.Nonce(_index, nonce);
        Span<byte> associatedBuffer = final ? new byte[_associatedData.Length + finalData.Length] : _associatedData;
        var associated = AesGcmChunks.AssociatedData(associatedBuffer, _index, final, finalData);
        var ciphertext = _sealed.AsSpan(0, _filled);
        var tag = _sealed.AsSpan(_filled, AesGcmChunks.TagSize);
        _aes.Encrypt(nonce, _plain.AsSpan(0, _filled), ciphertext, tag, associated);
        _next.Write(_sealed.AsSpan(0, _filled + AesGcmChunks.TagSize));
        _filled = 0;
        _index++;
    }

    public void Dispose()
    {
        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_plain);
        ArrayPool<byte>.Shared.Return(_plain);
        ArrayPool<byte>.Shared.Return(_sealed);
    }
}

/// <summary>Decrypts and authenticates chunks written by <see cref="AesGcmEncryptFilter"/>. Any failure
/// (a changed byte, a wrong key, a missing or extra chunk, a changed header) is an InvalidDataException
/// naming the chunk; plaintext is passed on chunk by chunk, so the caller must not trust its output
/// until <see cref="Complete"/> has returned.</summary>
public sealed class AesGcmDecryptFilter : IByteFilter, IDisposable
{
    private const int SealedChunk = AesGcmChunks.ChunkSize + AesGcmChunks.TagSize;
    private readonly IByteFilter _next;
    private readonly AesGcm _aes;
    private readonly byte[] _finalAssociatedData;
    private readonly byte[] _associatedData;
    private readonly byte[] _sealed = ArrayPool<byte>.Shared.Rent(SealedChunk);
    private readonly byte[] _plain = ArrayPool<byte>.Shared.Rent(AesGcmChunks.ChunkSize);
    private int _filled;
    private ulong _index;

    public AesGcmDecryptFilter(IByteFilter next, ReadOnlySpan<byte> objectKey, byte[] finalAssociatedData)
    {
        _next = next;
        _aes = new AesGcm(objectKey, AesGcmChunks.TagSize);
        _finalAssociatedData = finalAssociatedData;
        _associatedData = AesGcmChunks.AssociatedDataBuffer(finalAssociatedData.Length);
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_filled == SealedChunk)
                Open(final: false);
            int take = Math.Min(SealedChunk - _filled, data.Length);
            data[..take].CopyTo(_sealed.AsSpan(_filled));
            _filled += take;
            data = data[take..];
        }
    }

    public void Complete()
    {
        if (_filled < AesGcmChunks.TagSize)
            throw new InvalidDataException($"encrypted data is truncated: chunk {_index} is {_filled} bytes, shorter than its tag");
        Open(final: true);
        _next.Complete();
    }

    private void Open(bool final)
    {
        Span<byte> nonce = stackalloc byte[AesGcmChunks.NonceSize];
        AesGcmChunks.Nonce(_index, nonce);
        var associated = AesGcmChunks.AssociatedData(_associatedData, _index, final, _finalAssociatedData);
        int length = _filled - AesGcmChunks.TagSize;
        try
        {
            _aes.Decrypt(nonce, _sealed.AsSpan(0, length), _sealed.AsSpan(length, AesGcmChunks.TagSize), _plain.AsSpan(0, length), associated);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidDataException(
                $"decryption failed at chunk {_index}{(final ? " (the last)" : "")}: the object was altered, truncated or extended, or its header changed");
        }
        _next.Write(_plain.AsSpan(0, length));
        _filled = 0;
        _index++;
    }

    public void Dispose()
    {
        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_plain);
        ArrayPool<byte>.Shared.Return(_plain);
        ArrayPool<byte>.Shared.Return(_sealed);
    }
}
