using System.Buffers.Binary;
using WalShip.Wal;

namespace WalShip.Tests.Unit;

/// <summary>
/// Builds WAL segments in memory laid out exactly as PostgreSQL 15 writes them
/// (access/xlog_internal.h): pages of <see cref="PageSize"/> bytes, each starting with a 24-byte
/// XLogPageHeaderData (u16 xlp_magic, u16 xlp_info, u32 xlp_tli, u64 xlp_pageaddr, u32 xlp_rem_len,
/// 4 bytes padding); the first page carries XLP_LONG_HEADER and the 40-byte XLogLongPageHeaderData
/// (adds u64 xlp_sysid, u32 xlp_seg_size, u32 xlp_xlog_blcksz). All little-endian.
/// After pg_switch_wal() the rest of the segment is zero-filled: whole zero pages, no headers.
/// </summary>
public static class SyntheticWal
{
    public const int PageSize = 8192;
    public const int ShortHeaderSize = 24;
    public const int LongHeaderSize = 40;
    public const ushort Pg15Magic = 0xD110;
    public const ushort XlpFirstIsContRecord = 0x0001;
    public const ushort XlpLongHeader = 0x0002;
    public const uint OneMiB = 1u << 20;
    public const uint SixteenMiB = 16u << 20;
    public const uint OneGiB = 1u << 30;
    public const ulong DefaultSystemIdentifier = 7_301_234_567_890_123_456UL;

    /// <summary>
    /// A complete segment for <paramref name="fileName"/> (a segment or .partial name).
    /// <paramref name="validPages"/> pages carry headers and pseudo-random bodies (null: every page);
    /// the rest of the segment is zero-filled, as after pg_switch_wal().
    /// <paramref name="timelineOfPage"/> gives each page's xlp_tli (default: the file name's timeline).
    /// </summary>
    public static byte[] Segment(
        string fileName,
        uint segmentSize = OneMiB,
        int? validPages = null,
        ulong systemIdentifier = DefaultSystemIdentifier,
        Func<int, uint>? timelineOfPage = null,
        ushort magic = Pg15Magic,
        int seed = 1)
    {
        var name = WalFileName.Parse(fileName);
        int pages = (int)(segmentSize / PageSize);
        int filled = validPages ?? pages;
        if (filled < 1 || filled > pages)
            throw new ArgumentOutOfRangeException(nameof(validPages));

        var segment = new byte[segmentSize];
        var random = new Random(seed);
        // Page bodies: half random, half repetitive, so zstd has work to do and the result is not all noise.
        for (int page = 0; page < filled; page++)
        {
            Span<byte> body = segment.AsSpan(page * PageSize, PageSize);
            random.NextBytes(body[..(PageSize / 2)]);
            for (int i = PageSize / 2; i < PageSize; i++)
                body[i] = (byte)(i * 31 + page);
        }

        ulong firstAddress = FirstPageAddress(name, segmentSize);
        for (int page = 0; page < filled; page++)
        {
            uint tli = timelineOfPage?.Invoke(page) ?? name.Timeline;
            Span<byte> at = segment.AsSpan(page * PageSize, PageSize);
            if (page == 0)
                WriteLongHeader(at, magic, XlpLongHeader, tli, firstAddress, 0, systemIdentifier, segmentSize, PageSize);
            else
                WriteShortHeader(at, magic, page % 3 == 0 ? XlpFirstIsContRecord : (ushort)0, tli,
                    firstAddress + (ulong)(page * PageSize), page % 3 == 0 ? 100u : 0u);
        }
        return segment;
    }

    /// <summary>xlp_pageaddr of the first page: segno * segment size, segno as XLogFromFileName computes it.</summary>
    public static ulong FirstPageAddress(WalFileName name, uint segmentSize) =>
        (name.LogId * (0x1_0000_0000UL / segmentSize) + name.SegmentId) * segmentSize;

    public static void WriteShortHeader(Span<byte> page, ushort magic, ushort info, uint timeline, ulong pageAddress, uint remainingLength)
    {
        page[..ShortHeaderSize].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(page, magic);
        BinaryPrimitives.WriteUInt16LittleEndian(page[2..], info);
        BinaryPrimitives.WriteUInt32LittleEndian(page[4..], timeline);
        BinaryPrimitives.WriteUInt64LittleEndian(page[8..], pageAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(page[16..], remainingLength);
    }

    public static void WriteLongHeader(Span<byte> page, ushort magic, ushort info, uint timeline, ulong pageAddress,
        uint remainingLength, ulong systemIdentifier, uint segmentSize, uint blockSize)
    {
        WriteShortHeader(page, magic, info, timeline, pageAddress, remainingLength);
        BinaryPrimitives.WriteUInt64LittleEndian(page[24..], systemIdentifier);
        BinaryPrimitives.WriteUInt32LittleEndian(page[32..], segmentSize);
        BinaryPrimitives.WriteUInt32LittleEndian(page[36..], blockSize);
    }

    /// <summary>The header fields of page <paramref name="pageIndex"/>, for patching a built segment.</summary>
    public static Span<byte> Page(byte[] segment, int pageIndex) => segment.AsSpan(pageIndex * PageSize, PageSize);

    public static void SetPageTimeline(byte[] segment, int pageIndex, uint timeline) =>
        BinaryPrimitives.WriteUInt32LittleEndian(Page(segment, pageIndex)[4..], timeline);

    public static void SetPageAddress(byte[] segment, int pageIndex, ulong address) =>
        BinaryPrimitives.WriteUInt64LittleEndian(Page(segment, pageIndex)[8..], address);

    public static void SetPageMagic(byte[] segment, int pageIndex, ushort magic) =>
        BinaryPrimitives.WriteUInt16LittleEndian(Page(segment, pageIndex), magic);

    public static void SetPageInfo(byte[] segment, int pageIndex, ushort info) =>
        BinaryPrimitives.WriteUInt16LittleEndian(Page(segment, pageIndex)[2..], info);

    public static ulong PageAddress(byte[] segment, int pageIndex) =>
        BinaryPrimitives.ReadUInt64LittleEndian(Page(segment, pageIndex)[8..]);
}
