using System.Runtime.InteropServices;
using WalShip.Commands.Spool;

namespace WalShip.Cli;

/// <summary>
/// Starts walship again as a detached worker: the same binary (Environment.ProcessPath), an argument
/// list (never a shell), a new session (so PostgreSQL stopping its archiver's process group, or a
/// terminal closing, does not reach it), stdin from /dev/null, stdout/stderr appended to a log file and
/// the caller's spool lock on descriptor 3, so that the worker holds it from its first instruction on.
/// The caller does not wait: it exits as soon as its own work is done. This is the one place in walship
/// that starts a process (tests/WalShip.Tests/Docs/ArchitectureTests.cs).
/// </summary>
public static unsafe partial class SelfLauncher
{
    /// <summary>Log files are cut back to nothing when they pass this size, so a spool never grows without bound.</summary>
    private const long MaxLogBytes = 1 << 20;

    /// <summary>Starts the worker, sharing <paramref name="held"/> with it (<see cref="SpoolDirectory.TakeOverLock"/>);
    /// returns its pid, or throws <see cref="IOException"/>.</summary>
    public static int StartDetached(IReadOnlyList<string> arguments, string logPath, SpoolLock held)
    {
        string binary = Environment.ProcessPath ?? throw new IOException("cannot tell where the walship binary is");
        bool truncate = File.Exists(logPath) && new FileInfo(logPath).Length > MaxLogBytes;

        var argv = new List<string> { binary };
        argv.AddRange(arguments);
        var envp = new List<string>();
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
            envp.Add($"{variable.Key}={variable.Value}");

        byte* fileActions = stackalloc byte[256];
        byte* attributes = stackalloc byte[1024];
        IntPtr[] argvPointers = ToNative(argv);
        IntPtr[] envpPointers = ToNative(envp);
        IntPtr devNull = Marshal.StringToCoTaskMemUTF8("/dev/null");
        IntPtr log = Marshal.StringToCoTaskMemUTF8(logPath);
        IntPtr path = Marshal.StringToCoTaskMemUTF8(binary);
        try
        {
            Check(posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            Check(posix_spawnattr_init(attributes), "posix_spawnattr_init");
            bool lockReferenced = false;
            try
            {
                held.Handle.DangerousAddRef(ref lockReferenced);
                // First, so that the opens below cannot take the lock's descriptor number should it be 0 to 2;
                // glibc clears close-on-exec even when the lock is on descriptor 3 already.
                Check(posix_spawn_file_actions_adddup2(fileActions, (int)held.Handle.DangerousGetHandle(), SpoolLock.HandedOverDescriptor), "adddup2 lock");
                int logFlags = OpenWriteOnly | OpenCreate | (truncate ? OpenTruncate : OpenAppend);
                Check(posix_spawn_file_actions_addopen(fileActions, 0, devNull, OpenReadOnly, 0), "addopen stdin");
                Check(posix_spawn_file_actions_addopen(fileActions, 1, log, logFlags, 0b110_000_000), "addopen stdout");
                Check(posix_spawn_file_actions_adddup2(fileActions, 1, 2), "adddup2 stderr");
                // Nothing PostgreSQL's archiver or startup process left open (its pipes) goes with the worker.
                Check(posix_spawn_file_actions_addclosefrom_np(fileActions, SpoolLock.HandedOverDescriptor + 1), "addclosefrom");
                Check(posix_spawnattr_setflags(attributes, SpawnSetSid), "posix_spawnattr_setflags");
                int pid;
                fixed (IntPtr* argvPointer = argvPointers)
                fixed (IntPtr* envpPointer = envpPointers)
                    Check(posix_spawn(&pid, path, fileActions, attributes, argvPointer, envpPointer), "posix_spawn");
                return pid;
            }
            finally
            {
                if (lockReferenced)
                    held.Handle.DangerousRelease();
                posix_spawn_file_actions_destroy(fileActions);
                posix_spawnattr_destroy(attributes);
            }
        }
        finally
        {
            foreach (IntPtr pointer in argvPointers.Concat(envpPointers))
                Marshal.FreeCoTaskMem(pointer);
            Marshal.FreeCoTaskMem(devNull);
            Marshal.FreeCoTaskMem(log);
            Marshal.FreeCoTaskMem(path);
        }
    }

    private static IntPtr[] ToNative(List<string> strings)
    {
        var pointers = new IntPtr[strings.Count + 1];
        for (int i = 0; i < strings.Count; i++)
            pointers[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
        return pointers; // the last stays IntPtr.Zero: the terminating NULL
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
            throw new IOException($"cannot start a walship worker: {what} failed: {Marshal.GetPInvokeErrorMessage(result)}");
    }

    // glibc x86-64/aarch64: <fcntl.h> and <spawn.h>.
    private const int OpenReadOnly = 0;
    private const int OpenWriteOnly = 1;
    private const int OpenCreate = 0x40;
    private const int OpenTruncate = 0x200;
    private const int OpenAppend = 0x400;
    private const short SpawnSetSid = 0x80;

    [LibraryImport("libc")]
    private static partial int posix_spawn(int* pid, IntPtr path, byte* fileActions, byte* attributes, IntPtr* argv, IntPtr* envp);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(byte* fileActions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(byte* fileActions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_addopen(byte* fileActions, int fd, IntPtr path, int flags, uint mode);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_adddup2(byte* fileActions, int fd, int newFd);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_addclosefrom_np(byte* fileActions, int from);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_init(byte* attributes);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_destroy(byte* attributes);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_setflags(byte* attributes, short flags);
}
