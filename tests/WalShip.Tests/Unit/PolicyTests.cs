using System.Text.Json;
using WalShip.Commands;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>`walship policy`: the JSON is pinned by reviewed snapshots, parsed back with System.Text.Json
/// to check the IAM semantics that matter, and every input is validated.</summary>
public class PolicyTests
{
    private const string KmsArn = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    private const string WriterArn = "arn:aws:iam::444455556666:role/pg-primary";

    private static readonly PolicyInputs Full = new("acme-wal", "prod-db", "111122223333", "dr-standby", "7f3c9a1e5b2d4c6f",
        WriterArn, KmsArn, AllowPrune: false);

    private static readonly PolicyInputs WholeBucketPrune = new("acme-wal", "", "111122223333", "walship-reader", "7f3c9a1e5b2d4c6f",
        null, null, AllowPrune: true);

    private static string Snapshot(string name) =>
        File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "WalShip.Tests", "Unit", "Snapshots", name));

    private static JsonElement Parse(PolicyInputs inputs) =>
        JsonDocument.Parse(PolicyCommand.RenderJson(PolicyCommand.Build(inputs))).RootElement;

    private static JsonElement[] Statements(JsonElement document) => [.. document.GetProperty("Statement").EnumerateArray()];

    private static JsonElement Sid(JsonElement document, string sid) => Statements(document).Single(s => s.GetProperty("Sid").GetString() == sid);

    private static string[] Actions(JsonElement statement) => statement.GetProperty("Action") is { ValueKind: JsonValueKind.Array } array
        ? [.. array.EnumerateArray().Select(a => a.GetString()!)]
        : [statement.GetProperty("Action").GetString()!];

    [Fact]
    public void JsonMatchesTheReviewedSnapshots()
    {
        Assert.Equal(Snapshot("policy-kms.json"), PolicyCommand.RenderJson(PolicyCommand.Build(Full)));
        Assert.Equal(Snapshot("policy-whole-bucket-prune.json"), PolicyCommand.RenderJson(PolicyCommand.Build(WholeBucketPrune)));
    }

    [Fact]
    public void EveryDocumentIsAnIamPolicyOfVersion20121017()
    {
        var root = Parse(Full);
        foreach (string name in new[] { "bucketPolicy", "readerTrustPolicy", "readerPermissionsPolicy", "writerPolicy" })
        {
            var document = root.GetProperty(name);
            Assert.Equal("2012-10-17", document.GetProperty("Version").GetString());
            Assert.All(Statements(document), s => Assert.Contains(s.GetProperty("Effect").GetString(), new[] { "Allow", "Deny" }));
        }
        Assert.Equal(JsonValueKind.Array, root.GetProperty("kmsKeyPolicyStatements").ValueKind);
        Assert.Equal(JsonValueKind.Null, Parse(WholeBucketPrune).GetProperty("kmsKeyPolicyStatements").ValueKind);
    }

    [Fact]
    public void ListBucketIsOnTheBucketArnAndNarrowedByS3Prefix_ObjectsOnThePrefixArn()
    {
        var root = Parse(Full);
        foreach (var document in new[] { root.GetProperty("bucketPolicy"), root.GetProperty("readerPermissionsPolicy"), root.GetProperty("writerPolicy") })
        {
            var list = Statements(document).Single(s => Actions(s).Contains("s3:ListBucket"));
            Assert.Equal("arn:aws:s3:::acme-wal", list.GetProperty("Resource").GetString());
            var prefixes = list.GetProperty("Condition").GetProperty("StringLike").GetProperty("s3:prefix");
            Assert.Equal(["prod-db/*"], prefixes.EnumerateArray().Select(p => p.GetString()));
            var objects = Statements(document).Where(s => Actions(s).Any(a => a is "s3:GetObject" or "s3:PutObject")).ToList();
            Assert.NotEmpty(objects);
            Assert.All(objects, s => Assert.Equal("arn:aws:s3:::acme-wal/prod-db/*", s.GetProperty("Resource").GetString()));
        }
        // Without a prefix: the whole bucket, and no condition that could match nothing.
        var whole = Sid(Parse(WholeBucketPrune).GetProperty("readerPermissionsPolicy"), "WalshipList");
        Assert.False(whole.TryGetProperty("Condition", out _));
        Assert.Equal("arn:aws:s3:::acme-wal/*", Sid(Parse(WholeBucketPrune).GetProperty("readerPermissionsPolicy"), "WalshipRead").GetProperty("Resource").GetString());
    }

    [Fact]
    public void ReaderIsReadOnly_TrustNeedsTheExternalId_WriterDeletesOnlyWithAllowPrune()
    {
        var root = Parse(Full);
        var reader = root.GetProperty("readerPermissionsPolicy");
        Assert.Equal(["kms:Decrypt", "s3:GetObject", "s3:ListBucket"], Statements(reader).SelectMany(Actions).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(Statements(reader).SelectMany(Actions), action => action.Contains("Put") || action.Contains("Delete"));

        var trust = Statements(root.GetProperty("readerTrustPolicy")).Single();
        Assert.Equal("sts:AssumeRole", trust.GetProperty("Action").GetString());
        Assert.Equal("arn:aws:iam::111122223333:root", trust.GetProperty("Principal").GetProperty("AWS").GetString());
        Assert.Equal("7f3c9a1e5b2d4c6f", trust.GetProperty("Condition").GetProperty("StringEquals").GetProperty("sts:ExternalId").GetString());

        var bucketReader = Sid(root.GetProperty("bucketPolicy"), "WalshipReaderRead");
        Assert.Equal("arn:aws:iam::111122223333:role/dr-standby", bucketReader.GetProperty("Principal").GetProperty("AWS").GetString());

        Assert.DoesNotContain("s3:DeleteObject", Statements(root.GetProperty("writerPolicy")).SelectMany(Actions));
        Assert.Contains("s3:DeleteObject", Statements(Parse(WholeBucketPrune).GetProperty("writerPolicy")).SelectMany(Actions));
    }

    [Fact]
    public void KmsStatementsGrantDecryptToTheReaderAndEncryptToTheWriter_ThroughS3Only()
    {
        var statements = Parse(Full).GetProperty("kmsKeyPolicyStatements").EnumerateArray().ToList();
        var reader = statements.Single(s => s.GetProperty("Sid").GetString() == "WalshipReaderDecrypt");
        Assert.Equal(["kms:Decrypt"], Actions(reader));
        Assert.Equal("arn:aws:iam::111122223333:role/dr-standby", reader.GetProperty("Principal").GetProperty("AWS").GetString());
        var writer = statements.Single(s => s.GetProperty("Sid").GetString() == "WalshipWriterEncrypt");
        Assert.Equal(WriterArn, writer.GetProperty("Principal").GetProperty("AWS").GetString());
        Assert.Contains("kms:GenerateDataKey", Actions(writer));
        Assert.Contains("kms:Encrypt", Actions(writer));
        Assert.All(statements, s =>
        {
            Assert.Equal("*", s.GetProperty("Resource").GetString());
            Assert.Equal("s3.eu-west-1.amazonaws.com", s.GetProperty("Condition").GetProperty("StringEquals").GetProperty("kms:ViaService").GetString());
        });
        // The cross-account reader also needs the grant in its own account's policy.
        Assert.Equal(KmsArn, Sid(Parse(Full).GetProperty("readerPermissionsPolicy"), "WalshipDecrypt").GetProperty("Resource").GetString());
    }

    [Fact]
    public void OtherPartitionsGetTheirArns()
    {
        var china = Full with
        {
            WriterRoleArn = "arn:aws-cn:iam::444455556666:role/pg-primary",
            KmsKeyArn = "arn:aws-cn:kms:cn-north-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        };
        var root = Parse(china);
        Assert.Equal("arn:aws-cn:s3:::acme-wal/prod-db/*", Sid(root.GetProperty("readerPermissionsPolicy"), "WalshipRead").GetProperty("Resource").GetString());
        Assert.Equal("s3.cn-north-1.amazonaws.com.cn",
            root.GetProperty("kmsKeyPolicyStatements")[0].GetProperty("Condition").GetProperty("StringEquals").GetProperty("kms:ViaService").GetString());
    }

    public static TheoryData<string, PolicyInputs, string> Invalid => new()
    {
        { "uppercase bucket", Full with { Bucket = "Acme-Wal" }, "--bucket 'Acme-Wal' is not a valid S3 bucket name" },
        { "short bucket", Full with { Bucket = "ab" }, "not a valid S3 bucket name" },
        { "bucket as IP", Full with { Bucket = "192.168.1.10" }, "not a valid S3 bucket name" },
        { "bucket with ..", Full with { Bucket = "acme..wal" }, "not a valid S3 bucket name" },
        { "11-digit account", Full with { ReaderAccount = "11112222333" }, "not a 12-digit AWS account id" },
        { "account with letters", Full with { ReaderAccount = "11112222333x" }, "not a 12-digit AWS account id" },
        { "wildcard prefix", Full with { Prefix = "prod-*" }, "wildcard" },
        { "dotdot prefix", Full with { Prefix = "prod/../other" }, "'..' parts" },
        { "role name with space", Full with { ReaderRoleName = "dr standby" }, "not an IAM role name" },
        { "writer is a user", Full with { WriterRoleArn = "arn:aws:iam::444455556666:user/pg" }, "not an IAM role ARN" },
        { "writer in account B", Full with { WriterRoleArn = "arn:aws:iam::111122223333:role/pg" }, "the reader's account" },
        { "KMS alias", Full with { KmsKeyArn = "arn:aws:kms:eu-west-1:444455556666:alias/wal" }, "not a KMS key ARN" },
        { "KMS key id only", Full with { KmsKeyArn = "1234abcd-12ab-34cd-56ef-1234567890ab" }, "not a KMS key ARN" },
        { "external id too short", Full with { ExternalId = "x" }, "--external-id must be" },
        { "external id with quote", Full with { ExternalId = "ab\"cd" }, "--external-id must be" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidInputsAreRefusedWithTheirName(string why, PolicyInputs inputs, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => PolicyCommand.Build(inputs));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{why}: {e.Message}");
    }

    [Fact]
    public void PrefixSlashesAreNormalised()
    {
        var slashed = Parse(Full with { Prefix = "/prod-db/" });
        Assert.Equal("arn:aws:s3:::acme-wal/prod-db/*", Sid(slashed.GetProperty("readerPermissionsPolicy"), "WalshipRead").GetProperty("Resource").GetString());
    }

    [Fact]
    public void TextOutputHasAHeadingPerDocumentAndTheStandbyCommand()
    {
        string text = PolicyCommand.RenderText(Full, PolicyCommand.Build(Full));
        foreach (string heading in new[] { "# 1. Bucket policy", "# 2. Trust policy", "# 3. Permissions policy", "# 4. Writer policy", "# 5. KMS key policy" })
            Assert.Contains(heading, text);
        Assert.Contains("--role-arn arn:aws:iam::111122223333:role/dr-standby --external-id 7f3c9a1e5b2d4c6f", text);
    }
}
