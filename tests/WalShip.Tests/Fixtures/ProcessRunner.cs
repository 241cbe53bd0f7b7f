using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace WalShip.Tests.Fixtures;

/// <summary>Result of <see cref="ProcessRunner.RunAsync"/>.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed, string CommandLine)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Throws <see cref="ProcessFailedException"/> unless the exit code is 0.</summary>
    public ProcessResult EnsureSuccess(string? what = null, string? extraDiagnostics = null)
    {
        if (ExitCode != 0)
            throw new ProcessFailedException(this, what, extraDiagnostics);
        return this;
    }

    public override string ToString() =>
        $"`{CommandLine}` exited {ExitCode} after {Elapsed.TotalSeconds:F1}s" +
        ProcessRunner.Section("stderr", StdErr) + ProcessRunner.Section("stdout", StdOut);
}

public sealed class ProcessFailedException(ProcessResult result, string? what, string? extraDiagnostics)
    : Exception(
        (what is null ? "" : what + " failed: ") + result +
        (string.IsNullOrWhiteSpace(extraDiagnostics) ? "" : Environment.NewLine + extraDiagnostics))
{
    public ProcessResult Result { get; } = result;
}

/// <summary>Runs external processes without a shell, with a hard timeout that kills the whole tree.</summary>
public static class ProcessRunner
{
    /// <summary>How long to keep draining stdout/stderr after exit (a daemonised grandchild may hold the pipes).</summary>
    private static readonly TimeSpan s_drainGrace = TimeSpan.FromSeconds(2);

    public static async Task<ProcessResult> RunAsync(
        string file,
        IEnumerable<string> args,
        string? cwd,
        IDictionary<string, string>? env,
        TimeSpan timeout,
        string? stdin = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(file);
        var argList = args.ToList();
        var commandLine = FormatCommandLine(file, argList);

        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = cwd ?? "",
        };
        foreach (var a in argList)
            psi.ArgumentList.Add(a);
        if (env != null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }

        using var process = new Process { StartInfo = psi };
        var sw = Stopwatch.StartNew();
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"Could not start `{commandLine}` (cwd: {cwd ?? Environment.CurrentDirectory}): {ex.Message}", ex);
        }

        var stdout = new StreamCollector(process.StandardOutput);
        var stderr = new StreamCollector(process.StandardError);
        _ = FeedStdinAsync(process.StandardInput, stdin);

        using var timeoutCts = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeoutCts.Token, cancellationToken);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            var partial = Section("stderr", stderr.Snapshot()) + Section("stdout", stdout.Snapshot());
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{commandLine}` did not finish within {timeout.TotalSeconds:F0}s and was killed (with its process tree).{partial}");
        }

        await Task.WhenAny(Task.WhenAll(stdout.Completion, stderr.Completion), Task.Delay(s_drainGrace)).ConfigureAwait(false);
        sw.Stop();
        return new ProcessResult(process.ExitCode, stdout.Snapshot(), stderr.Snapshot(), sw.Elapsed, commandLine);
    }

    internal static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        catch (Win32Exception)
        {
            // best effort
        }
        try
        {
            process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static async Task FeedStdinAsync(StreamWriter writer, string? input)
    {
        try
        {
            if (input != null)
            {
                await writer.WriteAsync(input).ConfigureAwait(false);
                await writer.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // the child closed stdin / exited early; its exit code tells the story
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            try
            {
                writer.Close();
            }
            catch (IOException)
            {
            }
        }
    }

    internal static string FormatCommandLine(string file, IEnumerable<string> args) =>
        string.Join(' ', new[] { file }.Concat(args).Select(Quote));

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,%@+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>Last <paramref name="maxLines"/> lines of <paramref name="text"/>.</summary>
    public static string Tail(string text, int maxLines = 40)
    {
        var lines = text.TrimEnd().Split('\n');
        return lines.Length <= maxLines
            ? string.Join('\n', lines)
            : $"... ({lines.Length - maxLines} earlier lines omitted)\n" + string.Join('\n', lines[^maxLines..]);
    }

    internal static string Section(string title, string text) =>
        string.IsNullOrWhiteSpace(text) ? "" : $"{Environment.NewLine}--- {title} (tail) ---{Environment.NewLine}{Tail(text)}";

    /// <summary>Reads a stream to the end in the background; the text so far can be snapshotted at any time.</summary>
    private sealed class StreamCollector
    {
        private readonly StringBuilder _sb = new();

        public StreamCollector(StreamReader reader) => Completion = Task.Run(() => PumpAsync(reader));

        public Task Completion { get; }

        public string Snapshot()
        {
            lock (_sb)
                return _sb.ToString();
        }

        private async Task PumpAsync(StreamReader reader)
        {
            var buffer = new char[4096];
            try
            {
                int n;
                while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    lock (_sb)
                        _sb.Append(buffer, 0, n);
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
            }
        }
    }
}
