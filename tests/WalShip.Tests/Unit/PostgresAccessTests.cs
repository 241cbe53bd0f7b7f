using Npgsql;
using WalShip.Commands.Postgres;
using WalShip.Tests.Fixtures;
using Xunit;
using WalShip.Wal;

namespace WalShip.Tests.Unit;

/// <summary>The data directory read without a connection, WAL positions, and connection strings.</summary>
public sealed class PostgresAccessTests : IDisposable
{
    private readonly TestTempDir _dir = TestPaths.CreateTempDir("walship-unit-pgaccess-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(null, ServerRole.Primary)]
    [InlineData("standby.signal", ServerRole.Standby)]
    [InlineData("recovery.signal", ServerRole.ArchiveRecovery)]
    public void Role_ComesFromTheSignalFile(string? signal, ServerRole role)
    {
        Assert.Equal(role, new DataDirectory(_dir.CreateDataDirectory("data", signal)).ReadRole());
    }

    [Fact]
    public void StandbySignal_WinsOverRecoverySignal()
    {
        string data = _dir.CreateDataDirectory("data", "recovery.signal");
        File.WriteAllText(Path.Join(data, "standby.signal"), "");
        Assert.Equal(ServerRole.Standby, new DataDirectory(data).ReadRole());
    }

    [Fact]
    public void PgVersion_IsReadAndRequired()
    {
        string data = _dir.CreateDataDirectory("data");
        var directory = new DataDirectory(data);
        Assert.Null(directory.ReadMajorVersion());
        Assert.Throws<FileNotFoundException>(directory.EnsureExists);
        File.WriteAllText(Path.Join(data, "PG_VERSION"), "15\n");
        directory.EnsureExists();
        Assert.Equal("15", directory.ReadMajorVersion());
        Assert.Throws<DirectoryNotFoundException>(new DataDirectory(_dir.Combine("absent")).EnsureExists);
    }

    [Fact]
    public void ArchiveStatus_CountsReadyAndDone_AndDatesTheOldestReady()
    {
        string data = _dir.CreateDataDirectory("data");
        string status = Path.Join(data, "pg_wal", "archive_status");
        Directory.CreateDirectory(status);
        var now = DateTime.UtcNow;
        void Mark(string name, TimeSpan age)
        {
            string file = Path.Join(status, name);
            File.WriteAllText(file, "");
            File.SetLastWriteTimeUtc(file, now - age);
        }
        Mark("000000010000000000000003.done", TimeSpan.FromHours(2));
        Mark("000000010000000000000004.done", TimeSpan.FromHours(1));
        Mark("000000010000000000000005.ready", TimeSpan.FromMinutes(30));
        Mark("000000010000000000000006.ready", TimeSpan.FromMinutes(20));
        Mark("00000002.history.ready", TimeSpan.FromMinutes(10));
        Mark("000000010000000000000007.ready", TimeSpan.FromMinutes(5));
        Mark("not-a-wal-file.ready", TimeSpan.FromDays(1));
        Mark("000000010000000000000002.00000028.backup.done", TimeSpan.FromHours(3));

        var summary = new DataDirectory(data).ReadArchiveStatus();
        Assert.Equal(4, summary.ReadyCount);
        Assert.Equal(3, summary.DoneCount);
        Assert.Equal("00000002.history", summary.OldestReady);
        Assert.Equal("000000010000000000000004", summary.NewestDone);
        Assert.NotNull(summary.OldestReadySince);
        Assert.InRange((now - summary.OldestReadySince!.Value.UtcDateTime).TotalMinutes, 29.9, 30.1);
    }

    [Fact]
    public void ArchiveStatus_OfADirectoryWithoutOne_IsEmpty()
    {
        var summary = new DataDirectory(_dir.CreateDataDirectory("data")).ReadArchiveStatus();
        Assert.Equal(new ArchiveStatusSummary(0, 0, null, null, null), summary);
    }

    [Fact]
    public void Postmaster_IsReadFromPostmasterPid()
    {
        string data = _dir.CreateDataDirectory("data");
        var directory = new DataDirectory(data);
        Assert.Null(directory.ReadPostmaster());
        File.WriteAllText(Path.Join(data, "postmaster.pid"),
            $"{Environment.ProcessId}\n{data}\n1764100000\n5433\n/var/run/postgresql\n127.0.0.1\n  5432001    196608\nready   \n");
        var postmaster = directory.ReadPostmaster()!;
        Assert.Equal(new PostmasterInfo(Environment.ProcessId, 5433, "/var/run/postgresql", "127.0.0.1", true), postmaster);

        File.WriteAllText(Path.Join(data, "postmaster.pid"), "garbage\n");
        Assert.Null(directory.ReadPostmaster());
    }

    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("0/1500790", 0x1500790UL)]
    [InlineData("16/B374D848", 0x16B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void Lsn_ParsesAndPrintsAsPostgresql(string text, ulong value)
    {
        var lsn = Lsn.Parse(text);
        Assert.Equal(value, lsn.Value);
        Assert.Equal(text, lsn.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("G/1")]
    [InlineData("123456789/1")]
    [InlineData("1/123456789")]
    public void Lsn_RefusesWhatIsNotOne(string text)
    {
        Assert.False(Lsn.TryParse(text, out _));
    }

    [Theory]
    // pg_walfile_name: a position on a boundary belongs to the segment it ends (XLByteToPrevSeg).
    [InlineData("0/1500790", 1u, 16u << 20, "000000010000000000000001")]
    [InlineData("0/2000000", 1u, 16u << 20, "000000010000000000000001")]
    [InlineData("0/2000001", 1u, 16u << 20, "000000010000000000000002")]
    [InlineData("1/0", 3u, 16u << 20, "0000000300000000000000FF")]
    [InlineData("16/B374D848", 1u, 16u << 20, "0000000100000016000000B3")]
    [InlineData("16/B374D848", 1u, 64u << 20, "00000001000000160000002C")]
    public void Lsn_NamesItsSegment_AsPgWalfileName(string lsn, uint timeline, uint segmentSize, string expected)
    {
        Assert.Equal(expected, Lsn.Parse(lsn).SegmentNameBefore(timeline, segmentSize));
    }

    [Fact]
    public void ConnectionString_LibpqKeywordValue()
    {
        var builder = ConnectionInfo.Parse("host=/var/run/postgresql port = 5433 user=postgres dbname='my db' password='it\\'s' sslmode=verify-full");
        Assert.Equal("/var/run/postgresql", builder.Host);
        Assert.Equal(5433, builder.Port);
        Assert.Equal("postgres", builder.Username);
        Assert.Equal("my db", builder.Database);
        Assert.Equal("it's", builder.Password);
        Assert.Equal(SslMode.VerifyFull, builder.SslMode);
        Assert.Equal(ConnectionInfo.DefaultConnectTimeoutSeconds, builder.Timeout);
        Assert.False(builder.Pooling);
        Assert.Equal("walship", builder.ApplicationName);
    }

    [Fact]
    public void ConnectionString_Uri()
    {
        var builder = ConnectionInfo.Parse("postgresql://repl%40x:p%3Ass@db.example.com:6432/app?sslmode=require&connect_timeout=2&application_name=probe");
        Assert.Equal("repl@x", builder.Username);
        Assert.Equal("p:ss", builder.Password);
        Assert.Equal("db.example.com", builder.Host);
        Assert.Equal(6432, builder.Port);
        Assert.Equal("app", builder.Database);
        Assert.Equal(SslMode.Require, builder.SslMode);
        Assert.Equal(2, builder.Timeout);
        Assert.Equal("probe", builder.ApplicationName);

        var socket = ConnectionInfo.Parse("postgres://%2Fvar%2Frun%2Fpostgresql/postgres");
        Assert.Equal("/var/run/postgresql", socket.Host);
        Assert.Equal("postgres", socket.Database);

        var ipv6 = ConnectionInfo.Parse("postgresql://[::1]:5433");
        Assert.Equal("::1", ipv6.Host);
        Assert.Equal(5433, ipv6.Port);
    }

    [Fact]
    public void ConnectionString_NpgsqlForm_PassesThrough()
    {
        var builder = ConnectionInfo.Parse("Host=localhost;Port=5434;Username=postgres;Timeout=3");
        Assert.Equal("localhost", builder.Host);
        Assert.Equal(5434, builder.Port);
        Assert.Equal(3, builder.Timeout);
    }

    [Theory]
    [InlineData("host=x service=prod", "service")]
    [InlineData("host=x gssencmode=disable", "gssencmode")]
    [InlineData("host", "missing \"=\"")]
    [InlineData("host='unterminated", "unterminated")]
    [InlineData("port=abc", "not a TCP port")]
    [InlineData("sslmode=sometimes", "sslmode")]
    [InlineData("postgresql://h/db?sslmode", "has no value")]
    public void ConnectionString_RefusesWhatItCannotHonour(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ConnectionInfo.Parse(text));
        Assert.Contains(expected, e.Message);
    }
}
