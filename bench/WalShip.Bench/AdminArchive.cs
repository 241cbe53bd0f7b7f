using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Bench;

/// <summary>
/// Writes a large archive straight to disk for the list/verify benchmark (bench/admin-list-verify.sh):
/// a walship.json and N valid segment objects of timeline 1, encoded by walship's own ObjectCodec,
/// at the keys ArchiveLayout gives. Either as a file:// repository, or in s3rver's on-disk format
/// (&lt;key&gt;._S3rver_object, .md5 and ._S3rver_metadata.json with push's metadata), which is
/// what s3rver itself writes on PUT, a hundred times faster than 100,000 PUTs through it.
/// Each segment has two valid pages and a zero-filled rest, as after pg_switch_wal().
/// </summary>
public static class AdminArchive
{
    private const ulong SystemIdentifier = 7_300_000_000_000_000_001;
    private const int PageSize = 8192;

    /// <summary><paramref name="format"/>: s3rver or file. <paramref name="copies"/>: when true, every key gets a
    /// copy of segment 1's object (enough for list, which reads no segment; verify would flag them).</summary>
    public static void Make(string format, string root, int count, uint segmentSize, bool copies = false)
    {
        bool s3rver = format switch { "s3rver" => true, "file" => false, _ => throw new ArgumentException("format is s3rver or file") };
        (byte[] Body, ObjectHeader Header)? shared = copies ? Encode(1, segmentSize) : null;
        var layout = new ArchiveLayout("");
        var manifest = new RepositoryManifest
        {
            SystemIdentifier = SystemIdentifier.ToString(), WalSegmentSize = segmentSize,
            Created = DateTimeOffset.UtcNow, CreatedBy = "walship bench",
        };
        Write(root, layout.ManifestKey, manifest.ToUtf8(), null, s3rver);
        int done = 0;
        Parallel.For(1, count + 1, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, number =>
        {
            var name = WalFileName.Parse(WalFileName.SegmentName(1, (ulong)number, segmentSize));
            var (body, header) = shared ?? Encode((ulong)number, segmentSize);
            Write(root, layout.KeyFor(name), body, header, s3rver);
            if (Interlocked.Increment(ref done) % 10_000 == 0)
                Console.Error.WriteLine($"  {done:N0} objects written");
        });
    }

    private static (byte[] Body, ObjectHeader Header) Encode(ulong number, uint segmentSize)
    {
        var name = WalFileName.Parse(WalFileName.SegmentName(1, number, segmentSize));
        using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(Segment(number, segmentSize)), name, 1, SystemIdentifier, CancellationToken.None).GetAwaiter().GetResult();
        byte[] body = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, body);
        return (body, encoded.Header);
    }

    private static byte[] Segment(ulong number, uint segmentSize)
    {
        var segment = new byte[segmentSize];
        ulong start = number * segmentSize;
        for (int page = 0; page < 2; page++)
        {
            var span = segment.AsSpan(page * PageSize, PageSize);
            BinaryPrimitives.WriteUInt16LittleEndian(span, 0xD110);
            BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)(page == 0 ? 0x0002 : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(span[4..], 1);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], start + (ulong)(page * PageSize));
            if (page == 0)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(span[24..], SystemIdentifier);
                BinaryPrimitives.WriteUInt32LittleEndian(span[32..], segmentSize);
                BinaryPrimitives.WriteUInt32LittleEndian(span[36..], PageSize);
            }
            Random.Shared.NextBytes(span[64..1024]);
        }
        return segment;
    }

    private static void Write(string root, string key, byte[] body, ObjectHeader? header, bool s3rver)
    {
        string path = Path.Join(root, key) + (s3rver ? "._S3rver_object" : "");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, body);
        if (!s3rver)
            return;
        File.WriteAllText(path + ".md5", Convert.ToHexStringLower(MD5.HashData(body)));
        var json = new StringBuilder("{\n  \"content-type\": \"application/octet-stream\"");
        if (header is { } h)
            json.Append($",\n  \"x-amz-meta-walship-format\": \"{ObjectHeader.FormatVersion}\",\n  \"x-amz-meta-walship-raw-sha256\": \"{h.Sha256Hex}\",\n  \"x-amz-meta-walship-raw-length\": \"{h.RawLength}\"");
        json.Append("\n}");
        File.WriteAllText(Path.Join(root, key) + "._S3rver_metadata.json", json.ToString());
    }
}
