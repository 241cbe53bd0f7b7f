using System.Reflection;

namespace WalShip;

/// <summary>
/// What this binary is, from one place: the version is WalShip.csproj's &lt;Version&gt;; the commit and build
/// date are AssemblyMetadata the build embeds (packaging/build-packages.sh passes -p:WalshipCommit and
/// -p:WalshipBuildDate; without them the commit comes from the checkout's git and the date is "unknown").
/// </summary>
public static class BuildInfo
{
    public static string Version { get; } =
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { Length: > 0 } version
            ? version.Split('+')[0]
            : "0.0.0";

    /// <summary>The full git commit the binary was built from, or "unknown".</summary>
    public static string Commit { get; } = Metadata("WalshipCommit");

    /// <summary>When the binary was built (UTC, ISO 8601), or "unknown".</summary>
    public static string BuildDate { get; } = Metadata("WalshipBuildDate");

    /// <summary>The --version line: "walship 0.1.0 (commit 9a8630bfc2a0, built 2026-11-25T20:45:00Z)".</summary>
    public static string VersionLine =>
        $"walship {Version} (commit {(Commit.Length > 12 ? Commit[..12] : Commit)}, built {BuildDate})";

    private static string Metadata(string key)
    {
        foreach (var attribute in typeof(BuildInfo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            if (attribute.Key == key && !string.IsNullOrWhiteSpace(attribute.Value))
                return attribute.Value;
        return "unknown";
    }
}
