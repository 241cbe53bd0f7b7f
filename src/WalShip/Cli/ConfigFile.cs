namespace WalShip.Cli;

/// <summary>
/// The optional config file: 'key = value' lines, '#' comments, keys are option names (dashes or
/// underscores). An unknown key is an error, so a typo never silently falls back to a default.
/// </summary>
public static class ConfigFile
{
    /// <summary>Reads and parses the file; <paramref name="warnings"/> gets what the caller should log.</summary>
    public static Dictionary<string, string> Load(string path, List<string> warnings)
    {
        CheckPermissions(path, warnings);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read config file {path}: {e.Message}");
        }
        return Parse(lines, path);
    }

    /// <summary>
    /// A config file decides where WAL goes: one that others may write could divert the archive, so it
    /// is refused. One that others may read is only a warning, since walship takes no secrets from it.
    /// </summary>
    private static void CheckPermissions(string path, List<string> warnings)
    {
        UnixFileMode mode;
        try
        {
            mode = File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read config file {path}: {e.Message}");
        }
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            throw new UsageException($"config file {path} is writable by group or others (mode {Convert.ToString((int)mode, 8)}); refusing it: chmod go-w {path}");
        if ((mode & UnixFileMode.OtherRead) != 0)
            warnings.Add($"config file {path} is readable by everyone (mode {Convert.ToString((int)mode, 8)}); consider chmod o-r {path}");
    }

    public static Dictionary<string, string> Parse(IEnumerable<string> lines, string path)
    {
        var values = new Dictionary<string, string>();
        int number = 0;
        foreach (string raw in lines)
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            int eq = line.IndexOf('=');
            if (eq <= 0)
                throw new UsageException($"{path}:{number}: expected 'key = value'");
            string key = line[..eq].Trim().Replace('_', '-').ToLowerInvariant();
            string value = Unquote(line[(eq + 1)..].Trim());
            // Only a key shaped like an option name is echoed: a pasted secret (base64 ends in '=') must
            // not reach PostgreSQL's log through an error message.
            if (!IsOptionShaped(key))
                throw new UsageException($"{path}:{number}: expected 'key = value'");
            var spec = OptionSpec.Find(key);
            if (spec is null)
            {
                // The key itself is not echoed: a pasted secret can look like one.
                string? near = OptionSpec.All.Where(o => o != OptionSpec.Config && !o.IsFlagOnly)
                    .Select(o => (o.Name, Distance: EditDistance(o.Name, key)))
                    .Where(c => c.Distance <= 2).OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
                throw new UsageException(near is not null
                    ? $"{path}:{number}: unknown key; did you mean '{near}'?"
                    : $"{path}:{number}: unknown key (known: {string.Join(", ", OptionSpec.All.Where(o => o != OptionSpec.Config && !o.IsFlagOnly).Select(o => o.Name))})");
            }
            if (spec == OptionSpec.Config)
                throw new UsageException($"{path}:{number}: a config file cannot name another config file");
            if (spec.IsFlagOnly)
                throw new UsageException($"{path}:{number}: '{key}' is a command-line flag of {string.Join("/", spec.Commands!)} only, never read from a config file");
            if (!values.TryAdd(key, value))
                throw new UsageException($"{path}:{number}: '{key}' is set twice");
        }
        return values;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
            previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static bool IsOptionShaped(string key) =>
        key.Length is > 0 and <= 40 && key.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0] ? value[1..^1] : value;
}
