using WalShip.Cli;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Docs;

/// <summary>The README's options reference is `walship help`'s, to the character.</summary>
public sealed class ReadmeTests
{
    private static string Readme => File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));

    [Fact]
    public void OptionsReference_IsTheHelpTextVerbatim()
    {
        string readme = Readme;
        int begin = readme.IndexOf("<!-- options:begin -->", StringComparison.Ordinal);
        int end = readme.IndexOf("<!-- options:end -->", StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "README.md lacks the options markers");
        // To fix a failure here: bash packaging/sync-readme-options.sh
        string block = readme[begin..end];
        int fenceStart = block.IndexOf("```text\n", StringComparison.Ordinal) + "```text\n".Length;
        int fenceEnd = block.LastIndexOf("```", StringComparison.Ordinal);
        Assert.Equal(HelpText.Options(), block[fenceStart..fenceEnd]);
    }

    [Fact]
    public void EveryOption_IsInTheReadme()
    {
        foreach (var option in OptionSpec.All)
        {
            Assert.Contains($"--{option.Name}", Readme);
            if (!option.IsFlagOnly)
                Assert.Contains(option.EnvironmentVariable, Readme);
        }
    }

    [Fact]
    public void FreshMachineCommands_NameScriptsThatExist()
    {
        Assert.Contains("bash packaging/quickstart.sh", Readme);
        Assert.Contains("bash packaging/install-deps.sh && bash tests/run.sh", Readme);
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "packaging", "quickstart.sh")));
        Assert.Contains("bash tests/run.sh", File.ReadAllText(Path.Combine(TestPaths.RepoRoot, ".ci", "run")));
    }
}
