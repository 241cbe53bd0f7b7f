using System.Runtime.InteropServices;

namespace WalShip.Cli;

/// <summary>
/// What stands between walship and the two ways PostgreSQL's contract can be broken by the process
/// itself: hanging, and dying by a signal. Installed first thing in Main, it turns SIGTERM and SIGINT
/// into cancellation (and, if that is not honoured within a few seconds, a normal exit), cancels the
/// work at the deadline, and exits with <see cref="FailureCode"/> shortly after the deadline whatever
/// the work is doing, removing registered temporary files first.
/// </summary>
public static class ProcessGuard
{
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SignalGrace = TimeSpan.FromSeconds(3);
    private static readonly CancellationTokenSource s_cancellation = new();
    private static readonly List<PosixSignalRegistration> s_signals = [];
    private static Timer? s_watchdog;
    private static volatile int s_failureCode = 5;
    private static volatile bool s_interrupted;
    private static volatile string s_lastWords = "walship: error: deadline exceeded; exiting";
    private static long s_deadlineTicks = long.MaxValue;

    /// <summary>Time left before the deadline cancels the work.</summary>
    public static TimeSpan Remaining => TimeSpan.FromTicks(Math.Max(0, Interlocked.Read(ref s_deadlineTicks) - DateTime.UtcNow.Ticks));

    /// <summary>Cancelled at the deadline or on SIGTERM/SIGINT.</summary>
    public static CancellationToken Token => s_cancellation.Token;

    public static bool Interrupted => s_interrupted;

    /// <summary>The exit code the process may safely end with when something fails unexpectedly.</summary>
    public static int FailureCode
    {
        get => s_failureCode;
        set => s_failureCode = value;
    }

    public static void Install(int failureCode, TimeSpan deadline)
    {
        s_failureCode = failureCode;
        s_signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
        s_signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        s_watchdog = new Timer(_ => ExitNow(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        SetDeadline(deadline);
    }

    /// <summary>Re-arms the deadline, counted from now, once the configured one is known.</summary>
    public static void SetDeadline(TimeSpan deadline)
    {
        if (s_interrupted)
            return;
        s_cancellation.CancelAfter(deadline);
        Interlocked.Exchange(ref s_deadlineTicks, DateTime.UtcNow.Ticks + deadline.Ticks);
        s_lastWords = $"walship: error: still running {DeadlineGrace.TotalSeconds:0} s after the {deadline.TotalSeconds:0} s deadline; exiting [transient]";
        s_watchdog?.Change(deadline + DeadlineGrace, Timeout.InfiniteTimeSpan);
    }

    private static void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // end with our own exit code, after cleaning up
        s_interrupted = true;
        s_lastWords = $"walship: error: interrupted by {context.Signal} and did not stop in {SignalGrace.TotalSeconds:0} s; exiting [interrupted]";
        s_cancellation.Cancel();
        s_watchdog?.Change(SignalGrace, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The last resort: remove temporary files, say why, and exit without waiting on anything
    /// that might block (the message is written from another thread and abandoned after a moment).</summary>
    public static void ExitNow(string? message = null)
    {
        TemporaryFiles.DeleteAll();
        string words = message ?? s_lastWords;
        var write = Task.Run(() =>
        {
            try
            {
                Console.Error.WriteLine(words);
            }
            catch (IOException)
            {
            }
        });
        write.Wait(TimeSpan.FromMilliseconds(500));
        Environment.Exit(s_failureCode);
    }
}
