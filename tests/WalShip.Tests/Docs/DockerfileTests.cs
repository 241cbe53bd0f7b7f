using System.Text.Json;
using System.Text.RegularExpressions;
using WalShip.Tests.Fixtures;
using Xunit;

namespace WalShip.Tests.Docs;

/// <summary>
/// No Docker engine runs here, so the Dockerfile is linted instead: every instruction parses, stages and
/// COPY --from names agree, every path copied from the context exists and .dockerignore lets it through,
/// exec-form ENTRYPOINT/CMD are JSON arrays, and the final stage is the official PostgreSQL image with
/// walship in /usr/bin.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly string[] Known = ["FROM", "RUN", "COPY", "ADD", "WORKDIR", "ENV", "ARG", "LABEL", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD"];

    public sealed record Instruction(string Keyword, string Arguments, int Line);

    /// <summary>Instructions with line continuations joined and comments dropped.</summary>
    public static List<Instruction> ParseDockerfile(string text)
    {
        var instructions = new List<Instruction>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#'))
                continue;
            int start = i + 1;
            var joined = new System.Text.StringBuilder();
            while (line.EndsWith('\\'))
            {
                joined.Append(line[..^1]).Append(' ');
                if (++i >= lines.Length)
                    throw new FormatException($"Dockerfile line {start}: continuation at end of file");
                line = lines[i].TrimEnd('\r');
                while (line.TrimStart().StartsWith('#') && i + 1 < lines.Length)
                    line = lines[++i].TrimEnd('\r');
            }
            joined.Append(line);
            var match = InstructionLine().Match(joined.ToString().Trim());
            if (!match.Success)
                throw new FormatException($"Dockerfile line {start}: not an instruction: {joined}");
            string keyword = match.Groups[1].Value;
            if (!Known.Contains(keyword))
                throw new FormatException($"Dockerfile line {start}: unknown instruction {keyword}");
            if (keyword != keyword.ToUpperInvariant())
                throw new FormatException($"Dockerfile line {start}: write instructions in upper case");
            instructions.Add(new Instruction(keyword, match.Groups[2].Value.Trim(), start));
        }
        return instructions;
    }

    /// <summary>Whether .dockerignore excludes <paramref name="path"/> (relative, with '/'): the last matching
    /// pattern decides, '!' re-includes, and a pattern matching a parent directory matches what is inside.</summary>
    public static bool IsIgnored(string path, IEnumerable<string> patterns)
    {
        bool ignored = false;
        foreach (string raw in patterns)
        {
            string pattern = raw.Trim();
            if (pattern.Length == 0 || pattern.StartsWith('#'))
                continue;
            bool negate = pattern.StartsWith('!');
            pattern = pattern.TrimStart('!').Trim('/');
            var regex = new Regex("^" + Regex.Escape(pattern).Replace(@"\*\*/", "(.*/)?").Replace(@"\*\*", ".*").Replace(@"\*", "[^/]*").Replace(@"\?", "[^/]") + "(/.*)?$");
            if (regex.IsMatch(path))
                ignored = !negate;
        }
        return ignored;
    }

    private static string Root => TestPaths.RepoRoot;

    [Fact]
    public void Dockerfile_Parses_AndItsStagesAgree()
    {
        var instructions = ParseDockerfile(File.ReadAllText(Path.Combine(Root, "Dockerfile")));
        Assert.Equal("FROM", instructions[0].Keyword);
        var stages = new List<(string Image, string? Name)>();
        foreach (var instruction in instructions)
        {
            switch (instruction.Keyword)
            {
                case "FROM":
                    var from = FromArguments().Match(instruction.Arguments);
                    Assert.True(from.Success, $"line {instruction.Line}: FROM image[:tag] [AS name], got '{instruction.Arguments}'");
                    stages.Add((from.Groups["image"].Value, from.Groups["name"].Success ? from.Groups["name"].Value : null));
                    break;
                case "COPY":
                    var copyFrom = Regex.Match(instruction.Arguments, @"--from=(\S+)");
                    if (copyFrom.Success)
                        Assert.Contains(copyFrom.Groups[1].Value, stages.Select(s => s.Name));
                    Assert.True(instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Count(a => !a.StartsWith("--")) >= 2,
                        $"line {instruction.Line}: COPY needs a source and a destination");
                    break;
                case "RUN":
                    Assert.False(string.IsNullOrWhiteSpace(instruction.Arguments), $"line {instruction.Line}: empty RUN");
                    break;
                case "ENTRYPOINT" or "CMD":
                    var array = JsonDocument.Parse(instruction.Arguments).RootElement;
                    Assert.Equal(JsonValueKind.Array, array.ValueKind);
                    Assert.All(array.EnumerateArray(), element => Assert.Equal(JsonValueKind.String, element.ValueKind));
                    break;
            }
        }
        Assert.Equal(2, stages.Count);
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", stages[0].Image);
        Assert.StartsWith("postgres:15", stages[^1].Image);
        Assert.Contains(instructions, i => i.Keyword == "COPY" && i.Arguments.StartsWith("--from=build ") && i.Arguments.EndsWith(" /usr/bin/walship"));
        Assert.Contains(instructions, i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish src/WalShip -c Release -r linux-x64"));
    }

    [Fact]
    public void EveryCopiedPath_ExistsAndIsNotDockerignored()
    {
        var instructions = ParseDockerfile(File.ReadAllText(Path.Combine(Root, "Dockerfile")));
        string[] ignore = File.Exists(Path.Combine(Root, ".dockerignore")) ? File.ReadAllLines(Path.Combine(Root, ".dockerignore")) : [];
        int checkedSources = 0;
        foreach (var copy in instructions.Where(i => i.Keyword is "COPY" or "ADD" && !i.Arguments.Contains("--from=")))
        {
            string[] parts = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--")).ToArray();
            foreach (string source in parts[..^1])
            {
                string relative = source.TrimEnd('/');
                string full = Path.Combine(Root, relative);
                Assert.True(File.Exists(full) || Directory.Exists(full), $"Dockerfile line {copy.Line} copies {source}, which does not exist");
                Assert.False(IsIgnored(relative, ignore), $"Dockerfile line {copy.Line} copies {source}, which .dockerignore excludes");
                if (Directory.Exists(full))
                {
                    // What the build needs from a copied directory must get through too.
                    foreach (string file in Directory.EnumerateFiles(full, "*.cs*", SearchOption.AllDirectories)
                                 .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
                                 .Where(f => !f.Contains("/bin/") && !f.Contains("/obj/")))
                        Assert.False(IsIgnored(file, ignore), $"{file} is under {source} but .dockerignore excludes it");
                }
                checkedSources++;
            }
        }
        Assert.True(checkedSources >= 3, "the Dockerfile copies the sources and the entrypoint script");
        Assert.True(IsIgnored("src/WalShip/obj/project.assets.json", ignore), ".dockerignore should keep build output out of the context");
    }

    [Fact]
    public void EntrypointScript_IsExecutable_AndRunsTheOfficialEntrypoint()
    {
        string script = Path.Combine(Root, "packaging", "docker-entrypoint-walship.sh");
        Assert.True((File.GetUnixFileMode(script) & UnixFileMode.UserExecute) != 0, "the entrypoint script must be executable");
        string text = File.ReadAllText(script);
        Assert.StartsWith("#!/bin/sh", text);
        Assert.Contains("archive_command=walship push %p %f", text);
        Assert.Contains("restore_command=walship fetch %f %p", text);
        Assert.Contains("exec docker-entrypoint.sh \"$@\"", text);
    }

    [Theory]
    [InlineData("src/WalShip/Program.cs", false)]
    [InlineData("tests/WalShip.Tests/Docs/DockerfileTests.cs", true)]
    [InlineData("src/WalShip/bin/Release/walship", true)]
    [InlineData("packaging/docker-entrypoint-walship.sh", false)]
    [InlineData("packaging/build-packages.sh", true)]
    public void DockerignoreMatcher_FollowsLastMatchWins(string path, bool ignored)
    {
        string[] patterns = ["*", "!src/", "!packaging/docker-entrypoint-walship.sh", "**/bin/"];
        Assert.Equal(ignored, IsIgnored(path, patterns));
    }

    [GeneratedRegex(@"^([A-Za-z]+)(?:\s+(.*))?$", RegexOptions.Singleline)]
    private static partial Regex InstructionLine();

    [GeneratedRegex(@"^(?:--platform=\S+\s+)?(?<image>[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?)(?:\s+AS\s+(?<name>[a-z][a-z0-9_-]*))?$", RegexOptions.IgnoreCase)]
    private static partial Regex FromArguments();
}
