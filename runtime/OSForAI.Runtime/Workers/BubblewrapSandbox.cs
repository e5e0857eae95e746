namespace OSForAI.Runtime.Workers;

/// <summary>
/// Runs a worker inside bubblewrap: the whole file system read-only, the OSForAI home (catalog,
/// keys, data) and the server user's home hidden behind empty tmpfs mounts, a private /tmp, and
/// its own pid/ipc/uts namespaces. Only the code cache (read-only), the worker socket folder and
/// the runner scripts are mounted back. The network is shared, so algorithms can still reach
/// outside services (and, later, the gateway for composed calls).
/// </summary>
public sealed class BubblewrapSandbox(string bwrapPath, string osaiHome, string codeRoot, string runDir, string runnerDir, string? userHome)
{
    public string BwrapPath { get; } = bwrapPath;

    /// <summary>Which sandbox the options ask for: bubblewrap or none. "auto" uses bubblewrap when it is installed.</summary>
    public static bool ShouldUse(WorkerOptions options)
    {
        var mode = (options.Sandbox ?? "auto").Trim().ToLowerInvariant();
        return mode switch
        {
            "none" => false,
            "auto" => File.Exists(options.BubblewrapPath),
            "bubblewrap" => File.Exists(options.BubblewrapPath) ? true
                : throw new InvalidOperationException(
                    $"OSForAI:Workers:Sandbox is 'bubblewrap' but {options.BubblewrapPath} does not exist: install bubblewrap or set Sandbox to 'none'"),
            _ => throw new InvalidOperationException($"OSForAI:Workers:Sandbox must be auto, bubblewrap or none, not '{options.Sandbox}'"),
        };
    }

    /// <summary>The bwrap arguments that run <paramref name="command"/> inside the sandbox.</summary>
    public IEnumerable<string> Arguments(IEnumerable<string> command)
    {
        string[] args =
        [
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
        ];
        var hidden = new List<string>();
        if (userHome is { Length: > 1 } && Directory.Exists(userHome)) hidden.Add(userHome);
        hidden.Add(osaiHome);
        foreach (var h in hidden) args = [.. args, "--tmpfs", h];
        return
        [
            .. args,
            "--ro-bind", codeRoot, codeRoot,
            "--ro-bind", runnerDir, runnerDir,
            "--bind", runDir, runDir,
            "--chdir", runDir,
            "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session",
            "--",
            .. command,
        ];
    }
}
