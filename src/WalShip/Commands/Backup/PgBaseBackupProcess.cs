using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using WalShip.Storage;

namespace WalShip.Commands.Backup;

/// <summary>
/// pg_basebackup writing one tar of the data directory to its stdout, without WAL (the archive holds it):
/// <c>pg_basebackup -D - -F tar -X none --checkpoint=fast</c>. Started with an argument list, never a
/// shell; its stderr is kept for the error message, and a non-zero exit fails the backup.
/// </summary>
public sealed class PgBaseBackupProcess : IDisposable
{
    private const int StderrLimit = 16 * 1024;
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private PgBaseBackupProcess(Process process)
    {
        _process = process;
        _stderr = ReadStderrAsync(process.StandardError);
    }

    public Stream Output => _process.StandardOutput.BaseStream;

    public static PgBaseBackupProcess Launch(string executable, string? connectionString, string label)
    {
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string argument in (string[])["-D", "-", "-F", "tar", "-X", "none", "--checkpoint=fast", "--no-password", "--label", label])
            start.ArgumentList.Add(argument);
        if (connectionString is not null)
        {
            start.ArgumentList.Add("--dbname");
            start.ArgumentList.Add(connectionString);
        }
        try
        {
            var process = Process.Start(start) ?? throw new StorageException(ErrorClass.Config, $"could not start {executable}");
            process.StandardInput.Close();
            return new PgBaseBackupProcess(process);
        }
        catch (Win32Exception e)
        {
            throw new StorageException(ErrorClass.Config,
                $"cannot run {executable}: {e.Message} (install the PostgreSQL client of the server's version, or name it with --pg-basebackup)", e);
        }
    }

    /// <summary>Waits for the exit; throws with pg_basebackup's own words unless it exited 0.</summary>
    public async Task WaitForSuccessAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        string stderr = await _stderr;
        if (_process.ExitCode == 0)
            return;
        string detail = string.Join(" | ", stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (stderr.Contains("can only write single tablespace to stdout", StringComparison.Ordinal))
            throw new StorageException(ErrorClass.Config,
                $"the cluster has tablespaces, which walship backup push does not support (the base backup would miss them): {detail}");
        throw new StorageException(ErrorClass.Config, $"pg_basebackup failed (exit {_process.ExitCode}): {detail}");
    }

    /// <summary>Stops pg_basebackup when the upload failed: the server then ends the backup by itself.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static async Task<string> ReadStderrAsync(StreamReader reader)
    {
        var text = new StringBuilder();
        char[] buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            text.Append(buffer, 0, read);
            if (text.Length > StderrLimit)
                text.Remove(0, text.Length - StderrLimit);
        }
        return text.ToString();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
