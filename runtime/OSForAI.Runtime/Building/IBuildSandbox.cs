namespace OSForAI.Runtime.Building;

/// <summary>
/// One command of a build (pip resolving or installing requirements), run like user code: in the workers' sandbox, as a
/// worker's kind of uid, held to <see cref="MemoryBytes"/> and <see cref="Timeout"/>. It sees the system folders, the
/// interpreter, <see cref="ReadOnlyPaths"/> and <see cref="WritablePaths"/> (each at its own path), a private /tmp as its
/// home, and the host's network only when <see cref="Network"/> is set.
/// </summary>
public sealed record BuildStep(
    IReadOnlyList<string> Command,
    IReadOnlyList<string> ReadOnlyPaths,
    IReadOnlyList<string> WritablePaths,
    bool Network,
    IReadOnlyDictionary<string, string> Environment,
    long MemoryBytes,
    TimeSpan Timeout);

/// <summary>How a <see cref="BuildStep"/> ended.</summary>
public sealed record BuildStepResult(int ExitCode, bool TimedOut, bool OutOfMemory)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut && !OutOfMemory;
}

/// <summary>Runs build steps where workers run (the process host's sandbox), streaming their output line by line.</summary>
public interface IBuildSandbox
{
    /// <summary>Whether steps run inside bubblewrap (else as plain processes, like unsandboxed workers).</summary>
    bool IsSandboxed { get; }

    Task<BuildStepResult> RunStepAsync(BuildStep step, Action<string> output, CancellationToken ct);
}
