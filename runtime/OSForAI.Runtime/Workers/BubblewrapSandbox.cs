namespace OSForAI.Runtime.Workers;

/// <summary>
/// Runs a worker inside bubblewrap: the whole file system read-only, the OSForAI home (catalog,
/// keys, data) and the server user's home hidden behind empty tmpfs mounts, a private /tmp, and
/// its own pid/ipc/uts namespaces. Only the code cache (read-only), the worker socket folder and
/// the runner scripts are mounted back. The network is shared, so algorithms can still reach
/// outside services (and, later, the gateway for composed calls).
/// </summary>
public sealed class BubblewrapSandbox(string bwrapPath, string osaiHome, string codeRoot, string runDir, IReadOnlyList<string> readOnlyDirs, string? userHome)
{
    public string BwrapPath { get; } = bwrapPath;

    /// <summary>NVIDIA device nodes, where present, so model workers can use the GPU (listed once).</summary>
    private readonly string[] _gpuDevices = Directory.Exists("/dev") ? Directory.GetFiles("/dev", "nvidia*") : [];

    /// <summary>
    /// Which sandbox the options ask for: bubblewrap or none. "auto" uses bubblewrap when it is
    /// installed and works here (it needs unprivileged user namespaces), and says why not otherwise.
    /// </summary>
    public static bool ShouldUse(WorkerOptions options, out string? whyNot)
    {
        whyNot = null;
        var mode = (options.Sandbox ?? "auto").Trim().ToLowerInvariant();
        if (mode is not ("auto" or "bubblewrap" or "none"))
            throw new InvalidOperationException($"OSForAI:Workers:Sandbox must be auto, bubblewrap or none, not '{options.Sandbox}'");
        if (mode == "none")
        {
            whyNot = "OSForAI:Workers:Sandbox is 'none'";
            return false;
        }
        whyNot = !File.Exists(options.BubblewrapPath) ? $"{options.BubblewrapPath} does not exist" : Probe(options.BubblewrapPath);
        if (whyNot is null) return true;
        if (mode == "bubblewrap")
            throw new InvalidOperationException(
                $"OSForAI:Workers:Sandbox is 'bubblewrap' but {whyNot}: install bubblewrap or set Sandbox to 'none'");
        return false;
    }

    /// <summary>Runs a trivial command in the same kind of sandbox; null when it works, else what went wrong.</summary>
    private static string? Probe(string bwrap)
    {
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo(bwrap) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--die-with-parent", "--", "/bin/true" })
                psi.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(10_000))
            {
                p.Kill(entireProcessTree: true);
                return "a bubblewrap test run did not finish in 10 s";
            }
            return p.ExitCode == 0 ? null : $"a bubblewrap test run failed (exit {p.ExitCode}): {stderr.Result.Trim()}";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return "bubblewrap could not be started: " + e.Message;
        }
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
        foreach (var dev in _gpuDevices) args = [.. args, "--dev-bind", dev, dev];
        var hidden = new List<string>();
        if (userHome is { Length: > 1 } && Directory.Exists(userHome)) hidden.Add(userHome);
        hidden.Add(osaiHome);
        foreach (var h in hidden) args = [.. args, "--tmpfs", h];
        return
        [
            .. args,
            "--ro-bind", codeRoot, codeRoot,
            .. readOnlyDirs.SelectMany(d => new[] { "--ro-bind", d, d }),
            "--bind", runDir, runDir,
            "--chdir", runDir,
            "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session",
            "--",
            .. command,
        ];
    }
}
