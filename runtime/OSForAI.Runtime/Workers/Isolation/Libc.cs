using System.Runtime.InteropServices;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>The few POSIX calls .NET has no API for (hard links, ownership, the effective uid).</summary>
internal static class Libc
{
    [DllImport("libc", SetLastError = true)]
    private static extern int link(string oldpath, string newpath);

    [DllImport("libc", SetLastError = true)]
    private static extern int chown(string path, uint owner, uint group);

    [DllImport("libc", SetLastError = true)]
    private static extern int lchown(string path, uint owner, uint group);

    [DllImport("libc")]
    private static extern uint geteuid();

    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>Hard-links <paramref name="target"/> at <paramref name="path"/>; false when the file system refuses (e.g. across devices).</summary>
    public static bool TryHardLink(string target, string path) => link(target, path) == 0;

    public static void Chown(string path, int uid, int gid)
    {
        if (chown(path, (uint)uid, (uint)gid) != 0)
            throw new IOException($"chown {path} to {uid}:{gid} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Gives <paramref name="root"/> and everything under it to uid:gid, never following a link.</summary>
    public static void ChownTree(string root, int uid, int gid)
    {
        Chown(root, uid, gid);
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions
                 { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false }))
            if (lchown(entry.FullName, (uint)uid, (uint)gid) != 0)
                throw new IOException($"lchown {entry.FullName} to {uid}:{gid} failed (errno {Marshal.GetLastPInvokeError()})");
    }
}
