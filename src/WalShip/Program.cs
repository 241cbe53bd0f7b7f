using System.Diagnostics;
using Microsoft.Extensions.Logging;
using WalShip.Cli;
using WalShip.Commands;
using WalShip.Commands.Metrics;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip;

public static class Program
{
    private static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(120);

    public static async Task<int> Main(string[] args)
    {
        // Before anything can fail or block: decide what a failure may answer, and arm the guard.
        // For fetch, anything but a proven absence must never read as "not in archive" (exit 1)
        // outside standby mode, so fetch is recognised wherever it stands on the command line.
        bool isFetch = args.Contains("fetch") && !args.Contains("backup"); // backup fetch is an admin command
        ProcessGuard.Install(
            isFetch ? FetchFailureCode(FetchCommand.DetectMode(Directory.GetCurrentDirectory()), OptionSpec.FatalExitCodeDefault) : ExitCodes.Transient,
            EarlyDeadline(args));

        // An unhandled exception would abort the process by a signal, which makes PostgreSQL's archiver
        // FATAL. Turn it into an ordinary exit code instead.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            ProcessGuard.ExitNow($"walship: error: internal error: {(e.ExceptionObject as Exception)?.Message}");

        try
        {
            return await RunAsync(args);
        }
        catch (Exception e) when (e is UsageException || e is StorageException { Class: ErrorClass.Usage })
        {
            Console.Error.WriteLine($"walship: error: {e.Message}");
            return isFetch ? ProcessGuard.FailureCode : ExitCodes.Usage;
        }
    }

    /// <summary>The deadline as far as it can be known without reading anything that might block (the
    /// config file could be a FIFO or a hung NFS mount): --deadline or WALSHIP_DEADLINE, else the default.</summary>
    private static TimeSpan EarlyDeadline(string[] args)
    {
        string? text = Environment.GetEnvironmentVariable(OptionSpec.Deadline.EnvironmentVariable);
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--deadline" && i + 1 < args.Length)
                text = args[i + 1];
            else if (args[i].StartsWith("--deadline=", StringComparison.Ordinal))
                text = args[i]["--deadline=".Length..];
        }
        return text is not null && Settings.TryParseDuration(text, out var deadline) && deadline >= TimeSpan.FromSeconds(1) && deadline <= TimeSpan.FromHours(24)
            ? deadline
            : DefaultDeadline;
    }

    private static async Task<int> RunAsync(string[] args)
    {
        var line = CommandLine.Parse(args);
        if (line.Version)
        {
            Console.Out.WriteLine(BuildInfo.VersionLine);
            return ExitCodes.Ok;
        }
        if (line.Help || line.Command is null or "help")
        {
            string? topic = line.Command == "help" ? line.Arguments.FirstOrDefault() : line.Command;
            Console.Out.Write(HelpText.For(topic));
            return line.Command is null && !line.Help ? ExitCodes.Usage : ExitCodes.Ok;
        }
        var entry = CommandTable.Find(line.Command)
                    ?? throw new UsageException($"unknown command '{line.Command}' (commands: {string.Join(", ", CommandTable.All.Select(c => c.Name))}; see walship --help)");
        foreach (string flag in line.Flags.Keys)
            if (OptionSpec.Find(flag) is { } spec && !spec.AppliesTo(entry.Name))
                throw new UsageException($"option --{flag} is for {string.Join("/", spec.Commands!)}, not {entry.Name} (see walship help {entry.Name})");
        if (entry == CommandTable.Push && line.Arguments.Count != 2)
            throw new UsageException($"push takes 2 arguments, %p %f (got {line.Arguments.Count}); use archive_command = 'walship push %p %f'");
        if (entry == CommandTable.Fetch && line.Arguments.Count != 2)
            throw new UsageException($"fetch takes 2 arguments, %f %p (got {line.Arguments.Count}); use restore_command = 'walship fetch %f %p'");
        if (line.Arguments.Count < entry.MinArguments || line.Arguments.Count > entry.MaxArguments)
            throw new UsageException($"{entry.Name} takes {ArgumentCount(entry)} (got {line.Arguments.Count}); usage: walship {entry.Synopsis}");

        var settings = Settings.Resolve(line.Flags, Environment.GetEnvironmentVariable);
        var format = settings.GetChoice(OptionSpec.LogFormat, ("text", LogFormat.Text), ("json", LogFormat.Json));
        var level = settings.GetChoice(OptionSpec.LogLevel, ("debug", LogLevel.Debug), ("info", LogLevel.Information),
            ("warning", LogLevel.Warning), ("error", LogLevel.Error));
        using var loggerFactory = new LoggerFactory([new StderrLoggerProvider(format, level)]);
        var logger = loggerFactory.CreateLogger("walship");
        foreach (string warning in settings.Warnings)
            logger.LogWarning("{Warning}", warning);
        var deadline = settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));

        if (entry == CommandTable.Push)
            return await RunPushAsync(line.Arguments[0], line.Arguments[1], settings, line.Flags, logger, deadline);
        if (entry == CommandTable.Fetch)
            return await RunFetchAsync(line.Arguments[0], line.Arguments[1], settings, line.Flags, logger, deadline);

        // Admin commands run by hand: no deadline unless one is asked for, since pruning a large archive
        // can take longer than any default would allow; Ctrl-C still stops them cleanly.
        ProcessGuard.FailureCode = ExitCodes.Transient;
        ProcessGuard.SetDeadline(settings.Source(OptionSpec.Deadline) == "default" ? TimeSpan.FromDays(7) : deadline);
        string target = string.Join(' ', line.Arguments);
        return await GuardAsync(entry.Name, target, deadline, logger, ExitCodes.For,
            token => entry.Run!(new Invocation(entry.Name, line.Arguments, settings, logger, token)));
    }

    private static string ArgumentCount(CommandEntry entry) => (entry.MinArguments, entry.MaxArguments) switch
    {
        (0, 0) => "no arguments",
        var (min, max) when min == max => $"{min} argument{(min == 1 ? "" : "s")}",
        var (min, max) => $"{min} to {max} arguments",
    };

    private static async Task<int> RunPushAsync(string walPath, string fileName, Settings settings, IReadOnlyDictionary<string, string> flags, ILogger logger, TimeSpan deadline)
    {
        int level = settings.GetInt(OptionSpec.CompressionLevel, 1, 19);
        int threads = settings.GetInt(OptionSpec.CompressionThreads, 1, 64);
        LookAhead.ValidateOptions(settings);
        ProcessGuard.SetDeadline(deadline);
        return await GuardAsync("push", fileName, deadline, logger, ExitCodes.For, async token =>
        {
            using var repository = RepositoryOpener.OpenForWal(settings, logger, deadline);
            int code = await LookAhead.AcceptReceiptAsync(walPath, fileName, settings, repository, logger, token)
                ? ExitCodes.Ok
                : await new PushCommand(repository, logger, level, threads).RunAsync(walPath, fileName, settings.Get(OptionSpec.PgData), token);
            LookAhead.AfterPush(walPath, fileName, settings, flags, logger);
            return code;
        }, metrics: new RunMetrics(settings.Get(OptionSpec.MetricsFile), walPath));
    }

    private static async Task<int> RunFetchAsync(string fileName, string walPath, Settings settings, IReadOnlyDictionary<string, string> flags, ILogger logger, TimeSpan deadline)
    {
        int fatalCode = settings.GetInt(OptionSpec.FatalExitCode, 126, 255);
        ProcessGuard.FailureCode = FetchFailureCode(FetchCommand.DetectMode(Directory.GetCurrentDirectory()), fatalCode);
        if (!WalFileName.TryParse(fileName, out var name))
            throw new UsageException($"'{fileName}' is not a WAL file name PostgreSQL restores (segment, .history, .backup or .partial)");
        var (fullPath, dataDirectory) = WalPaths.Resolve(walPath, settings.Get(OptionSpec.PgData));
        var mode = FetchCommand.DetectMode(dataDirectory);
        ProcessGuard.FailureCode = FetchFailureCode(mode, fatalCode);
        LookAhead.ValidateOptions(settings);
        ProcessGuard.SetDeadline(deadline);

        // Only FetchCommand's own GET may answer "not in archive"; every failure that reaches here,
        // whatever its class, gets the mode's failure code.
        return await GuardAsync("fetch", fileName, deadline, logger, _ => ProcessGuard.FailureCode, async token =>
        {
            if (!LookAhead.TryServePrefetched(fileName, fullPath, dataDirectory, settings, logger))
            {
                using var repository = RepositoryOpener.OpenForWal(settings, logger, deadline);
                int code = await new FetchCommand(repository, logger).RunAsync(name, fullPath, dataDirectory, mode, token);
                if (code != ExitCodes.Ok)
                    return code;
            }
            LookAhead.AfterFetch(fileName, fullPath, dataDirectory, settings, flags, logger);
            return ExitCodes.Ok;
        }, retryTransient: mode == RecoveryMode.ArchiveRecovery, metrics: new RunMetrics(settings.Get(OptionSpec.MetricsFile), fullPath));
    }

    /// <summary>
    /// In archive recovery a failed fetch stops the server, so a passing outage (network, 5xx, throttling)
    /// is retried with jittered exponential backoff until the deadline, beyond the SDK's own few retries.
    /// A standby does not need this: it asks again by itself a few seconds later.
    /// </summary>
    private static async Task<int> RetryTransientAsync(string command, string file, ILogger logger,
        Func<CancellationToken, Task<int>> run, CancellationToken token)
    {
        var backoff = TimeSpan.FromSeconds(1);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await run(token);
            }
            catch (StorageException e) when (e.Class is ErrorClass.Transient or ErrorClass.Throttled && !token.IsCancellationRequested)
            {
                var wait = backoff * (0.75 + Random.Shared.NextDouble() / 2);
                if (ProcessGuard.Remaining < wait + TimeSpan.FromSeconds(1))
                    throw;
                logger.LogWarning("{Command} {File}: attempt {Attempt} failed: {Message} [{Class}]; retrying in {Seconds} s",
                    command, file, attempt, e.Message, ExitCodes.Name(e.Class), Math.Round(wait.TotalSeconds, 1));
                await Task.Delay(wait, token);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private static int FetchFailureCode(RecoveryMode mode, int fatalCode) =>
        mode == RecoveryMode.Standby ? ExitCodes.NotInArchive : fatalCode;

    /// <summary>
    /// Runs a command under the guard's deadline and signal token, and turns every failure into one log
    /// line and an exit code chosen by <paramref name="exitCodeFor"/>.
    /// </summary>
    private static async Task<int> GuardAsync(string command, string file, TimeSpan deadline, ILogger logger,
        Func<ErrorClass, int> exitCodeFor, Func<CancellationToken, Task<int>> run, bool retryTransient = false, RunMetrics? metrics = null)
    {
        var token = ProcessGuard.Token;
        ErrorClass errorClass;
        string message;
        try
        {
            int result = retryTransient ? await RetryTransientAsync(command, file, logger, run, token) : await run(token);
            metrics?.Record(command, result switch { ExitCodes.Ok => MetricsFile.OutcomeOk, ExitCodes.NotInArchive => MetricsFile.OutcomeAbsent, _ => "error" }, result, logger);
            return result;
        }
        catch (StorageException e)
        {
            errorClass = e.Class;
            message = e.Message;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            errorClass = ProcessGuard.Interrupted ? ErrorClass.Interrupted : ErrorClass.Transient;
            message = ProcessGuard.Interrupted
                ? "interrupted by a signal; nothing was left half-done"
                : $"deadline of {deadline.TotalSeconds:0} s exceeded (--deadline)";
        }
        catch (UsageException e)
        {
            errorClass = ErrorClass.Usage;
            message = e.Message;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errorClass = ErrorClass.Local;
            message = e.Message;
        }
        catch (Exception e)
        {
            errorClass = ErrorClass.Transient;
            message = $"unexpected {e.GetType().Name}: {e.Message}";
        }

        if (ProcessGuard.Interrupted && errorClass != ErrorClass.Interrupted)
        {
            // A signal's cancellation often surfaces as some other error (a cancelled HTTP call).
            message = $"interrupted by a signal ({message})";
            errorClass = ErrorClass.Interrupted;
        }
        int code = exitCodeFor(errorClass);
        logger.LogError("{Command} {File}: {Message} [{Class}, exit {ExitCode}]", command, file, message, ExitCodes.Name(errorClass), code);
        metrics?.Record(command, ExitCodes.Name(errorClass), code, logger);
        return code;
    }

    /// <summary>--metrics-file for one push or fetch: timed from here, with the WAL file's size once it succeeded.</summary>
    private sealed class RunMetrics(string? path, string walPath)
    {
        private readonly long _started = Stopwatch.GetTimestamp();

        public void Record(string command, string outcome, int exitCode, ILogger logger)
        {
            if (path is null)
                return;
            long? bytes = null;
            try
            {
                if (outcome == MetricsFile.OutcomeOk)
                    bytes = new FileInfo(walPath).Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
            // Never wait past the deadline: the watchdog would turn a finished push into a failed one.
            var lockWait = ProcessGuard.Remaining < MetricsFile.DefaultLockWait ? ProcessGuard.Remaining : MetricsFile.DefaultLockWait;
            MetricsFile.TryRecord(path, new RunRecord(command, outcome, exitCode, Stopwatch.GetElapsedTime(_started), bytes, DateTimeOffset.UtcNow), logger, lockWait);
        }
    }
}
