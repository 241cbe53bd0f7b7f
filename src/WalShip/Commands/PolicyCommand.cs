using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace WalShip.Commands;

/// <summary>What `walship policy` needs to know. Account A owns the bucket and the primary; account B
/// runs the standby, which assumes <see cref="ReaderRoleName"/> in B with the external id.</summary>
public sealed record PolicyInputs(
    string Bucket,
    string Prefix,
    string ReaderAccount,
    string ReaderRoleName,
    string ExternalId,
    string? WriterRoleArn,
    string? KmsKeyArn,
    bool AllowPrune);

/// <summary>The five IAM documents of a cross-account walship setup, least privilege first.</summary>
public sealed record PolicyDocuments(
    JsonObject BucketPolicy,
    JsonObject ReaderTrustPolicy,
    JsonObject ReaderPermissionsPolicy,
    JsonObject WriterPolicy,
    JsonArray? KmsKeyPolicyStatements);

/// <summary>
/// Builds the bucket policy (A), the reader role's trust and permissions policies (B), the writer's policy
/// (A) and the KMS key policy statements. Two rules of IAM shape them: a cross-account read needs an
/// allow on both sides (bucket policy in A and role policy in B; key policy and role policy for KMS),
/// and without s3:ListBucket S3 answers 403, not 404, for a missing key, which fetch must tell apart.
/// </summary>
public static partial class PolicyCommand
{
    private const string Version = "2012-10-17";

    [GeneratedRegex(@"^[0-9]{12}$")]
    private static partial Regex AccountId();

    [GeneratedRegex(@"^[A-Za-z0-9+=,.@_-]{1,64}$")]
    private static partial Regex RoleName();

    [GeneratedRegex(@"^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/([A-Za-z0-9+=,.@_/-]{1,512})$")]
    private static partial Regex RoleArn();

    [GeneratedRegex(@"^arn:(aws|aws-cn|aws-us-gov):kms:([a-z]{2}(-[a-z]+)+-[0-9]+):([0-9]{12}):key/([A-Za-z0-9-]{1,128})$")]
    private static partial Regex KmsKeyArn();

    [GeneratedRegex(@"^[A-Za-z0-9+=,.@:/_-]{2,1224}$")]
    private static partial Regex ExternalIdPattern();

    /// <summary>Checks every input and names the first bad one; returns the inputs normalised.</summary>
    public static PolicyInputs Validate(PolicyInputs inputs)
    {
        if (!Repository.IsValidBucketName(inputs.Bucket) || inputs.Bucket.Contains("..") || inputs.Bucket.StartsWith("xn--", StringComparison.Ordinal)
            || System.Net.IPAddress.TryParse(inputs.Bucket, out _))
            throw new ArgumentException($"--bucket '{inputs.Bucket}' is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '-', '.'; starting and ending with a letter or digit)");
        string prefix = inputs.Prefix.Trim('/');
        if (prefix.Contains("//") || prefix.Split('/').Any(part => part is "." or "..") || prefix.IndexOfAny(['*', '?', '$', '{', '}', '"']) >= 0)
            throw new ArgumentException($"--prefix '{inputs.Prefix}' has empty, '.' or '..' parts, or a character IAM reads as a wildcard or variable (* ? $ {{ }})");
        if (!AccountId().IsMatch(inputs.ReaderAccount))
            throw new ArgumentException($"--reader-account '{inputs.ReaderAccount}' is not a 12-digit AWS account id");
        if (!RoleName().IsMatch(inputs.ReaderRoleName))
            throw new ArgumentException($"--reader-role-name '{inputs.ReaderRoleName}' is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)");
        if (!ExternalIdPattern().IsMatch(inputs.ExternalId))
            throw new ArgumentException("--external-id must be 2-1224 of A-Z a-z 0-9 + = , . @ : / _ -");
        if (inputs.WriterRoleArn is { } writer)
        {
            var match = RoleArn().Match(writer);
            if (!match.Success)
                throw new ArgumentException($"--writer-role-arn '{writer}' is not an IAM role ARN (arn:aws:iam::111122223333:role/NAME)");
            if (match.Groups[2].Value == inputs.ReaderAccount)
                throw new ArgumentException($"--writer-role-arn is in account {inputs.ReaderAccount}, the reader's account; the writer belongs to the bucket's account A");
        }
        if (inputs.KmsKeyArn is { } kms && !KmsKeyArn().IsMatch(kms))
            throw new ArgumentException($"--kms-key-arn '{kms}' is not a KMS key ARN (arn:aws:kms:REGION:111122223333:key/KEY-ID; an alias will not do in a key policy)");
        if (inputs.WriterRoleArn is not null && inputs.KmsKeyArn is not null
            && RoleArn().Match(inputs.WriterRoleArn).Groups[1].Value != KmsKeyArn().Match(inputs.KmsKeyArn).Groups[1].Value)
            throw new ArgumentException("--writer-role-arn and --kms-key-arn are in different AWS partitions");
        return inputs with { Prefix = prefix };
    }

    public static PolicyDocuments Build(PolicyInputs inputs)
    {
        inputs = Validate(inputs);
        string partition = Partition(inputs);
        string bucketArn = $"arn:{partition}:s3:::{inputs.Bucket}";
        string objectsArn = inputs.Prefix.Length == 0 ? $"{bucketArn}/*" : $"{bucketArn}/{inputs.Prefix}/*";
        string readerRoleArn = ReaderRoleArn(inputs, partition);
        string? viaS3 = inputs.KmsKeyArn is { } key
            ? $"s3.{KmsKeyArn().Match(key).Groups[2].Value}.{(partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com")}"
            : null;

        var bucketPolicy = Document(
            Statement("WalshipReaderList", Principal(readerRoleArn), "s3:ListBucket", bucketArn, ListCondition(inputs.Prefix)),
            Statement("WalshipReaderRead", Principal(readerRoleArn), "s3:GetObject", objectsArn),
            new JsonObject
            {
                ["Sid"] = "DenyInsecureTransport",
                ["Effect"] = "Deny",
                ["Principal"] = "*",
                ["Action"] = "s3:*",
                ["Resource"] = new JsonArray(bucketArn, $"{bucketArn}/*"),
                ["Condition"] = new JsonObject { ["Bool"] = new JsonObject { ["aws:SecureTransport"] = "false" } },
            });

        var trust = Document(new JsonObject
        {
            ["Sid"] = "WalshipStandbyAssumesReader",
            ["Effect"] = "Allow",
            ["Principal"] = Principal($"arn:{partition}:iam::{inputs.ReaderAccount}:root"),
            ["Action"] = "sts:AssumeRole",
            ["Condition"] = new JsonObject { ["StringEquals"] = new JsonObject { ["sts:ExternalId"] = inputs.ExternalId } },
        });

        var readerStatements = new List<JsonObject>
        {
            Statement("WalshipList", null, "s3:ListBucket", bucketArn, ListCondition(inputs.Prefix)),
            Statement("WalshipRead", null, "s3:GetObject", objectsArn),
        };
        if (inputs.KmsKeyArn is { } readerKey)
            readerStatements.Add(Statement("WalshipDecrypt", null, "kms:Decrypt", readerKey, ViaService(viaS3!)));
        var readerPermissions = Document([.. readerStatements]);

        string[] objectActions = inputs.AllowPrune
            ? ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
            : ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"];
        var writerStatements = new List<JsonObject>
        {
            Statement("WalshipList", null, "s3:ListBucket", bucketArn, ListCondition(inputs.Prefix)),
            Statement("WalshipWrite", null, objectActions, objectsArn),
        };
        // Multipart uploads under SSE-KMS need kms:Decrypt as well, and push reads objects back.
        string[] writerKmsActions = ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"];
        if (inputs.KmsKeyArn is { } writerKey)
            writerStatements.Add(Statement("WalshipEncrypt", null, writerKmsActions, writerKey, ViaService(viaS3!)));
        var writerPolicy = Document([.. writerStatements]);

        JsonArray? keyStatements = null;
        if (inputs.KmsKeyArn is not null)
        {
            keyStatements = new JsonArray(Statement("WalshipReaderDecrypt", Principal(readerRoleArn), "kms:Decrypt", "*", ViaService(viaS3!)));
            if (inputs.WriterRoleArn is { } writerArn)
                keyStatements.Add((JsonNode)Statement("WalshipWriterEncrypt", Principal(writerArn), writerKmsActions, "*", ViaService(viaS3!)));
        }
        return new PolicyDocuments(bucketPolicy, trust, readerPermissions, writerPolicy, keyStatements);
    }

    /// <summary>The partition of the ARNs given (aws-cn, aws-us-gov), else aws.</summary>
    private static string Partition(PolicyInputs inputs) =>
        inputs.KmsKeyArn is { } k ? KmsKeyArn().Match(k).Groups[1].Value
        : inputs.WriterRoleArn is { } w ? RoleArn().Match(w).Groups[1].Value : "aws";

    private static string ReaderRoleArn(PolicyInputs inputs, string partition) =>
        $"arn:{partition}:iam::{inputs.ReaderAccount}:role/{inputs.ReaderRoleName}";

    private static JsonObject Document(params JsonObject[] statements) => new()
    {
        ["Version"] = Version,
        ["Statement"] = new JsonArray([.. statements]),
    };

    private static JsonObject Principal(string arn) => new() { ["AWS"] = arn };

    private static JsonObject Statement(string sid, JsonObject? principal, string action, string resource, JsonObject? condition = null) =>
        Statement(sid, principal, [action], resource, condition);

    private static JsonObject Statement(string sid, JsonObject? principal, string[] actions, string resource, JsonObject? condition = null)
    {
        var statement = new JsonObject { ["Sid"] = sid, ["Effect"] = "Allow" };
        if (principal is not null)
            statement["Principal"] = principal;
        statement["Action"] = actions.Length == 1 ? actions[0] : new JsonArray([.. actions.Select(a => (JsonNode)a)]);
        statement["Resource"] = resource;
        if (condition is not null)
            statement["Condition"] = condition;
        return statement;
    }

    /// <summary>ListBucket is a bucket action: its resource is the bucket, narrowed by s3:prefix.</summary>
    private static JsonObject? ListCondition(string prefix) => prefix.Length == 0
        ? null
        : new JsonObject { ["StringLike"] = new JsonObject { ["s3:prefix"] = new JsonArray($"{prefix}/*") } };

    private static JsonObject ViaService(string service) =>
        new() { ["StringEquals"] = new JsonObject { ["kms:ViaService"] = service } };

    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string ToJson(JsonNode node)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, Indented))
            node.WriteTo(writer);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The --json form: one object holding the five documents (kmsKeyPolicyStatements is null
    /// without --kms-key-arn).</summary>
    public static string RenderJson(PolicyDocuments documents) => ToJson(new JsonObject
    {
        ["bucketPolicy"] = documents.BucketPolicy.DeepClone(),
        ["readerTrustPolicy"] = documents.ReaderTrustPolicy.DeepClone(),
        ["readerPermissionsPolicy"] = documents.ReaderPermissionsPolicy.DeepClone(),
        ["writerPolicy"] = documents.WriterPolicy.DeepClone(),
        ["kmsKeyPolicyStatements"] = documents.KmsKeyPolicyStatements?.DeepClone(),
    }) + "\n";

    public static string RenderText(PolicyInputs inputs, PolicyDocuments documents)
    {
        inputs = Validate(inputs);
        string where = inputs.Prefix.Length == 0 ? $"s3://{inputs.Bucket}" : $"s3://{inputs.Bucket}/{inputs.Prefix}";
        var text = new StringBuilder();
        text.Append($"# 1. Bucket policy of {inputs.Bucket} (account A): lets role {inputs.ReaderRoleName} of account {inputs.ReaderAccount} list and read {where}\n");
        text.Append("#    aws s3api put-bucket-policy --bucket ").Append(inputs.Bucket).Append(" --policy file://bucket-policy.json (merge with any existing policy)\n");
        text.Append(ToJson(documents.BucketPolicy)).Append("\n\n");
        text.Append($"# 2. Trust policy of role {inputs.ReaderRoleName} (account {inputs.ReaderAccount}): principals of that account may assume it with the external id\n");
        text.Append($"#    aws iam create-role --role-name {inputs.ReaderRoleName} --assume-role-policy-document file://reader-trust.json\n");
        text.Append(ToJson(documents.ReaderTrustPolicy)).Append("\n\n");
        text.Append($"# 3. Permissions policy of role {inputs.ReaderRoleName} (account {inputs.ReaderAccount}): read-only, {where} only\n");
        text.Append($"#    aws iam put-role-policy --role-name {inputs.ReaderRoleName} --policy-name walship-read --policy-document file://reader-permissions.json\n");
        text.Append(ToJson(documents.ReaderPermissionsPolicy)).Append("\n\n");
        text.Append($"# 4. Writer policy for the primary's role or user (account A): put/get/list on {where}, {(inputs.AllowPrune ? "delete allowed (--allow-prune)" : "no delete")}\n");
        text.Append("#    aws iam put-role-policy --role-name PRIMARY-ROLE --policy-name walship-write --policy-document file://writer.json\n");
        text.Append(ToJson(documents.WriterPolicy)).Append("\n\n");
        if (documents.KmsKeyPolicyStatements is { } statements)
        {
            text.Append("# 5. KMS key policy statements: add them to the \"Statement\" list of the key's policy (account A)\n");
            if (inputs.WriterRoleArn is null)
                text.Append("#    (no --writer-role-arn: the writer's own policy above grants it the key, which works while the key policy keeps its default 'Enable IAM User Permissions' statement)\n");
            text.Append(ToJson(statements)).Append('\n');
        }
        else
        {
            text.Append("# 5. KMS key policy: none needed without --kms-key-arn (S3-managed keys or walship's client-side encryption)\n");
        }
        text.Append($"\nOn the standby: walship --repo {where} --role-arn {ReaderRoleArn(inputs, Partition(inputs))} --external-id {inputs.ExternalId} fetch %f %p\n");
        return text.ToString();
    }
}
