using WalShip.Archive;
using WalShip.Storage;
using WalShip.Wal;

namespace WalShip.Commands.Admin;

/// <summary>Which WAL files a command looks at: one timeline, a segment range (by log and segment
/// id, so a range applies on every timeline, as pg_archivecleanup compares), and a time.</summary>
public sealed record WalFilter(uint? Timeline = null, WalFileName? From = null, WalFileName? To = null, DateTimeOffset? Since = null)
{
    public static readonly WalFilter All = new();

    public bool WantsTimeline(uint timeline) => Timeline is null || Timeline == timeline;

    public bool Matches(ArchivedFile file)
    {
        if (!WantsTimeline(file.Name.Timeline))
            return false;
        if (Since is { } since && file.LastModified < since)
            return false;
        if (file.Name.Kind == WalFileKind.History)
            return true;
        if (From is { } from && file.Position < PositionOf(from))
            return false;
        return To is not { } to || file.Position <= PositionOf(to);
    }

    /// <summary>A segment name given as option --<paramref name="option"/> (--from, --to, --before); null when not given.</summary>
    public static WalFileName? ParseSegmentOption(string? text, string option) =>
        text is null ? null
        : WalFileName.TryParse(text, out var name) && name.Kind == WalFileKind.Segment ? name
        : throw new StorageException(ErrorClass.Usage, $"invalid {option} '{text}': expected a 24-hex-digit WAL segment name like 000000010000000A000000FF");

    private static ulong PositionOf(WalFileName name) => ((ulong)name.LogId << 32) | name.SegmentId;
}

/// <summary>How an admin command talks to its caller: the report on stdout, progress on stderr.</summary>
public sealed record AdminConsole(TextWriter Output, TextWriter Errors, bool ErrorsIsTerminal, bool Json, int Parallelism);

/// <summary>The repository's manifest and a listing of its WAL area: where every admin command starts.</summary>
public sealed class AdminSession
{
    private AdminSession(Repository repository, RepositoryManifest? manifest, ArchiveScan scan)
    {
        Repository = repository;
        Manifest = manifest;
        Scan = scan;
    }

    public Repository Repository { get; }
    public RepositoryManifest? Manifest { get; }
    public ArchiveScan Scan { get; }
    public IObjectStore Store => Repository.Store;
    public uint SegmentSize => Manifest?.WalSegmentSize is > 0 and var size ? size : ArchiveInventory.DefaultSegmentSize;

    public static async Task<AdminSession> OpenAsync(Repository repository, AdminConsole console, WalFilter filter, ProgressReporter progress,
        CancellationToken cancellationToken)
    {
        var manifest = await repository.ReadManifestAsync(cancellationToken);
        var scan = await ArchiveScan.RunAsync(repository.Store, repository.Layout, console.Parallelism, filter.WantsTimeline, progress, cancellationToken);
        if (manifest is null && scan.Files.Count > 0)
            console.Errors.WriteLine($"walship: warning: {repository.Url} has WAL but no walship.json; assuming {ArchiveInventory.DefaultSegmentSize >> 20} MiB segments");
        return new AdminSession(repository, manifest, scan);
    }
}
