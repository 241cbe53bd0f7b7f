using System.Globalization;

namespace WalShip.Wal;

/// <summary>One line of a timeline history file: timeline <see cref="Timeline"/> ended at
/// <see cref="SwitchPoint"/>, where its child began.</summary>
public readonly record struct TimelineSwitch(uint Timeline, ulong SwitchPoint, string Reason);

/// <summary>
/// A parsed <c>TTTTTTTT.history</c> file: the ancestors of one timeline, oldest first, each with the LSN
/// at which the next timeline branched off it. Used to know which timeline holds a given segment.
/// </summary>
public sealed class TimelineHistory
{
    private TimelineHistory(uint timeline, IReadOnlyList<TimelineSwitch> ancestors)
    {
        Timeline = timeline;
        Ancestors = ancestors;
    }

    /// <summary>The timeline this history file describes (the one after the last switch).</summary>
    public uint Timeline { get; }

    /// <summary>The ancestors, oldest first, with their switch points in increasing order.</summary>
    public IReadOnlyList<TimelineSwitch> Ancestors { get; }

    /// <summary>The history of timeline 1, which has no file and no ancestors.</summary>
    public static TimelineHistory Initial { get; } = new(1, []);

    /// <summary>Parses a history file as PostgreSQL writes it (readTimeLineHistory): one
    /// "parentTLI&lt;tab&gt;X/X&lt;tab&gt;reason" line per ancestor; blank and '#' lines are skipped.</summary>
    public static TimelineHistory Parse(uint timeline, string text)
    {
        var ancestors = new List<TimelineSwitch>();
        int lineNumber = 0;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = rawLine.TrimEnd('\r');
            string trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#')
                continue;
            string[] fields = trimmed.Split(['\t', ' '], 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2
                || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint parent)
                || !TryParseLsn(fields[1], out ulong switchPoint))
                throw new WalFormatException($"{timeline:X8}.history line {lineNumber}: expected 'timeline<TAB>X/X<TAB>reason'");
            if (ancestors.Count > 0 && (parent <= ancestors[^1].Timeline || switchPoint < ancestors[^1].SwitchPoint))
                throw new WalFormatException($"{timeline:X8}.history line {lineNumber}: timelines and switch points must increase");
            if (parent >= timeline)
                throw new WalFormatException($"{timeline:X8}.history line {lineNumber}: parent timeline {parent} is not older than {timeline}");
            ancestors.Add(new TimelineSwitch(parent, switchPoint, fields.Length > 2 ? fields[2].Trim() : ""));
        }
        return new TimelineHistory(timeline, ancestors);
    }

    /// <summary>
    /// The timeline whose file PostgreSQL reads for segment <paramref name="segmentNumber"/> when recovering
    /// towards <see cref="Timeline"/>: the newest timeline that had begun by that segment. The segment
    /// holding a switch point therefore comes from the new timeline, as in XLogFileReadAnyTLI.
    /// </summary>
    public uint TimelineForSegment(ulong segmentNumber, uint segmentSize)
    {
        for (int i = 0; i < Ancestors.Count; i++)
        {
            // Timeline Ancestors[i].Timeline ends at its switch point; its successor begins in that segment.
            if (segmentNumber < Ancestors[i].SwitchPoint / segmentSize)
                return Ancestors[i].Timeline;
        }
        return Timeline;
    }

    /// <summary>Parses an LSN written as PostgreSQL prints it: two hex numbers, "16/B374D848".</summary>
    public static bool TryParseLsn(string text, out ulong lsn)
    {
        bool parsed = Lsn.TryParse(text, out var location);
        lsn = location.Value;
        return parsed;
    }

    public static string FormatLsn(ulong lsn) => new Lsn(lsn).ToString();
}
