using Microsoft.Extensions.Logging;
using WalShip.Storage;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>The credential cache trusts only its own user's private files, and never a stale or foreign entry.</summary>
public sealed class CredentialCacheTests : IDisposable
{
    private readonly TestTempDir _tmp = TestPaths.CreateTempDir("credcache");
    private readonly ListLogger _log = new();
    private readonly string _key = CredentialCache.KeyFor("arn:aws:iam::111111111111:role/reader", "secret-external-id", "key:AKIAB", null);

    public void Dispose() => _tmp.Dispose();

    private CredentialCache NewCache(string? dir = null) => new(dir ?? _tmp.Combine("cache"), _log);

    private CachedCredentials Entry(TimeSpan lifetime, string? key = null) => new()
    {
        Key = key ?? _key,
        AccessKeyId = "ASIATEST",
        SecretAccessKey = "secret",
        SessionToken = "token",
        Issued = DateTimeOffset.UtcNow,
        Expiration = DateTimeOffset.UtcNow + lifetime,
    };

    [Fact]
    public void AWrittenEntry_IsReadBack_FromAPrivateFileInAPrivateDirectory()
    {
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromHours(1)));

        var read = NewCache().TryRead(_key, DateTimeOffset.UtcNow);
        Assert.NotNull(read);
        Assert.Equal("ASIATEST", read.AccessKeyId);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cache.PathFor(_key)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(cache.Directory));
        Assert.Single(Directory.GetFiles(cache.Directory)); // no temporary file left behind
        Assert.Empty(_log.Warnings);
    }

    [Fact]
    public void TheKey_DependsOnRoleExternalIdAndSource_AndHidesTheExternalId()
    {
        string[] keys =
        [
            _key,
            CredentialCache.KeyFor("arn:aws:iam::111111111111:role/reader", "other-id", "key:AKIAB", null),
            CredentialCache.KeyFor("arn:aws:iam::111111111111:role/writer", "secret-external-id", "key:AKIAB", null),
            CredentialCache.KeyFor("arn:aws:iam::111111111111:role/reader", "secret-external-id", "key:AKIAC", null),
            CredentialCache.KeyFor("arn:aws:iam::111111111111:role/reader", "secret-external-id", "key:AKIAB", "http://127.0.0.1:1"),
        ];
        Assert.Equal(keys.Length, keys.Distinct().Count());
        Assert.DoesNotContain("secret-external-id", NewCache().PathFor(_key));
    }

    [Fact]
    public void CredentialsCloseToExpiry_AreNotHandedOut()
    {
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromSeconds(20)));
        Assert.NotNull(cache.TryRead(_key, DateTimeOffset.UtcNow));
        // 20 s credentials are renewed in their last quarter (5 s); an hour's in the last 5 minutes.
        Assert.Null(cache.TryRead(_key, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(16)));
        Assert.Equal(TimeSpan.FromMinutes(5), CachedCredentials.ExpiryMargin(TimeSpan.FromHours(1)));
        Assert.Empty(_log.Warnings);
    }

    [Fact]
    public void AGroupReadableFile_IsIgnoredWithAWarning()
    {
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromHours(1)));
        File.SetUnixFileMode(cache.PathFor(_key), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        Assert.Null(NewCache().TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Contains(_log.Warnings, w => w.Contains("ignoring the credential cache file") && w.Contains("mode is 640"));
    }

    [Fact]
    public void AFileOwnedBySomeoneElse_IsIgnoredWithAWarning()
    {
        Assert.True(PgUser.RunsAsRoot, "the tests run as root (they start PostgreSQL as postgres)");
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromHours(1)));
        PgUser.ChownToPostgres(cache.PathFor(_key));

        Assert.Null(NewCache().TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Contains(_log.Warnings, w => w.Contains("not by this user"));
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"format\":1}")]
    [InlineData("{\"format\":1,\"key\":\"other\",\"access_key_id\":\"A\",\"secret_access_key\":\"S\",\"session_token\":\"T\",\"issued\":\"2020-01-01T00:00:00Z\",\"expiration\":\"2999-01-01T00:00:00Z\"}")]
    public void AFileWithWrongContent_IsIgnoredWithAWarning(string content)
    {
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromHours(1)));
        File.WriteAllText(cache.PathFor(_key), content);

        Assert.Null(NewCache().TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Contains(_log.Warnings, w => w.Contains("ignoring the credential cache file"));
    }

    [Fact]
    public void AnEntryCopiedFromAnotherKey_IsNotTrusted()
    {
        var cache = NewCache();
        string otherKey = CredentialCache.KeyFor("arn:aws:iam::111111111111:role/other", null, "key:AKIAB", null);
        cache.Write(Entry(TimeSpan.FromHours(1), otherKey));
        File.Copy(cache.PathFor(otherKey), cache.PathFor(_key));

        Assert.Null(NewCache().TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Contains(_log.Warnings, w => w.Contains("not a valid credential file for this role"));
    }

    [Fact]
    public void AGroupWritableDirectory_IsNotUsedAtAll()
    {
        string dir = _tmp.Combine("shared");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupWrite
                                  | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        var cache = NewCache(dir);
        cache.Write(Entry(TimeSpan.FromHours(1)));

        Assert.Empty(Directory.GetFiles(dir));
        Assert.Null(cache.TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Contains(_log.Warnings, w => w.Contains("not using the credential cache directory") && w.Contains("may write"));
    }

    [Fact]
    public void RemovingAnEntry_MakesTheNextReadMiss()
    {
        var cache = NewCache();
        cache.Write(Entry(TimeSpan.FromHours(1)));
        cache.Remove(_key);
        Assert.Null(cache.TryRead(_key, DateTimeOffset.UtcNow));
        Assert.Empty(_log.Warnings);
    }

    /// <summary>Keeps what was logged, to assert on warnings.</summary>
    private sealed class ListLogger : ILogger
    {
        private readonly List<(LogLevel Level, string Message)> _entries = [];

        public IEnumerable<string> Warnings => _entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _entries.Add((logLevel, formatter(state, exception)));
    }
}
