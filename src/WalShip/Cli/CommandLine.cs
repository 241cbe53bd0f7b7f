namespace WalShip.Cli;

/// <summary>The parsed command line: the command, its positional arguments and --options.</summary>
public sealed record CommandLine(string? Command, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Flags, bool Help, bool Version)
{
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string? command = null;
        var arguments = new List<string>();
        var flags = new Dictionary<string, string>();
        bool help = false, version = false, onlyPositional = false;

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (onlyPositional || !arg.StartsWith('-') || arg == "-")
            {
                if (command is null && !onlyPositional)
                    command = arg;
                else
                    arguments.Add(arg);
                continue;
            }
            if (arg == "--")
            {
                onlyPositional = true;
                continue;
            }
            if (arg is "-h" or "--help")
            {
                help = true;
                continue;
            }
            if (arg is "-V" or "--version")
            {
                version = true;
                continue;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"unknown option '{arg}' (options are spelled --name; see walship --help)");

            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            var spec = OptionSpec.Find(name)
                       ?? throw new UsageException($"unknown option '--{name}' (see walship --help)");
            if (value is null)
            {
                if (spec.IsSwitch)
                    value = "true";
                else if (i + 1 < args.Count)
                    value = args[++i];
                else
                    throw new UsageException($"option --{name} needs a value ({spec.ValueHint})");
            }
            if (!flags.TryAdd(name, value))
                throw new UsageException($"option --{name} is given twice");
        }
        return new CommandLine(command, arguments, flags, help, version);
    }
}
