// walship runs where PostgreSQL's archive_command and restore_command run it: Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
