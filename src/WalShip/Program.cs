using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using WalShip.Cli;
using WalShip.Commands;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip;

public static class Program
{
    /// <summary>The exit code for a failure nobody anticipated: what this command may safely answer.</summary>
    private static volatile int s_failureCode = ExitCodes.Transient;

    public static async Task<int> Main(string[] args)
    {
        // An unhandled exception would abort the process by a signal, which makes PostgreSQL's archiver
        // FATAL. Turn it into an ordinary exit code instead.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            Console.Error.WriteLine($"walship: error: internal error: {(e.ExceptionObject as Exception)?.Message}");
            Environment.Exit(s_failureCode);
        };

        string? command = args.FirstOrDefault(a => !a.StartsWith('-'));
        if (command == "fetch")
            s_failureCode = FetchFailureCode(null, Directory.GetCurrentDirectory(), OptionSpec.FatalExitCode.Default!);
        try
        {
            return await RunAsync(args);
        }
        catch (Exception e) when (e is UsageException || e is StorageException { Class: ErrorClass.Usage })
        {
            Console.Error.WriteLine($"walship: error: {e.Message}");
            return command == "fetch" ? s_failureCode : ExitCodes.Usage;
        }
    }

    private static async Task<int> RunAsync(string[] args)
    {
        var line = CommandLine.Parse(args);
        if (line.Version)
        {
            Console.Out.WriteLine($"walship {BuildInfo.Version}");
            return ExitCodes.Ok;
        }
        if (line.Help || line.Command is null or "help")
        {
            string? topic = line.Command == "help" ? line.Arguments.FirstOrDefault() : line.Command;
            Console.Out.Write(HelpText.For(topic));
            return line.Command is null && !line.Help ? ExitCodes.Usage : ExitCodes.Ok;
        }
        if (line.Command is not ("push" or "fetch"))
            throw new UsageException($"unknown command '{line.Command}' (commands: push, fetch; see walship --help)");
        if (line.Arguments.Count != 2)
            throw new UsageException(line.Command == "push"
                ? $"push takes 2 arguments, %p %f (got {line.Arguments.Count}); use archive_command = 'walship push %p %f'"
                : $"fetch takes 2 arguments, %f %p (got {line.Arguments.Count}); use restore_command = 'walship fetch %f %p'");

        var settings = Settings.Resolve(line.Flags, Environment.GetEnvironmentVariable);
        var format = settings.GetChoice(OptionSpec.LogFormat, ("text", LogFormat.Text), ("json", LogFormat.Json));
        var level = settings.GetChoice(OptionSpec.LogLevel, ("debug", LogLevel.Debug), ("info", LogLevel.Information),
            ("warning", LogLevel.Warning), ("error", LogLevel.Error));
        using var loggerFactory = new LoggerFactory([new StderrLoggerProvider(format, level)]);
        var logger = loggerFactory.CreateLogger("walship");
        foreach (string warning in settings.Warnings)
            logger.LogWarning("{Warning}", warning);
        var deadline = settings.GetDuration(OptionSpec.Deadline, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));

        return line.Command == "push"
            ? await RunPushAsync(line.Arguments[0], line.Arguments[1], settings, logger, deadline)
            : await RunFetchAsync(line.Arguments[0], line.Arguments[1], settings, logger, deadline);
    }

    private static async Task<int> RunPushAsync(string walPath, string fileName, Settings settings, ILogger logger, TimeSpan deadline)
    {
        s_failureCode = ExitCodes.Transient;
        int level = settings.GetInt(OptionSpec.CompressionLevel, 1, 19);
        int threads = settings.GetInt(OptionSpec.CompressionThreads, 1, 64);
        return await GuardAsync("push", fileName, deadline, logger, error => ExitCodes.For(error), async token =>
        {
            using var repository = OpenRepository(settings, logger, deadline);
            return await new PushCommand(repository, logger, level, threads).RunAsync(walPath, fileName, settings.Get(OptionSpec.PgData), token);
        });
    }

    private static async Task<int> RunFetchAsync(string fileName, string walPath, Settings settings, ILogger logger, TimeSpan deadline)
    {
        string fatal = settings.Get(OptionSpec.FatalExitCode) ?? OptionSpec.FatalExitCode.Default!;
        s_failureCode = FetchFailureCode(null, Directory.GetCurrentDirectory(), fatal);
        int fatalCode = settings.GetInt(OptionSpec.FatalExitCode, 126, 255);

        if (!WalFileName.TryParse(fileName, out var name))
            throw new UsageException($"'{fileName}' is not a WAL file name PostgreSQL restores (segment, .history, .backup or .partial)");
        var (fullPath, dataDirectory) = WalPaths.Resolve(walPath, settings.Get(OptionSpec.PgData));
        var mode = FetchCommand.DetectMode(dataDirectory);
        s_failureCode = mode == RecoveryMode.Standby ? ExitCodes.NotInArchive : fatalCode;

        return await GuardAsync("fetch", fileName, deadline, logger,
            error => error == ErrorClass.Absent || mode == RecoveryMode.Standby ? ExitCodes.NotInArchive : fatalCode,
            async token =>
            {
                using var repository = OpenRepository(settings, logger, deadline);
                return await new FetchCommand(repository, logger).RunAsync(name, fullPath, dataDirectory, token);
            });
    }

    private static int FetchFailureCode(RecoveryMode? mode, string dataDirectory, string fatal) =>
        (mode ?? FetchCommand.DetectMode(dataDirectory)) == RecoveryMode.Standby
            ? ExitCodes.NotInArchive
            : int.TryParse(fatal, out int code) && code is > 125 and < 256 ? code : 200;

    private static Repository OpenRepository(Settings settings, ILogger logger, TimeSpan deadline)
    {
        string url = settings.Get(OptionSpec.Repo)!;
        return Repository.Open(url, bucket =>
        {
            var s3 = new S3Settings(
                settings.Get(OptionSpec.Region),
                settings.Get(OptionSpec.Endpoint),
                settings.GetSwitch(OptionSpec.PathStyle),
                settings.Get(OptionSpec.CaFile),
                settings.Get(OptionSpec.Profile),
                settings.GetSwitch(OptionSpec.UseInstanceMetadata),
                deadline);
            long partSize = settings.GetSize(OptionSpec.PartSize, 5L << 20, 5L << 30);
            int concurrency = settings.GetInt(OptionSpec.UploadConcurrency, 1, 64);
            return new S3ObjectStore(S3ClientFactory.Create(s3), bucket, partSize, concurrency, logger);
        });
    }

    /// <summary>
    /// Runs a command under its deadline and the signals that may stop it, and turns every failure into
    /// one log line and an exit code chosen by <paramref name="exitCodeFor"/>. A watchdog ends the process
    /// shortly after the deadline even if some call ignores cancellation: walship never hangs.
    /// </summary>
    private static async Task<int> GuardAsync(string command, string file, TimeSpan deadline, ILogger logger,
        Func<ErrorClass, int> exitCodeFor, Func<CancellationToken, Task<int>> run)
    {
        using var cancellation = new CancellationTokenSource(deadline);
        bool interrupted = false;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // exit with our own code, after cleaning up
            interrupted = true;
            cancellation.Cancel();
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var watchdog = new Timer(_ =>
        {
            if (FetchCommand.TemporaryFile is { } temp)
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            logger.LogError("{Command} {File}: still running {Grace} s after the {Deadline} s deadline; exiting",
                command, file, 5, (int)deadline.TotalSeconds);
            Environment.Exit(exitCodeFor(ErrorClass.Transient));
        }, null, deadline + TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);

        ErrorClass errorClass;
        string message;
        try
        {
            return await run(cancellation.Token);
        }
        catch (StorageException e)
        {
            errorClass = e.Class;
            message = e.Message;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            errorClass = interrupted ? ErrorClass.Interrupted : ErrorClass.Transient;
            message = interrupted ? "interrupted by a signal; nothing was left half-done" : $"deadline of {deadline.TotalSeconds:0} s exceeded (--deadline)";
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

        int code = exitCodeFor(errorClass);
        logger.LogError("{Command} {File}: {Message} [{Class}, exit {ExitCode}]", command, file, message, ExitCodes.Name(errorClass), code);
        return code;
    }
}
