using WalShip.Commands;
using WalShip.Storage;
using Xunit;

namespace WalShip.Tests.Unit;

public sealed class WalPathsTests : IDisposable
{
    private const string Seg = "000000010000000000000001";
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-paths-").FullName;
    private string Data => Path.Join(_root, "data");

    public WalPathsTests() => Directory.CreateDirectory(Path.Join(Data, "pg_wal"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static StorageException Refused(string path, string? pgdata = null)
    {
        var e = Assert.Throws<StorageException>(() => WalPaths.Resolve(path, pgdata));
        Assert.Equal(ErrorClass.Usage, e.Class);
        return e;
    }

    [Theory]
    [InlineData(Seg)]
    [InlineData("RECOVERYXLOG")]
    [InlineData("RECOVERYHISTORY")]
    [InlineData("00000002.history")]
    [InlineData("does-not-exist-yet")]
    public void AcceptsFileInPgWal(string file)
    {
        var (full, dataDirectory) = WalPaths.Resolve(Path.Join(Data, "pg_wal", file), null);
        Assert.Equal(Path.Join(Data, "pg_wal", file), full);
        Assert.Equal(Data, dataDirectory);
    }

    [Fact]
    public void NormalisesDotSegmentsThatStayInPgWal()
    {
        var (full, dataDirectory) = WalPaths.Resolve(Path.Join(Data, "pg_wal", ".", "..", "pg_wal", Seg), null);
        Assert.Equal(Path.Join(Data, "pg_wal", Seg), full);
        Assert.Equal(Data, dataDirectory);
    }

    [Fact]
    public void AcceptsMatchingPgData()
    {
        var (full, dataDirectory) = WalPaths.Resolve(Path.Join(Data, "pg_wal", Seg), Data);
        Assert.Equal(Path.Join(Data, "pg_wal", Seg), full);
        Assert.Equal(Data, dataDirectory);

        (_, dataDirectory) = WalPaths.Resolve(Path.Join(Data, "pg_wal", Seg), Data + "/");
        Assert.Equal(Data, dataDirectory.TrimEnd('/'));
    }

    [Fact]
    public void RefusesFileOutsidePgWal()
    {
        Refused(Path.Join(Data, Seg));
        Refused(Path.Join(Data, "global", "pg_control"));
        Refused(Path.Join(Data, "pg_wal", "archive_status", Seg + ".ready"));
        Refused(Path.Join(_root, "elsewhere", Seg));
        Refused(Path.Join(Data, "pg_wal2", Seg));
        Refused(Path.Join(Data, "PG_WAL", Seg));
    }

    [Fact]
    public void RefusesTraversalOutOfPgWal()
    {
        var e = Refused(Path.Join(Data, "pg_wal", "..", "postgresql.conf"));
        Assert.Contains("pg_wal", e.Message);
        Refused(Path.Join(Data, "pg_wal", "..", "..", "etc", "passwd"));
        Refused(Path.Join(Data, "pg_wal", ".."));
    }

    [Fact]
    public void RefusesPgDataMismatch()
    {
        string other = Path.Join(_root, "other");
        Directory.CreateDirectory(Path.Join(other, "pg_wal"));
        var e = Refused(Path.Join(Data, "pg_wal", Seg), other);
        Assert.Contains(Path.Join(other, "pg_wal"), e.Message);
        Refused(Path.Join(Data, "pg_wal", Seg), Path.Join(Data, "pg_wal"));
        Refused(Path.Join(Data, "pg_wal", Seg), _root);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void RefusesEmptyPath(string path)
    {
        Refused(path);
    }

    [Fact]
    public void RefusesNul()
    {
        Refused(Path.Join(Data, "pg_wal", "0000\0001"));
    }

    [Fact]
    public void RefusesThePgWalDirectoryItself()
    {
        // A path that names pg_wal itself (trailing slash) is not a file in pg_wal.
        Refused(Path.Join(Data, "pg_wal") + "/");
        Refused(Path.Join(Data, "pg_wal", ".") + "/");
    }
}
