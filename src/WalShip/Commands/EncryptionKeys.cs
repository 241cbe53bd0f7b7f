using System.Text;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Storage;

namespace WalShip.Commands;

/// <summary>The client-side encryption keys of one run, read from key files or key text. A key file holds
/// exactly 32 raw bytes, or 64 hex digits, or base64 of 32 bytes (surrounding whitespace allowed);
/// whatever it holds is never echoed, and a file others can read is refused.</summary>
public sealed class EncryptionKeys(KeyRing ring)
{
    private const int MaxKeyFileBytes = 4096;

    public KeyRing Ring { get; } = ring;

    public static EncryptionKeys Load(bool encrypt, string? keyFile, string? keyText, string keyTextSource, string? keyConfigFile, string? decryptionKeyFiles)
    {
        EncryptionKey? current = null;
        if (keyFile is not null)
            current = LoadKeyFile(keyFile, "--encryption-key-file");
        else if (keyText is not null)
        {
            if (keyConfigFile is not null)
                RefuseIfOthersCanRead(keyConfigFile, "config file holding encryption-key");
            current = ParseKey(Encoding.UTF8.GetBytes(keyText), allowRaw: false)
                      ?? throw Usage($"the encryption key from {keyTextSource} is not 32 bytes as 64 hex digits or base64");
        }

        var older = new List<EncryptionKey>();
        foreach (string path in (decryptionKeyFiles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var key = LoadKeyFile(path, "--decryption-key-files");
            if (key.Id != current?.Id && older.All(k => k.Id != key.Id))
                older.Add(key);
        }
        return new EncryptionKeys(current is null && older.Count == 0 ? KeyRing.Empty : new KeyRing(current, encrypt, older));
    }

    public static EncryptionKey LoadKeyFile(string path, string option)
    {
        RefuseIfOthersCanRead(path, $"key file ({option})");
        byte[] bytes;
        try
        {
            using var file = File.OpenRead(path);
            if (file.Length > MaxKeyFileBytes)
                throw Usage($"key file {path} ({option}) is {file.Length} bytes; a key file holds one 32-byte key");
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Usage($"cannot read key file {path} ({option}): {e.Message}");
        }
        return ParseKey(bytes, allowRaw: true)
               ?? throw Usage($"key file {path} ({option}) does not hold a 32-byte key: expected 32 raw bytes, 64 hex digits or base64 text");
    }

    internal static EncryptionKey? ParseKey(byte[] bytes, bool allowRaw)
    {
        if (allowRaw && bytes.Length == AesGcmChunks.KeySize)
            return new EncryptionKey(bytes);
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(bytes).Trim();
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
        byte[] key = new byte[AesGcmChunks.KeySize];
        if (text.Length == 2 * AesGcmChunks.KeySize
            && Convert.FromHexString(text, key, out _, out int written) == System.Buffers.OperationStatus.Done && written == key.Length)
            return new EncryptionKey(key);
        if (Convert.TryFromBase64String(text, key, out written) && written == key.Length)
            return new EncryptionKey(key);
        return null;
    }

    private static void RefuseIfOthersCanRead(string path, string what)
    {
        UnixFileMode mode;
        try
        {
            mode = File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Usage($"cannot read {what} {path}: {e.Message}");
        }
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & others) != 0)
            throw Usage($"{what} {path} is accessible by group or others (mode {Convert.ToString((int)mode, 8)}); refusing it: chmod 600 {path}");
    }

    private static StorageException Usage(string message) => new(ErrorClass.Usage, message);
}
