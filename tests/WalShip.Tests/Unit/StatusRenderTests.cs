using System.Text.Json;
using WalShip.Commands.Status;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>The three views of a status report agree, and the machine ones follow their formats.</summary>
public sealed class StatusRenderTests
{
    private static StatusReport Behind()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_764_100_000);
        var report = new StatusReport { Time = now, BacklogWarn = 4, DataDirectory = "/var/lib/postgresql/15/main", Status = "behind", PgVersion = "15" };
        report.Server.Connected = true;
        report.Server.Target = "/var/run/postgresql:5432/postgres";
        report.Server.InRecovery = false;
        report.Server.ArchiveMode = "on";
        report.Server.ArchiveCommand = "walship push %p %f";
        report.Server.SettingsFrom = "server";
        report.Server.WalSegmentSize = 16 << 20;
        report.Server.Timeline = 1;
        report.Archiver = new ArchiverSection { ArchivedCount = 40, LastArchivedWal = "000000010000000000000010", LastArchivedTime = now.AddMinutes(-10), FailedCount = 3, LastFailedWal = "000000010000000000000011", LastFailedTime = now.AddSeconds(-5) };
        report.ArchiveStatus = new ArchiveStatusSection { ReadyCount = 5, DoneCount = 2, OldestReady = "000000010000000000000011", OldestReadySince = now.AddMinutes(-9), OldestReadyAgeSeconds = 540 };
        report.Repository.Url = "s3://bucket/prod";
        report.Repository.LastSegment = "000000010000000000000010";
        report.Lag = new LagSection { Segments = 5, Bytes = 5L << 24, Seconds = 540 };
        report.Warnings.Add("archiving is behind: 5 WAL files wait to be archived");
        return report;
    }

    [Fact]
    public void OpenMetrics_IsValid_AndCarriesTheNumbers()
    {
        var families = PrometheusTextParser.Parse(StatusRender.OpenMetrics(Behind()), openMetrics: true);
        Assert.Equal(5, families["walship_archive_ready_files"].Samples.Values.Single());
        Assert.Equal(540, families["walship_lag_seconds"].Samples.Values.Single());
        Assert.Equal(1, families["walship_status_behind"].Samples.Values.Single());
        Assert.Equal("counter", families["walship_archiver_archived"].Type);
        Assert.Equal(40, families["walship_archiver_archived"].Samples["walship_archiver_archived_total{role=\"primary\"}"]);
        Assert.Equal(1, families["walship_status_up"].Samples["walship_status_up{component=\"server\"}"]);
    }

    [Fact]
    public void Json_HasTheDocumentedSchema()
    {
        var root = JsonDocument.Parse(Behind().ToJson()).RootElement;
        foreach (string field in new[] { "format", "time", "role", "status", "backlog_warn", "data_directory", "pg_version", "server", "archiver", "archive_status", "repository", "lag", "standby", "warnings" })
            Assert.True(root.TryGetProperty(field, out _), $"missing {field}");
        Assert.Equal(1, root.GetProperty("format").GetInt32());
        Assert.Equal("behind", root.GetProperty("status").GetString());
        Assert.Equal(5, root.GetProperty("archive_status").GetProperty("ready_count").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("standby").ValueKind);
    }

    [Fact]
    public void Text_FitsOneScreen_AndSaysBehind()
    {
        string text = StatusRender.Text(Behind());
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.InRange(lines.Length, 5, 24);
        Assert.Contains("5 .ready, oldest 000000010000000000000011 waiting 9 min", text);
        Assert.Contains("WARNING: archiving is behind", text);
        Assert.EndsWith("BEHIND (--backlog-warn 4)\n", text);
    }
}
