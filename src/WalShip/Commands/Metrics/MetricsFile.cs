using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace WalShip.Commands.Metrics;

/// <summary>What one push or fetch did, for the metrics file.</summary>
public sealed record RunRecord(string Command, string Outcome, int ExitCode, TimeSpan Duration, long? Bytes, DateTimeOffset Finished)
{
    public bool Succeeded => Outcome is MetricsFile.OutcomeOk or MetricsFile.OutcomeAbsent;
}

/// <summary>
/// A Prometheus textfile-collector file (--metrics-file) that every push and fetch updates: counters by command
/// and outcome, bytes, the last run's duration and exit code, and when the command last succeeded. Many walship
/// processes may finish at once, so each update is a read-modify-write under an exclusive lock on FILE.lock,
/// written to a temporary file and renamed over FILE: node_exporter never reads a half-written file, and no
/// update is lost. Neither name ends in .prom, so the collector ignores them.
/// </summary>
public sealed class MetricsFile(string path)
{
    public const string OutcomeOk = "ok";
    /// <summary>fetch: the archive proved the file absent (exit 1), which a standby asks about all the time.</summary>
    public const string OutcomeAbsent = "absent";

    public static readonly MetricFamily Runs = new("walship_runs_total", "counter",
        "push and fetch runs by outcome: ok, absent (fetch: proven not in the archive), or the class of the failure.");
    public static readonly MetricFamily Bytes = new("walship_bytes_total", "counter",
        "WAL bytes pushed or fetched by successful runs (file sizes before compression).");
    public static readonly MetricFamily LastDuration = new("walship_last_duration_seconds", "gauge",
        "How long the last run of the command took.");
    public static readonly MetricFamily LastExitCode = new("walship_last_exit_code", "gauge",
        "Exit code of the last run of the command.");
    public static readonly MetricFamily LastRun = new("walship_last_run_timestamp_seconds", "gauge",
        "When the last run of the command ended (Unix time).");
    public static readonly MetricFamily LastSuccess = new("walship_last_success_timestamp_seconds", "gauge",
        "When a run of the command last succeeded (Unix time).");

    private static readonly MetricFamily[] s_families = [Runs, Bytes, LastDuration, LastExitCode, LastRun, LastSuccess];

    /// <summary>How long an update waits for others to finish theirs before giving up with a warning.</summary>
    public static readonly TimeSpan DefaultLockWait = TimeSpan.FromSeconds(10);

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>Adds one run to the file. Throws on I/O failure or when the lock stays taken; callers that
    /// must not fail use <see cref="TryRecord"/>.</summary>
    public void Record(RunRecord run, TimeSpan? lockWait = null)
    {
        using var lockFile = AcquireLock(lockWait ?? DefaultLockWait);
        var samples = ReadSamples();
        var command = new[] { ("command", run.Command) };
        Add(samples, new MetricSample(Runs.Name, [("command", run.Command), ("outcome", run.Outcome)], 0), 1);
        if (run.Outcome == OutcomeOk && run.Bytes is { } bytes)
            Add(samples, new MetricSample(Bytes.Name, command, 0), bytes);
        Set(samples, new MetricSample(LastDuration.Name, command, Math.Round(run.Duration.TotalSeconds, 6)));
        Set(samples, new MetricSample(LastExitCode.Name, command, run.ExitCode));
        double finished = Math.Round(run.Finished.ToUnixTimeMilliseconds() / 1000.0, 3);
        Set(samples, new MetricSample(LastRun.Name, command, finished));
        if (run.Succeeded)
            Set(samples, new MetricSample(LastSuccess.Name, command, finished));
        Write(samples);
    }

    /// <summary>Records the run, and on any failure logs one warning instead: metrics never fail a push or fetch.</summary>
    public static void TryRecord(string? path, RunRecord run, ILogger logger, TimeSpan? lockWait = null)
    {
        if (string.IsNullOrEmpty(path))
            return;
        try
        {
            new MetricsFile(path).Record(run, lockWait);
        }
        catch (Exception e)
        {
            logger.LogWarning("{Command}: could not update the metrics file {Path}: {Message}", run.Command, path, e.Message);
        }
    }

    private FileStream AcquireLock(TimeSpan lockWait)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive flock on Linux: one updater at a time.
                return new FileStream(Path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (clock.Elapsed < lockWait && File.Exists(Path + ".lock"))
            {
                Thread.Sleep(Random.Shared.Next(1, 10));
            }
        }
    }

    /// <summary>The samples of our families already in the file, by series. Lines of other families, or that do
    /// not parse, are dropped: the file is walship's alone.</summary>
    private Dictionary<string, MetricSample> ReadSamples()
    {
        var samples = new Dictionary<string, MetricSample>(StringComparer.Ordinal);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(Path);
        }
        catch (FileNotFoundException)
        {
            return samples;
        }
        foreach (string line in lines)
        {
            if (line.Length == 0 || line[0] == '#' || ParseSample(line) is not { } sample)
                continue;
            if (s_families.Any(family => family.Name == sample.Name))
                samples[sample.Series] = sample;
        }
        return samples;
    }

    /// <summary>name{a="x",b="y"} value, as <see cref="PrometheusText"/> writes it.</summary>
    internal static MetricSample? ParseSample(string line)
    {
        int space = line.LastIndexOf(' ');
        if (space <= 0 || !double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            return null;
        string series = line[..space];
        int brace = series.IndexOf('{');
        if (brace < 0)
            return new MetricSample(series, [], value);
        if (!series.EndsWith('}'))
            return null;
        var labels = new List<(string, string)>();
        int i = brace + 1;
        while (i < series.Length - 1)
        {
            int equals = series.IndexOf("=\"", i, StringComparison.Ordinal);
            if (equals < 0)
                return null;
            string name = series[i..equals];
            var labelValue = new StringBuilder();
            int j = equals + 2;
            for (; j < series.Length && series[j] != '"'; j++)
            {
                if (series[j] == '\\' && j + 1 < series.Length)
                {
                    j++;
                    labelValue.Append(series[j] == 'n' ? '\n' : series[j]);
                }
                else
                {
                    labelValue.Append(series[j]);
                }
            }
            if (j >= series.Length)
                return null;
            labels.Add((name, labelValue.ToString()));
            i = j + 1;
            if (i < series.Length - 1 && series[i] == ',')
                i++;
        }
        return new MetricSample(series[..brace], labels.ToArray(), value);
    }

    private static void Add(Dictionary<string, MetricSample> samples, MetricSample sample, double amount)
    {
        double current = samples.TryGetValue(sample.Series, out var existing) ? existing.Value : 0;
        samples[sample.Series] = sample with { Value = current + amount };
    }

    private static void Set(Dictionary<string, MetricSample> samples, MetricSample sample) => samples[sample.Series] = sample;

    private void Write(Dictionary<string, MetricSample> samples)
    {
        string text = PrometheusText.Render(
            s_families.Select(family => (family, samples.Values.Where(s => s.Name == family.Name).OrderBy(s => s.Series, StringComparer.Ordinal).AsEnumerable())),
            openMetrics: false);
        string temp = $"{Path}.tmp.{Environment.ProcessId}";
        try
        {
            File.WriteAllText(temp, text);
            // Readable by the node exporter, whatever the archiver's umask.
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(temp, Path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
