namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Per-worker resource limits; null means "no limit" for that resource.
/// </summary>
/// <param name="MemoryBytes">Memory the worker's processes may use together (RAM; swap is turned off for the group where the kernel allows).</param>
/// <param name="MaxProcesses">Processes and threads the worker may have at once (the kernel's pids controller counts threads too).</param>
/// <param name="CpuCores">CPU time per wall-clock second, in cores (0.5 = half a core, 2 = two cores).</param>
public sealed record WorkerLimits(long? MemoryBytes, int? MaxProcesses, double? CpuCores);

/// <summary>Which kernel mechanism enforces <see cref="WorkerLimits"/> on this machine.</summary>
public enum CgroupMechanism
{
    /// <summary>No usable cgroups: only rlimits (see <see cref="CgroupLimiter.RlimitArguments"/>) apply.</summary>
    None,
    /// <summary>Legacy cgroup v1 hierarchies: memory, pids and cpu mounted separately.</summary>
    V1,
    /// <summary>The unified cgroup v2 hierarchy.</summary>
    V2,
}

/// <summary>
/// One worker's cgroup(s). The launcher writes its own pid into every <see cref="ProcsFiles"/> entry
/// before exec'ing the worker, so the worker and all its descendants start inside.
/// <see cref="IDisposable.Dispose"/> kills whatever still runs in it and removes the directories.
/// </summary>
public interface IWorkerCgroup : IDisposable
{
    /// <summary>The worker id the group was created for.</summary>
    string WorkerId { get; }

    /// <summary>The cgroup directories (one per v1 hierarchy, one in v2).</summary>
    IReadOnlyList<string> Directories { get; }

    /// <summary>The cgroup.procs files a process writes its pid into to join the group (all of them).</summary>
    IReadOnlyList<string> ProcsFiles { get; }

    /// <summary>Whether the kernel's OOM killer has killed a process in this group.</summary>
    bool WasOomKilled();

    /// <summary>The highest memory use the kernel recorded for the group, where it records one (v1: memory.max_usage_in_bytes; v2: memory.peak, kernel 5.19+).</summary>
    long? PeakMemoryBytes { get; }

    /// <summary>Processes and threads now in the group (pids.current), where readable.</summary>
    int? ProcessCount { get; }

    /// <summary>The pids now in the group (cgroup.procs).</summary>
    IReadOnlyList<int> Pids();

    /// <summary>Sets new limits (a generic worker taking on a version's declared resources).</summary>
    void Update(WorkerLimits limits);
}
