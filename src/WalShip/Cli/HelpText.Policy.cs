namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Policy = """
        walship policy --bucket BUCKET --reader-account ACCOUNT --external-id ID [options]

        Prints the IAM documents for a primary in account A (which owns the bucket) and a
        standby in account B (which assumes a read-only role in B):
          1. the bucket policy in A: the reader role may list and read the prefix, and
             plain-http requests are denied;
          2. the reader role's trust policy: principals of account B may assume it, only
             with the external id (sts:ExternalId);
          3. the reader role's permissions policy: s3:GetObject on the prefix, s3:ListBucket
             limited by s3:prefix (without ListBucket S3 answers 403 for a missing segment
             instead of 404, and fetch cannot tell "not archived yet" from "denied");
          4. the writer's policy in A: put/get/list on the prefix and abort of its own
             multipart uploads; s3:DeleteObject only with --allow-prune;
          5. with --kms-key-arn (for --sse aws:kms): the key policy statements, kms:Decrypt
             for the reader and kms:GenerateDataKey/Encrypt/Decrypt for the writer, only
             through S3 (kms:ViaService); the role policies above get the same grants.
        Every input is checked (bucket name, 12-digit account, role and key ARNs); nothing
        is sent to AWS. Apply the documents with the aws commands printed above each one.

        --json prints one object for scripts:
          {"bucketPolicy": {...}, "readerTrustPolicy": {...}, "readerPermissionsPolicy": {...},
           "writerPolicy": {...}, "kmsKeyPolicyStatements": [...] or null}

        Exit codes: 0 printed; 2 a missing or invalid input.

        Examples:
          walship policy --bucket acme-wal --prefix prod-db --reader-account 111122223333 \
              --external-id 7f3c9a1e5b2d4c6f
          walship policy --bucket acme-wal --prefix prod-db --reader-account 111122223333 \
              --external-id 7f3c9a1e5b2d4c6f --reader-role-name dr-standby \
              --writer-role-arn arn:aws:iam::444455556666:role/pg-primary \
              --kms-key-arn arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab
          walship policy --bucket acme-wal --reader-account 111122223333 --external-id x9 --json \
              | jq .bucketPolicy > bucket-policy.json
        """;
}
