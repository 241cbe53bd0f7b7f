using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace WalShip.Cli;

public enum LogFormat
{
    Text,
    Json,
}

/// <summary>
/// A synchronous stderr logger: PostgreSQL copies a command's stderr into its own log, one line per
/// write. No background queue (the console logger's), so nothing is lost when walship exits, and no
/// start-up cost. Text is 'walship: LEVEL message'; JSON is one object per line with the structured
/// fields of the message template.
/// </summary>
public sealed class StderrLoggerProvider(LogFormat format, LogLevel minimum) : ILoggerProvider
{
    private readonly Stream _stderr = Console.OpenStandardError();
    private readonly Lock _gate = new();

    public ILogger CreateLogger(string categoryName) => new StderrLogger(this);

    public void Dispose() => _stderr.Flush();

    private void Write<TState>(LogLevel level, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string message = formatter(state, exception);
        byte[] line = format == LogFormat.Json ? JsonLine(level, message, state) : TextLine(level, message);
        lock (_gate)
        {
            _stderr.Write(line);
            _stderr.Flush();
        }
    }

    private static byte[] TextLine(LogLevel level, string message) =>
        Encoding.UTF8.GetBytes($"walship: {LevelName(level)}: {OneLine(message)}\n");

    private static byte[] JsonLine<TState>(LogLevel level, string message, TState state)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("time", DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
            json.WriteString("level", LevelName(level));
            json.WriteString("msg", OneLine(message));
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                foreach (var (key, value) in fields)
                {
                    if (key == "{OriginalFormat}")
                        continue;
                    string name = JsonName(key);
                    switch (value)
                    {
                        case null: json.WriteNull(name); break;
                        case int i: json.WriteNumber(name, i); break;
                        case long l: json.WriteNumber(name, l); break;
                        case ulong u: json.WriteNumber(name, u); break;
                        case double d: json.WriteNumber(name, Math.Round(d, 3)); break;
                        case bool b: json.WriteBoolean(name, b); break;
                        default: json.WriteString(name, value.ToString()); break;
                    }
                }
            }
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>BytesIn → bytes_in: the JSON field names scripts read.</summary>
    private static string JsonName(string key)
    {
        var name = new StringBuilder(key.Length + 4);
        for (int i = 0; i < key.Length; i++)
        {
            if (char.IsUpper(key[i]) && i > 0)
                name.Append('_');
            name.Append(char.ToLowerInvariant(key[i]));
        }
        return name.ToString();
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warning",
        _ => "error",
    };

    private sealed class StderrLogger(StderrLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= provider._minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                provider.Write(logLevel, state, exception, formatter);
        }
    }

    private readonly LogLevel _minimum = minimum;
}
