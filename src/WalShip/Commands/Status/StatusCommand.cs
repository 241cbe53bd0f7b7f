using WalShip.Commands.Postgres;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Status;

/// <summary>What to look at: a data directory, a connection string (either or both), and the warning threshold.</summary>
public sealed record StatusOptions(string? DataDirectory, string? ConnectionString, int BacklogWarn);

/// <summary>
/// `walship status`: how far archiving (on a primary) or the archive (for a standby) stands from the server,
/// from the data directory, the server's own statistics and a few existence probes in the repository. It
/// never lists the archive: it probes segment names forward from one it knows, so it costs a handful of
/// HEAD requests whatever the archive's size.
/// </summary>
public sealed class StatusCommand(Repository repository)
{
    /// <summary>status exits with this when the backlog reached --backlog-warn (and nothing failed).</summary>
    public const int BehindExitCode = ExitCodes.Behind;

    /// <summary>Existence probes per walk; beyond it the archive is reported as "at least" that far ahead.</summary>
    public const int MaxProbes = 256;

    private const uint DefaultSegmentSize = 16 << 20;

    /// <summary>The first failure that kept status from seeing something it was asked to look at.</summary>
    public ErrorClass? Failure { get; private set; }

    public async Task<StatusReport> GatherAsync(StatusOptions options, CancellationToken cancellationToken)
    {
        DataDirectory? data = options.DataDirectory is null ? null : new DataDirectory(options.DataDirectory);
        var report = new StatusReport { Time = DateTimeOffset.UtcNow, BacklogWarn = options.BacklogWarn, DataDirectory = data?.Path };
        report.Repository.Url = repository.Url;

        ArchiveStatusSummary? archiveStatus = null;
        if (data is not null)
        {
            try
            {
                data.EnsureExists();
            }
            catch (Exception e) when (e is IOException)
            {
                throw new StorageException(ErrorClass.Usage, e.Message, e);
            }
            report.PgVersion = data.ReadMajorVersion();
            report.Role = RoleName(data.ReadRole());
            archiveStatus = data.ReadArchiveStatus();
            report.ArchiveStatus = new ArchiveStatusSection
            {
                ReadyCount = archiveStatus.ReadyCount,
                DoneCount = archiveStatus.DoneCount,
                OldestReady = archiveStatus.OldestReady,
                OldestReadySince = archiveStatus.OldestReadySince,
                OldestReadyAgeSeconds = archiveStatus.OldestReadySince is { } since ? Math.Max(0, Math.Round((report.Time - since).TotalSeconds, 1)) : null,
                NewestDone = archiveStatus.NewestDone,
            };
        }

        var (wal, archiver) = await ReadServerAsync(report, data, options.ConnectionString, cancellationToken);
        if (!report.Server.Connected && data is not null)
            ReadSettingsFromFiles(report, data);

        uint segmentSize = wal?.WalSegmentSize ?? DefaultSegmentSize;
        try
        {
            var manifest = await repository.ReadManifestAsync(cancellationToken);
            report.Repository.Bound = manifest is not null;
            if (manifest is null)
                report.Warnings.Add($"repository {repository.Url} has no walship.json: nothing was ever pushed to it (is --repo the repository archive_command uses?)");
            else if (wal is null && manifest.WalSegmentSize != 0)
                segmentSize = manifest.WalSegmentSize;

            if (report.Role == RoleName(ServerRole.Primary))
                await ProbePrimaryAsync(report, wal, archiver, archiveStatus, segmentSize, cancellationToken);
            else
                await ProbeStandbyAsync(report, wal, archiveStatus, segmentSize, cancellationToken);
        }
        catch (StorageException e) when (e.Class is not ErrorClass.Usage and not ErrorClass.Interrupted)
        {
            report.Repository.Error = e.Message;
            Failure ??= e.Class;
        }

        if (report.Role == RoleName(ServerRole.Primary))
            WarnAboutArchiving(report);
        return report;
    }

    /// <summary>0 all well; 11 behind; a failure's usual exit code when the server or repository could not be read.</summary>
    public int ExitCode(StatusReport report) =>
        Failure is { } failure ? ExitCodes.For(failure) : report.Status == "behind" ? BehindExitCode : ExitCodes.Ok;

    private static string RoleName(ServerRole role) => role switch
    {
        ServerRole.Standby => "standby",
        ServerRole.ArchiveRecovery => "archive_recovery",
        _ => "primary",
    };

    private async Task<(ServerWalState? Wal, ArchiverStats? Archiver)> ReadServerAsync(StatusReport report, DataDirectory? data, string? connectionString, CancellationToken cancellationToken)
    {
        bool explicitConnection = connectionString is not null;
        if (connectionString is null)
        {
            // Without --connection: the server running in the data directory, through its own socket.
            if (data?.ReadPostmaster() is not { IsAlive: true } postmaster)
            {
                if (data is not null)
                    report.Server.Error = "no server is running in the data directory (no live postmaster.pid)";
                return (null, null);
            }
            string host = postmaster.SocketDirectory
                          ?? (postmaster.ListenAddress is { Length: > 0 } listen && listen != "*" ? listen.Split(',')[0].Trim() : "127.0.0.1");
            connectionString = $"host='{host.Replace("\\", "\\\\").Replace("'", "\\'")}' port={postmaster.Port} dbname=postgres";
        }
        try
        {
            await using var client = await PostgresClient.ConnectAsync(connectionString, cancellationToken);
            report.Server.Target = client.Target;
            var wal = await client.ReadWalStateAsync(cancellationToken);
            var archiver = await client.ReadArchiverAsync(cancellationToken);
            report.Server.Connected = true;
            report.Server.InRecovery = wal.InRecovery;
            report.Server.VersionNum = wal.ServerVersionNumber;
            report.Server.WalSegmentSize = wal.WalSegmentSize;
            report.Server.Timeline = wal.Timeline;
            report.Server.CurrentLsn = wal.CurrentLsn?.ToString();
            report.Server.CurrentWalFile = wal.CurrentWalFile;
            report.Server.ArchiveMode = await client.ShowAsync("archive_mode", cancellationToken);
            report.Server.ArchiveCommand = await client.ShowAsync("archive_command", cancellationToken);
            report.Server.RestoreCommand = await client.ShowAsync("restore_command", cancellationToken);
            report.Server.SettingsFrom = "server";
            report.PgVersion ??= (wal.ServerVersionNumber / 10000).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (wal.InRecovery && report.Role == RoleName(ServerRole.Primary))
                report.Role = RoleName(ServerRole.Standby);
            else if (!wal.InRecovery)
                report.Role = RoleName(ServerRole.Primary);
            report.Archiver = new ArchiverSection
            {
                ArchivedCount = archiver.ArchivedCount,
                LastArchivedWal = archiver.LastArchivedWal,
                LastArchivedTime = archiver.LastArchivedTime,
                FailedCount = archiver.FailedCount,
                LastFailedWal = archiver.LastFailedWal,
                LastFailedTime = archiver.LastFailedTime,
            };
            return (wal, archiver);
        }
        catch (StorageException e) when (e.Class is not ErrorClass.Interrupted)
        {
            report.Server.Error = e.Message;
            if (explicitConnection)
                Failure ??= e.Class;
            else
                report.Warnings.Add($"could not connect to the server running in the data directory ({e.Message}); give --connection for the archiver's statistics and WAL positions");
            return (null, null);
        }
    }

    private static void ReadSettingsFromFiles(StatusReport report, DataDirectory data)
    {
        try
        {
            var config = data.ReadConfig();
            report.Server.ArchiveMode = config.Get("archive_mode") ?? "off";
            report.Server.ArchiveCommand = config.Get("archive_command") ?? "";
            report.Server.RestoreCommand = config.Get("restore_command") ?? "";
            report.Server.SettingsFrom = "config";
        }
        catch (PostgresConfigException e)
        {
            report.Warnings.Add($"the server would refuse its configuration: {e.Message}");
        }
    }

    private async Task ProbePrimaryAsync(StatusReport report, ServerWalState? wal, ArchiverStats? archiver, ArchiveStatusSummary? archiveStatus,
        uint segmentSize, CancellationToken cancellationToken)
    {
        // Start from the newest segment the server knows it archived; else the newest marked done; else just
        // before the oldest waiting one.
        string? start = SegmentOf(archiver?.LastArchivedWal) ?? archiveStatus?.NewestDone;
        if (start is null && SegmentOf(archiveStatus?.OldestReady) is { } oldestReady)
        {
            var first = WalFileName.Parse(oldestReady);
            ulong number = first.SegmentNumber(segmentSize);
            if (number > 0)
                start = WalFileName.SegmentName(first.Timeline, number - 1, segmentSize);
        }

        if (start is not null)
        {
            report.Repository.ProbedFrom = start;
            if (await ExistsAsync(start, report, cancellationToken))
            {
                var (last, _, _) = await WalkForwardAsync(start, segmentSize, report, cancellationToken);
                report.Repository.LastSegment = last;
            }
            else if (archiver?.LastArchivedWal is not null)
            {
                report.Warnings.Add($"the server reports {archiver.LastArchivedWal} archived, but {repository.Url} does not hold it: is --repo the repository archive_command uses?");
            }
        }

        int ready = archiveStatus?.ReadyCount ?? 0;
        long? segments = null, bytes = null;
        if (wal?.CurrentWalFile is { } current && wal.CurrentLsn is { } currentLsn && report.Repository.LastSegment is { } lastInRepository
            && WalFileName.Parse(current).Timeline == WalFileName.Parse(lastInRepository).Timeline)
        {
            ulong currentNumber = WalFileName.Parse(current).SegmentNumber(segmentSize);
            ulong lastNumber = WalFileName.Parse(lastInRepository).SegmentNumber(segmentSize);
            segments = currentNumber > lastNumber ? (long)(currentNumber - lastNumber - 1) : 0;
            ulong archivedEnd = (lastNumber + 1) * segmentSize;
            bytes = currentLsn.Value > archivedEnd ? (long)(currentLsn.Value - archivedEnd) : 0;
        }
        else if (archiveStatus is not null)
        {
            segments = ready;
            bytes = (long)ready * segmentSize;
        }

        double? seconds = null;
        if (report.ArchiveStatus is { } status)
            seconds = status.OldestReadyAgeSeconds ?? 0;
        else if (segments is > 0 && archiver?.LastArchivedTime is { } lastArchived)
            seconds = Math.Max(0, Math.Round((report.Time - lastArchived).TotalSeconds, 1));
        else if (segments == 0)
            seconds = 0;

        if (segments is not null)
            report.Lag = new LagSection { Segments = segments.Value, Bytes = bytes, Seconds = seconds };

        long backlog = archiveStatus is not null ? ready : segments ?? 0;
        if (backlog >= report.BacklogWarn)
        {
            report.Status = "behind";
            report.Warnings.Add($"archiving is behind: {backlog} WAL files wait to be archived (--backlog-warn {report.BacklogWarn})" +
                                (seconds is > 0 ? $", the oldest for {Duration(seconds.Value)}" : "") +
                                "; pg_wal grows until archive_command succeeds again");
        }
    }

    private async Task ProbeStandbyAsync(StatusReport report, ServerWalState? wal, ArchiveStatusSummary? archiveStatus,
        uint segmentSize, CancellationToken cancellationToken)
    {
        string? replaySegment = wal?.LastReplayLsn is { } replay ? replay.SegmentNameBefore(wal.Timeline, segmentSize) : archiveStatus?.NewestDone;
        var standby = new StandbySection
        {
            ReceiveLsn = wal?.LastReceiveLsn?.ToString(),
            ReplayLsn = wal?.LastReplayLsn?.ToString(),
            ReplayWalFile = replaySegment,
            LastReplayTime = wal?.LastReplayTime,
        };
        report.Standby = standby;
        if (replaySegment is null)
        {
            report.Warnings.Add("the replay position is unknown: give --connection (or --pgdata of a running standby)");
            return;
        }

        report.Repository.ProbedFrom = replaySegment;
        var (last, ahead, atLeast) = await WalkForwardAsync(replaySegment, segmentSize, report, cancellationToken);
        report.Repository.LastSegment = ahead > 0 ? last : await ExistsAsync(replaySegment, report, cancellationToken) ? replaySegment : null;
        standby.ArchiveAheadSegments = ahead;
        standby.ArchiveAheadAtLeast = atLeast;

        uint timeline = WalFileName.Parse(replaySegment).Timeline;
        for (uint next = timeline + 1; next <= timeline + 8; next++)
        {
            var history = WalFileName.Parse($"{next:X8}.history");
            report.Repository.Probes++;
            if (await repository.Store.GetLengthAsync(repository.Layout.KeyFor(history), cancellationToken) is null)
                break;
            report.Repository.NewerTimelines.Add(next);
        }
        if (report.Repository.NewerTimelines.Count > 0)
            report.Warnings.Add($"the repository holds timeline {report.Repository.NewerTimelines[^1]} (a promotion happened): " +
                                "the standby follows it only with recovery_target_timeline = 'latest' (the default) and that timeline's history file");

        double? seconds = ahead == 0 ? 0 : wal?.LastReplayTime is { } replayed ? Math.Max(0, Math.Round((report.Time - replayed).TotalSeconds, 1)) : null;
        report.Lag = new LagSection { Segments = ahead, Bytes = ahead * (long)segmentSize, Seconds = seconds };
        if (ahead >= report.BacklogWarn)
        {
            report.Status = "behind";
            report.Warnings.Add($"the standby is behind the archive: {(atLeast ? "at least " : "")}{ahead} segments after {replaySegment} are archived " +
                                $"but not replayed (--backlog-warn {report.BacklogWarn}); check restore_command and the server log");
        }
    }

    private static void WarnAboutArchiving(StatusReport report)
    {
        if (report.Server.ArchiveMode is "off")
            report.Warnings.Add("archive_mode is off: PostgreSQL archives nothing");
        else if (report.Server.ArchiveCommand is { } command && !command.Contains("walship", StringComparison.Ordinal) && report.Server.ArchiveMode is not null)
            report.Warnings.Add($"archive_command does not run walship: '{command}'");
        if (report.Archiver is { FailedCount: > 0, LastFailedTime: { } failed } archiver && (archiver.LastArchivedTime is not { } archived || failed > archived))
            report.Warnings.Add($"the archiver's last attempt failed ({archiver.LastFailedWal} at {failed.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z, {archiver.FailedCount} failures since the statistics were reset): see the server log for walship's error line");
    }

    /// <summary>The segment a status-file or archiver name refers to: itself, or the segment of a .partial or .backup.</summary>
    private static string? SegmentOf(string? name) =>
        WalFileName.TryParse(name, out var parsed) && parsed.Kind != WalFileKind.History ? parsed.SegmentPart : null;

    private async Task<bool> ExistsAsync(string segment, StatusReport report, CancellationToken cancellationToken)
    {
        report.Repository.Probes++;
        return await repository.Store.GetLengthAsync(repository.Layout.KeyFor(WalFileName.Parse(segment)), cancellationToken) is not null;
    }

    /// <summary>Probes start+1, start+2, ... on start's timeline until one is absent or the probe limit is reached.</summary>
    private async Task<(string Last, long Found, bool AtLimit)> WalkForwardAsync(string start, uint segmentSize, StatusReport report, CancellationToken cancellationToken)
    {
        var first = WalFileName.Parse(start);
        ulong number = first.SegmentNumber(segmentSize);
        string last = start;
        for (int i = 1; i <= MaxProbes; i++)
        {
            string next = WalFileName.SegmentName(first.Timeline, number + (ulong)i, segmentSize);
            if (!await ExistsAsync(next, report, cancellationToken))
                return (last, i - 1, false);
            last = next;
        }
        return (last, MaxProbes, true);
    }

    public static string Duration(double seconds) => seconds switch
    {
        < 120 => $"{seconds:0} s",
        < 7200 => $"{seconds / 60:0} min",
        < 172800 => $"{seconds / 3600:0.#} h",
        _ => $"{seconds / 86400:0.#} days",
    };
}
