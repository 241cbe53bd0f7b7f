using System.Buffers.Binary;
using WalShip.Commands.Spool;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>Where the spool goes, what push-ahead picks and in which order, and the spool lock.</summary>
public sealed class SpoolTests : IDisposable
{
    private const ulong Cluster = 7_000_000_000_000_000_001UL;
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-spool-").FullName;
    private string Data => Path.Join(_root, "data");

    public SpoolTests()
    {
        Directory.CreateDirectory(Path.Join(Data, "global"));
        Directory.CreateDirectory(Path.Join(Data, "pg_wal", "archive_status"));
        var control = new byte[8192];
        BinaryPrimitives.WriteUInt64LittleEndian(control, Cluster);
        File.WriteAllBytes(Path.Join(Data, "global", "pg_control"), control);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static Func<string, string?> Env(params (string Key, string Value)[] variables) =>
        key => variables.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void Locate_PrefersTheOption_ThenXdgCache_ThenHome_AndAddsTheClusterIdentifier()
    {
        Assert.Equal($"/srv/spool/{Cluster}", SpoolDirectory.Locate("/srv/spool", Data, Env(("HOME", "/home/pg")), out ulong id, out _));
        Assert.Equal(Cluster, id);
        Assert.Equal($"/cache/walship/{Cluster}", SpoolDirectory.Locate(null, Data, Env(("XDG_CACHE_HOME", "/cache"), ("HOME", "/home/pg")), out _, out _));
        Assert.Equal($"/home/pg/.cache/walship/{Cluster}", SpoolDirectory.Locate(null, Data, Env(("HOME", "/home/pg")), out _, out _));
    }

    [Fact]
    public void Locate_RefusesASpoolInsideTheDataDirectory_ARelativeOne_OrNoPgControl()
    {
        Assert.Null(SpoolDirectory.Locate(Path.Join(Data, "spool"), Data, Env(), out _, out string? inside));
        Assert.Contains("inside the data directory", inside);
        Assert.Null(SpoolDirectory.Locate(null, Data, Env(("HOME", Data)), out _, out _));
        Assert.Null(SpoolDirectory.Locate("relative/spool", Data, Env(), out _, out string? relative));
        Assert.Contains("not an absolute path", relative);
        // A sibling whose name merely starts like the data directory is outside it.
        Assert.NotNull(SpoolDirectory.Locate(Data + "-spool", Data, Env(), out _, out _));
        File.Delete(Path.Join(Data, "global", "pg_control"));
        Assert.Null(SpoolDirectory.Locate("/srv/spool", Data, Env(), out _, out string? noControl));
        Assert.Contains("pg_control", noControl);
    }

    [Fact]
    public void ReadyFiles_ComeInPostgresOrder_HistoryFirst_AndCandidatesSkipTheArchiversNextFile()
    {
        foreach (string name in new[] { "000000020000000000000005", "000000010000000000000004", "00000002.history", "000000020000000000000003.partial", "not-wal" })
        {
            File.WriteAllBytes(Path.Join(Data, "pg_wal", name), [1, 2, 3]);
            File.WriteAllText(Path.Join(Data, "pg_wal", "archive_status", name + ".ready"), "");
        }
        File.WriteAllText(Path.Join(Data, "pg_wal", "archive_status", "000000020000000000000009.ready"), ""); // file gone

        Assert.Equal(["00000002.history", "000000010000000000000004", "000000020000000000000003.partial", "000000020000000000000005"],
            PushAhead.ReadyFiles(Data, except: null).Select(f => f.Name.Name));
        Assert.Equal(["000000020000000000000003.partial", "000000020000000000000005"],
            PushAhead.Candidates(Data, justPushed: "00000002.history").Select(f => f.Name.Name));
    }

    [Fact]
    public void TheLock_IsExclusive_AndFreedWhenReleased_AndTheSpoolIsOwnerOnly()
    {
        string path = Path.Join(_root, "spool", Cluster.ToString());
        var spool = SpoolDirectory.Create(path, Cluster);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
        Assert.False(spool.IsLocked("prefetch"));
        using (var held = spool.TryLock("prefetch"))
        {
            Assert.NotNull(held);
            Assert.True(spool.IsLocked("prefetch"));
            Assert.Null(spool.TryLock("prefetch"));
            Assert.False(spool.IsLocked("push-ahead"));
        }
        Assert.False(spool.IsLocked("prefetch"));
    }
}
