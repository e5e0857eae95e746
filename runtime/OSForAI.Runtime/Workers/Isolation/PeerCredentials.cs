using System.Net.Sockets;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Who is at the other end of a Unix socket (SO_PEERCRED: the connecting process's pid, uid and gid as the
/// kernel saw them at connect time), and whether that process descends from the worker the host started.
/// </summary>
public static class PeerCredentials
{
    private const int SolSocket = 1, SoPeerCred = 17;

    public readonly record struct Credentials(int Pid, int Uid, int Gid);

    public static Credentials? Of(Socket socket)
    {
        if (!OperatingSystem.IsLinux() || socket.AddressFamily != AddressFamily.Unix) return null;
        Span<byte> buffer = stackalloc byte[12];
        try
        {
            var n = socket.GetRawSocketOption(SolSocket, SoPeerCred, buffer);
            if (n < 12) return null;
        }
        catch (SocketException) { return null; }
        return new Credentials(BitConverter.ToInt32(buffer[..4]), BitConverter.ToInt32(buffer[4..8]), BitConverter.ToInt32(buffer[8..12]));
    }

    /// <summary>Whether <paramref name="pid"/> is <paramref name="ancestor"/> or one of its descendants (walking /proc's parent links).</summary>
    public static bool DescendsFrom(int pid, int ancestor)
    {
        for (var i = 0; i < 64 && pid > 1; i++)
        {
            if (pid == ancestor) return true;
            if (ParentOf(pid) is not { } parent) return false;
            pid = parent;
        }
        return pid == ancestor;
    }

    private static int? ParentOf(int pid) => ProcessSampler.Read(pid)?.Parent;
}
