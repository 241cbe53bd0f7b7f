using System.Buffers;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Commands.Spool;

/// <summary>Which checksum a local file is read for: SHA-256, the identity of WAL content in the
/// archive, or XXH128, the spool's own fast check of bytes it wrote after verifying their SHA-256.</summary>
public enum LocalChecksum
{
    Sha256,
    XxHash128,
}

/// <summary>What reading a local WAL file proved: its length, checksum (lower-case hex) and, for
/// segments, the system identifier its page headers carry.</summary>
public readonly record struct LocalFileDigest(long Length, string ChecksumHex, ulong PageSystemIdentifier);

/// <summary>Reads a local file once through the same filters the archive pipeline uses.</summary>
public static class LocalFile
{
    private const int ReadChunk = 1 << 20;

    /// <summary>Checksums the file and, for a segment, checks every WAL page header on the way. Throws
    /// <see cref="WalFormatException"/> for a file whose pages do not belong to its name.</summary>
    public static LocalFileDigest Digest(string path, WalFileName name, LocalChecksum checksum = LocalChecksum.Sha256)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        long length = RandomAccess.GetLength(handle);
        using var sha = checksum == LocalChecksum.Sha256 ? HashFilter.Sha256() : null;
        var xxh = checksum == LocalChecksum.XxHash128 ? new XxHash128Filter() : null;
        IByteFilter hash = (IByteFilter?)sha ?? xxh!;
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
            return new LocalFileDigest(offset, sha is not null ? Convert.ToHexStringLower(sha.Digest) : xxh!.Hex, wal?.SystemIdentifier ?? 0);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
