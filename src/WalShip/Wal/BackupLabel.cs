using System.Globalization;

namespace WalShip.Wal;

/// <summary>
/// The backup_label a base backup carries, or the backup history file (&lt;segment&gt;.&lt;offset&gt;.backup)
/// the primary archives when the backup ends, which adds the stop location. Both are "KEY: value" lines.
/// </summary>
public sealed record BackupLabel(Lsn StartLsn, string StartWalFile, Lsn CheckpointLsn, uint StartTimeline, string Label,
    Lsn? StopLsn, string? StopWalFile, uint? StopTimeline)
{
    public static BackupLabel Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n'))
        {
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon > 0)
                fields.TryAdd(line[..colon], line[(colon + 2)..].TrimEnd('\r'));
        }

        var (start, startFile) = Location(fields, "START WAL LOCATION")
                                 ?? throw new WalFormatException("backup label has no START WAL LOCATION");
        var stop = Location(fields, "STOP WAL LOCATION");
        return new BackupLabel(
            start, startFile,
            fields.TryGetValue("CHECKPOINT LOCATION", out var checkpoint) ? Lsn.Parse(checkpoint) : default,
            Timeline(fields, "START TIMELINE") ?? WalFileName.Parse(startFile).Timeline,
            fields.GetValueOrDefault("LABEL", ""),
            stop?.Lsn, stop?.File,
            stop is null ? null : Timeline(fields, "STOP TIMELINE") ?? WalFileName.Parse(stop.Value.File).Timeline);
    }

    /// <summary>"0/2000028 (file 000000010000000000000002)"</summary>
    private static (Lsn Lsn, string File)? Location(Dictionary<string, string> fields, string key)
    {
        if (!fields.TryGetValue(key, out var value))
            return null;
        const string filePrefix = " (file ";
        int open = value.IndexOf(filePrefix, StringComparison.Ordinal);
        if (open <= 0 || !value.EndsWith(')'))
            throw new WalFormatException($"backup label: {key} '{value}' is not 'X/X (file NAME)'");
        string file = value[(open + filePrefix.Length)..^1];
        if (!WalFileName.TryParse(file, out var name) || name.Kind != WalFileKind.Segment)
            throw new WalFormatException($"backup label: {key} names '{file}', which is not a WAL segment");
        return (Lsn.Parse(value[..open]), file);
    }

    private static uint? Timeline(Dictionary<string, string> fields, string key) =>
        !fields.TryGetValue(key, out var value) ? null
        : uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint tli) && tli > 0 ? tli
        : throw new WalFormatException($"backup label: {key} '{value}' is not a timeline");
}
