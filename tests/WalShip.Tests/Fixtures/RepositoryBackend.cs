namespace WalShip.Tests.Fixtures;

/// <summary>A walship repository for integration tests: its settings as environment variables, and
/// direct access to stored objects so tests can inspect or damage them behind walship's back.</summary>
public abstract class RepositoryBackend : IAsyncDisposable
{
    /// <summary>WALSHIP_* (and AWS_*) variables that point walship at this repository.</summary>
    public abstract IReadOnlyDictionary<string, string> Environment { get; }

    public abstract string Url { get; }

    /// <summary>A copy of <see cref="Environment"/> with some variables added or replaced.</summary>
    public Dictionary<string, string> EnvironmentWith(params (string Key, string Value)[] extra)
    {
        var env = new Dictionary<string, string>(Environment);
        foreach (var (key, value) in extra)
            env[key] = value;
        return env;
    }

    /// <summary>The stored bytes of an object, or null when it does not exist.</summary>
    public abstract byte[]? ReadObject(string key);

    public abstract void WriteObject(string key, byte[] content);

    /// <summary>Removes an object behind walship's back (a prune, a lifecycle rule).</summary>
    public abstract void DeleteObject(string key);

    public abstract ValueTask DisposeAsync();

    /// <summary>The repository opened in this process, as walship opens it, for tests that drive the
    /// store API or a command directly.</summary>
    public abstract WalShip.Commands.Repository OpenRepository();

    /// <summary>The key of a WAL file (segment, .history, .backup, .partial) relative to the repository prefix.</summary>
    public static string SegmentKey(string fileName) => new WalShip.Archive.ArchiveLayout("").KeyFor(WalShip.Wal.WalFileName.Parse(fileName));
}

public sealed class FileRepositoryBackend : RepositoryBackend
{
    private readonly TestTempDir _dir;

    public FileRepositoryBackend()
    {
        _dir = TestPaths.CreateTempDir("walship-file-repo");
        Environment = new Dictionary<string, string> { ["WALSHIP_REPO"] = Url };
    }

    public override string Url => "file://" + _dir.Path;
    public override IReadOnlyDictionary<string, string> Environment { get; }

    public override byte[]? ReadObject(string key)
    {
        string path = Path.Combine(_dir.Path, key);
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    public override void WriteObject(string key, byte[] content) => File.WriteAllBytes(Path.Combine(_dir.Path, key), content);

    public override void DeleteObject(string key) => File.Delete(Path.Combine(_dir.Path, key));

    public override WalShip.Commands.Repository OpenRepository() =>
        WalShip.Commands.Repository.Open(Url, _ => throw new InvalidOperationException("not an S3 repository"));

    public override ValueTask DisposeAsync() => _dir.DisposeAsync();
}

public sealed class S3RepositoryBackend : RepositoryBackend
{
    private const string Bucket = "walship-test";
    private const string Prefix = "clusters/main";
    private readonly S3Server _server;

    private S3RepositoryBackend(S3Server server)
    {
        _server = server;
        Environment = new Dictionary<string, string>
        {
            ["WALSHIP_REPO"] = Url,
            ["WALSHIP_ENDPOINT"] = server.Endpoint,
            ["WALSHIP_PATH_STYLE"] = "true",
            ["AWS_REGION"] = S3Server.Region,
            ["AWS_ACCESS_KEY_ID"] = S3Server.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = S3Server.SecretAccessKey,
        };
    }

    public static async Task<S3RepositoryBackend> StartAsync()
    {
        var server = await S3Server.StartAsync();
        await server.CreateBucketAsync(Bucket);
        return new S3RepositoryBackend(server);
    }

    public override string Url => $"s3://{Bucket}/{Prefix}";
    public override IReadOnlyDictionary<string, string> Environment { get; }

    public override byte[]? ReadObject(string key)
    {
        string path = _server.ObjectFilePath(Bucket, $"{Prefix}/{key}");
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    public override void WriteObject(string key, byte[] content) => File.WriteAllBytes(_server.ObjectFilePath(Bucket, $"{Prefix}/{key}"), content);

    /// <summary>s3rver keeps an object as several files beside each other (body, metadata); all go.</summary>
    public override void DeleteObject(string key)
    {
        string body = _server.ObjectFilePath(Bucket, $"{Prefix}/{key}");
        string stem = Path.GetFileName(body)[..^"._S3rver_object".Length];
        foreach (string file in Directory.GetFiles(Path.GetDirectoryName(body)!, stem + "._S3rver_*"))
            File.Delete(file);
    }

    public override WalShip.Commands.Repository OpenRepository() =>
        OpenS3Repository(Url, _server.Endpoint, S3Server.Region, S3Server.AccessKeyId, S3Server.SecretAccessKey);

    /// <summary>An in-process repository on an S3 endpoint (s3rver, or the gateway in front of it) with static keys.</summary>
    public static WalShip.Commands.Repository OpenS3Repository(string url, string endpoint, string region, string accessKeyId, string secretAccessKey) =>
        WalShip.Commands.Repository.Open(url, bucket => new WalShip.Storage.S3ObjectStore(
            WalShip.Storage.S3ClientFactory.Create(
                new WalShip.Storage.S3Settings(region, endpoint, ForcePathStyle: true, CaFile: null, Profile: null,
                    UseInstanceMetadata: false, RequestTimeout: TimeSpan.FromSeconds(60)),
                new Amazon.Runtime.BasicAWSCredentials(accessKeyId, secretAccessKey)),
            bucket, 8L << 20, 4, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));

    public override ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>
/// The cross-account set-up of <see cref="Integration.CrossAccount"/> as a repository: the writer side
/// (<see cref="RepositoryBackend.Environment"/>) is account A with its own keys, through the SigV4-checking
/// <see cref="AuthGateway"/>; the reader side (<see cref="ReaderEnvironment"/>) is account B's keys and,
/// in a private walship config file as the README's cross-account chapter has it, the role in A with
/// its external id. Nothing on the reader side holds a key of A.
/// </summary>
public sealed class CrossAccountRepositoryBackend : RepositoryBackend
{
    private const string Prefix = "clusters/backup";
    private readonly Integration.CrossAccount _accounts;
    private readonly TestTempDir _readerDir;

    private CrossAccountRepositoryBackend(Integration.CrossAccount accounts)
    {
        _accounts = accounts;
        Environment = accounts.AccountA(Prefix);
        _readerDir = TestPaths.CreateTempDir("walship-reader");
        ConfigFile = System.IO.Path.Combine(_readerDir.Path, "walship.conf");
        // The credential cache must not exist yet: walship (as postgres) creates it with mode 0700.
        File.WriteAllText(ConfigFile, $"""
            repo = {Url}
            endpoint = {accounts.Gateway.S3Endpoint}
            path-style = true
            role-arn = {Integration.CrossAccount.ReaderRole.Arn}
            external-id = {Integration.CrossAccount.ExternalId}
            sts-endpoint = {accounts.Gateway.StsEndpoint}
            credential-cache = {System.IO.Path.Combine(_readerDir.Path, "credentials")}

            """);
        File.SetUnixFileMode(ConfigFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(ConfigFile);
        ReaderEnvironment = new Dictionary<string, string>
        {
            ["WALSHIP_CONFIG"] = ConfigFile,
            ["AWS_REGION"] = AuthGateway.Region,
            ["AWS_ACCESS_KEY_ID"] = Integration.CrossAccount.StandbyUser.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = Integration.CrossAccount.StandbyUser.SecretAccessKey,
        };
    }

    public static async Task<CrossAccountRepositoryBackend> StartAsync()
    {
        var accounts = new Integration.CrossAccount();
        await accounts.InitializeAsync();
        return new CrossAccountRepositoryBackend(accounts);
    }

    /// <summary>The reader's walship config file (owner postgres, mode 0600): repository, role, external id.</summary>
    public string ConfigFile { get; }

    public IReadOnlyDictionary<string, string> ReaderEnvironment { get; }

    public AuthGateway Gateway => _accounts.Gateway;

    public override string Url => $"s3://{Integration.CrossAccount.Bucket}/{Prefix}";
    public override IReadOnlyDictionary<string, string> Environment { get; }

    private string ObjectPath(string key) => _accounts.S3.ObjectFilePath(Integration.CrossAccount.Bucket, $"{Prefix}/{key}");

    public override byte[]? ReadObject(string key) => File.Exists(ObjectPath(key)) ? File.ReadAllBytes(ObjectPath(key)) : null;

    public override void WriteObject(string key, byte[] content) => File.WriteAllBytes(ObjectPath(key), content);

    public override void DeleteObject(string key)
    {
        string body = ObjectPath(key);
        string stem = System.IO.Path.GetFileName(body)[..^"._S3rver_object".Length];
        foreach (string file in Directory.GetFiles(System.IO.Path.GetDirectoryName(body)!, stem + "._S3rver_*"))
            File.Delete(file);
    }

    public override WalShip.Commands.Repository OpenRepository() =>
        throw new NotSupportedException("the cross-account repository is used through the walship binary only");

    public override async ValueTask DisposeAsync()
    {
        await _accounts.DisposeAsync();
        await _readerDir.DisposeAsync();
    }
}
