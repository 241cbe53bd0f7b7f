using System.Formats.Tar;

namespace WalShip.Commands.Backup;

/// <summary>An archive entry walship refuses to extract; the restore stops there.</summary>
public sealed class UnsafeArchiveException(string message) : Exception(message);

/// <summary>
/// Extracts a tar stream into a directory with System.Formats.Tar, refusing anything that could write
/// outside it or create something a data directory never holds: absolute names, '..', symbolic links
/// pointing outside (or entries reached through a link), hard links, devices and FIFOs.
/// </summary>
public static class SafeTarExtractor
{
    private const UnixFileMode PermissionBits = (UnixFileMode)0x1FF;
    private const int CopyBuffer = 1 << 20;

    /// <summary>Returns the number of entries extracted.</summary>
    public static async Task<int> ExtractAsync(Stream tar, string root, CancellationToken cancellationToken)
    {
        root = Path.GetFullPath(root);
        var links = new HashSet<string>(StringComparer.Ordinal);
        int count = 0;
        await using var reader = new TarReader(tar, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
                continue;
            string? relative = SafeRelativePath(entry.Name);
            if (relative is null)
                continue; // "./", the archive's own root
            foreach (string ancestor in Ancestors(relative))
                if (links.Contains(ancestor))
                    throw new UnsafeArchiveException($"tar entry '{entry.Name}' lies under the symbolic link '{ancestor}'; refusing to write through a link");
            string path = Path.Join(root, relative);
            var mode = entry.Mode & PermissionBits;
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path, mode | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await using (var file = new FileStream(path, new FileStreamOptions
                    {
                        Mode = FileMode.CreateNew,
                        Access = FileAccess.Write,
                        Share = FileShare.None,
                        BufferSize = 0,
                        UnixCreateMode = mode | UnixFileMode.UserRead | UnixFileMode.UserWrite,
                    }))
                    {
                        if (entry.DataStream is { } data)
                            await data.CopyToAsync(file, CopyBuffer, cancellationToken);
                    }
                    break;
                case TarEntryType.SymbolicLink:
                    string target = entry.LinkName;
                    string resolved = Path.GetFullPath(Path.Join(Path.GetDirectoryName(path)!, target));
                    if (target.Length == 0 || Path.IsPathRooted(target) || target.Contains('\0')
                        || !(resolved + "/").StartsWith(root + "/", StringComparison.Ordinal))
                        throw new UnsafeArchiveException($"tar entry '{entry.Name}' is a symbolic link to '{target}', outside the data directory");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.CreateSymbolicLink(path, target);
                    links.Add(relative);
                    break;
                case TarEntryType.HardLink:
                    throw new UnsafeArchiveException($"tar entry '{entry.Name}' is a hard link to '{entry.LinkName}'; base backups never contain hard links");
                default:
                    throw new UnsafeArchiveException($"tar entry '{entry.Name}' is a {entry.EntryType}, which a data directory never holds");
            }
            count++;
        }
        return count;
    }

    /// <summary>The entry's name as a relative path with no '.', '..' or empty parts; null for the root itself.</summary>
    public static string? SafeRelativePath(string name)
    {
        if (name.Length == 0 || name.Contains('\0') || name.StartsWith('/') || name.Contains('\\'))
            throw new UnsafeArchiveException($"tar entry '{name}' has an absolute or invalid name");
        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part is "" or ".")
                continue;
            if (part == "..")
                throw new UnsafeArchiveException($"tar entry '{name}' climbs out of the data directory with '..'");
            parts.Add(part);
        }
        return parts.Count == 0 ? null : string.Join('/', parts);
    }

    private static IEnumerable<string> Ancestors(string relative)
    {
        for (int slash = relative.IndexOf('/'); slash > 0; slash = relative.IndexOf('/', slash + 1))
            yield return relative[..slash];
    }
}
