namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// The launcher shell that starts a worker inside its cgroups and, optionally, with the seccomp
/// filter open for bwrap. .NET's Process cannot pass extra file descriptors or run code between
/// fork and exec, so a tiny <c>/bin/sh</c> script does both: it writes its own pid into every
/// cgroup.procs file (so the worker and every descendant start inside the groups, with no window
/// outside them), opens the filter file on descriptor <see cref="SeccompFilter.LauncherFd"/>, and
/// exec's the command (typically <c>bwrap ... --seccomp 9 -- worker</c>), keeping its pid.
/// <para>
/// It does not build the bwrap arguments (the sandbox does) and does not create the groups
/// (<see cref="CgroupLimiter.Create"/> does). If joining a group or opening the filter fails the
/// shell exits with <see cref="LaunchFailedExitCode"/> and a message on stderr, never running the
/// command unconfined.
/// </para>
/// </summary>
public static class WorkerLauncher
{
    /// <summary>The shell to start (dash on Debian; POSIX sh is enough).</summary>
    public const string Shell = "/bin/sh";

    /// <summary>The exit code of the launcher when it could not join a cgroup or open the filter.</summary>
    public const int LaunchFailedExitCode = 125;

    /// <summary>
    /// The script, run as <c>sh -c SCRIPT osforai-launch N PROCS_1 .. PROCS_N SECCOMP_FILE_OR_EMPTY COMMAND...</c>.
    /// </summary>
    public const string Script =
        "n=\"$1\"; shift; " +
        "while [ \"$n\" -gt 0 ]; do " +
        "echo $$ > \"$1\" || { echo \"osforai launcher: cannot join cgroup $1\" >&2; exit 125; }; " +
        "shift; n=$((n-1)); done; " +
        "if [ -n \"$1\" ]; then exec 9<\"$1\" || { echo \"osforai launcher: cannot open seccomp filter $1\" >&2; exit 125; }; fi; " +
        "shift; exec \"$@\"";

    /// <summary>
    /// The arguments for <see cref="Shell"/> that join <paramref name="procsFiles"/> (may be empty),
    /// open <paramref name="seccompFile"/> (may be null) on descriptor 9, and exec <paramref name="command"/>
    /// (program and arguments; when it is bwrap, pass <c>--seccomp 9</c> to it).
    /// </summary>
    public static IReadOnlyList<string> ShellArguments(IReadOnlyList<string> procsFiles, string? seccompFile, IReadOnlyList<string> command)
    {
        if (command.Count == 0) throw new ArgumentException("the command is empty", nameof(command));
        return ["-c", Script, "osforai-launch", procsFiles.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. procsFiles, seccompFile ?? "", .. command];
    }
}
