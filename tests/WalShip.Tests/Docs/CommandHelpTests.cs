using WalShip.Cli;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Docs;

/// <summary>Every command's --help lists its options exactly as the README's options reference does, and teaches by example.</summary>
public sealed class CommandHelpTests
{
    private static string ReadmeOptions()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        int begin = readme.IndexOf("<!-- options:begin -->", StringComparison.Ordinal);
        int end = readme.IndexOf("<!-- options:end -->", StringComparison.Ordinal);
        return readme[begin..end];
    }

    /// <summary>One option's entry in an options list: its flag line and the lines indented under it.</summary>
    private static IEnumerable<string> Entries(string options)
    {
        var entry = new List<string>();
        foreach (string line in options.Split('\n').Skip(1))
        {
            if (line.StartsWith("  --", StringComparison.Ordinal) && entry.Count > 0)
            {
                yield return string.Join("\n", entry);
                entry.Clear();
            }
            if (line.StartsWith("  ", StringComparison.Ordinal))
                entry.Add(line);
        }
        if (entry.Count > 0)
            yield return string.Join("\n", entry);
    }

    public static TheoryData<string> Commands() => new(CommandTable.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Commands))]
    public void CommandHelp_OptionsAreTheReadmesVerbatim(string command)
    {
        string help = HelpText.For(command);
        string readme = ReadmeOptions();
        var entries = Entries(HelpText.Options(command)).ToList();
        Assert.Equal(OptionSpec.For(command).Count(), entries.Count);
        foreach (string entry in entries)
        {
            Assert.Contains(entry, help);
            Assert.Contains(entry, readme);
        }
        foreach (var spec in OptionSpec.All.Where(s => !s.AppliesTo(command)))
            Assert.DoesNotContain($"  --{spec.Name} ", help + " ");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void CommandHelp_HasSynopsisAndExamples(string command)
    {
        string help = HelpText.For(command);
        Assert.StartsWith($"walship {command}", help);
        Assert.Contains("Examples:", help);
        Assert.Contains($"walship {command}", help[help.IndexOf("Examples:", StringComparison.Ordinal)..]);
    }
}
