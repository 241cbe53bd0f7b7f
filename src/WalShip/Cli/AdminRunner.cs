using System.Globalization;
using WalShip.Commands;
using WalShip.Commands.Admin;

namespace WalShip.Cli;

/// <summary>Turns the options of list, prune and verify into their commands and runs them.</summary>
public static class AdminRunner
{
    /// <summary>Per-request timeout of the store client; admin runs as a whole have no deadline unless asked.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(120);

    public static async Task<int> ListAsync(Invocation invocation)
    {
        var filter = Filter(invocation.Settings, allowSince: true);
        using var repository = RepositoryOpener.Open(invocation.Settings, invocation.Logger, RequestTimeout);
        return await new ListCommand(repository, Console(invocation.Settings)).RunAsync(filter, invocation.Token);
    }

    public static async Task<int> VerifyAsync(Invocation invocation)
    {
        var filter = Filter(invocation.Settings, allowSince: false);
        using var repository = RepositoryOpener.Open(invocation.Settings, invocation.Logger, RequestTimeout);
        return await new VerifyCommand(repository, Console(invocation.Settings)).RunAsync(filter, invocation.Token);
    }

    public static async Task<int> PruneAsync(Invocation invocation)
    {
        var settings = invocation.Settings;
        var before = WalFilter.ParseSegmentOption(settings.Get(OptionSpec.Before), OptionSpec.Before.Name);
        DateTimeOffset? olderThan = settings.Get(OptionSpec.OlderThan) is null
            ? null
            : DateTimeOffset.UtcNow - Age(settings.Get(OptionSpec.OlderThan)!, OptionSpec.OlderThan);
        int? retain = settings.Get(OptionSpec.Retain) is null ? null : settings.GetInt(OptionSpec.Retain, 1, 100_000);
        if (before is null && olderThan is null && retain is null)
            throw new UsageException("prune needs --before SEGMENT, --older-than DURATION or --retain N (see walship help prune)");
        var request = new PruneRequest(before, olderThan, retain, settings.GetSwitch(OptionSpec.AllowCurrentTimeline), settings.GetSwitch(OptionSpec.Confirm));
        using var repository = RepositoryOpener.Open(settings, invocation.Logger, RequestTimeout);
        return await new PruneCommand(repository, Console(settings)).RunAsync(request, invocation.Token);
    }

    /// <summary>An age for --older-than and --since: the usual durations (90s, 5m, 36h), or days (7d).</summary>
    private static bool TryParseAge(string text, out TimeSpan age)
    {
        age = default;
        string trimmed = text.Trim();
        if (trimmed.EndsWith('d') && double.TryParse(trimmed[..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double days) && days >= 0 && days < 36500)
        {
            age = TimeSpan.FromDays(days);
            return true;
        }
        return Settings.TryParseDuration(trimmed, out age);
    }

    private static TimeSpan Age(string text, OptionSpec spec) => TryParseAge(text, out var age)
        ? age
        : throw new UsageException($"invalid {spec.Name} '{text}': expected a duration like 36h or 7d");

    private static AdminConsole Console(Settings settings) => new(
        System.Console.Out, System.Console.Error, !System.Console.IsErrorRedirected,
        settings.GetSwitch(OptionSpec.Json), settings.GetInt(OptionSpec.Parallel, 1, 256));

    private static WalFilter Filter(Settings settings, bool allowSince)
    {
        uint? timeline = null;
        if (settings.Get(OptionSpec.Timeline) is { } text)
        {
            if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint value) || value == 0)
                throw new UsageException($"invalid timeline '{text}': expected a number from 1 (decimal, as pg_controldata prints it)");
            timeline = value;
        }
        DateTimeOffset? since = null;
        if (allowSince && settings.Get(OptionSpec.Since) is { } sinceText)
        {
            if (TryParseAge(sinceText, out var ago))
                since = DateTimeOffset.UtcNow - ago;
            else if (DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                since = at;
            else
                throw new UsageException($"invalid since '{sinceText}': expected an ISO 8601 time (2026-11-25T08:00:00Z) or a duration (6h, 7d)");
        }
        return new WalFilter(timeline, WalFilter.ParseSegmentOption(settings.Get(OptionSpec.From), OptionSpec.From.Name),
            WalFilter.ParseSegmentOption(settings.Get(OptionSpec.To), OptionSpec.To.Name), since);
    }

}
