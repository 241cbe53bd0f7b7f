using System.Globalization;
using WalShip.Wal;

namespace WalShip.Commands.Postgres;

/// <summary>A WAL position (pg_lsn), written as PostgreSQL writes it: two hex numbers, "16/B374D848".</summary>
public readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static bool TryParse(string? text, out Lsn lsn)
    {
        lsn = default;
        int slash = text?.IndexOf('/') ?? -1;
        if (slash <= 0 || slash > 8 || text!.Length - slash - 1 is < 1 or > 8)
            return false;
        if (!uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint low))
            return false;
        lsn = new Lsn(((ulong)high << 32) | low);
        return true;
    }

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn) ? lsn : throw new FormatException($"'{text}' is not a WAL position (expected e.g. 16/B374D848)");

    /// <summary>The segment holding the byte just before this position, as pg_walfile_name() names it: a
    /// position exactly on a segment boundary belongs to the segment it ends.</summary>
    public string SegmentName(uint timeline, uint segmentSize) =>
        WalFileName.SegmentName(timeline, SegmentNumber(segmentSize), segmentSize);

    /// <summary>The segment number as PostgreSQL's XLByteToPrevSeg computes it.</summary>
    public ulong SegmentNumber(uint segmentSize) => Value == 0 ? 0 : (Value - 1) / segmentSize;

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;

    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;

    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;

    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;

    public override string ToString() => $"{Value >> 32:X}/{Value & 0xFFFF_FFFF:X}";
}
