using Microsoft.Extensions.Logging;
using WalShip.Commands;
using WalShip.Commands.Spool;
using WalShip.Storage;

namespace WalShip.Cli;

/// <summary>
/// Where push and fetch meet push-ahead and prefetch: checking a receipt or serving from the spool
/// before the real work, and starting a detached worker after it. Nothing here can turn a call's
/// success into a failure: a worker that cannot start is a warning, and the next call tries again.
/// </summary>
public static class LookAhead
{
    public static readonly CommandEntry PushAheadWorker = new("push-ahead-worker", "push-ahead-worker [options] FILE",
        "internal: push files waiting after FILE", "Started by 'walship push' with --push-ahead; not for use by hand.\n", 1, 1, RunPushAheadWorkerAsync);

    public static readonly CommandEntry PrefetchWorker = new("prefetch-worker", "prefetch-worker [options] FILE",
        "internal: prefetch the segments after FILE", "Started by 'walship fetch' with --prefetch; not for use by hand.\n", 1, 1, RunPrefetchWorkerAsync);

    private static SpoolDirectory? Spool(Settings settings, string dataDirectory, ILogger logger, bool create)
    {
        string? path = SpoolDirectory.Locate(settings.Get(OptionSpec.SpoolDir), dataDirectory, Environment.GetEnvironmentVariable, out ulong cluster, out string? problem);
        if (path is null)
        {
            if (create)
                logger.LogWarning("push-ahead/prefetch disabled for this call: {Problem}", problem);
            return null;
        }
        return create ? SpoolDirectory.Create(path, cluster) : SpoolDirectory.OpenExisting(path, cluster);
    }

    /// <summary>True when a push-ahead receipt proves the file archived (see <see cref="Commands.Spool.PushAhead"/>).</summary>
    public static async Task<bool> AcceptReceiptAsync(string walPath, string fileName, Settings settings, Repository repository, ILogger logger, CancellationToken token)
    {
        var (fullPath, dataDirectory) = WalPaths.Resolve(walPath, settings.Get(OptionSpec.PgData));
        if (Path.GetFileName(fullPath) != fileName || Spool(settings, dataDirectory, logger, create: false) is not { } spool)
            return false;
        try
        {
            return await new PushAhead(spool, repository, logger).TryAcceptReceiptAsync(fullPath, fileName, token);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StorageException && !token.IsCancellationRequested)
        {
            // A receipt can only save work; whatever goes wrong checking one, the file is pushed normally.
            logger.LogWarning("push {File}: could not check its push-ahead receipt ({Message}); pushing it normally", fileName, e.Message);
            return false;
        }
    }

    /// <summary>Checks the look-ahead options before a call does anything: a bad value found only after a
    /// push had stored its file would fail every retry of it and stall the archiver.</summary>
    public static void ValidateOptions(Settings settings)
    {
        settings.GetInt(OptionSpec.PushAhead, 0, 1000);
        settings.GetSize(OptionSpec.PushAheadBytes, 1L << 20, 1L << 40);
        settings.GetInt(OptionSpec.Prefetch, 0, 1000);
        settings.GetSize(OptionSpec.PrefetchBytes, 1L << 20, 1L << 40);
    }

    /// <summary>After a successful push: start a push-ahead worker when files wait and none runs.</summary>
    public static void AfterPush(string walPath, string fileName, Settings settings, IReadOnlyDictionary<string, string> flags, ILogger logger)
    {
        if (settings.GetInt(OptionSpec.PushAhead, 0, 1000) == 0)
            return;
        var (_, dataDirectory) = WalPaths.Resolve(walPath, settings.Get(OptionSpec.PgData));
        if (!PushAhead.HasWork(null, dataDirectory, fileName))
            return;
        Launch(PushAheadWorker, fileName, dataDirectory, settings, flags, logger, PushAhead.LockName, spool => PushAhead.HasWork(spool, dataDirectory, fileName));
    }

    /// <summary>Serves the file from the prefetch spool when a verified entry is there; no S3 client is built.</summary>
    public static bool TryServePrefetched(string fileName, string fullPath, string dataDirectory, Settings settings, ILogger logger)
    {
        if (!Prefetch.AppliesTo(fileName, fullPath) || Spool(settings, dataDirectory, logger, create: false) is not { } spool)
            return false;
        return Prefetch.TryServe(spool, settings.Get(OptionSpec.Repo)!, fileName, fullPath, logger);
    }

    /// <summary>After a successful fetch for recovery: start a prefetch worker unless one runs, or unless
    /// the spool is still more than half full. A worker pays its own start, a repository session and a
    /// look at the timeline history before its first download; refilling half the spool at a time spreads
    /// that over several segments instead of one per served call, while the other half keeps recovery
    /// fed.</summary>
    public static void AfterFetch(string fileName, string fullPath, string dataDirectory, Settings settings, IReadOnlyDictionary<string, string> flags, ILogger logger)
    {
        int maxFiles = settings.GetInt(OptionSpec.Prefetch, 0, 1000);
        if (maxFiles == 0 || !Prefetch.AppliesTo(fileName, fullPath))
            return;
        Launch(PrefetchWorker, fileName, dataDirectory, settings, flags, logger, Prefetch.LockName,
            spool => Prefetch.EntriesAhead(spool, fileName) * 2 <= maxFiles);
    }

    private static void Launch(CommandEntry worker, string fileName, string dataDirectory, Settings settings,
        IReadOnlyDictionary<string, string> flags, ILogger logger, string lockName, Func<SpoolDirectory, bool> worthIt)
    {
        try
        {
            if (Spool(settings, dataDirectory, logger, create: true) is not { } spool)
                return;
            // Held from here into the worker, which inherits it: a check that only looked would leave a gap
            // until the worker locks for itself, in which the next call starts a second worker.
            using var held = spool.TryLock(lockName);
            if (held is null || !worthIt(spool))
                return;
            var arguments = new List<string> { worker.Name, fileName, $"--{OptionSpec.PgData.Name}={dataDirectory}" };
            foreach (var (flag, value) in flags)
                if (flag != OptionSpec.PgData.Name)
                    arguments.Add($"--{flag}={value}");
            int pid = SelfLauncher.StartDetached(arguments, spool.WorkerLogPath, held);
            logger.LogDebug("{Worker} started (pid {Pid}), log {Log}", worker.Name, pid, spool.WorkerLogPath);
        }
        catch (Exception e)
        {
            // The call itself has succeeded; a worker is only ever an optimisation.
            logger.LogWarning("{Worker} not started: {Message}", worker.Name, e.Message);
        }
    }

    private static async Task<int> RunPushAheadWorkerAsync(Invocation call)
    {
        var (settings, logger) = (call.Settings, call.Logger);
        var deadline = WorkerDeadline(settings);
        string dataDirectory = settings.Get(OptionSpec.PgData) ?? throw new UsageException("push-ahead-worker needs --pgdata");
        if (Spool(settings, dataDirectory, logger, create: true) is not { } spool)
            return ExitCodes.Ok;
        using var repository = RepositoryOpener.OpenForWal(settings, logger, deadline);
        return await new PushAhead(spool, repository, logger).RunWorkerAsync(dataDirectory, call.Arguments[0],
            settings.GetInt(OptionSpec.PushAhead, 0, 1000), settings.GetSize(OptionSpec.PushAheadBytes, 1L << 20, 1L << 40),
            settings.GetInt(OptionSpec.CompressionLevel, 1, 19), settings.GetInt(OptionSpec.CompressionThreads, 1, 64), ProcessGuard.Token);
    }

    private static async Task<int> RunPrefetchWorkerAsync(Invocation call)
    {
        var (settings, logger) = (call.Settings, call.Logger);
        var deadline = WorkerDeadline(settings);
        string dataDirectory = settings.Get(OptionSpec.PgData) ?? throw new UsageException("prefetch-worker needs --pgdata");
        if (Spool(settings, dataDirectory, logger, create: true) is not { } spool)
            return ExitCodes.Ok;
        using var repository = RepositoryOpener.OpenForWal(settings, logger, deadline);
        return await Prefetch.RunWorkerAsync(spool, repository, call.Arguments[0],
            settings.GetInt(OptionSpec.Prefetch, 0, 1000), settings.GetSize(OptionSpec.PrefetchBytes, 1L << 20, 1L << 40), logger, ProcessGuard.Token);
    }

    /// <summary>A worker gets --deadline for its whole batch, like one push or fetch: a stuck S3 endpoint
    /// can hold it no longer than it would hold PostgreSQL's own call, and whatever it did not finish
    /// PostgreSQL's calls do themselves.</summary>
    private static TimeSpan WorkerDeadline(Settings settings)
    {
        var deadline = settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));
        ProcessGuard.SetDeadline(deadline);
        return deadline;
    }
}
