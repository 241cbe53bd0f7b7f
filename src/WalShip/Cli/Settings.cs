using System.Globalization;

namespace WalShip.Cli;

/// <summary>
/// Option values resolved in one place. Precedence: a --flag, then WALSHIP_NAME in the environment, then
/// the config file, then the standard AWS variable where one exists, then the default.
/// </summary>
public sealed class Settings
{
    private readonly Dictionary<string, string> _values;
    private readonly Dictionary<string, string> _sources;

    private Settings(Dictionary<string, string> values, Dictionary<string, string> sources, List<string> warnings)
    {
        _values = values;
        _sources = sources;
        Warnings = warnings;
    }

    /// <summary>Things worth a warning in the log, found while resolving (e.g. a world-readable config file).</summary>
    public IReadOnlyList<string> Warnings { get; }

    public static Settings Resolve(IReadOnlyDictionary<string, string> flags, Func<string, string?> environment)
    {
        var values = new Dictionary<string, string>();
        var sources = new Dictionary<string, string>();

        string? configPath = flags.GetValueOrDefault("config") ?? NonEmpty(environment(OptionSpec.Config.EnvironmentVariable));
        if (configPath is { Length: 0 })
            throw new UsageException("--config is empty");
        var warnings = new List<string>();
        var file = configPath is null ? new Dictionary<string, string>() : ConfigFile.Load(configPath, warnings);

        foreach (var spec in OptionSpec.All)
        {
            if (flags.TryGetValue(spec.Name, out var flag))
                Set(spec, flag, "--" + spec.Name);
            else if (spec.IsFlagOnly)
            {
                if (spec.Default is not null)
                    Set(spec, spec.Default, "default");
            }
            else if (NonEmpty(environment(spec.EnvironmentVariable)) is { } env)
                Set(spec, env, spec.EnvironmentVariable);
            else if (file.TryGetValue(spec.Name, out var fromFile))
                Set(spec, fromFile, configPath!);
            else if (spec.AwsFallbackEnv?.Select(v => (Name: v, Value: NonEmpty(environment(v)))).FirstOrDefault(p => p.Value is not null) is { Value: { } aws } found)
                Set(spec, aws, found.Name);
            else if (spec.Default is not null)
                Set(spec, spec.Default, "default");
        }
        return new Settings(values, sources, warnings);

        void Set(OptionSpec spec, string value, string source)
        {
            values[spec.Name] = value;
            sources[spec.Name] = source;
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    public string? Get(OptionSpec spec) => _values.GetValueOrDefault(spec.Name);

    public string Source(OptionSpec spec) => _sources.GetValueOrDefault(spec.Name, "unset");

    public bool GetSwitch(OptionSpec spec) => Get(spec) switch
    {
        null => false,
        var v when v.Equals("true", StringComparison.OrdinalIgnoreCase) || v == "1" || v.Equals("yes", StringComparison.OrdinalIgnoreCase) || v.Equals("on", StringComparison.OrdinalIgnoreCase) => true,
        var v when v.Equals("false", StringComparison.OrdinalIgnoreCase) || v == "0" || v.Equals("no", StringComparison.OrdinalIgnoreCase) || v.Equals("off", StringComparison.OrdinalIgnoreCase) => false,
        var v => throw Invalid(spec, v, "true or false"),
    };

    public int GetInt(OptionSpec spec, int min, int max)
    {
        string? value = Get(spec);
        if (value is null || !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw Invalid(spec, value, $"a whole number from {min} to {max}");
        return n;
    }

    public long GetSize(OptionSpec spec, long min, long max)
    {
        string? value = Get(spec);
        if (value is null || !TryParseSize(value, out long bytes) || bytes < min || bytes > max)
            throw Invalid(spec, value, $"a size from {min >> 20}MiB to {max >> 20}MiB, like 8MiB or 16M");
        return bytes;
    }

    public TimeSpan GetDuration(OptionSpec spec, TimeSpan min, TimeSpan max)
    {
        string? value = Get(spec);
        if (value is null || !TryParseDuration(value, out var duration) || duration < min || duration > max)
            throw Invalid(spec, value, $"a duration from {min.TotalSeconds:0}s to {max.TotalMinutes:0}m, like 90s or 5m");
        return duration;
    }

    public T GetChoice<T>(OptionSpec spec, params (string Name, T Value)[] choices)
    {
        string? value = Get(spec);
        foreach (var (name, choice) in choices)
            if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
                return choice;
        throw Invalid(spec, value, string.Join(", ", choices.Select(c => c.Name)));
    }

    private UsageException Invalid(OptionSpec spec, string? value, string expected) =>
        new($"invalid {spec.Name} '{value}' (from {Source(spec)}): expected {expected}");

    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        text = text.Trim();
        int split = 0;
        while (split < text.Length && char.IsAsciiDigit(text[split]))
            split++;
        if (split == 0 || !long.TryParse(text.AsSpan(0, split), NumberStyles.None, CultureInfo.InvariantCulture, out long number))
            return false;
        long unit = text[split..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            _ => 0,
        };
        if (unit == 0 || number > long.MaxValue / unit)
            return false;
        bytes = number * unit;
        return true;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        int split = 0;
        while (split < text.Length && (char.IsAsciiDigit(text[split]) || text[split] == '.'))
            split++;
        if (split == 0 || !double.TryParse(text.AsSpan(0, split), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            return false;
        double seconds = text[split..].Trim().ToLowerInvariant() switch
        {
            "" or "s" or "sec" => number,
            "ms" => number / 1000,
            "m" or "min" => number * 60,
            "h" => number * 3600,
            _ => double.NaN,
        };
        if (double.IsNaN(seconds) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            return false;
        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }
}
