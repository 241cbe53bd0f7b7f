namespace WalShip.Tests.Fixtures;

/// <summary>
/// The native walship binary under test, as PostgreSQL runs it. tests/run.sh publishes it to
/// artifacts/bin (or WALSHIP_BIN names one); a copy goes to a world-readable temp dir because the
/// postgres user may not be able to enter the checkout.
/// </summary>
public static class WalshipBinary
{
    private static readonly Lazy<string> s_path = new(CopyForPostgres);

    public static string Path => s_path.Value;

    private static string CopyForPostgres()
    {
        string source = Environment.GetEnvironmentVariable("WALSHIP_BIN") is { Length: > 0 } fromEnv
            ? fromEnv
            : System.IO.Path.Combine(TestPaths.RepoRoot, "artifacts", "bin", "walship");
        if (!File.Exists(source))
            throw new FileNotFoundException(
                $"native walship binary not found at {source}: run tests/run.sh, or " +
                "'dotnet publish src/WalShip -c Release -r linux-x64 -o artifacts/bin' first", source);

        string dir = System.IO.Path.Combine(TestPaths.TempRoot, $"walship-bin-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                  | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string target = System.IO.Path.Combine(dir, "walship");
        File.Copy(source, target, overwrite: true);
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                     | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return target;
    }

    /// <summary>Runs walship as the postgres user (as PostgreSQL would), in <paramref name="cwd"/>.</summary>
    public static Task<ProcessResult> RunAsync(IEnumerable<string> args, IDictionary<string, string> env, string cwd, TimeSpan? timeout = null) =>
        PgUser.RunAsPostgresAsync(Path, args, env, cwd, timeout ?? TimeSpan.FromSeconds(120));
}
