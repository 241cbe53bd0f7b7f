using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// Starts the binary as the postgres user with no intermediate process (setpriv execs it), so the pid
/// is walship's own and the exit status is its own: .NET reports 128+N when a signal killed it.
/// </summary>
public sealed class RunningWalship : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    public RunningWalship(IEnumerable<string> args, IDictionary<string, string> env, string cwd)
    {
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = cwd,
        };
        if (PgUser.RunsAsRoot)
        {
            var (uid, gid) = PgUser.PostgresIds;
            psi.FileName = "/usr/bin/setpriv";
            foreach (string a in new[] { "--reuid", uid.ToString(), "--regid", gid.ToString(), "--clear-groups", "--", WalshipBinary.Path })
                psi.ArgumentList.Add(a);
        }
        else
        {
            psi.FileName = WalshipBinary.Path;
        }
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["HOME"] = cwd;
        foreach (var (k, v) in env)
            psi.Environment[k] = v;
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start walship");
        _stdout = _process.StandardOutput.ReadToEndAsync();
        _stderr = _process.StandardError.ReadToEndAsync();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public void Signal(int signal)
    {
        if (Kill(Pid, signal) != 0)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"kill({Pid}, {signal})");
    }

    public async Task<(int ExitCode, string StdOut, string StdErr)> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Dispose();
            throw new TimeoutException($"walship (pid {Pid}) did not exit within {timeout.TotalSeconds:0} s");
        }
        return (_process.ExitCode, await _stdout, await _stderr);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
