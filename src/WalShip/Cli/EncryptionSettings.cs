using System.Text;
using WalShip.Archive;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>Turns the encryption options into keys and S3 request settings, refusing combinations that
/// would not do what the user meant (a KMS key without aws:kms, SSE on a directory, a key in ps).</summary>
public static class EncryptionSettings
{
    private const int MaxKeyFileBytes = 4096;

    public static S3ServerSideEncryption? ServerSide(Settings settings, string repositoryUrl)
    {
        string? method = settings.Get(OptionSpec.Sse);
        string? kmsKeyId = settings.Get(OptionSpec.SseKmsKeyId);
        if (method is null)
        {
            if (kmsKeyId is not null)
                throw new UsageException("--sse-kms-key-id needs --sse aws:kms");
            return null;
        }
        var sse = settings.GetChoice(OptionSpec.Sse,
            ("AES256", S3ServerSideEncryption.S3Managed), ("aws:kms", S3ServerSideEncryption.Kms));
        if (kmsKeyId is not null && sse != S3ServerSideEncryption.Kms)
            throw new UsageException($"--sse-kms-key-id needs --sse aws:kms, not {method}");
        if (!repositoryUrl.StartsWith("s3://", StringComparison.Ordinal))
            throw new UsageException($"--sse applies to S3 repositories only, and {repositoryUrl} is not one; use --encryption aes-256-gcm to encrypt a directory repository");
        return sse with { KmsKeyId = kmsKeyId };
    }

    public static KeyRing Keys(Settings settings)
    {
        bool encrypt = settings.GetChoice(OptionSpec.Encryption, ("none", false), ("aes-256-gcm", true));
        string? keyFile = settings.Get(OptionSpec.EncryptionKeyFile);
        string? keyText = settings.Get(OptionSpec.EncryptionKey);
        if (keyFile is not null && keyText is not null)
            throw new UsageException($"both --encryption-key-file (from {settings.Source(OptionSpec.EncryptionKeyFile)}) and the encryption key (from {settings.Source(OptionSpec.EncryptionKey)}) are set; give one");

        EncryptionKey? current = null;
        if (keyFile is not null)
            current = LoadKeyFile(keyFile, "--encryption-key-file");
        else if (keyText is not null)
            current = KeyFromSetting(settings, keyText);
        if (encrypt && current is null)
            throw new UsageException("--encryption aes-256-gcm needs a key: --encryption-key-file FILE or WALSHIP_ENCRYPTION_KEY");

        var older = new List<EncryptionKey>();
        if (settings.Get(OptionSpec.DecryptionKeyFiles) is { } list)
            foreach (string path in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (LoadKeyFile(path, "--decryption-key-files") is var key && key.Id != current?.Id && older.All(k => k.Id != key.Id))
                    older.Add(key);
        return current is null && older.Count == 0 ? KeyRing.Empty : new KeyRing(current, encrypt, older);
    }

    private static EncryptionKey KeyFromSetting(Settings settings, string text)
    {
        string source = settings.Source(OptionSpec.EncryptionKey);
        if (source.StartsWith("--", StringComparison.Ordinal))
            throw new UsageException("--encryption-key on the command line is visible to every user in ps; set WALSHIP_ENCRYPTION_KEY or use --encryption-key-file");
        if (source != OptionSpec.EncryptionKey.EnvironmentVariable)
            RefuseIfOthersCanRead(source, "config file holding encryption-key");
        return ParseKey(Encoding.UTF8.GetBytes(text), allowRaw: false)
               ?? throw new UsageException($"the encryption key from {source} is not 32 bytes as 64 hex digits or base64");
    }

    /// <summary>A key file holds exactly 32 raw bytes, or 64 hex digits, or base64 of 32 bytes
    /// (surrounding whitespace allowed). Its content is never echoed.</summary>
    public static EncryptionKey LoadKeyFile(string path, string option)
    {
        RefuseIfOthersCanRead(path, $"key file ({option})");
        byte[] bytes;
        try
        {
            using var file = File.OpenRead(path);
            if (file.Length > MaxKeyFileBytes)
                throw new UsageException($"key file {path} ({option}) is {file.Length} bytes; a key file holds one 32-byte key");
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read key file {path} ({option}): {e.Message}");
        }
        return ParseKey(bytes, allowRaw: true)
               ?? throw new UsageException($"key file {path} ({option}) does not hold a 32-byte key: expected 32 raw bytes, 64 hex digits or base64 text");
    }

    internal static EncryptionKey? ParseKey(byte[] bytes, bool allowRaw)
    {
        if (allowRaw && bytes.Length == 32)
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
        byte[] key = new byte[32];
        if (text.Length == 64 && Convert.FromHexString(text, key, out _, out int written) == System.Buffers.OperationStatus.Done && written == 32)
            return new EncryptionKey(key);
        if (Convert.TryFromBase64String(text, key, out written) && written == 32)
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
            throw new UsageException($"cannot read {what} {path}: {e.Message}");
        }
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & others) != 0)
            throw new UsageException($"{what} {path} is accessible by group or others (mode {Convert.ToString((int)mode, 8)}); refusing it: chmod 600 {path}");
    }
}
