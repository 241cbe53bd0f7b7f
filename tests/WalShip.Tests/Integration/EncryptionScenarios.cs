using System.Collections.Concurrent;
using System.Security.Cryptography;
using WalShip.Archive;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>
/// Client-side encryption through the native binary, once per repository kind: a round trip, idempotent
/// push and key rotation, and every way fetch must fail (wrong key, no key, flipped byte, truncation,
/// rewritten header) with the fetch failure code and no %p left behind.
/// </summary>
public abstract class EncryptionScenarios() : RepositoryKindScenarios("walship-crypto")
{
    protected const string Seg = "000000010000000000000001";
    protected const string Seg2 = "000000010000000000000002";
    protected static readonly byte[] KeyABytes = RandomNumberGenerator.GetBytes(32);
    protected static readonly byte[] KeyBBytes = RandomNumberGenerator.GetBytes(32);
    protected static readonly string KeyAId = new EncryptionKey(KeyABytes).IdText;
    protected static readonly string KeyBId = new EncryptionKey(KeyBBytes).IdText;

    protected byte[] SegmentBytes { get; } = SyntheticWal.Segment(Seg, SyntheticWal.OneMiB, validPages: 60);
    protected string KeyA { get; private set; } = null!;
    protected string KeyB { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        string keys = Tmp.CreateSubdirectory("keys");
        // One key as raw bytes, one as hex text: both file forms walship documents.
        KeyA = Path.Combine(keys, "a.key");
        File.WriteAllBytes(KeyA, KeyABytes);
        KeyB = Path.Combine(keys, "b.key");
        File.WriteAllText(KeyB, Convert.ToHexStringLower(KeyBBytes) + "\n");
        foreach (string file in new[] { KeyA, KeyB })
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(keys, recursive: true);
    }

    protected Dictionary<string, string> Encrypting(string keyFile, params (string Key, string Value)[] extra) =>
        Env([("WALSHIP_ENCRYPTION", "aes-256-gcm"), ("WALSHIP_ENCRYPTION_KEY_FILE", keyFile), .. extra]);

    protected string DataDir(string name, string segment = Seg, byte[]? bytes = null) =>
        Tmp.CreateDataDirectory($"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)], null, segment, bytes ?? SegmentBytes);

    protected static Task<ProcessResult> PushAsync(string data, IDictionary<string, string> env, string segment = Seg) =>
        WalshipBinary.RunAsync(["push", $"pg_wal/{segment}", segment], env, data);

    protected static Task<ProcessResult> FetchAsync(string data, IDictionary<string, string> env, string segment = Seg) =>
        WalshipBinary.RunAsync(["fetch", segment, "pg_wal/RECOVERYXLOG"], env, data);

    private static byte[] Restored(string data) => File.ReadAllBytes(Path.Combine(data, "pg_wal", "RECOVERYXLOG"));

    private static void AssertNothingLeft(string data, ProcessResult result)
    {
        Assert.False(File.Exists(Path.Combine(data, "pg_wal", "RECOVERYXLOG")), $"%p exists after a failed fetch: {result}");
        Assert.Empty(Directory.EnumerateFiles(data, "*.walship-tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task RoundTrip_IdempotentPush_AndKeyRotation()
    {
        string data = DataDir("primary");
        var push = await PushAsync(data, Encrypting(KeyA));
        Assert.True(push.ExitCode == 0, push.ToString());

        byte[] stored = Repo.ReadObject(RepositoryBackend.SegmentKey(Seg))!;
        var header = ObjectHeader.Parse(stored);
        Assert.Equal(Cipher.Aes256Gcm, header.Cipher);
        Assert.Equal(KeyAId, ObjectHeader.FormatKeyId(header.KeyId));
        Assert.True(stored.AsSpan().IndexOf(SegmentBytes.AsSpan(8192, 64)) < 0, "a WAL page body is readable in the stored object");

        // Same segment again: identical content, exit 0; with the rotated key too, once the old key is given.
        var again = await PushAsync(data, Encrypting(KeyA));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("identical", again.StdErr);
        var rotatedWithoutOld = await PushAsync(data, Encrypting(KeyB));
        Assert.True(rotatedWithoutOld.ExitCode == 3, rotatedWithoutOld.ToString());
        Assert.Contains($"object was encrypted with key id {KeyAId}; you gave key id {KeyBId}", rotatedWithoutOld.StdErr);
        var rotated = await PushAsync(data, Encrypting(KeyB, ("WALSHIP_DECRYPTION_KEY_FILES", KeyA)));
        Assert.True(rotated.ExitCode == 0, rotated.ToString());
        Assert.Contains("identical", rotated.StdErr);

        // Different bytes under the same name stay a conflict, encrypted or not.
        byte[] other = SyntheticWal.Segment(Seg, SyntheticWal.OneMiB, validPages: 60, seed: 2);
        var conflict = await PushAsync(DataDir("diverged", Seg, other), Encrypting(KeyA));
        Assert.True(conflict.ExitCode == 8, conflict.ToString());

        string standby = DataDir("restore", Seg2, []);
        var fetch = await FetchAsync(standby, Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyA)));
        Assert.True(fetch.ExitCode == 0, fetch.ToString());
        Assert.Equal(SegmentBytes, Restored(standby));

        // After rotation the standby holds the new key and the old one for older objects.
        File.Delete(Path.Combine(standby, "pg_wal", "RECOVERYXLOG"));
        var afterRotation = await FetchAsync(standby, Env(("WALSHIP_ENCRYPTION_KEY", Convert.ToBase64String(KeyBBytes)),
            ("WALSHIP_DECRYPTION_KEY_FILES", $"{KeyB},{KeyA}")));
        Assert.True(afterRotation.ExitCode == 0, afterRotation.ToString());
        Assert.Equal(SegmentBytes, Restored(standby));

        // A plaintext object in the same repository still restores with keys configured.
        byte[] plain = SyntheticWal.Segment(Seg2, SyntheticWal.OneMiB, validPages: 20);
        Assert.Equal(0, (await PushAsync(DataDir("plain", Seg2, plain), Env(), Seg2)).ExitCode);
        File.Delete(Path.Combine(standby, "pg_wal", "RECOVERYXLOG"));
        var mixed = await FetchAsync(standby, Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyB)), Seg2);
        Assert.True(mixed.ExitCode == 0, mixed.ToString());
        Assert.Equal(plain, Restored(standby));
    }

    [Fact]
    public async Task FetchFails_WithTheFailureCodeAndNoFile_ForWrongKeyNoKeyTamperingAndTruncation()
    {
        Assert.Equal(0, (await PushAsync(DataDir("primary"), Encrypting(KeyA))).ExitCode);
        string key = RepositoryBackend.SegmentKey(Seg);
        byte[] stored = Repo.ReadObject(key)!;
        string data = DataDir("recovery", Seg2, []);
        // Archive recovery (no standby.signal): any failure is 200, never "not in archive".
        var deadline = ("WALSHIP_DEADLINE", "15s");

        var wrongKey = await FetchAsync(data, Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyB), deadline));
        Assert.True(wrongKey.ExitCode == 200, wrongKey.ToString());
        Assert.Contains($"object was encrypted with key id {KeyAId}; you gave key id {KeyBId}", wrongKey.StdErr);
        AssertNothingLeft(data, wrongKey);

        var noKey = await FetchAsync(data, Env(deadline));
        Assert.True(noKey.ExitCode == 200, noKey.ToString());
        Assert.Contains($"encrypted (aes-256-gcm) with key id {KeyAId}, but no key is configured", noKey.StdErr);
        AssertNothingLeft(data, noKey);

        byte[] flipped = (byte[])stored.Clone();
        flipped[flipped.Length / 2] ^= 0x01;
        await AssertFetchFailsAsync(flipped, "corrupt");

        await AssertFetchFailsAsync(stored[..^100], null);
        await AssertFetchFailsAsync(stored[..(ObjectHeader.Size + AesGcmChunksSalt / 2)], null);

        // A rewritten header with a valid CRC (another system identifier): caught by the last chunk's tag.
        byte[] rewritten = (byte[])stored.Clone();
        var header = ObjectHeader.Parse(rewritten);
        (header with { SystemIdentifier = header.SystemIdentifier ^ 1 }).WriteTo(rewritten);
        await AssertFetchFailsAsync(rewritten, "corrupt");

        Repo.WriteObject(key, stored);
        var good = await FetchAsync(data, Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyA)));
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Equal(SegmentBytes, Restored(data));

        async Task AssertFetchFailsAsync(byte[] damaged, string? expectedWord)
        {
            Repo.WriteObject(key, damaged);
            var result = await FetchAsync(data, Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyA), deadline));
            Assert.True(result.ExitCode == 200, result.ToString());
            if (expectedWord is not null)
                Assert.True(result.StdErr.Contains(expectedWord, StringComparison.Ordinal), result.ToString());
            AssertNothingLeft(data, result);
        }
    }

    private const int AesGcmChunksSalt = WalShip.Pipeline.AesGcmChunks.SaltSize;

    /// <summary>PostgreSQL end to end: an encrypting primary (with SSE where the repository is S3), and a
    /// standby that holds only the key and replays from the archive alone.</summary>
    [Fact]
    public async Task StandbyWithOnlyTheKey_ReplaysAnEncryptingPrimary()
    {
        var primaryEnv = Encrypting(KeyA, [.. ServerSideEncryption]);
        await using var primary = await StartArchivingPrimaryAsync("crypto-primary", primaryEnv);
        await primary.QueryAsync("create table t as select generate_series(1, 1000) i");

        await using var standby = await PgCluster.BaseBackupAsync(primary, "crypto-standby");
        ConfigureRestore(standby);
        standby.CreateSignalFile("standby.signal");
        await standby.StartAsync(Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyA)));

        await primary.QueryAsync("insert into t select generate_series(1001, 5000)");
        string segment = await primary.SwitchWalAndWaitArchivedAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Cipher.Aes256Gcm, ObjectHeader.Parse(Repo.ReadObject(RepositoryBackend.SegmentKey(segment))!).Cipher);

        await standby.WaitForAsync(async () => await standby.QueryAsync("select count(*) from t") == "5000",
            TimeSpan.FromSeconds(60), "the standby to replay the encrypted WAL");
        Assert.Contains("restored log file", standby.ReadLog());
    }

    /// <summary>Extra settings of the primary for this repository kind (SSE on S3).</summary>
    protected virtual (string Key, string Value)[] ServerSideEncryption => [];
}

public sealed class FileEncryptionScenarios : EncryptionScenarios
{
    protected override Task<RepositoryBackend> CreateBackendAsync() => Task.FromResult<RepositoryBackend>(new FileRepositoryBackend());

    [Fact]
    public async Task TamperingIsReportedAsADecryptionFailure()
    {
        Assert.Equal(0, (await PushAsync(DataDir("primary"), Encrypting(KeyA))).ExitCode);
        string key = RepositoryBackend.SegmentKey(Seg);
        byte[] stored = Repo.ReadObject(key)!;
        stored[^1] ^= 0x80;
        Repo.WriteObject(key, stored);
        var result = await FetchAsync(DataDir("recovery", Seg2, []), Env(("WALSHIP_ENCRYPTION_KEY_FILE", KeyA)));
        Assert.True(result.ExitCode == 200, result.ToString());
        Assert.Contains("decryption failed at chunk", result.StdErr);
    }

    public static TheoryData<string, string[], string> RefusedSettings => new()
    {
        { "group-readable key file", ["WALSHIP_ENCRYPTION=aes-256-gcm", "WALSHIP_ENCRYPTION_KEY_FILE={open}"], "chmod 600" },
        { "encryption without a key", ["WALSHIP_ENCRYPTION=aes-256-gcm"], "needs a key" },
        { "key file that is no key", ["WALSHIP_ENCRYPTION=aes-256-gcm", "WALSHIP_ENCRYPTION_KEY_FILE={short}"], "does not hold a 32-byte key" },
        { "key file and key", ["WALSHIP_ENCRYPTION_KEY_FILE={a}", "WALSHIP_ENCRYPTION_KEY=AAAA"], "give one" },
        { "unknown cipher", ["WALSHIP_ENCRYPTION=aes-128-cbc"], "expected none, aes-256-gcm" },
        { "SSE on a directory", ["WALSHIP_SSE=AES256"], "S3 repositories only" },
        { "KMS key without SSE", ["WALSHIP_SSE_KMS_KEY_ID=alias/wal"], "--sse-kms-key-id needs --sse aws:kms" },
        { "KMS key with AES256", ["WALSHIP_SSE=AES256", "WALSHIP_SSE_KMS_KEY_ID=alias/wal"], "needs --sse aws:kms, not AES256" },
        { "unknown SSE", ["WALSHIP_SSE=aes256-gcm"], "expected AES256, aws:kms" },
    };

    [Theory]
    [MemberData(nameof(RefusedSettings))]
    public async Task MisconfiguredEncryptionIsOneClearUsageError(string why, string[] settings, string expected)
    {
        string keys = Path.GetDirectoryName(KeyA)!;
        string open = Path.Combine(keys, "open.key");
        File.WriteAllBytes(open, KeyABytes);
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        string shortKey = Path.Combine(keys, "short.key");
        File.WriteAllText(shortKey, "not a key");
        File.SetUnixFileMode(shortKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        PgUser.ChownToPostgres(keys, recursive: true);

        var env = Env([.. settings.Select(s => s.Replace("{open}", open).Replace("{short}", shortKey).Replace("{a}", KeyA).Split('=', 2))
            .Select(p => (p[0], p[1]))]);
        string data = DataDir("refused");
        var result = await PushAsync(data, env);
        Assert.True(result.ExitCode == 2, $"{why}: {result}");
        Assert.Contains(expected, result.StdErr);
        Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain(Convert.ToHexStringLower(KeyABytes), result.StdErr);
    }

    [Fact]
    public async Task AKeyOnTheCommandLineIsRefused()
    {
        string hex = Convert.ToHexStringLower(KeyABytes);
        var result = await WalshipBinary.RunAsync(["--encryption-key", hex, "push", $"pg_wal/{Seg}", Seg], Env(), DataDir("argv"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("visible to every user in ps", result.StdErr);
        Assert.DoesNotContain(hex, result.StdErr);
    }
}

public sealed class S3EncryptionScenarios : EncryptionScenarios
{
    protected override async Task<RepositoryBackend> CreateBackendAsync() => await S3RepositoryBackend.StartAsync();

    protected override (string Key, string Value)[] ServerSideEncryption => [("WALSHIP_SSE", "AES256")];

    /// <summary>s3rver ignores SSE headers, so they are checked on the wire: every object write (single PUT
    /// and the multipart initiation; not the parts, which S3 refuses them on) carries them.</summary>
    [Fact]
    public async Task ServerSideEncryptionHeadersAreSentOnEveryObjectWrite()
    {
        var seen = new ConcurrentQueue<(string Method, string Target, string? Sse, string? KmsKey)>();
        await using var proxy = FaultProxy.Start(Repo.Environment["WALSHIP_ENDPOINT"], request =>
        {
            seen.Enqueue((request.Method, request.Target, request.Header("x-amz-server-side-encryption"),
                request.Header("x-amz-server-side-encryption-aws-kms-key-id")));
            return FaultAction.PassThrough;
        });
        const string kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

        var kms = await PushAsync(DataDir("kms"), Env(("WALSHIP_ENDPOINT", proxy.Endpoint), ("WALSHIP_SSE", "aws:kms"), ("WALSHIP_SSE_KMS_KEY_ID", kmsKey)));
        Assert.True(kms.ExitCode == 0, kms.ToString());
        var puts = seen.Where(r => r.Method == "PUT").ToList();
        Assert.NotEmpty(puts);
        Assert.All(puts, put => Assert.Equal(("aws:kms", kmsKey), (put.Sse, put.KmsKey)));

        // An incompressible 16 MiB segment with 5 MiB parts goes up as a multipart upload.
        seen.Clear();
        var multipart = await PushAsync(DataDir("multipart", Seg2, ValidBigSegment()), Env(("WALSHIP_ENDPOINT", proxy.Endpoint),
            ("WALSHIP_SSE", "AES256"), ("WALSHIP_PART_SIZE", "5MiB")), Seg2);
        Assert.True(multipart.ExitCode == 0, multipart.ToString());
        var initiate = seen.Where(r => r.Method == "POST" && r.Target.Contains("uploads", StringComparison.Ordinal) && !r.Target.Contains("uploadId", StringComparison.Ordinal)).ToList();
        Assert.Single(initiate);
        Assert.Equal("AES256", initiate[0].Sse);
        Assert.Null(initiate[0].KmsKey);
        Assert.True(seen.Count(r => r.Method == "PUT" && r.Target.Contains("partNumber", StringComparison.Ordinal)) >= 2, "expected a multipart upload");
    }

    /// <summary>A 16 MiB segment whose pages carry valid headers and random (incompressible) bodies.</summary>
    private static byte[] ValidBigSegment()
    {
        byte[] segment = SyntheticWal.Segment(Seg2, SyntheticWal.SixteenMiB);
        var random = new Random(5);
        for (int page = 0; page < segment.Length / SyntheticWal.PageSize; page++)
            random.NextBytes(segment.AsSpan(page * SyntheticWal.PageSize + SyntheticWal.LongHeaderSize, SyntheticWal.PageSize - SyntheticWal.LongHeaderSize));
        return segment;
    }
}
