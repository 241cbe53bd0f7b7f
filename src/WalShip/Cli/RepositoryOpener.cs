using Microsoft.Extensions.Logging;
using WalShip.Commands;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>Opens the repository the settings name, with the S3 client they describe.</summary>
public static class RepositoryOpener
{
    public static Repository Open(Settings settings, ILogger logger, TimeSpan deadline)
    {
        string url = settings.Get(OptionSpec.Repo)!;
        var serverSideEncryption = EncryptionSettings.ServerSide(settings, url);
        var keys = EncryptionSettings.Keys(settings);
        return Repository.Open(url, keys, bucket =>
        {
            var s3 = new S3Settings(
                settings.Get(OptionSpec.Region),
                settings.Get(OptionSpec.Endpoint),
                settings.GetSwitch(OptionSpec.PathStyle),
                settings.Get(OptionSpec.CaFile),
                settings.Get(OptionSpec.Profile),
                settings.GetSwitch(OptionSpec.UseInstanceMetadata),
                deadline);
            long partSize = settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30);
            int concurrency = settings.GetInt(OptionSpec.UploadConcurrency, 1, 64);
            return new S3ObjectStore(S3ClientFactory.Create(s3), bucket, partSize, concurrency, logger, serverSideEncryption);
        });
    }
}
