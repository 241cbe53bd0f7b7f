// walship targets Linux, where PostgreSQL's archive_command and restore_command run it.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
