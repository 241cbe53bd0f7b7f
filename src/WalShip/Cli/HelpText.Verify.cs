namespace WalShip.Cli;

public static partial class HelpText
{
    public const string Verify = """
        walship verify [options]

        Re-reads archived objects and checks each as fetch would, without writing anything:
          - the walship header, the stored length, the raw length and SHA-256 after
            decompression, and the store's metadata (S3) against the header;
          - every WAL page header of segments and .partial files;
          - the cluster: an object from another system identifier than walship.json's means
            two clusters write to one prefix.
        It also reports gaps in the segment sequence of each timeline, and objects under the
        WAL prefix at keys walship never writes. --parallel objects are read at a time, each
        streamed through one buffer, so memory stays small however large the archive.
        Limit it with --timeline, --from and --to.

        Exit codes: 0 everything verified; 13 problems found (each one line on stdout, or in
        --json "problems" with a kind: corrupt, foreign_cluster, gap, not_walship, unreadable,
        manifest); 2 usage, 3 config, 4 auth, 5 transient, 6 throttled, 10 interrupted.

        Examples:
          walship verify
          walship verify --timeline 2 --from 000000020000000300000000
          walship verify --parallel 32 --json > verify.json || echo "archive has problems"
        """;
}
