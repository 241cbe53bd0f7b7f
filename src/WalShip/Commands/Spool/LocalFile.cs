using System.Buffers;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Commands.Spool;

/// <summary>What reading a local WAL file proved: its length, XXH128 (lower-case hex) and, for
/// segments, the system identifier its page headers carry.</summary>
public readonly record struct LocalFileDigest(long Length, string XxHash128Hex, ulong PageSystemIdentifier);

/// <summary>Reads a local file once through the same filters the archive pipeline uses. The checksum is
/// XXH128: the spool's check that a file is still the bytes whose SHA-256 was verified against the
/// archive when the spool entry or receipt was written. It catches change, at a tenth of SHA-256's CPU.</summary>
public static class LocalFile
{
    private const int ReadChunk = 1 << 20;

    /// <summary>Checksums the file and, for a segment, checks every WAL page header on the way. Throws
    /// <see cref="WalFormatException"/> for a file whose pages do not belong to its name.</summary>
    public static LocalFileDigest Digest(string path, WalFileName name)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        long length = RandomAccess.GetLength(handle);
        var hash = new XxHash128Filter();
        var wal = name.HasWalPages ? new WalSegmentValidator(name, length) : null;
        IByteFilter pipeline = wal is null ? hash : new FilterGroup(wal, hash);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadChunk);
        try
        {
            long offset = 0;
            int read;
            while ((read = RandomAccess.Read(handle, buffer.AsSpan(0, ReadChunk), offset)) > 0)
            {
                pipeline.Write(buffer.AsSpan(0, read));
                offset += read;
            }
            pipeline.Complete();
            return new LocalFileDigest(offset, hash.Hex, wal?.SystemIdentifier ?? 0);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
