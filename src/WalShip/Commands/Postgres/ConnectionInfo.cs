using System.Globalization;
using System.Text;
using Npgsql;

namespace WalShip.Commands.Postgres;

/// <summary>
/// A connection string as a DBA writes it for psql, turned into Npgsql's form: libpq keyword/value
/// ("host=/var/run/postgresql port=5432 user=postgres"), a URI ("postgresql://user@host:5432/db?sslmode=require"),
/// or Npgsql's own "Host=...;Port=..." form. Keywords walship cannot honour are refused, not ignored, so a
/// connection never silently goes somewhere else than the string says.
/// </summary>
public static class ConnectionInfo
{
    /// <summary>How long connecting may take before status reports the server as unreachable.</summary>
    public const int DefaultConnectTimeoutSeconds = 5;

    public static NpgsqlConnectionStringBuilder Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pairs = text.StartsWith("postgresql://", StringComparison.Ordinal) || text.StartsWith("postgres://", StringComparison.Ordinal)
            ? ParseUri(text)
            : LooksLikeNpgsql(text) ? null : ParseKeywordValue(text);
        NpgsqlConnectionStringBuilder builder;
        if (pairs is null)
        {
            try
            {
                builder = new NpgsqlConnectionStringBuilder(text);
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"connection string: {e.Message}");
            }
        }
        else
        {
            builder = new NpgsqlConnectionStringBuilder();
            foreach (var (keyword, value) in pairs)
                Apply(builder, keyword, value);
        }
        if (!WasSet(text, pairs, "connect_timeout", "timeout"))
            builder.Timeout = DefaultConnectTimeoutSeconds;
        builder.Pooling = false;
        if (string.IsNullOrEmpty(builder.ApplicationName))
            builder.ApplicationName = "walship";
        return builder;
    }

    /// <summary>Where the connection goes, without the password, for messages.</summary>
    public static string Describe(NpgsqlConnectionStringBuilder builder) =>
        $"{builder.Host ?? "localhost"}:{builder.Port}{(string.IsNullOrEmpty(builder.Database) ? "" : "/" + builder.Database)}";

    private static bool WasSet(string text, List<(string, string)>? pairs, string libpqName, string npgsqlName) =>
        pairs is null
            ? text.Contains(npgsqlName, StringComparison.OrdinalIgnoreCase)
            : pairs.Any(pair => pair.Item1 == libpqName);

    /// <summary>Npgsql's form separates pairs with ';', which a libpq string never does outside quotes.</summary>
    private static bool LooksLikeNpgsql(string text)
    {
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && quoted)
                i++;
            else if (text[i] == '\'')
                quoted = !quoted;
            else if (text[i] == ';' && !quoted)
                return true;
        }
        return false;
    }

    private static void Apply(NpgsqlConnectionStringBuilder builder, string keyword, string value)
    {
        switch (keyword)
        {
            case "host":
            case "hostaddr":
                builder.Host = value;
                break;
            case "port":
                builder.Port = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and < 65536
                    ? port
                    : throw new FormatException($"connection string: port '{value}' is not a TCP port");
                break;
            case "dbname":
                builder.Database = value;
                break;
            case "user":
                builder.Username = value;
                break;
            case "password":
                builder.Password = value;
                break;
            case "passfile":
                builder.Passfile = value;
                break;
            case "connect_timeout":
                builder.Timeout = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds is >= 0 and <= 1024
                    ? seconds
                    : throw new FormatException($"connection string: connect_timeout '{value}' is not a number of seconds");
                break;
            case "application_name":
                builder.ApplicationName = value;
                break;
            case "options":
                builder.Options = value;
                break;
            case "sslmode":
                builder.SslMode = value switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => throw new FormatException($"connection string: sslmode '{value}' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
                };
                break;
            case "sslrootcert":
                builder.RootCertificate = value;
                break;
            case "sslcert":
                builder.SslCertificate = value;
                break;
            case "sslkey":
                builder.SslKey = value;
                break;
            case "sslpassword":
                builder.SslPassword = value;
                break;
            case "target_session_attrs":
                builder.TargetSessionAttributes = value;
                break;
            default:
                throw new FormatException($"connection string: keyword '{keyword}' is not supported by walship (supported: host, hostaddr, port, dbname, user, password, passfile, connect_timeout, application_name, options, sslmode, sslrootcert, sslcert, sslkey, sslpassword, target_session_attrs)");
        }
    }

    /// <summary>libpq's keyword = value pairs, separated by spaces; a value may be single-quoted, with \' and \\.</summary>
    private static List<(string Keyword, string Value)> ParseKeywordValue(string text)
    {
        var pairs = new List<(string, string)>();
        int i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            if (i >= text.Length)
                return pairs;
            int start = i;
            while (i < text.Length && text[i] != '=' && !char.IsWhiteSpace(text[i]))
                i++;
            string keyword = text[start..i];
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            if (keyword.Length == 0 || i >= text.Length || text[i] != '=')
                throw new FormatException($"connection string: missing \"=\" after \"{keyword}\" (expected keyword=value pairs, or a postgresql:// URI)");
            i++;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length)
                        throw new FormatException("connection string: unterminated quoted value");
                    if (text[i] == '\'')
                    {
                        i++;
                        break;
                    }
                    if (text[i] == '\\' && i + 1 < text.Length)
                        i++;
                    value.Append(text[i++]);
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                        i++;
                    value.Append(text[i++]);
                }
            }
            pairs.Add((keyword, value.ToString()));
        }
    }

    /// <summary>postgresql://[user[:password]@][host][:port][/dbname][?keyword=value&amp;...], percent-encoded.
    /// A host that starts with %2F is a socket directory.</summary>
    private static List<(string Keyword, string Value)> ParseUri(string text)
    {
        var pairs = new List<(string, string)>();
        string rest = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        string query = "";
        int question = rest.IndexOf('?');
        if (question >= 0)
        {
            query = rest[(question + 1)..];
            rest = rest[..question];
        }
        int slash = rest.IndexOf('/');
        string authority = slash >= 0 ? rest[..slash] : rest;
        string database = slash >= 0 ? rest[(slash + 1)..] : "";
        int at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            string userInfo = authority[..at];
            authority = authority[(at + 1)..];
            int colon = userInfo.IndexOf(':');
            pairs.Add(("user", Decode(colon >= 0 ? userInfo[..colon] : userInfo)));
            if (colon >= 0)
                pairs.Add(("password", Decode(userInfo[(colon + 1)..])));
        }
        if (authority.Length > 0)
        {
            string host = authority, port = "";
            if (authority.StartsWith('['))
            {
                int close = authority.IndexOf(']');
                if (close < 0)
                    throw new FormatException("connection string: unterminated [IPv6 address] in URI");
                host = authority[1..close];
                port = authority[(close + 1)..].TrimStart(':');
            }
            else if (authority.LastIndexOf(':') is var colon and >= 0)
            {
                host = authority[..colon];
                port = authority[(colon + 1)..];
            }
            if (host.Length > 0)
                pairs.Add(("host", Decode(host)));
            if (port.Length > 0)
                pairs.Add(("port", port));
        }
        if (database.Length > 0)
            pairs.Add(("dbname", Decode(database)));
        foreach (string parameter in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = parameter.IndexOf('=');
            if (equals <= 0)
                throw new FormatException($"connection string: URI parameter '{parameter}' has no value");
            pairs.Add((Decode(parameter[..equals]), Decode(parameter[(equals + 1)..])));
        }
        return pairs;
    }

    private static string Decode(string text) => Uri.UnescapeDataString(text);
}
