using System.Globalization;
using System.Text;

namespace WalShip.Commands.Metrics;

/// <summary>One sample: a metric name, its labels in order, and a value.</summary>
public readonly record struct MetricSample(string Name, (string Name, string Value)[] Labels, double Value)
{
    /// <summary>name{label="value",...}: the key a sample is identified by, in the exposition format.</summary>
    public string Series => Labels.Length == 0
        ? Name
        : $"{Name}{{{string.Join(",", Labels.Select(label => $"{label.Name}=\"{PrometheusText.EscapeLabel(label.Value)}\""))}}}";
}

/// <summary>A metric family: its name, type (counter, gauge, info) and help line.</summary>
public sealed record MetricFamily(string Name, string Type, string Help);

/// <summary>
/// Writes the Prometheus text exposition format (what node_exporter's textfile collector reads) and OpenMetrics
/// text (what `walship status --prometheus` prints): HELP and TYPE before each family's samples, label values
/// escaped, numbers in invariant culture.
/// </summary>
public static class PrometheusText
{
    public static string EscapeLabel(string value) =>
        value.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    private static string EscapeHelp(string value) =>
        value.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    public static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// The families with their samples. In OpenMetrics a counter's samples carry the _total suffix its family
    /// name lacks, an info family's carry _info, and the text ends with # EOF.
    /// </summary>
    public static string Render(IEnumerable<(MetricFamily Family, IEnumerable<MetricSample> Samples)> families, bool openMetrics)
    {
        var text = new StringBuilder();
        foreach (var (family, samples) in families)
        {
            var list = samples.ToList();
            if (list.Count == 0)
                continue;
            string name = openMetrics && family.Type == "counter" && family.Name.EndsWith("_total", StringComparison.Ordinal)
                ? family.Name[..^"_total".Length]
                : openMetrics && family.Type == "info" && family.Name.EndsWith("_info", StringComparison.Ordinal)
                    ? family.Name[..^"_info".Length]
                    : family.Name;
            string type = !openMetrics && family.Type == "info" ? "gauge" : family.Type;
            text.Append($"# HELP {name} {EscapeHelp(family.Help)}\n# TYPE {name} {type}\n");
            foreach (var sample in list)
                text.Append($"{sample.Series} {Number(sample.Value)}\n");
        }
        if (openMetrics)
            text.Append("# EOF\n");
        return text.ToString();
    }
}
