using WalShip.Archive;
using WalShip.Wal;
using WalShip.Pipeline;
using WalShip.Storage;
using Xunit;

namespace WalShip.Tests.Unit;

public sealed class FileObjectStoreTests : IDisposable
{
    private static readonly string Key = new ArchiveLayout("").KeyFor(WalFileName.Parse("000000010000000000000001"));
    private static readonly Dictionary<string, string> NoMetadata = new();
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-store-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static PooledBuffer Body(byte[] bytes)
    {
        var buffer = new PooledBuffer();
        buffer.Write(bytes);
        return buffer;
    }

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadAllAsync(FileObjectStore store, string key)
    {
        using var reader = await store.OpenReadAsync(key, CancellationToken.None);
        var copy = new MemoryStream();
        await reader.Body.CopyToAsync(copy);
        Assert.Equal(reader.Length, copy.Length);
        return copy.ToArray();
    }

    private string[] AllFiles() =>
        Directory.GetFiles(_root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_root, f)).Order().ToArray();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(PooledBuffer.ChunkSize + 17)]
    public async Task PutThenReadRoundTrips(int length)
    {
        using var store = new FileObjectStore(_root);
        var content = Random(length, length);
        using (var body = Body(content))
            await store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None);

        Assert.Equal(content, await ReadAllAsync(store, Key));
        Assert.Equal(length, await store.GetLengthAsync(Key, CancellationToken.None));
        Assert.Equal(new[] { Key }, AllFiles());
    }

    [Fact]
    public async Task SecondPutOfSameKeyIsConflictAndKeepsTheOriginal()
    {
        using var store = new FileObjectStore(_root);
        var original = Random(5000, 1);
        using (var body = Body(original))
            await store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None);

        foreach (var other in new[] { Random(7000, 2), Random(5000, 3), original })
        {
            using var body = Body(other);
            var e = await Assert.ThrowsAsync<StorageException>(() => store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None));
            Assert.Equal(ErrorClass.Conflict, e.Class);
            Assert.Contains(Key, e.Message);
        }

        Assert.Equal(original, await ReadAllAsync(store, Key));
        Assert.Single(AllFiles());
    }

    [Fact]
    public async Task ReplaceSwapsTheWholeObjectAtomically_AndLeavesNoTemporaryFile()
    {
        using var store = new FileObjectStore(_root);
        var torn = Random(100, 1);
        var whole = Random(PooledBuffer.ChunkSize + 5, 2);
        using (var body = Body(torn))
            await store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None);
        using (var body = Body(whole))
            await store.ReplaceAsync(Key, body, NoMetadata, CancellationToken.None);
        Assert.Equal(whole, await ReadAllAsync(store, Key));
        Assert.Equal([Key], AllFiles());
    }

    [Fact]
    public async Task MissingKeyIsAbsent()
    {
        using var store = new FileObjectStore(_root);
        var e = await Assert.ThrowsAsync<StorageException>(() => store.OpenReadAsync(Key, CancellationToken.None));
        Assert.Equal(ErrorClass.Absent, e.Class);

        Directory.CreateDirectory(Path.Join(_root, "wal", "00000001"));
        e = await Assert.ThrowsAsync<StorageException>(() => store.OpenReadAsync(Key, CancellationToken.None));
        Assert.Equal(ErrorClass.Absent, e.Class);
    }

    [Fact]
    public async Task GetLengthOfMissingKeyIsNull()
    {
        using var store = new FileObjectStore(_root);
        Assert.Null(await store.GetLengthAsync(Key, CancellationToken.None));
        Assert.Null(await store.GetLengthAsync("walship.json", CancellationToken.None));
    }

    [Fact]
    public async Task MissingRootIsConfigError()
    {
        string missing = Path.Join(_root, "not-created");
        using var store = new FileObjectStore(missing);
        using var body = Body([1, 2, 3]);

        var e = await Assert.ThrowsAsync<StorageException>(() => store.GetLengthAsync(Key, CancellationToken.None));
        Assert.Equal(ErrorClass.Config, e.Class);
        e = await Assert.ThrowsAsync<StorageException>(() => store.OpenReadAsync(Key, CancellationToken.None));
        Assert.Equal(ErrorClass.Config, e.Class);
        e = await Assert.ThrowsAsync<StorageException>(() => store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None));
        Assert.Equal(ErrorClass.Config, e.Class);
        Assert.Contains(missing, e.Message);
        Assert.False(Directory.Exists(missing), "a missing repository must not be created implicitly");
    }

    [Fact]
    public async Task NoTemporaryFilesAreLeftBehind()
    {
        using var store = new FileObjectStore(_root);
        using (var body = Body(Random(3000, 4)))
            await store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None);
        using (var body = Body(Random(3000, 5)))
            await Assert.ThrowsAsync<StorageException>(() => store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None));
        using (var body = Body("{}"u8.ToArray()))
            await store.PutIfAbsentAsync("walship.json", body, NoMetadata, CancellationToken.None);

        Assert.Equal(new[] { Key, "walship.json" }, AllFiles());
    }

    [Fact]
    public async Task StaleTemporaryFileFromACrashedRunDoesNotBlockPut()
    {
        using var store = new FileObjectStore(_root);
        string directory = Path.GetDirectoryName(Path.Join(_root, Key))!;
        Directory.CreateDirectory(directory);
        string stale = Path.Join(directory, $".000000010000000000000001.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(stale, Random(100_000, 6));

        var content = Random(10, 7);
        using (var body = Body(content))
            await store.PutIfAbsentAsync(Key, body, NoMetadata, CancellationToken.None);
        Assert.Equal(content, await ReadAllAsync(store, Key));
        Assert.False(File.Exists(stale));
    }

    [Fact]
    public void DescribeIsAFileUrl()
    {
        using var store = new FileObjectStore(_root);
        Assert.Equal("file://" + Path.Join(_root, Key), store.Describe(Key));
        Assert.Equal(Path.GetFullPath(_root), store.Root);
    }
}

public sealed class FileObjectStoreListAndDeleteTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("walship-unit-list-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task PutAsync(FileObjectStore store, string key, int length)
    {
        using var body = new PooledBuffer();
        body.Write(new byte[length]);
        await store.PutIfAbsentAsync(key, body, new Dictionary<string, string>(), CancellationToken.None);
    }

    private static async Task<List<ListedEntry>> ListAsync(FileObjectStore store, string prefix, bool delimited, string? startAfter = null)
    {
        var entries = new List<ListedEntry>();
        await foreach (var entry in store.ListAsync(prefix, delimited, CancellationToken.None, startAfter))
            entries.Add(entry);
        return entries;
    }

    [Fact]
    public async Task Listing_IsInKeyOrder_FoldsDirectoriesWhenDelimited_AndHidesWritesInProgress()
    {
        using var store = new FileObjectStore(_root);
        await PutAsync(store, "wal/00000001/0000000100000000/b", 3);
        await PutAsync(store, "wal/00000001/0000000100000000/a", 2);
        await PutAsync(store, "wal/00000001/0000000100000001/c", 1);
        await PutAsync(store, "wal/00000002/00000002.history", 4);
        File.WriteAllBytes(Path.Join(_root, "wal/00000001/0000000100000000/.a.123.tmp"), [1]);

        var all = await ListAsync(store, "wal/", delimited: false);
        Assert.Equal(["wal/00000001/0000000100000000/a", "wal/00000001/0000000100000000/b", "wal/00000001/0000000100000001/c", "wal/00000002/00000002.history"],
            all.Select(e => e.Key));
        Assert.Equal([2L, 3, 1, 4], all.Select(e => e.Size));
        Assert.All(all, e => Assert.True(e.LastModified > DateTimeOffset.UtcNow.AddMinutes(-5)));

        var timeline = await ListAsync(store, "wal/00000001/", delimited: true);
        Assert.Equal(["wal/00000001/0000000100000000/", "wal/00000001/0000000100000001/"], timeline.Select(e => e.Key));
        Assert.All(timeline, e => Assert.True(e.IsPrefix));

        Assert.Equal(["wal/00000002/00000002.history"], (await ListAsync(store, "wal/", false, "wal/00000001/\uFFFD")).Select(e => e.Key));
        // Directories that start-after passes are skipped whole; the one it points into is entered.
        Assert.Equal(["wal/00000001/0000000100000000/b", "wal/00000001/0000000100000001/c", "wal/00000002/00000002.history"],
            (await ListAsync(store, "wal/", false, "wal/00000001/0000000100000000/a")).Select(e => e.Key));
        Assert.Equal(["wal/00000001/0000000100000001/c", "wal/00000002/00000002.history"],
            (await ListAsync(store, "wal/", false, "wal/00000001/0000000100000000/\uFFFD")).Select(e => e.Key));
        Assert.Equal(["wal/00000001/0000000100000001/c"],
            (await ListAsync(store, "wal/00000001/", false, "wal/00000001/0000000100000001/")).Select(e => e.Key));
        Assert.Empty(await ListAsync(store, "nothing/here/", delimited: false));
    }

    [Fact]
    public async Task BatchDelete_RemovesTheKeys_TreatsAbsentAsDeleted_AndDropsEmptiedDirectories()
    {
        using var store = new FileObjectStore(_root);
        await PutAsync(store, "wal/00000001/0000000100000000/a", 1);
        await PutAsync(store, "wal/00000001/0000000100000000/b", 1);
        await PutAsync(store, "wal/00000001/0000000100000001/c", 1);

        var failures = await store.DeleteAsync(["wal/00000001/0000000100000000/a", "wal/00000001/0000000100000000/b", "wal/00000001/0000000100000000/never-there", "wal/00000009/x/y"], CancellationToken.None);
        Assert.Empty(failures);
        Assert.False(Directory.Exists(Path.Join(_root, "wal/00000001/0000000100000000")));
        Assert.Equal(["wal/00000001/0000000100000001/c"], (await ListAsync(store, "", false)).Select(e => e.Key));

        var refused = await store.DeleteAsync(["wal/00000001"], CancellationToken.None);
        Assert.Equal("wal/00000001", Assert.Single(refused).Key);
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteAsync(Enumerable.Range(0, 1001).Select(i => $"k{i}").ToList(), CancellationToken.None));
    }
}
