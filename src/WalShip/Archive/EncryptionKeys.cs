using System.Buffers.Binary;
using System.Security.Cryptography;
using WalShip.Pipeline;

namespace WalShip.Archive;

/// <summary>A 32-byte client-side encryption key and its id. The id is a keyed hash of the key (HMAC-SHA256,
/// first 8 bytes): objects record it so fetch can pick the right key and name the missing one, and it
/// reveals nothing about the key.</summary>
public sealed class EncryptionKey
{
    private static ReadOnlySpan<byte> KeyIdLabel => "walship key id v1"u8;
    private readonly byte[] _material;

    public EncryptionKey(ReadOnlySpan<byte> material)
    {
        if (material.Length != AesGcmChunks.KeySize)
            throw new ArgumentException($"an encryption key is {AesGcmChunks.KeySize} bytes, not {material.Length}");
        _material = material.ToArray();
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_material, KeyIdLabel, mac);
        Id = BinaryPrimitives.ReadUInt64BigEndian(mac);
    }

    public ulong Id { get; }

    public string IdText => ObjectHeader.FormatKeyId(Id);

    internal ReadOnlySpan<byte> Material => _material;
}

/// <summary>The keys a process holds: the current one (push encrypts with it when encryption is on) and
/// older ones kept to read objects pushed before a rotation.</summary>
public sealed class KeyRing
{
    public static readonly KeyRing Empty = new(null, false, []);

    public KeyRing(EncryptionKey? current, bool encryptOnPush, IReadOnlyList<EncryptionKey> older)
    {
        if (encryptOnPush && current is null)
            throw new ArgumentException("encryption needs a current key");
        Current = current;
        EncryptOnPush = encryptOnPush;
        All = current is null ? older : [current, .. older];
    }

    public EncryptionKey? Current { get; }

    /// <summary>True when push encrypts with <see cref="Current"/>.</summary>
    public bool EncryptOnPush { get; }

    public IReadOnlyList<EncryptionKey> All { get; }

    /// <summary>The key an object names, or an <see cref="ObjectKeyException"/> saying which one is missing.</summary>
    public EncryptionKey Find(ulong keyId)
    {
        foreach (var key in All)
            if (key.Id == keyId)
                return key;
        string id = ObjectHeader.FormatKeyId(keyId);
        throw new ObjectKeyException(All.Count == 0
            ? $"object is encrypted (aes-256-gcm) with key id {id}, but no key is configured: set --encryption-key-file or WALSHIP_ENCRYPTION_KEY"
            : $"object was encrypted with key id {id}; you gave key id{(All.Count > 1 ? "s" : "")} {string.Join(", ", All.Select(k => k.IdText))}. " +
              "If that is an earlier key, add its file to --decryption-key-files");
    }
}

/// <summary>An encrypted object needs a key this process does not have: a configuration problem, not a
/// corrupt object (push must never take it for a torn upload and replace the object).</summary>
public sealed class ObjectKeyException(string message) : Exception(message);
