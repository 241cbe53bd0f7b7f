using System.Diagnostics;
using WalShip.Archive;
using WalShip.Wal;

namespace WalShip.Bench;

/// <summary>A quick table of ratio and single-call time per zstd level: 'dotnet run -c Release -- ratio'.</summary>
public static class RatioReport
{
    public static void Print()
    {
        byte[] segment = SyntheticWalSegment.Create();
        var name = SyntheticWalSegment.Name();
        Console.WriteLine("level  threads  stored bytes  ratio  encode ms  decode ms");
        foreach (int level in new[] { 1, 2, 3, 4, 6, 9 })
        foreach (int threads in new[] { 1, 2 })
        {
            ObjectCodec.EncodeAsync(new MemoryStream(segment), name, level, 0, CancellationToken.None, threads).GetAwaiter().GetResult().Dispose();
            var clock = Stopwatch.StartNew();
            long length = 0;
            byte[] body = [];
            for (int i = 0; i < 5; i++)
            {
                using var encoded = ObjectCodec.EncodeAsync(new MemoryStream(segment), name, level, 0, CancellationToken.None, threads).GetAwaiter().GetResult();
                length = encoded.Body.Length;
                body = new byte[length];
                encoded.Body.CopyTo(0, body);
            }
            double encodeMs = clock.Elapsed.TotalMilliseconds / 5;
            clock.Restart();
            for (int i = 0; i < 5; i++)
                ObjectCodec.DecodeAsync(new MemoryStream(body), body.Length, name, WalShip.Pipeline.NullFilter.Instance, CancellationToken.None).GetAwaiter().GetResult();
            double decodeMs = clock.Elapsed.TotalMilliseconds / 5;
            Console.WriteLine($"{level,5}  {threads,7}  {length,12}  {(double)segment.Length / length,5:0.00}  {encodeMs,9:0.0}  {decodeMs,9:0.0}");
        }
    }
}
