using System.Buffers.Binary;
using System.Text;
using WalShip.Pipeline;

namespace WalShip.Commands.Backup;

/// <summary>
/// Watches a tar stream go by (as a pipeline filter, without holding it) and keeps the few small files a
/// base backup's manifest is made from: backup_label, PG_VERSION and global/pg_control. Also counts entries,
/// and notes a tablespace_map or pg_tblspc link, which would mean tablespaces outside this tar.
/// </summary>
public sealed class TarStreamObserver : IByteFilter
{
    private const int Block = 512;
    private const int CaptureLimit = 64 * 1024;
    private static readonly string[] Captured = ["backup_label", "PG_VERSION", "global/pg_control"];

    private readonly byte[] _header = new byte[Block];
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private int _headerFill;
    private long _dataRemaining;   // bytes of the current entry's data, padding included, still to skip
    private long _contentRemaining; // of which real content
    private MemoryStream? _capture;
    private string? _captureName;
    private bool _ended;

    public int Entries { get; private set; }
    public bool HasTablespaces { get; private set; }

    public string? TextOf(string name) => _files.TryGetValue(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    public ulong? SystemIdentifier =>
        _files.TryGetValue("global/pg_control", out var control) && control.Length >= 8
            ? BinaryPrimitives.ReadUInt64LittleEndian(control) : null;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && !_ended)
        {
            if (_dataRemaining > 0)
            {
                int take = (int)Math.Min(_dataRemaining, data.Length);
                int content = (int)Math.Min(_contentRemaining, take);
                _capture?.Write(data[..content]);
                _contentRemaining -= content;
                _dataRemaining -= take;
                data = data[take..];
                if (_dataRemaining == 0 && _capture is not null)
                {
                    _files[_captureName!] = _capture.ToArray();
                    _capture = null;
                }
                continue;
            }
            int want = Math.Min(Block - _headerFill, data.Length);
            data[..want].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += want;
            data = data[want..];
            if (_headerFill == Block)
            {
                _headerFill = 0;
                OnHeader();
            }
        }
    }

    public void Complete() { }

    private void OnHeader()
    {
        if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            _ended = true; // end-of-archive marker
            return;
        }
        string name = Field(0, 100);
        string prefix = Field(345, 155);
        if (prefix.Length > 0)
            name = prefix + "/" + name;
        if (name.StartsWith("./", StringComparison.Ordinal))
            name = name[2..];
        long size = ParseSize(_header.AsSpan(124, 12));
        char type = (char)_header[156];
        Entries++;
        if ((name == "tablespace_map" && size > 0) || (name.StartsWith("pg_tblspc/", StringComparison.Ordinal) && type == '2'))
            HasTablespaces = true;
        _contentRemaining = size;
        _dataRemaining = (size + Block - 1) / Block * Block;
        if (type is '0' or '\0' && Array.IndexOf(Captured, name) >= 0 && size <= CaptureLimit)
        {
            _capture = new MemoryStream((int)size);
            _captureName = name;
            if (size == 0)
            {
                _files[name] = [];
                _capture = null;
            }
        }
    }

    private string Field(int offset, int length)
    {
        var field = _header.AsSpan(offset, length);
        int end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    /// <summary>Octal digits, or GNU base-256 (high bit of the first byte set) for sizes of 8 GiB and more.</summary>
    private static long ParseSize(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long big = field[0] & 0x7F;
            foreach (byte b in field[1..])
                big = (big << 8) | b;
            return big;
        }
        long value = 0;
        foreach (byte b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (value > 0) break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7')
                throw new InvalidDataException("pg_basebackup's output is not a tar stream (bad size field)");
            value = value * 8 + (b - '0');
        }
        return value;
    }
}
