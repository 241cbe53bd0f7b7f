using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using WalShip.Tests.Fixtures;
using WalShip.Tests.Unit;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>TLS verification is always on: an endpoint whose certificate no trusted CA signed is
/// refused, and --ca-file (or AWS_CA_BUNDLE) makes a private CA trusted.</summary>
public sealed class TlsTests
{
    private const string Segment = "000000010000000000000003";

    [Fact]
    public async Task APrivateCaEndpoint_IsRefusedByDefault_AndTrustedWithCaFile()
    {
        using var tmp = TestPaths.CreateTempDir("walship-tls");
        var (caPem, keyPem, certPem) = WriteTestPki(tmp.Path);
        await using var s3 = await S3Server.StartAsync(tlsKeyPem: keyPem, tlsCertPem: certPem);
        await s3.CreateBucketAsync("tls-bucket");
        Assert.StartsWith("https://", s3.Endpoint);

        var (data, segment, env) = PrepareSegment(tmp, s3.Endpoint);

        var untrusted = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment], env, data);
        Assert.True(untrusted.ExitCode == 3, untrusted.StdErr); // config: never "transient", retrying cannot help
        Assert.Contains("not trusted", untrusted.StdErr);
        Assert.Contains("--ca-file", untrusted.StdErr);

        var trusted = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--ca-file", caPem], env, data);
        Assert.True(trusted.ExitCode == 0, trusted.StdErr);

        env["AWS_CA_BUNDLE"] = caPem;
        var fetch = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG"], env, data);
        Assert.True(fetch.ExitCode == 0, fetch.StdErr);
        Assert.Equal(segment, File.ReadAllBytes(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));
    }

    [Fact]
    public async Task PushAndFetch_ConfineTrustToTheCaFile_WithoutWeakeningVerification()
    {
        using var tmp = TestPaths.CreateTempDir("walship-tls-confine");
        var (caPem, keyPem, certPem) = WriteTestPki(tmp.Path);
        var (otherCaPem, _, _) = WriteTestPki(tmp.CreateSubdirectory("other"));
        await using var s3 = await S3Server.StartAsync(tlsKeyPem: keyPem, tlsCertPem: certPem);
        await s3.CreateBucketAsync("tls-bucket");

        var (data, segment, env) = PrepareSegment(tmp, s3.Endpoint);
        env["WALSHIP_LOG_LEVEL"] = "debug";
        const string Confined = "system trust store confined to";

        // A CA that did not sign the endpoint stays refused when the store is narrowed to it.
        var wrongCa = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment, "--ca-file", otherCaPem], env, data);
        Assert.True(wrongCa.ExitCode == 3, wrongCa.StdErr);
        Assert.Contains(Confined, wrongCa.StdErr);
        Assert.Contains("not trusted", wrongCa.StdErr);

        env["AWS_CA_BUNDLE"] = caPem;
        var push = await WalshipBinary.RunAsync(["push", $"pg_wal/{Segment}", Segment], env, data);
        Assert.True(push.ExitCode == 0, push.StdErr);
        Assert.Contains(Confined, push.StdErr);
        var fetch = await WalshipBinary.RunAsync(["fetch", Segment, "pg_wal/RECOVERYXLOG"], env, data);
        Assert.True(fetch.ExitCode == 0, fetch.StdErr);
        Assert.Contains(Confined, fetch.StdErr);
        Assert.Equal(segment, File.ReadAllBytes(Path.Combine(data, "pg_wal", "RECOVERYXLOG")));

        // Admin commands keep the whole store: they are not on the archiver's clock, and status or
        // check may also talk TLS to PostgreSQL.
        var list = await WalshipBinary.RunAsync(["list"], env, data);
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.DoesNotContain(Confined, list.StdErr);
    }

    /// <summary>A data directory with one segment in pg_wal, and walship's environment for the endpoint.</summary>
    private static (string Data, byte[] Segment, Dictionary<string, string> Env) PrepareSegment(TestTempDir tmp, string endpoint)
    {
        string data = tmp.CreateSubdirectory("data");
        Directory.CreateDirectory(Path.Combine(data, "pg_wal"));
        byte[] segment = SyntheticWal.Segment(Segment, SyntheticWal.OneMiB);
        File.WriteAllBytes(Path.Combine(data, "pg_wal", Segment), segment);
        PgUser.ChownToPostgres(data, recursive: true);
        var env = new Dictionary<string, string>
        {
            ["WALSHIP_REPO"] = "s3://tls-bucket/wal",
            ["WALSHIP_ENDPOINT"] = endpoint,
            ["WALSHIP_PATH_STYLE"] = "true",
            ["AWS_REGION"] = S3Server.Region,
            ["AWS_ACCESS_KEY_ID"] = S3Server.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = S3Server.SecretAccessKey,
            ["WALSHIP_DEADLINE"] = "20s",
        };
        return (data, segment, env);
    }

    /// <summary>A throw-away CA and a server certificate for 127.0.0.1 signed by it, as PEM files.</summary>
    private static (string CaPem, string KeyPem, string CertPem) WriteTestPki(string dir)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=walship test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(6), [1, 2, 3, 4]);

        string caPem = Path.Combine(dir, "ca.pem"), keyPem = Path.Combine(dir, "server.key"), certPem = Path.Combine(dir, "server.pem");
        File.WriteAllText(caPem, ca.ExportCertificatePem());
        File.WriteAllText(keyPem, serverKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPem, server.ExportCertificatePem());
        foreach (string file in new[] { caPem, certPem })
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return (caPem, keyPem, certPem);
    }
}
