using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Wal;

namespace WalShip.Bench;

/// <summary>
/// The per-segment hot path without storage, one 16 MiB segment per operation: push's encode (WAL
/// page checks, SHA-256, zstd into pooled buffers) here, fetch's decode (zstd, size limit, SHA-256,
/// WAL page checks) in <see cref="DecodeBenchmarks"/>. Reports MB/s of raw WAL and the bytes allocated per segment (MemoryDiagnoser):
/// pooled buffers come back to the pool, so what is left is per-call bookkeeping, not the data.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class PipelineBenchmarks
{
    private static readonly WalFileName Name = SyntheticWalSegment.Name();
    private byte[] _segment = [];

    [Params(1, 3, 6)]
    public int Level { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _segment = SyntheticWalSegment.Create();
    }

    [Benchmark(Description = "compress+hash (push)")]
    public long Encode()
    {
        using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(_segment, writable: false), Name, Level, 0, CancellationToken.None, Threads).GetAwaiter().GetResult();
        return encoded.Body.Length;
    }

    internal sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new ThroughputColumn());
    }
}

/// <summary>Fetch's decode at each level the object was written with (decoding has no threads setting).</summary>
[MemoryDiagnoser]
[Config(typeof(PipelineBenchmarks.Columns))]
public class DecodeBenchmarks
{
    private static readonly WalFileName Name = SyntheticWalSegment.Name();
    private byte[] _encoded = [];

    [Params(1, 3, 6)]
    public int Level { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] segment = SyntheticWalSegment.Create();
        using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(segment), Name, Level, 0, CancellationToken.None).GetAwaiter().GetResult();
        _encoded = new byte[encoded.Body.Length];
        encoded.Body.CopyTo(0, _encoded);
    }

    [Benchmark(Description = "decompress+verify (fetch)")]
    public long Decode()
    {
        var decoded = ObjectCodec.DecodeAsync(new MemoryStream(_encoded, writable: false), _encoded.Length, Name, NullFilter.Instance, CancellationToken.None).GetAwaiter().GetResult();
        return decoded.Header.RawLength;
    }
}
