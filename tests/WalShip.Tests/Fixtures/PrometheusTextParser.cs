using System.Globalization;
using System.Text.RegularExpressions;

namespace WalShip.Tests.Fixtures;

/// <summary>
/// A strict reader of the Prometheus text exposition format (0.0.4) and of OpenMetrics text, for tests: it
/// throws on anything a scraper would reject or that the format's rules forbid (a sample before its TYPE, a
/// family split in two, a duplicate series, a bad name, label or value, a missing final newline; for
/// OpenMetrics, a missing # EOF or a counter sample without _total).
/// </summary>
public static partial class PrometheusTextParser
{
    public sealed record Family(string Name, string Type, string? Help, Dictionary<string, double> Samples);

    public static Dictionary<string, Family> Parse(string text, bool openMetrics = false)
    {
        if (text.Length == 0 || text[^1] != '\n')
            throw new FormatException("exposition text must end with a newline");
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var seenSeries = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        string[] lines = text[..^1].Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            string where = $"line {i + 1} '{line}'";
            if (openMetrics && line == "# EOF")
            {
                if (i != lines.Length - 1)
                    throw new FormatException($"{where}: # EOF must be the last line");
                return families;
            }
            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                if (!meta.Success)
                {
                    if (openMetrics)
                        throw new FormatException($"{where}: OpenMetrics allows only HELP, TYPE, UNIT and EOF comments");
                    continue;
                }
                string name = meta.Groups["name"].Value;
                if (families.TryGetValue(name, out var existing))
                {
                    if (current != name)
                        throw new FormatException($"{where}: family {name} is split");
                    if (meta.Groups["kind"].Value == "TYPE" && existing.Type != "untyped")
                        throw new FormatException($"{where}: second TYPE for {name}");
                }
                else
                {
                    if (families.Values.Any(f => f.Samples.Count > 0 && f.Name == name))
                        throw new FormatException($"{where}: metadata for {name} after its samples");
                    existing = new Family(name, "untyped", null, new Dictionary<string, double>(StringComparer.Ordinal));
                    families[name] = existing;
                }
                current = name;
                if (meta.Groups["kind"].Value == "TYPE")
                {
                    string type = meta.Groups["rest"].Value;
                    string[] allowed = openMetrics
                        ? ["counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown"]
                        : ["counter", "gauge", "histogram", "summary", "untyped"];
                    if (!allowed.Contains(type))
                        throw new FormatException($"{where}: unknown type {type}");
                    if (existing.Samples.Count > 0)
                        throw new FormatException($"{where}: TYPE after samples");
                    families[name] = existing with { Type = type };
                }
                else if (meta.Groups["kind"].Value == "HELP")
                {
                    families[name] = families[name] with { Help = meta.Groups["rest"].Value };
                }
                continue;
            }
            if (line.Length == 0)
            {
                if (openMetrics)
                    throw new FormatException($"{where}: OpenMetrics allows no blank lines");
                continue;
            }
            var sample = SampleLine().Match(line);
            if (!sample.Success)
                throw new FormatException($"{where}: not a valid sample line");
            string metric = sample.Groups["name"].Value;
            string family = FamilyOf(metric, families, openMetrics)
                            ?? throw new FormatException($"{where}: sample of {metric} has no TYPE before it");
            if (family != current)
                throw new FormatException($"{where}: sample of {family} outside its family's block");
            var labelNames = sample.Groups["label"].Captures.Select(c => c.Value).ToList();
            if (labelNames.Distinct().Count() != labelNames.Count)
                throw new FormatException($"{where}: repeated label");
            string series = line[..line.LastIndexOf(' ')];
            if (sample.Groups["timestamp"].Success)
                series = line[..(line.Length - sample.Groups["timestamp"].Length - 1)][..^(sample.Groups["value"].Length + 1)];
            if (!seenSeries.Add(series))
                throw new FormatException($"{where}: duplicate series {series}");
            string valueText = sample.Groups["value"].Value;
            double value = valueText switch
            {
                "+Inf" or "Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            if (families[family].Type == "counter" && (value < 0 || double.IsNaN(value)))
                throw new FormatException($"{where}: a counter cannot be {valueText}");
            if (openMetrics && families[family].Type == "counter" && !metric.EndsWith("_total", StringComparison.Ordinal) && !metric.EndsWith("_created", StringComparison.Ordinal))
                throw new FormatException($"{where}: an OpenMetrics counter sample must end in _total");
            families[family].Samples[series] = value;
        }
        if (openMetrics)
            throw new FormatException("OpenMetrics text must end with # EOF");
        return families;
    }

    private static string? FamilyOf(string metric, Dictionary<string, Family> families, bool openMetrics)
    {
        if (families.ContainsKey(metric) && !(openMetrics && families[metric].Type == "counter"))
            return metric;
        foreach (string suffix in new[] { "_total", "_created", "_info", "_bucket", "_count", "_sum" })
            if (metric.EndsWith(suffix, StringComparison.Ordinal) && families.ContainsKey(metric[..^suffix.Length]))
                return metric[..^suffix.Length];
        return null;
    }

    [GeneratedRegex(@"^# (?<kind>HELP|TYPE|UNIT) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?: (?<rest>.*))?$")]
    private static partial Regex MetaLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?:(?<label>[a-zA-Z_][a-zA-Z0-9_]*)="(?:\\[\\"n]|[^"\\\n])*"(?:,(?<label>[a-zA-Z_][a-zA-Z0-9_]*)="(?:\\[\\"n]|[^"\\\n])*")*)?\})? (?<value>[+-]?(?:Inf|NaN|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?))(?: (?<timestamp>-?[0-9]+))?$""")]
    private static partial Regex SampleLine();
}
