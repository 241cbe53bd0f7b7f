using System.Text;

namespace WalShip.Commands.Postgres;

/// <summary>One setting as a configuration file gives it, and where: the file and line PostgreSQL would name.</summary>
public sealed record ConfigSetting(string Name, string Value, string File, int Line);

/// <summary>A configuration file that PostgreSQL itself would refuse: a syntax error, a missing include,
/// includes nested too deep. The message names the file and line as the server's log would.</summary>
public sealed class PostgresConfigException(string message) : Exception(message);

/// <summary>
/// The settings of postgresql.conf and postgresql.auto.conf as the server reads them (guc-file.l): the same
/// tokens and quoting, include / include_if_exists / include_dir resolved relative to the including file,
/// and the last occurrence of a name winning. Values are the raw strings; units stay as written.
/// </summary>
public sealed class PostgresConfig
{
    /// <summary>PostgreSQL refuses deeper nesting (CONF_FILE_MAX_DEPTH), which also ends include loops.</summary>
    public const int MaxIncludeDepth = 10;

    private readonly Dictionary<string, ConfigSetting> _settings;

    private PostgresConfig(Dictionary<string, ConfigSetting> settings, IReadOnlyList<string> files)
    {
        _settings = settings;
        Files = files;
    }

    /// <summary>Every file that was read, in reading order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The effective settings, each as its last occurrence.</summary>
    public IEnumerable<ConfigSetting> Settings => _settings.Values;

    /// <summary>The setting's last occurrence, or null when no file sets it (the server's default applies).
    /// Names are case-insensitive, as in the server.</summary>
    public ConfigSetting? Find(string name) => _settings.GetValueOrDefault(name.ToLowerInvariant());

    public string? Get(string name) => Find(name)?.Value;

    /// <summary>Reads <paramref name="configFile"/> (default: dataDirectory/postgresql.conf), then
    /// dataDirectory/postgresql.auto.conf if it exists, which is the order the server applies them in.</summary>
    public static PostgresConfig Load(string dataDirectory, string? configFile = null)
    {
        var reader = new Reader();
        string main = Path.GetFullPath(configFile ?? Path.Join(dataDirectory, "postgresql.conf"));
        reader.ReadFile(main, mustExist: true, depth: 0);
        string auto = Path.GetFullPath(Path.Join(dataDirectory, "postgresql.auto.conf"));
        reader.ReadFile(auto, mustExist: false, depth: 0);
        return reader.Build();
    }

    /// <summary>Parses one file's text as if it were at <paramref name="fileName"/> (includes resolve from there).</summary>
    public static PostgresConfig Parse(string text, string fileName)
    {
        var reader = new Reader();
        reader.ReadBytes(Encoding.UTF8.GetBytes(text), Path.GetFullPath(fileName), depth: 0);
        return reader.Build();
    }

    private sealed class Reader
    {
        private readonly List<ConfigSetting> _ordered = [];
        private readonly List<string> _files = [];

        public PostgresConfig Build()
        {
            var settings = new Dictionary<string, ConfigSetting>(StringComparer.Ordinal);
            foreach (var setting in _ordered)
                settings[setting.Name.ToLowerInvariant()] = setting;
            return new PostgresConfig(settings, _files);
        }

        public void ReadFile(string path, bool mustExist, int depth, string? includedFrom = null)
        {
            if (depth > MaxIncludeDepth)
                throw new PostgresConfigException($"could not open configuration file \"{path}\": maximum nesting depth exceeded{From(includedFrom)}");
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception e) when (!mustExist && e is FileNotFoundException or DirectoryNotFoundException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PostgresConfigException($"could not open configuration file \"{path}\": {e.Message}{From(includedFrom)}");
            }
            ReadBytes(bytes, path, depth);
        }

        public void ReadBytes(byte[] bytes, string path, int depth)
        {
            _files.Add(path);
            var lexer = new ConfigLexer(bytes);
            while (true)
            {
                var token = lexer.Next();
                if (token.Kind == TokenKind.End)
                    return;
                if (token.Kind == TokenKind.EndOfLine)
                    continue;
                int line = token.Line;
                if (token.Kind is not (TokenKind.Id or TokenKind.QualifiedId))
                    throw SyntaxError(path, line, token, lexer);
                string name = lexer.Text(token);

                token = lexer.Next();
                if (token.Kind == TokenKind.EqualsSign)
                    token = lexer.Next();
                if (token.Kind is not (TokenKind.Id or TokenKind.String or TokenKind.Integer or TokenKind.Real or TokenKind.UnquotedString))
                    throw SyntaxError(path, token.Line, token, lexer);
                string value = token.Kind == TokenKind.String ? lexer.Unquote(token) : lexer.Text(token);

                var after = lexer.Next();
                if (after.Kind is not (TokenKind.EndOfLine or TokenKind.End))
                    throw SyntaxError(path, after.Line, after, lexer);

                string where = $"{path}:{line}";
                switch (name.ToLowerInvariant())
                {
                    case "include":
                        ReadFile(Resolve(path, value), mustExist: true, depth + 1, where);
                        break;
                    case "include_if_exists":
                        ReadFile(Resolve(path, value), mustExist: false, depth + 1, where);
                        break;
                    case "include_dir":
                        ReadDirectory(Resolve(path, value), depth + 1, where);
                        break;
                    default:
                        _ordered.Add(new ConfigSetting(name, value, path, line));
                        break;
                }
                if (after.Kind == TokenKind.End)
                    return;
            }
        }

        /// <summary>include_dir: the directory's *.conf files not starting with a dot, in byte order of their names.</summary>
        private void ReadDirectory(string directory, int depth, string where)
        {
            if (depth > MaxIncludeDepth)
                throw new PostgresConfigException($"could not open configuration directory \"{directory}\": maximum nesting depth exceeded{From(where)}");
            string[] files;
            try
            {
                files = Directory.GetFiles(directory)
                    .Where(file => Path.GetFileName(file) is { Length: > 5 } name && !name.StartsWith('.') && name.EndsWith(".conf", StringComparison.Ordinal))
                    .ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PostgresConfigException($"could not open configuration directory \"{directory}\": {e.Message}{From(where)}");
            }
            Array.Sort(files, (a, b) => CompareBytes(Path.GetFileName(a), Path.GetFileName(b)));
            foreach (string file in files)
                ReadFile(file, mustExist: true, depth, where);
        }

        private static int CompareBytes(string a, string b) =>
            Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b));

        private static string Resolve(string includingFile, string target) =>
            Path.IsPathRooted(target) ? Path.GetFullPath(target) : Path.GetFullPath(Path.Join(Path.GetDirectoryName(includingFile), target));

        private static string From(string? where) => where is null ? "" : $" (included at {where})";

        private static PostgresConfigException SyntaxError(string path, int line, Token token, ConfigLexer lexer) =>
            new(token.Kind is TokenKind.EndOfLine or TokenKind.End
                ? $"syntax error in file \"{path}\" line {line}, near end of line"
                : $"syntax error in file \"{path}\" line {line}, near token \"{lexer.Text(token)}\"");
    }
}
