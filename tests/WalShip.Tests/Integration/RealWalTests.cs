using WalShip.Archive;
using WalShip.Pipeline;
using WalShip.Tests.Fixtures;
using WalShip.Wal;
using Xunit;

namespace WalShip.Tests.Integration;

/// <summary>The WAL parsers on bytes a real PostgreSQL 15 wrote, not on our idea of them.</summary>
public sealed class RealWalTests
{
    [Fact]
    public async Task RealSegments_ValidatePageByPage_AndCarryTheClustersIdentity()
    {
        using var tmp = TestPaths.CreateTempDir("walship-realwal");
        await using var cluster = await PgCluster.InitAsync("realwal", tmp);
        await cluster.StartAsync();
        await cluster.QueryAsync("create table t as select g, repeat('x', 100) as filler from generate_series(1, 100000) g");
        string full = await cluster.SwitchWalAsync();      // written through to its end
        await cluster.QueryAsync("insert into t values (0, 'tail')");
        string switched = await cluster.SwitchWalAsync();  // a few records, then zero-filled by the switch
        ulong expectedId = ulong.Parse(await cluster.QueryAsync("select system_identifier from pg_control_system()"));

        Assert.Equal(expectedId, PgControl.TryReadSystemIdentifier(cluster.DataDir));
        foreach (string segment in new[] { full, switched })
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(cluster.PgWalDir, segment));
            var validator = new WalSegmentValidator(WalFileName.Parse(segment), bytes.Length);
            validator.Write(bytes);
            validator.Complete();
            Assert.Equal(expectedId, validator.SystemIdentifier);
            Assert.Equal(16u << 20, validator.SegmentSize);
            Assert.Equal(8192u, validator.PageSize);
            Assert.True(validator.ValidPages > 0);

            // One flipped bit in any page header is caught; the same bit in a record body is not a header error.
            int page = validator.ValidPages / 2;
            bytes[page * 8192 + 9] ^= 0x01; // inside xlp_pageaddr
            var broken = new WalSegmentValidator(WalFileName.Parse(segment), bytes.Length);
            Assert.Throws<WalFormatException>(() => { broken.Write(bytes); broken.Complete(); });
        }

        // The switched segment ends in zero pages, which the validator accepts and does not count.
        byte[] tail = File.ReadAllBytes(Path.Combine(cluster.PgWalDir, switched));
        var tailValidator = new WalSegmentValidator(WalFileName.Parse(switched), tail.Length);
        tailValidator.Write(tail);
        tailValidator.Complete();
        Assert.True(tailValidator.ValidPages < 2048, "a switched segment should end in zero-filled pages");

        // And a real segment survives the object format byte for byte.
        byte[] original = File.ReadAllBytes(Path.Combine(cluster.PgWalDir, full));
        using var encoded = await ObjectCodec.EncodeAsync(new MemoryStream(original), WalFileName.Parse(full), 3, 0, CancellationToken.None, 2);
        var restored = new PooledBuffer();
        using var stored = encoded.Body.OpenRead();
        var decoded = await ObjectCodec.DecodeAsync(stored, encoded.Body.Length, WalFileName.Parse(full), restored, CancellationToken.None);
        Assert.Equal(expectedId, decoded.PageSystemIdentifier);
        byte[] roundTrip = new byte[restored.Length];
        restored.CopyTo(0, roundTrip);
        Assert.Equal(original, roundTrip);
        restored.Dispose();
    }
}
