using System.Buffers.Binary;

namespace WalShip.Bench;

/// <summary>
/// A 16 MiB WAL segment shaped like pgbench traffic: valid PostgreSQL 15 page headers, records with
/// random CRCs and transaction ids, heap tuples of pgbench_accounts (incrementing keys, small balances,
/// 84-byte blank filler) and full-page images, then the zero-filled tail a WAL switch leaves. Its zstd
/// ratio is close to real pgbench WAL (5-8x). A real segment can be used instead: WALSHIP_BENCH_WAL=path.
/// </summary>
public static class SyntheticWalSegment
{
    public const int SegmentSize = 16 << 20;

    /// <summary>Bytes in the segment the benchmarks use: 16 MiB, or a real segment's size.</summary>
    public static long Length => Environment.GetEnvironmentVariable("WALSHIP_BENCH_WAL") is { Length: > 0 } real
        ? new FileInfo(real).Length
        : SegmentSize;
    private const int PageSize = 8192;

    /// <summary>The segment's file name: the real one's, or 000000010000000000000001 for the synthetic one
    /// (the WAL page checks compare page addresses with the name).</summary>
    public static WalShip.Wal.WalFileName Name() =>
        WalShip.Wal.WalFileName.Parse(Environment.GetEnvironmentVariable("WALSHIP_BENCH_WAL") is { Length: > 0 } real
            ? Path.GetFileName(real)
            : "000000010000000000000001");

    public static byte[] Create(ulong systemIdentifier = 7_300_000_000_000_000_001, double filledFraction = 0.9, int seed = 42)
    {
        if (Environment.GetEnvironmentVariable("WALSHIP_BENCH_WAL") is { Length: > 0 } real)
            return File.ReadAllBytes(real);

        var random = new Random(seed);
        byte[] segment = new byte[SegmentSize];
        int filledPages = (int)(SegmentSize / PageSize * filledFraction);
        ulong segmentStart = 1UL * SegmentSize; // segment 000000010000000000000001
        int aid = 1;
        for (int page = 0; page < filledPages; page++)
        {
            var span = segment.AsSpan(page * PageSize, PageSize);
            BinaryPrimitives.WriteUInt16LittleEndian(span, 0xD110);
            BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)(page == 0 ? 0x0002 : 0x0001));
            BinaryPrimitives.WriteUInt32LittleEndian(span[4..], 1);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], segmentStart + (ulong)(page * PageSize));
            int offset = 24;
            if (page == 0)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(span[24..], systemIdentifier);
                BinaryPrimitives.WriteUInt32LittleEndian(span[32..], SegmentSize);
                BinaryPrimitives.WriteUInt32LittleEndian(span[36..], PageSize);
                offset = 40;
            }
            while (offset + 200 < PageSize)
            {
                // XLogRecord header: length, xid, prev pointer, info, rmid, CRC (random: incompressible).
                BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], 150);
                BinaryPrimitives.WriteUInt32LittleEndian(span[(offset + 4)..], (uint)random.Next(1000, 900000));
                BinaryPrimitives.WriteUInt64LittleEndian(span[(offset + 8)..], segmentStart + (ulong)(page * PageSize + offset - 150));
                span[offset + 16] = 0x10;
                span[offset + 17] = 10;
                BinaryPrimitives.WriteUInt32LittleEndian(span[(offset + 20)..], (uint)random.Next());
                offset += 24;
                // A pgbench_accounts tuple: aid, bid, abalance, filler.
                BinaryPrimitives.WriteInt32LittleEndian(span[offset..], aid++);
                BinaryPrimitives.WriteInt32LittleEndian(span[(offset + 4)..], 1 + aid / 100000);
                BinaryPrimitives.WriteInt32LittleEndian(span[(offset + 8)..], random.Next(-5000, 5000));
                span.Slice(offset + 12, 84).Fill((byte)' ');
                offset += 120;
                if (random.Next(20) == 0 && offset + 1200 < PageSize)
                {
                    // Part of a full-page image: many similar tuples with tuple headers.
                    for (int i = 0; i < 8; i++, offset += 128)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], (uint)random.Next(1000, 900000));
                        BinaryPrimitives.WriteInt32LittleEndian(span[(offset + 24)..], aid + i);
                        span.Slice(offset + 36, 84).Fill((byte)' ');
                    }
                }
            }
        }
        return segment;
    }
}
