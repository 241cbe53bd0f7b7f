using System.Diagnostics;

namespace WalShip.Commands.Admin;

/// <summary>
/// Progress of a long admin run on stderr: nothing for runs that finish within a second, then one
/// line a second (rewritten in place on a terminal). stdout stays clean for the report and --json.
/// </summary>
public sealed class ProgressReporter : IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    private readonly TextWriter _output;
    private readonly bool _terminal;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private string _stage;
    private long _count;
    private long _total;
    private bool _printed;
    private bool _disposed;

    public ProgressReporter(TextWriter output, bool terminal, string stage)
    {
        _output = output;
        _terminal = terminal;
        _stage = stage;
        _timer = new Timer(_ => Print(final: false), null, Quiet, TimeSpan.FromSeconds(1));
    }

    /// <summary>Starts counting a new stage (e.g. "listed", "deleted"), out of <paramref name="total"/> when known.</summary>
    public void Stage(string stage, long total = 0)
    {
        lock (_lock)
        {
            if (_printed)
                PrintLocked(final: true);
            _stage = stage;
            _count = 0;
            _total = total;
        }
    }

    public void Add(long count) => Interlocked.Add(ref _count, count);

    private void Print(bool final)
    {
        lock (_lock)
            PrintLocked(final);
    }

    private void PrintLocked(bool final)
    {
        if (_clock.Elapsed < Quiet && !_printed)
            return;
        long count = Interlocked.Read(ref _count);
        string line = _total > 0
            ? $"walship: {_stage} {count:N0} of {_total:N0} objects ({_clock.Elapsed.TotalSeconds:0.0} s)"
            : $"walship: {_stage} {count:N0} objects ({_clock.Elapsed.TotalSeconds:0.0} s)";
        if (_terminal)
            _output.Write(final ? $"\r{line}\n" : $"\r{line}");
        else
            _output.WriteLine(line);
        _output.Flush();
        _printed = !final || _printed;
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            if (_printed)
                PrintLocked(final: true);
        }
    }
}
