using System.Collections.Concurrent;

namespace WalShip;

/// <summary>
/// Temporary files this process has open, so that the last-resort exit paths (deadline watchdog,
/// a signal while something ignores cancellation) can remove them before the process ends.
/// </summary>
public static class TemporaryFiles
{
    private static readonly ConcurrentDictionary<string, byte> s_paths = new();

    public static void Register(string path) => s_paths[path] = 0;

    /// <summary>Deletes the file (if it still exists) and forgets it.</summary>
    public static void Remove(string path)
    {
        s_paths.TryRemove(path, out _);
        TryDelete(path);
    }

    public static void DeleteAll()
    {
        foreach (string path in s_paths.Keys)
            TryDelete(path);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next call reuses the same name and overwrites it.
        }
    }
}
