using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Docs;

/// <summary>
/// The shape the README promises: data flows one way (CLI, then commands, then archive and pipeline,
/// then storage), nothing reaches back, and walship never starts another process (so no shell ever
/// sees user data).
/// </summary>
public sealed partial class ArchitectureTests
{
    private static readonly Dictionary<string, string[]> AllowedDependencies = new()
    {
        ["Pipeline"] = [],
        ["Wal"] = ["Pipeline"],
        ["Archive"] = ["Pipeline", "Wal"],
        ["Storage"] = ["Pipeline"],
        ["Commands"] = ["Archive", "Pipeline", "Storage", "Wal"],
        ["Cli"] = ["Commands", "Storage"],
    };

    private static IEnumerable<(string Folder, string File, string Text)> Sources()
    {
        string src = Path.Combine(TestPaths.RepoRoot, "src", "WalShip");
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(src, file);
            if (relative.StartsWith("bin", StringComparison.Ordinal) || relative.StartsWith("obj", StringComparison.Ordinal))
                continue;
            string folder = relative.Contains('/') ? relative[..relative.IndexOf('/')] : "";
            yield return (folder, relative, File.ReadAllText(file));
        }
    }

    [Fact]
    public void EachFolder_UsesOnlyTheLayersBelowIt()
    {
        var seen = new HashSet<string>();
        foreach (var (folder, file, text) in Sources())
        {
            if (!AllowedDependencies.TryGetValue(folder, out var allowed))
                continue;
            seen.Add(folder);
            foreach (Match use in LayerReference().Matches(text))
            {
                string layer = use.Groups[1].Value;
                if (layer != folder && AllowedDependencies.ContainsKey(layer))
                    Assert.True(allowed.Contains(layer), $"{file} uses WalShip.{layer}, which {folder} must not depend on");
            }
        }
        Assert.Equal(AllowedDependencies.Keys.Order(), seen.Order());
    }

    /// <summary>The only files that may start a process, each with an argument list and never a shell:
    /// walship re-executing itself for detached look-ahead work, and pg_basebackup for base backups.</summary>
    private static readonly string[] ProcessStarters = ["Cli/SelfLauncher.cs", "Commands/Backup/PgBaseBackupProcess.cs"];

    [Fact]
    public void WalshipNeverStartsAProcess_ExceptWhereListed()
    {
        foreach (var (_, file, text) in Sources())
        {
            Assert.DoesNotContain("\"/bin/sh\"", text);
            Assert.DoesNotContain("UseShellExecute = true", text);
            if (ProcessStarters.Contains(file))
                continue;
            Assert.DoesNotContain("ProcessStartInfo", text);
            Assert.DoesNotContain("Process.Start", text);
            Assert.DoesNotContain("\"/bin/sh\"", text);
        }
    }

    [GeneratedRegex(@"\bWalShip\.(Pipeline|Wal|Archive|Storage|Commands|Cli)\b")]
    private static partial Regex LayerReference();
}
