namespace WalShip.Wal;

public enum WalFileKind
{
    Segment,
    History,
    Backup,
    Partial,
}

/// <summary>
/// A file name as PostgreSQL passes it in %f. Parsing is strict (upper-case hex, exact lengths) because
/// the name becomes an object key: anything PostgreSQL would never produce is refused, never normalised.
/// </summary>
public readonly record struct WalFileName(string Name, WalFileKind Kind, uint Timeline, uint LogId, uint SegmentId)
{
    public const int SegmentNameLength = 24;

    /// <summary>The 24-character segment part of a segment, .partial or .backup name.</summary>
    public string SegmentPart => Kind == WalFileKind.History ? "" : Name[..SegmentNameLength];

    public bool HasWalPages => Kind is WalFileKind.Segment or WalFileKind.Partial;

    /// <summary>Segment number as PostgreSQL's XLogFromFileName computes it for a given segment size.</summary>
    public ulong SegmentNumber(uint segmentSize) => LogId * SegmentsPerLogId(segmentSize) + SegmentId;

    public static ulong SegmentsPerLogId(uint segmentSize) => 0x1_0000_0000UL / segmentSize;

    public static string SegmentName(uint timeline, ulong segmentNumber, uint segmentSize)
    {
        ulong perId = SegmentsPerLogId(segmentSize);
        return $"{timeline:X8}{segmentNumber / perId:X8}{segmentNumber % perId:X8}";
    }

    public static bool TryParse(string? name, out WalFileName result)
    {
        result = default;
        if (string.IsNullOrEmpty(name))
            return false;

        if (name.Length == 8 + ".history".Length && name.EndsWith(".history", StringComparison.Ordinal))
        {
            if (!TryHex(name.AsSpan(0, 8), out uint tli) || tli == 0)
                return false;
            result = new WalFileName(name, WalFileKind.History, tli, 0, 0);
            return true;
        }

        if (name.Length < SegmentNameLength
            || !TryHex(name.AsSpan(0, 8), out uint timeline) || timeline == 0
            || !TryHex(name.AsSpan(8, 8), out uint logId)
            || !TryHex(name.AsSpan(16, 8), out uint segId))
            return false;

        ReadOnlySpan<char> suffix = name.AsSpan(SegmentNameLength);
        WalFileKind kind;
        if (suffix.IsEmpty)
            kind = WalFileKind.Segment;
        else if (suffix.SequenceEqual(".partial"))
            kind = WalFileKind.Partial;
        else if (suffix.Length == 1 + 8 + ".backup".Length && suffix[0] == '.'
                 && TryHex(suffix.Slice(1, 8), out _) && suffix.EndsWith(".backup"))
            kind = WalFileKind.Backup;
        else
            return false;

        result = new WalFileName(name, kind, timeline, logId, segId);
        return true;
    }

    public static WalFileName Parse(string name) =>
        TryParse(name, out var parsed)
            ? parsed
            : throw new FormatException(
                $"'{name}' is not a WAL file name (expected a 24-hex-digit segment, TTTTTTTT.history, " +
                "<segment>.XXXXXXXX.backup or <segment>.partial)");

    private static bool TryHex(ReadOnlySpan<char> digits, out uint value)
    {
        value = 0;
        foreach (char c in digits)
        {
            uint nibble;
            if (c is >= '0' and <= '9') nibble = (uint)(c - '0');
            else if (c is >= 'A' and <= 'F') nibble = (uint)(c - 'A' + 10);
            else return false;
            value = (value << 4) | nibble;
        }
        return true;
    }

    public override string ToString() => Name;
}
