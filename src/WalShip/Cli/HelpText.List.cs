namespace WalShip.Cli;

public static partial class HelpText
{
    public const string List = """
        walship list [options]

        Shows what the archive holds, from a listing alone (no object is read except the few
        .history and .backup files):
          - each timeline, with the timeline it branched from and the switch point (.history);
          - contiguous segment ranges, and GAPS: segments missing inside a timeline, which a
            restore cannot get past;
          - .history, .backup (with START WAL LOCATION and label) and .partial files;
          - object count, raw and stored bytes, compression ratio, first and last archive time;
          - objects under the WAL prefix that walship did not write.
        The listing runs partition by partition in parallel (--parallel); progress goes to
        stderr when it takes more than a second. The report goes to stdout.

        Filters: --timeline N, --from SEGMENT and --to SEGMENT (inclusive; the timeline part of
        the name is ignored, so a range applies on every timeline), --since TIME.

        Exit codes: 0 listed (gaps are reported, not an error: use verify to fail on them);
        2 usage, 3 config, 4 auth, 5 transient, 6 throttled, 10 interrupted.

        Examples:
          walship list
          walship --repo s3://my-bucket/prod-db list --timeline 2
          walship list --from 000000010000000A00000000 --to 000000010000000AFFFFFFFF
          walship list --since 24h --json | jq '.timelines[] | {timeline, gaps}'
        """;
}
