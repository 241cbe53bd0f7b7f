using System.Globalization;

namespace WalShip.Wal;

/// <summary>A WAL location (pg_lsn) as PostgreSQL prints it: two hex halves, "16/B374D848". The one
/// parser and printer of locations: backup labels, history files and the server all use it.</summary>
public readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static bool TryParse(string? text, out Lsn lsn)
    {
        lsn = default;
        int slash = text?.IndexOf('/') ?? -1;
        if (slash <= 0 || slash > 8 || text!.Length - slash - 1 is < 1 or > 8
            || !uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint low))
            return false;
        lsn = new Lsn(((ulong)high << 32) | low);
        return true;
    }

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn) ? lsn : throw new WalFormatException($"'{text}' is not a WAL location (like 0/2000028)");

    /// <summary>The segment holding this location, as XLByteToSeg computes it (a backup's start).</summary>
    public string SegmentName(uint timeline, uint segmentSize) => WalFileName.SegmentName(timeline, Value / segmentSize, segmentSize);

    /// <summary>The segment holding the byte just before this location, as pg_walfile_name() and
    /// XLByteToPrevSeg name it: a location exactly on a segment boundary belongs to the segment it ends.</summary>
    public string SegmentNameBefore(uint timeline, uint segmentSize) =>
        WalFileName.SegmentName(timeline, Value == 0 ? 0 : (Value - 1) / segmentSize, segmentSize);

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;

    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;

    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;

    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;

    public override string ToString() => $"{Value >> 32:X}/{Value & 0xFFFF_FFFF:X}";
}
