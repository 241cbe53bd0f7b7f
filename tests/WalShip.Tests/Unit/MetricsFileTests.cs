using Microsoft.Extensions.Logging.Abstractions;
using WalShip.Commands.Metrics;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>--metrics-file: valid Prometheus text, counters that add up under concurrent writers, never a failed run.</summary>
public sealed class MetricsFileTests : IDisposable
{
    private readonly TestTempDir _dir = TestPaths.CreateTempDir("walship-unit-metrics-");

    public void Dispose() => _dir.Dispose();

    private static RunRecord Run(string command, string outcome, long? bytes = 16 << 20, int exitCode = 0, double seconds = 0.25) =>
        new(command, outcome, exitCode, TimeSpan.FromSeconds(seconds), bytes, DateTimeOffset.FromUnixTimeSeconds(1_764_100_000));

    [Fact]
    public void Records_ParseAsPrometheusText_WithCountersByOutcome()
    {
        var file = new MetricsFile(_dir.Combine("walship.prom"));
        file.Record(Run("push", "ok"));
        file.Record(Run("push", "ok", seconds: 0.5));
        file.Record(Run("push", "transient", exitCode: 5));
        file.Record(Run("fetch", "absent", bytes: null, exitCode: 1));
        file.Record(Run("fetch", "ok", bytes: 1000));

        var families = PrometheusTextParser.Parse(File.ReadAllText(file.Path));
        var runs = families["walship_runs_total"];
        Assert.Equal("counter", runs.Type);
        Assert.Equal(2, runs.Samples["walship_runs_total{command=\"push\",outcome=\"ok\"}"]);
        Assert.Equal(1, runs.Samples["walship_runs_total{command=\"push\",outcome=\"transient\"}"]);
        Assert.Equal(1, runs.Samples["walship_runs_total{command=\"fetch\",outcome=\"absent\"}"]);
        Assert.Equal(2L * (16 << 20), families["walship_bytes_total"].Samples["walship_bytes_total{command=\"push\"}"]);
        Assert.Equal(1000, families["walship_bytes_total"].Samples["walship_bytes_total{command=\"fetch\"}"]);
        Assert.Equal(0.25, families["walship_last_duration_seconds"].Samples["walship_last_duration_seconds{command=\"push\"}"]);
        Assert.Equal(5, families["walship_last_exit_code"].Samples["walship_last_exit_code{command=\"push\"}"]);
        Assert.Equal(1_764_100_000, families["walship_last_success_timestamp_seconds"].Samples["walship_last_success_timestamp_seconds{command=\"fetch\"}"]);
        Assert.All(families.Values, family => Assert.False(string.IsNullOrEmpty(family.Help)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(file.Path));
        Assert.Equal(["walship.prom", "walship.prom.lock"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void LastSuccess_IsNotMovedByAFailure()
    {
        var file = new MetricsFile(_dir.Combine("walship.prom"));
        file.Record(Run("push", "ok"));
        file.Record(new RunRecord("push", "auth", 4, TimeSpan.FromSeconds(1), null, DateTimeOffset.FromUnixTimeSeconds(1_764_200_000)));
        var families = PrometheusTextParser.Parse(File.ReadAllText(file.Path));
        Assert.Equal(1_764_100_000, families["walship_last_success_timestamp_seconds"].Samples["walship_last_success_timestamp_seconds{command=\"push\"}"]);
        Assert.Equal(1_764_200_000, families["walship_last_run_timestamp_seconds"].Samples["walship_last_run_timestamp_seconds{command=\"push\"}"]);
    }

    [Fact]
    public async Task ConcurrentWriters_LoseNoUpdate()
    {
        string path = _dir.Combine("walship.prom");
        const int writers = 6, each = 20;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < each; i++)
                new MetricsFile(path).Record(Run(w % 2 == 0 ? "push" : "fetch", "ok", bytes: 1));
        })));
        var families = PrometheusTextParser.Parse(File.ReadAllText(path));
        Assert.Equal(writers * each, families["walship_runs_total"].Samples.Values.Sum());
        Assert.Equal(writers * each, families["walship_bytes_total"].Samples.Values.Sum());
    }

    [Fact]
    public void ForeignOrBrokenLines_AreDropped_NotFatal()
    {
        string path = _dir.Combine("walship.prom");
        File.WriteAllText(path, "garbage line\nother_metric 5\nwalship_runs_total{command=\"push\",outcome=\"ok\"} 41\n");
        new MetricsFile(path).Record(Run("push", "ok"));
        var families = PrometheusTextParser.Parse(File.ReadAllText(path));
        Assert.Equal(42, families["walship_runs_total"].Samples["walship_runs_total{command=\"push\",outcome=\"ok\"}"]);
        Assert.False(families.ContainsKey("other_metric"));
    }

    [Fact]
    public void TryRecord_NeverThrows_WhenTheFileCannotBeWritten()
    {
        MetricsFile.TryRecord(_dir.Combine("no-such-dir", "walship.prom"), Run("push", "ok"), NullLogger.Instance);
        Assert.False(Directory.Exists(_dir.Combine("no-such-dir")));
    }

    [Theory]
    [InlineData("walship_runs_total{command=\"push\",outcome=\"ok\"} 3", "walship_runs_total", 3)]
    [InlineData("walship_last_duration_seconds{command=\"a\\\"b\\\\c\"} 0.5", "walship_last_duration_seconds", 0.5)]
    [InlineData("plain 1e3", "plain", 1000)]
    public void ParseSample_ReadsWhatRenderWrites(string line, string name, double value)
    {
        var sample = MetricsFile.ParseSample(line)!.Value;
        Assert.Equal(name, sample.Name);
        Assert.Equal(value, sample.Value);
        Assert.Equal(line[..line.LastIndexOf(' ')], sample.Series);
    }

    [Theory]
    [InlineData("walship_x 1", false)]
    [InlineData("# HELP walship_x x\n# TYPE walship_x gauge\nwalship_x 1\n", true)]
    [InlineData("# TYPE walship_x gauge\nwalship_x{a=\"1\"} 1\nwalship_x{a=\"1\"} 2\n", false)]
    [InlineData("# TYPE walship_x gauge\nwalship_x{a=1} 1\n", false)]
    [InlineData("# TYPE walship_x gauge\n# TYPE walship_y gauge\nwalship_x 1\n", false)]
    [InlineData("# TYPE walship_x counter\nwalship_x -1\n", false)]
    [InlineData("walship_x 1\n", false)]
    public void TheTestParser_IsStrict(string text, bool valid)
    {
        if (valid)
            PrometheusTextParser.Parse(text);
        else
            Assert.ThrowsAny<FormatException>(() => PrometheusTextParser.Parse(text));
    }
}
