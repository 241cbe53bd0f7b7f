using BenchmarkDotNet.Attributes;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Bench;

/// <summary>
/// The per-segment hot path without storage: push's encode (read, WAL page checks, SHA-256, zstd into
/// pooled buffers) and fetch's decode (zstd, size limit, SHA-256, WAL page checks). MB/s = 16 MiB / mean.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private static readonly WalFileName Name = SyntheticWalSegment.Name();
    private byte[] _segment = [];
    private byte[] _encoded = [];

    [Params(1, 3, 6)]
    public int Level { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _segment = SyntheticWalSegment.Create();
        using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(_segment), Name, Level, 0, CancellationToken.None).GetAwaiter().GetResult();
        _encoded = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, _encoded);
    }

    [Benchmark(Description = "encode 16 MiB (validate+sha256+zstd)")]
    public long Encode()
    {
        using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(_segment, writable: false), Name, Level, 0, CancellationToken.None, Threads).GetAwaiter().GetResult();
        return encoded.Body.Length;
    }

    [Benchmark(Description = "decode 16 MiB (zstd+sha256+validate)")]
    public long Decode()
    {
        var decoded = ObjectCodec.DecodeAsync(new MemoryStream(_encoded, writable: false), _encoded.Length, Name, NullFilter.Instance, CancellationToken.None).GetAwaiter().GetResult();
        return decoded.Header.RawLength;
    }
}
