using System.Diagnostics;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// One process, named by its pid and its start time. A pid alone names whichever process holds the number now: once the
/// process has exited (a worker that closed its channel, a sandbox whose init reaped it), the kernel gives the number to the
/// next process or thread it starts, which may be another worker with calls in flight, or a thread of this server. So a
/// worker is killed through its identity, which refuses to signal a process that is not the one it was taken from.
/// </summary>
public readonly record struct ProcessIdentity(int Pid, ulong StartTicks)
{
    /// <summary>Whether processes can be told apart here (Linux /proc); where not, <see cref="Of"/> is always null.</summary>
    public static bool Supported { get; } = File.Exists("/proc/self/stat");

    /// <summary>The identity of the process that holds <paramref name="pid"/> now; null when there is none (or /proc is not there).</summary>
    public static ProcessIdentity? Of(int pid) => ProcessSampler.StartTicks(pid) is { } start ? new ProcessIdentity(pid, start) : null;

    /// <summary>Whether the pid still names this process, alive.</summary>
    public bool IsRunning => ProcessSampler.StartTicks(Pid) == StartTicks;

    /// <summary>
    /// Kills the process and its descendants when the pid still names it; returns whether it did. Never signals a process
    /// that merely reuses the number.
    /// </summary>
    public bool KillTree()
    {
        if (!IsRunning) return false;
        try
        {
            using var process = Process.GetProcessById(Pid);
            process.Kill(entireProcessTree: true);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { return false; }
    }
}
