using System.Buffers.Binary;
using WalShip.Pipeline;

namespace WalShip.Wal;

/// <summary>
/// Checks every page header of a WAL segment as its bytes stream past, against the file name.
/// A complete segment is a run of valid pages, optionally followed by all-zero pages: after
/// pg_switch_wal() or archive_timeout PostgreSQL zero-fills the rest of the segment, headers included.
/// A .partial file (the old timeline's last segment at promotion) is only checked up to its first
/// invalid page, because what follows the switch point may be a recycled segment's stale bytes.
/// </summary>
public sealed class WalSegmentValidator : IByteFilter
{
    // access/xlog_internal.h: XLogPageHeaderData is 20 bytes, MAXALIGNed to 24;
    // XLogLongPageHeaderData adds xlp_sysid, xlp_seg_size and xlp_xlog_blcksz (40 bytes).
    private const int ShortHeaderSize = 24;
    private const int LongHeaderSize = 40;
    private const ushort XlpLongHeader = 0x0002;
    private const ushort XlpAllFlags = 0x000F;
    private const uint MinSegmentSize = 1 << 20;
    private const uint MaxSegmentSize = 1 << 30;

    private readonly WalFileName _name;
    private readonly long _fileLength;
    private readonly byte[] _stash = new byte[LongHeaderSize];
    private int _stashed;
    private long _position;
    private long _nextPage;          // offset of the next page header still to be checked
    private bool _inZeroTail;
    private bool _stopChecking;      // .partial: past the switch point

    private ushort _magic;
    private uint _lastTimeline;
    private ulong _firstPageAddress;

    public WalSegmentValidator(WalFileName name, long fileLength)
    {
        if (!name.HasWalPages)
            throw new ArgumentException("only segments and .partial files have WAL pages", nameof(name));
        _name = name;
        _fileLength = fileLength;
    }

    public ulong SystemIdentifier { get; private set; }
    public uint SegmentSize { get; private set; }
    public uint PageSize { get; private set; }
    public ushort Magic => _magic;
    public int ValidPages { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_stopChecking)
            {
                _position += data.Length;
                return;
            }

            if (_position < _nextPage)
            {
                // Page body: only looked at in the zero tail, where it must stay zero.
                int skip = (int)Math.Min(data.Length, _nextPage - _position);
                if (_inZeroTail && data[..skip].ContainsAnyExcept((byte)0))
                    throw Invalid($"non-zero bytes at offset {_position + data[..skip].IndexOfAnyExcept((byte)0)} after the zero-filled end of the segment");
                data = data[skip..];
                _position += skip;
                continue;
            }

            int headerSize = _nextPage == 0 ? LongHeaderSize : ShortHeaderSize;
            if (_stashed > 0 || data.Length < headerSize)
            {
                int take = Math.Min(headerSize - _stashed, data.Length);
                data[..take].CopyTo(_stash.AsSpan(_stashed));
                _stashed += take;
                data = data[take..];
                _position += take;
                if (_stashed < headerSize)
                    return;
                CheckPageHeader(_stash.AsSpan(0, headerSize));
                _stashed = 0;
            }
            else
            {
                CheckPageHeader(data[..headerSize]);
                data = data[headerSize..];
                _position += headerSize;
            }
        }
    }

    public void Complete()
    {
        if (_position != _fileLength)
            throw Invalid($"read {_position} bytes but the file is {_fileLength} bytes long; it changed while being read");
        if (_stashed > 0 || PageSize == 0)
            throw Invalid($"truncated: {_position} bytes is shorter than one WAL page header");
        if (_fileLength != SegmentSize)
            throw Invalid($"file is {_fileLength} bytes but its header says segments are {SegmentSize} bytes (truncated or padded segment)");
    }

    private void CheckPageHeader(ReadOnlySpan<byte> header)
    {
        long pageOffset = _nextPage;
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(header);
        ushort info = BinaryPrimitives.ReadUInt16LittleEndian(header[2..]);
        uint timeline = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        ulong pageAddress = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);

        if (pageOffset == 0)
            CheckFirstPage(header, magic, info, timeline, pageAddress);
        else if (_inZeroTail || (magic == 0 && header.IndexOfAnyExcept((byte)0) < 0))
        {
            if (header.ContainsAnyExcept((byte)0))
                throw Invalid($"page at offset {pageOffset} has a header after the zero-filled end of the segment");
            _inZeroTail = true;
        }
        else
        {
            string? problem = null;
            if (magic != _magic)
                problem = $"page at offset {pageOffset} has magic 0x{magic:X4}, the first page has 0x{_magic:X4}";
            else if ((info & ~XlpAllFlags) != 0 || (info & XlpLongHeader) != 0)
                problem = $"page at offset {pageOffset} has invalid flags 0x{info:X4}";
            else if (timeline < _lastTimeline || timeline > _name.Timeline)
                problem = $"page at offset {pageOffset} has timeline {timeline}, expected {_lastTimeline}..{_name.Timeline}";
            else if (pageAddress != _firstPageAddress + (ulong)pageOffset)
                problem = $"page at offset {pageOffset} has address {FormatLsn(pageAddress)}, expected {FormatLsn(_firstPageAddress + (ulong)pageOffset)}";

            if (problem is not null)
            {
                if (_name.Kind != WalFileKind.Partial)
                    throw Invalid(problem);
                _stopChecking = true; // the rest of a .partial file is not WAL of this timeline
                return;
            }
            _lastTimeline = timeline;
        }

        if (!_inZeroTail)
            ValidPages++;
        _nextPage = pageOffset + PageSize;
    }

    private void CheckFirstPage(ReadOnlySpan<byte> header, ushort magic, ushort info, uint timeline, ulong pageAddress)
    {
        // Every release since 9.x uses 0xD0xx/0xD1xx; the exact value changes with each major version.
        if ((magic & 0xFE00) != 0xD000)
            throw Invalid($"not a WAL file: bad page magic 0x{magic:X4}");
        if ((info & XlpLongHeader) == 0 || (info & ~XlpAllFlags) != 0)
            throw Invalid($"first page lacks the long header (flags 0x{info:X4})");

        ulong systemId = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        uint segmentSize = BinaryPrimitives.ReadUInt32LittleEndian(header[32..]);
        uint pageSize = BinaryPrimitives.ReadUInt32LittleEndian(header[36..]);

        if (segmentSize < MinSegmentSize || segmentSize > MaxSegmentSize || !uint.IsPow2(segmentSize))
            throw Invalid($"bad segment size {segmentSize} in the long page header");
        if (pageSize < 1024 || pageSize > 65536 || !uint.IsPow2(pageSize))
            throw Invalid($"bad WAL block size {pageSize} in the long page header");
        if (_name.SegmentId >= WalFileName.SegmentsPerLogId(segmentSize))
            throw Invalid($"segment number part {_name.SegmentId:X8} is impossible with {segmentSize >> 20} MiB segments");
        if (timeline == 0 || timeline > _name.Timeline)
            throw Invalid($"first page has timeline {timeline} but the file name says {_name.Timeline}");

        ulong expected = _name.SegmentNumber(segmentSize) * segmentSize;
        if (pageAddress != expected)
            throw Invalid($"first page address is {FormatLsn(pageAddress)} but the file name implies {FormatLsn(expected)}");
        if (systemId == 0)
            throw Invalid("long page header has system identifier 0");

        _magic = magic;
        _lastTimeline = timeline;
        _firstPageAddress = pageAddress;
        SystemIdentifier = systemId;
        SegmentSize = segmentSize;
        PageSize = pageSize;
    }

    private WalFormatException Invalid(string detail) => new($"{_name.Name}: {detail}");

    public static string FormatLsn(ulong lsn) => new Lsn(lsn).ToString();
}
