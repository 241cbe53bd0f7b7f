using WalShip.Storage;

namespace WalShip.Commands;

/// <summary>
/// Exit codes. PostgreSQL reads any non-zero from archive_command as "try again later", and from
/// restore_command as "not available"; codes above 125 stop the server's recovery instead. So push uses
/// small codes only, and fetch uses 1 only for a file the archive proves absent.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int NotInArchive = 1;
    public const int Usage = 2;
    public const int Config = 3;
    public const int Auth = 4;
    public const int Transient = 5;
    public const int Throttled = 6;
    public const int Corrupt = 7;
    public const int Conflict = 8;
    public const int Local = 9;
    public const int Interrupted = 10;

    // Admin commands: answers that are not failures of the command itself.
    /// <summary>status: archiving (or a standby) is behind by --backlog-warn or more.</summary>
    public const int Behind = 11;
    /// <summary>prune deleted some of the selected objects but the store refused others; rerun it.</summary>
    public const int PartialFailure = 12;
    /// <summary>verify found at least one problem (corrupt object, gap, foreign cluster, stray object).</summary>
    public const int ProblemsFound = 13;

    public static int For(ErrorClass errorClass) => errorClass switch
    {
        ErrorClass.Absent => NotInArchive,
        ErrorClass.Conflict => Conflict,
        ErrorClass.Throttled => Throttled,
        ErrorClass.Transient => Transient,
        ErrorClass.Auth => Auth,
        ErrorClass.Corrupt => Corrupt,
        ErrorClass.Config => Config,
        ErrorClass.Local => Local,
        ErrorClass.Usage => Usage,
        ErrorClass.Interrupted => Interrupted,
        _ => Transient,
    };

    /// <summary>The words for the log line and the docs.</summary>
    public static string Name(ErrorClass errorClass) => errorClass.ToString().ToLowerInvariant();
}
