using WalShip.Commands.Postgres;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>postgresql.conf as the server reads it (guc-file.l): tokens, quoting, includes, last one wins.</summary>
public sealed class PostgresConfigTests : IDisposable
{
    private readonly TestTempDir _dir = TestPaths.CreateTempDir("walship-unit-pgconf-");

    public void Dispose() => _dir.Dispose();

    private static PostgresConfig Parse(string text) => PostgresConfig.Parse(text, "/nonexistent/postgresql.conf");

    private static string? Value(string text, string name) => Parse(text).Get(name);

    [Theory]
    [InlineData("archive_mode = on", "on")]
    [InlineData("archive_mode on", "on")]
    [InlineData("archive_mode=on", "on")]
    [InlineData("  archive_mode   =   always   # trailing comment", "always")]
    [InlineData("archive_timeout = 60", "60")]
    [InlineData("archive_timeout = 5min", "5min")]
    [InlineData("max_wal_size = 0x40GB", "0x40GB")]
    [InlineData("seq_page_cost = 1.5", "1.5")]
    [InlineData("seq_page_cost = -.5e-3", "-.5e-3")]
    [InlineData("search_path = public", "public")]
    [InlineData("log_directory = pg_log/sub-dir", "pg_log/sub-dir")]
    [InlineData("timezone = Europe/Paris", "Europe/Paris")]
    [InlineData("listen_addresses = '*'", "*")]
    [InlineData("archive_command = ''", "")]
    [InlineData("archive_command = 'walship push %p %f'", "walship push %p %f")]
    [InlineData("archive_command = 'it''s'", "it's")]
    [InlineData(@"archive_command = 'it\'s'", "it's")]
    [InlineData(@"archive_command = 'a\\b'", @"a\b")]
    [InlineData(@"archive_command = 'tab\there'", "tab\there")]
    [InlineData(@"archive_command = 'octal\101\60x'", "octalA0x")]
    [InlineData(@"archive_command = '\q'", "q")]
    [InlineData("archive_command = 'cmd # not a comment'", "cmd # not a comment")]
    [InlineData("archive_command = 'caf\u00e9'", "caf\u00e9")]
    [InlineData("my.custom = 'x'", "x")]
    public void ReadsValuesAsTheServerDoes(string line, string expected)
    {
        Assert.Equal(expected, Value(line, line.TrimStart().Split([' ', '='])[0]));
    }

    [Fact]
    public void NamesAreCaseInsensitive_AndTheLastOccurrenceWins()
    {
        var config = Parse("Archive_Command = 'first'\n\n# comment\narchive_command = 'second'\nARCHIVE_COMMAND = 'third'\n");
        var setting = config.Find("archive_command")!;
        Assert.Equal("third", setting.Value);
        Assert.Equal(5, setting.Line);
        Assert.Null(config.Get("restore_command"));
    }

    [Fact]
    public void LastLineWithoutNewline_IsRead()
    {
        Assert.Equal("on", Value("archive_mode = off\narchive_mode = on", "archive_mode"));
    }

    [Fact]
    public void CarriageReturnsAreWhitespace()
    {
        Assert.Equal("on", Value("archive_mode = on\r\narchive_timeout = 60\r\n", "archive_mode"));
    }

    [Theory]
    [InlineData("archive_mode = on off", 1)]
    [InlineData("archive_mode =", 1)]
    [InlineData("= on", 1)]
    [InlineData("'quoted' = on", 1)]
    [InlineData("ok = 1\narchive_command = 'unterminated\n", 2)]
    [InlineData("seq_page_cost = 1.5GB", 1)]
    [InlineData("a = b.c", 1)]
    [InlineData("log_directory = /var/log/postgresql", 1)]
    [InlineData("archive_mode = on;", 1)]
    [InlineData("1abc = on", 1)]
    public void RefusesWhatTheServerRefuses(string text, int line)
    {
        var e = Assert.Throws<PostgresConfigException>(() => Parse(text));
        Assert.Contains($"line {line}", e.Message);
        Assert.Contains("/nonexistent/postgresql.conf", e.Message);
    }

    [Fact]
    public void Includes_ResolveRelativeToTheIncludingFile_InPlace()
    {
        string data = _dir.CreateSubdirectory("data");
        string conf = _dir.CreateSubdirectory("conf");
        File.WriteAllText(Path.Join(data, "postgresql.conf"),
            "archive_mode = off\ninclude '../conf/archive.conf'\narchive_timeout = 30\ninclude_if_exists 'missing.conf'\n");
        File.WriteAllText(Path.Join(conf, "archive.conf"), "archive_mode = on\narchive_timeout = 10\ninclude = 'nested/deeper.conf'\n");
        Directory.CreateDirectory(Path.Join(conf, "nested"));
        File.WriteAllText(Path.Join(conf, "nested", "deeper.conf"), "archive_command = 'from nested'\n");

        var config = PostgresConfig.Load(data);
        Assert.Equal("on", config.Get("archive_mode"));
        Assert.Equal("30", config.Get("archive_timeout"));
        Assert.Equal("from nested", config.Get("archive_command"));
        Assert.Equal(Path.Join(conf, "nested", "deeper.conf"), config.Find("archive_command")!.File);
        Assert.Equal(3, config.Files.Count);
    }

    [Fact]
    public void IncludeDir_ReadsConfFilesInByteOrder_SkippingHiddenAndOthers()
    {
        string data = _dir.CreateSubdirectory("data");
        string confD = Path.Join(data, "conf.d");
        Directory.CreateDirectory(confD);
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "archive_command = 'main'\ninclude_dir 'conf.d'\n");
        File.WriteAllText(Path.Join(confD, "20-b.conf"), "archive_command = 'b'\n");
        File.WriteAllText(Path.Join(confD, "10-a.conf"), "archive_command = 'a'\narchive_mode = on\n");
        File.WriteAllText(Path.Join(confD, "Z-upper.conf"), "archive_timeout = 1\n");
        File.WriteAllText(Path.Join(confD, "a-lower.conf"), "archive_timeout = 2\n");
        File.WriteAllText(Path.Join(confD, ".hidden.conf"), "archive_command = 'hidden'\n");
        File.WriteAllText(Path.Join(confD, "30-c.conf.bak"), "archive_command = 'backup copy'\n");
        File.WriteAllText(Path.Join(confD, ".conf"), "archive_command = 'dot conf'\n");
        Directory.CreateDirectory(Path.Join(confD, "40-dir.conf"));

        var config = PostgresConfig.Load(data);
        Assert.Equal("b", config.Get("archive_command"));
        Assert.Equal("on", config.Get("archive_mode"));
        Assert.Equal("2", config.Get("archive_timeout")); // 'a' (0x61) sorts after 'Z' (0x5A)
    }

    [Fact]
    public void AutoConf_WinsOverPostgresqlConf()
    {
        string data = _dir.CreateSubdirectory("data");
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "archive_command = 'conf'\narchive_mode = on\n");
        File.WriteAllText(Path.Join(data, "postgresql.auto.conf"), "# Do not edit this file manually!\narchive_command = 'auto'\n");
        var config = PostgresConfig.Load(data);
        Assert.Equal("auto", config.Get("archive_command"));
        Assert.Equal("on", config.Get("archive_mode"));
    }

    [Fact]
    public void MissingInclude_IsAnError_NamingWhereItWasIncluded()
    {
        string data = _dir.CreateSubdirectory("data");
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "\ninclude 'nope.conf'\n");
        var e = Assert.Throws<PostgresConfigException>(() => PostgresConfig.Load(data));
        Assert.Contains("nope.conf", e.Message);
        Assert.Contains("postgresql.conf:2", e.Message);
    }

    [Fact]
    public void MissingIncludeDir_IsAnError()
    {
        string data = _dir.CreateSubdirectory("data");
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "include_dir 'conf.d'\n");
        Assert.Throws<PostgresConfigException>(() => PostgresConfig.Load(data));
    }

    [Fact]
    public void IncludeLoop_StopsAtTheServersNestingLimit()
    {
        string data = _dir.CreateSubdirectory("data");
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "include 'postgresql.conf'\n");
        var e = Assert.Throws<PostgresConfigException>(() => PostgresConfig.Load(data));
        Assert.Contains("maximum nesting depth exceeded", e.Message);
    }

    [Fact]
    public void MissingPostgresqlConf_IsAnError_MissingAutoConfIsNot()
    {
        string data = _dir.CreateSubdirectory("data");
        Assert.Throws<PostgresConfigException>(() => PostgresConfig.Load(data));
        File.WriteAllText(Path.Join(data, "postgresql.conf"), "archive_mode = on\n");
        Assert.Equal("on", PostgresConfig.Load(data).Get("archive_mode"));
    }

    [Fact]
    public void DebianLayout_FindsTheConfInEtcWhoseDataDirectoryIsThisOne()
    {
        string data = _dir.CreateSubdirectory("data");
        string etc = _dir.CreateSubdirectory("etc");
        Directory.CreateDirectory(Path.Join(etc, "15", "other"));
        Directory.CreateDirectory(Path.Join(etc, "15", "main"));
        File.WriteAllText(Path.Join(etc, "15", "other", "postgresql.conf"), "data_directory = '/elsewhere'\narchive_command = 'wrong'\n");
        File.WriteAllText(Path.Join(etc, "15", "main", "postgresql.conf"), $"data_directory = '{data}'\narchive_command = 'right'\n");
        Assert.Equal("right", new DataDirectory(data).ReadConfig(debianConfigRoot: etc).Get("archive_command"));
    }
}
