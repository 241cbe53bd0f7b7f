using WalShip.Cli;
using Xunit;

namespace WalShip.Tests.Unit;

public sealed class SettingsAndConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("walship-unit-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigFileWith(params string[] lines)
    {
        string path = Path.Join(_dir, $"walship-{Guid.NewGuid():N}.conf");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return name => map.GetValueOrDefault(name);
    }

    private static Dictionary<string, string> Flags(params (string Name, string Value)[] flags) =>
        flags.ToDictionary(f => f.Name, f => f.Value);

    // ---- precedence ----

    [Fact]
    public void PrecedenceIsFlagThenWalshipEnvThenFileThenAwsEnvThenDefault()
    {
        string config = ConfigFileWith("region = from-file", "compression-level = 7");

        var all = Settings.Resolve(
            Flags(("config", config), ("region", "from-flag")),
            Env(("WALSHIP_REGION", "from-walship-env"), ("AWS_REGION", "from-aws-env")));
        Assert.Equal("from-flag", all.Get(OptionSpec.Region));
        Assert.Equal("--region", all.Source(OptionSpec.Region));

        var noFlag = Settings.Resolve(
            Flags(("config", config)),
            Env(("WALSHIP_REGION", "from-walship-env"), ("AWS_REGION", "from-aws-env")));
        Assert.Equal("from-walship-env", noFlag.Get(OptionSpec.Region));
        Assert.Equal("WALSHIP_REGION", noFlag.Source(OptionSpec.Region));

        var noEnv = Settings.Resolve(Flags(("config", config)), Env(("AWS_REGION", "from-aws-env")));
        Assert.Equal("from-file", noEnv.Get(OptionSpec.Region));
        Assert.Equal(config, noEnv.Source(OptionSpec.Region));

        var onlyAws = Settings.Resolve(Flags(), Env(("AWS_REGION", "from-aws-env")));
        Assert.Equal("from-aws-env", onlyAws.Get(OptionSpec.Region));
        Assert.Equal("AWS_REGION", onlyAws.Source(OptionSpec.Region));

        var nothing = Settings.Resolve(Flags(), Env());
        Assert.Null(nothing.Get(OptionSpec.Region));
        Assert.Equal("unset", nothing.Source(OptionSpec.Region));
    }

    [Fact]
    public void DefaultIsLastResort()
    {
        string config = ConfigFileWith("compression_level = 7");
        Assert.Equal("7", Settings.Resolve(Flags(("config", config)), Env()).Get(OptionSpec.CompressionLevel));
        Assert.Equal("9", Settings.Resolve(Flags(("config", config)), Env(("WALSHIP_COMPRESSION_LEVEL", "9"))).Get(OptionSpec.CompressionLevel));

        var defaults = Settings.Resolve(Flags(), Env());
        Assert.Equal("1", defaults.Get(OptionSpec.CompressionLevel));
        Assert.Equal("default", defaults.Source(OptionSpec.CompressionLevel));
        Assert.Equal("file:///var/lib/postgresql/walship", defaults.Get(OptionSpec.Repo));
        Assert.Equal(1, defaults.GetInt(OptionSpec.CompressionLevel, 1, 19));
        Assert.Equal(8L << 20, defaults.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30));
        Assert.Equal(TimeSpan.FromSeconds(120), defaults.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24)));
        Assert.False(defaults.GetSwitch(OptionSpec.PathStyle));
    }

    [Fact]
    public void AwsFallbackVariablesAreTriedInOrder()
    {
        var both = Settings.Resolve(Flags(), Env(("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")));
        Assert.Equal("eu-west-1", both.Get(OptionSpec.Region));
        var second = Settings.Resolve(Flags(), Env(("AWS_DEFAULT_REGION", "us-east-1")));
        Assert.Equal("us-east-1", second.Get(OptionSpec.Region));
        Assert.Equal("AWS_DEFAULT_REGION", second.Source(OptionSpec.Region));
        var emptyFirst = Settings.Resolve(Flags(), Env(("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-1")));
        Assert.Equal("us-east-1", emptyFirst.Get(OptionSpec.Region));

        var endpoint = Settings.Resolve(Flags(), Env(("AWS_ENDPOINT_URL", "http://generic"), ("AWS_ENDPOINT_URL_S3", "http://s3-specific")));
        Assert.Equal("http://s3-specific", endpoint.Get(OptionSpec.Endpoint));
    }

    [Fact]
    public void AwsVariablesDoNotApplyToOptionsWithoutFallback()
    {
        var settings = Settings.Resolve(Flags(), Env(("AWS_COMPRESSION_LEVEL", "9"), ("AWS_REPO", "s3://x/y")));
        Assert.Equal("1", settings.Get(OptionSpec.CompressionLevel));
        Assert.Equal("file:///var/lib/postgresql/walship", settings.Get(OptionSpec.Repo));
    }

    [Fact]
    public void EmptyWalshipVariableIsIgnored()
    {
        var settings = Settings.Resolve(Flags(), Env(("WALSHIP_REGION", ""), ("AWS_REGION", "eu-north-1")));
        Assert.Equal("eu-north-1", settings.Get(OptionSpec.Region));
    }

    [Fact]
    public void EmptyFlagValueStillWins()
    {
        var settings = Settings.Resolve(Flags(("region", "")), Env(("AWS_REGION", "eu-north-1")));
        Assert.Equal("", settings.Get(OptionSpec.Region));
        Assert.Equal("--region", settings.Source(OptionSpec.Region));
    }

    [Fact]
    public void ConfigFileCanComeFromTheEnvironment()
    {
        string config = ConfigFileWith("repo = s3://bucket/prefix");
        var settings = Settings.Resolve(Flags(), Env(("WALSHIP_CONFIG", config)));
        Assert.Equal("s3://bucket/prefix", settings.Get(OptionSpec.Repo));
        Assert.Equal(config, settings.Source(OptionSpec.Repo));
    }

    [Fact]
    public void ConfigFlagBeatsConfigVariable()
    {
        string fromFlag = ConfigFileWith("repo = s3://flag/x");
        string fromEnv = ConfigFileWith("repo = s3://env/x");
        var settings = Settings.Resolve(Flags(("config", fromFlag)), Env(("WALSHIP_CONFIG", fromEnv)));
        Assert.Equal("s3://flag/x", settings.Get(OptionSpec.Repo));
    }

    [Fact]
    public void MissingConfigFileIsUsageError()
    {
        string missing = Path.Join(_dir, "nope.conf");
        var e = Assert.Throws<UsageException>(() => Settings.Resolve(Flags(("config", missing)), Env()));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void InvalidValueMessageNamesTheSource()
    {
        var settings = Settings.Resolve(Flags(), Env(("WALSHIP_COMPRESSION_LEVEL", "30")));
        var e = Assert.Throws<UsageException>(() => settings.GetInt(OptionSpec.CompressionLevel, 1, 19));
        Assert.Contains("WALSHIP_COMPRESSION_LEVEL", e.Message);
        Assert.Contains("compression-level", e.Message);
    }

    // ---- config file ----

    [Fact]
    public void ConfigFileSyntax()
    {
        var values = ConfigFile.Parse(
        [
            "# walship settings",
            "",
            "   # indented comment",
            "repo = \"s3://bucket/prefix\"",
            "region='eu-west-1'",
            "  compression_level   =   5  ",
            "Part_Size = 16MiB",
            "endpoint = http://host:9000/?a=b",
            "profile = \"unbalanced'",
            "ca-file = \"\"",
            "log-level =",
        ], "test.conf");

        Assert.Equal("s3://bucket/prefix", values["repo"]);
        Assert.Equal("eu-west-1", values["region"]);
        Assert.Equal("5", values["compression-level"]);
        Assert.Equal("16MiB", values["part-size"]);
        Assert.Equal("http://host:9000/?a=b", values["endpoint"]);
        Assert.Equal("\"unbalanced'", values["profile"]);
        Assert.Equal("", values["ca-file"]);
        Assert.Equal("", values["log-level"]);
        Assert.Equal(8, values.Count);
    }

    [Fact]
    public void UnknownKeyIsAnErrorWithItsLineNumber()
    {
        var e = Assert.Throws<UsageException>(() => ConfigFile.Parse(["repo = s3://b/p", "# c", "compresion-level = 3"], "w.conf"));
        Assert.Contains("w.conf:3", e.Message);
        Assert.Contains("did you mean 'compression-level'", e.Message);
        Assert.DoesNotContain("compresion-level", e.Message); // an unknown key is never echoed
    }

    [Fact]
    public void UnknownKeyErrorDoesNotEchoTheValue()
    {
        var e = Assert.Throws<UsageException>(() => ConfigFile.Parse(["aws_secret_access_key = wJalrXUtnFEMI/K7MDENG"], "w.conf"));
        Assert.DoesNotContain("wJalrXUtnFEMI", e.Message);
        Assert.Contains("w.conf:1", e.Message);
    }

    [Theory]
    [InlineData("region = a", "region = b")]
    [InlineData("compression-level = 1", "compression_level = 2")]
    [InlineData("path-style = true", "PATH_STYLE = false")]
    public void DuplicateKeyIsAnError(string first, string second)
    {
        var e = Assert.Throws<UsageException>(() => ConfigFile.Parse([first, "", second], "w.conf"));
        Assert.Contains("w.conf:3", e.Message);
        Assert.Contains("twice", e.Message);
    }

    [Theory]
    [InlineData("this-is-a-secret-token-XYZZY")]
    [InlineData("=XYZZY-secret")]
    [InlineData("  = XYZZY-secret")]
    [InlineData("region: XYZZY-secret")]
    [InlineData("XYZZY/secret/bPxRfiCYEXAMPLEKEY==")]   // a pasted base64 secret: it contains '='
    [InlineData("export XYZZY secret = 1")]
    public void MalformedLineErrorHasLineNumberButNotTheLine(string line)
    {
        var e = Assert.Throws<UsageException>(() => ConfigFile.Parse(["# ok", "region = x", line], "/etc/walship.conf"));
        Assert.Contains("/etc/walship.conf:3", e.Message);
        Assert.DoesNotContain("XYZZY", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secret", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void ConfigFileCannotNameAnotherConfigFile()
    {
        Assert.Throws<UsageException>(() => ConfigFile.Parse(["config = /etc/other.conf"], "w.conf"));
    }

    [Fact]
    public void LoadReadsAFile()
    {
        string path = ConfigFileWith("# x", "repo = file:///srv/wal");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var warnings = new List<string>();
        Assert.Equal("file:///srv/wal", ConfigFile.Load(path, warnings)["repo"]);
        Assert.Empty(warnings);
    }

    [Fact]
    public void AConfigFileOthersCanWrite_IsRefused_AndOneEveryoneCanRead_IsAWarning()
    {
        string path = ConfigFileWith("repo = file:///srv/wal");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
        var refused = Assert.Throws<UsageException>(() => ConfigFile.Load(path, []));
        Assert.Contains("writable by group or others", refused.Message);

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var warnings = new List<string>();
        Assert.Equal("file:///srv/wal", ConfigFile.Load(path, warnings)["repo"]);
        Assert.Single(warnings);
        Assert.Contains("readable by everyone", warnings[0]);
    }

    // ---- values ----

    [Theory]
    [InlineData("8MiB", 8L << 20)]
    [InlineData("16M", 16L << 20)]
    [InlineData("16m", 16L << 20)]
    [InlineData("16MB", 16L << 20)]
    [InlineData("8 MiB", 8L << 20)]
    [InlineData(" 5MiB ", 5L << 20)]
    [InlineData("512K", 512L << 10)]
    [InlineData("512kib", 512L << 10)]
    [InlineData("1G", 1L << 30)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("100", 100L)]
    [InlineData("100B", 100L)]
    [InlineData("0", 0L)]
    public void ParsesSizes(string text, long expected)
    {
        Assert.True(Settings.TryParseSize(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("-1M")]
    [InlineData("+1M")]
    [InlineData("1.5M")]
    [InlineData("8XB")]
    [InlineData("8 M i B")]
    [InlineData("8T")]
    [InlineData("99999999999999999999")]
    [InlineData("9223372036854775807K")]
    [InlineData("0x10")]
    [InlineData("1,024")]
    public void RejectsBadSizes(string text)
    {
        Assert.False(Settings.TryParseSize(text, out _));
    }

    [Theory]
    [InlineData("5m", 300.0)]
    [InlineData("90s", 90.0)]
    [InlineData("90", 90.0)]
    [InlineData("90 sec", 90.0)]
    [InlineData("1.5m", 90.0)]
    [InlineData("2min", 120.0)]
    [InlineData("500ms", 0.5)]
    [InlineData("2h", 7200.0)]
    [InlineData("5M", 300.0)]
    public void ParsesDurations(string text, double seconds)
    {
        Assert.True(Settings.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("5x")]
    [InlineData("-5s")]
    [InlineData("5d")]
    [InlineData("1.2.3s")]
    [InlineData(".")]
    [InlineData("1e3s")]
    [InlineData("5 m s")]
    public void RejectsBadDurations(string text)
    {
        Assert.False(Settings.TryParseDuration(text, out _));
    }

    [Theory]
    [InlineData("4MiB")]
    [InlineData("6GiB")]
    [InlineData("lots")]
    public void GetSizeEnforcesRange(string value)
    {
        var settings = Settings.Resolve(Flags(("part-size", value)), Env());
        var e = Assert.Throws<UsageException>(() => settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30));
        Assert.Contains("--part-size", e.Message);
        Assert.Contains(value, e.Message);
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("25h")]
    [InlineData("soon")]
    public void GetDurationEnforcesRange(string value)
    {
        var settings = Settings.Resolve(Flags(("deadline", value)), Env());
        Assert.Throws<UsageException>(() => settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24)));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("20")]
    [InlineData("+3")]
    [InlineData(" 3")]
    [InlineData("3.0")]
    [InlineData("three")]
    public void GetIntEnforcesRangeAndSyntax(string value)
    {
        var settings = Settings.Resolve(Flags(("compression-level", value)), Env());
        Assert.Throws<UsageException>(() => settings.GetInt(OptionSpec.CompressionLevel, 1, 19));
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("TRUE", true)]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    [InlineData("on", true)]
    [InlineData("false", false)]
    [InlineData("0", false)]
    [InlineData("no", false)]
    [InlineData("Off", false)]
    public void ParsesSwitches(string value, bool expected)
    {
        Assert.Equal(expected, Settings.Resolve(Flags(), Env(("WALSHIP_PATH_STYLE", value))).GetSwitch(OptionSpec.PathStyle));
    }

    [Fact]
    public void RejectsBadSwitch()
    {
        var settings = Settings.Resolve(Flags(), Env(("WALSHIP_PATH_STYLE", "maybe")));
        Assert.Throws<UsageException>(() => settings.GetSwitch(OptionSpec.PathStyle));
    }

    [Fact]
    public void GetChoiceIsCaseInsensitiveAndRejectsOthers()
    {
        Assert.Equal(2, Settings.Resolve(Flags(("log-format", "JSON")), Env()).GetChoice(OptionSpec.LogFormat, ("text", 1), ("json", 2)));
        var e = Assert.Throws<UsageException>(() =>
            Settings.Resolve(Flags(("log-format", "xml")), Env()).GetChoice(OptionSpec.LogFormat, ("text", 1), ("json", 2)));
        Assert.Contains("text, json", e.Message);
    }

    [Fact]
    public void EveryOptionHasAWalshipVariable()
    {
        Assert.Equal("WALSHIP_USE_INSTANCE_METADATA", OptionSpec.UseInstanceMetadata.EnvironmentVariable);
        Assert.Equal("WALSHIP_PGDATA", OptionSpec.PgData.EnvironmentVariable);
        Assert.Equal(OptionSpec.All.Length, OptionSpec.All.Select(o => o.Name).Distinct().Count());
        foreach (var spec in OptionSpec.All)
            Assert.Same(spec, OptionSpec.Find(spec.Name));
        Assert.Null(OptionSpec.Find("Repo"));
        Assert.Null(OptionSpec.Find("compression_level"));
    }

    // ---- command line ----

    [Fact]
    public void ParsesPushCommandLine()
    {
        var line = CommandLine.Parse(["push", "pg_wal/000000010000000000000001", "000000010000000000000001"]);
        Assert.Equal("push", line.Command);
        Assert.Equal(new[] { "pg_wal/000000010000000000000001", "000000010000000000000001" }, line.Arguments);
        Assert.Empty(line.Flags);
        Assert.False(line.Help);
        Assert.False(line.Version);
    }

    [Fact]
    public void ParsesOptionsInBothSpellingsAnywhere()
    {
        var line = CommandLine.Parse(["--repo=s3://b/p", "fetch", "--region", "eu-west-1", "00000002.history", "--path-style", "pg_wal/RECOVERYHISTORY"]);
        Assert.Equal("fetch", line.Command);
        Assert.Equal(new[] { "00000002.history", "pg_wal/RECOVERYHISTORY" }, line.Arguments);
        Assert.Equal("s3://b/p", line.Flags["repo"]);
        Assert.Equal("eu-west-1", line.Flags["region"]);
        Assert.Equal("true", line.Flags["path-style"]);
        Assert.Equal(3, line.Flags.Count);
    }

    [Fact]
    public void EqualsSignsInValuesAreKept()
    {
        var line = CommandLine.Parse(["--endpoint=http://h/?a=b", "--path-style=false", "--region="]);
        Assert.Equal("http://h/?a=b", line.Flags["endpoint"]);
        Assert.Equal("false", line.Flags["path-style"]);
        Assert.Equal("", line.Flags["region"]);
    }

    [Fact]
    public void SeparateValueMayStartWithADash()
    {
        var line = CommandLine.Parse(["--profile", "-weird"]);
        Assert.Equal("-weird", line.Flags["profile"]);
        Assert.Null(line.Command);
    }

    [Theory]
    [InlineData("--nope")]
    [InlineData("--nope=1")]
    [InlineData("-x")]
    [InlineData("-repo")]
    [InlineData("--Repo=x")]
    [InlineData("--compression_level=3")]
    [InlineData("---repo=x")]
    public void RejectsUnknownOptions(string option)
    {
        Assert.Throws<UsageException>(() => CommandLine.Parse(["push", option, "a", "b"]));
    }

    [Fact]
    public void MissingValueIsAnError()
    {
        var e = Assert.Throws<UsageException>(() => CommandLine.Parse(["push", "a", "b", "--region"]));
        Assert.Contains("--region", e.Message);
    }

    [Theory]
    [InlineData("--region=a", "--region=b")]
    [InlineData("--region=a", "--region=a")]
    [InlineData("--path-style", "--path-style=false")]
    public void DuplicateOptionIsAnError(string first, string second)
    {
        Assert.Throws<UsageException>(() => CommandLine.Parse(["push", first, "a", second, "b"]));
    }

    [Fact]
    public void DoubleDashEndsOptions()
    {
        var line = CommandLine.Parse(["push", "--region=x", "--", "--region=y", "-h", "--"]);
        Assert.Equal("push", line.Command);
        Assert.Equal(new[] { "--region=y", "-h", "--" }, line.Arguments);
        Assert.Equal("x", line.Flags["region"]);
        Assert.False(line.Help);
    }

    [Fact]
    public void SingleDashIsPositional()
    {
        var line = CommandLine.Parse(["fetch", "-", "x"]);
        Assert.Equal(new[] { "-", "x" }, line.Arguments);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    public void ParsesHelp(string flag)
    {
        var line = CommandLine.Parse(["push", flag]);
        Assert.True(line.Help);
        Assert.False(line.Version);
        Assert.Equal("push", line.Command);
        Assert.Empty(line.Flags);
    }

    [Theory]
    [InlineData("-V")]
    [InlineData("--version")]
    public void ParsesVersion(string flag)
    {
        var line = CommandLine.Parse([flag]);
        Assert.True(line.Version);
        Assert.False(line.Help);
        Assert.Null(line.Command);
    }

    [Fact]
    public void LowerCaseVIsNotVersion()
    {
        Assert.Throws<UsageException>(() => CommandLine.Parse(["-v"]));
    }

    [Fact]
    public void EmptyCommandLine()
    {
        var line = CommandLine.Parse([]);
        Assert.Null(line.Command);
        Assert.Empty(line.Arguments);
        Assert.False(line.Help);
    }
}
