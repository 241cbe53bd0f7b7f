using WalShip.Commands;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>Turns the encryption options into keys and S3 request settings, refusing combinations that
/// would not do what the user meant (a KMS key without aws:kms, SSE on a directory, a key in ps).</summary>
public static class EncryptionSettings
{
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

    /// <summary>The client-side keys: the current one from a file or WALSHIP_ENCRYPTION_KEY, older ones
    /// from --decryption-key-files.</summary>
    public static EncryptionKeys Keys(Settings settings)
    {
        bool encrypt = settings.GetChoice(OptionSpec.Encryption, ("none", false), ("aes-256-gcm", true));
        string? keyFile = settings.Get(OptionSpec.EncryptionKeyFile);
        string? keyText = settings.Get(OptionSpec.EncryptionKey);
        if (keyFile is not null && keyText is not null)
            throw new UsageException($"both --encryption-key-file (from {settings.Source(OptionSpec.EncryptionKeyFile)}) and the encryption key (from {settings.Source(OptionSpec.EncryptionKey)}) are set; give one");
        string source = settings.Source(OptionSpec.EncryptionKey);
        if (keyText is not null && source.StartsWith("--", StringComparison.Ordinal))
            throw new UsageException("--encryption-key on the command line is visible to every user in ps; set WALSHIP_ENCRYPTION_KEY or use --encryption-key-file");
        // Anything but the variable is the config file, which then holds a secret and must be private.
        string? keyConfigFile = keyText is not null && source != OptionSpec.EncryptionKey.EnvironmentVariable ? source : null;
        if (encrypt && keyFile is null && keyText is null)
            throw new UsageException("--encryption aes-256-gcm needs a key: --encryption-key-file FILE or WALSHIP_ENCRYPTION_KEY");
        return EncryptionKeys.Load(encrypt, keyFile, keyText, source, keyConfigFile, settings.Get(OptionSpec.DecryptionKeyFiles));
    }
}
