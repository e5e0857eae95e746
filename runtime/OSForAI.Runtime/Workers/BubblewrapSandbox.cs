using OSForAI.Runtime.Workers.Isolation;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Runs a worker inside bubblewrap, built so that hostile code gains nothing whether the server runs as root or not:
/// <list type="bullet">
/// <item>no capabilities, so it cannot unmount, remount or mount anything: as root, the sandbox's first step is to drop
/// to the worker's own unprivileged host uid (<see cref="WorkerUids"/>) with an empty bounding set; as an unprivileged
/// server, a user namespace with all capabilities dropped and further user namespaces disabled;</item>
/// <item>its own pid, ipc, uts, cgroup and network namespaces: no network at all, only loopback inside;</item>
/// <item>a file system of the system folders only (/usr, /etc and the merged-/usr links), read-only, plus the
/// runtime it needs (runner, dotnet, interpreter), a private /tmp, and its own folder at /osai — its channel to the
/// host, its gateway socket and the builds it loaded. No home folder, no code cache, no other worker's anything;</item>
/// <item>a seccomp filter (<see cref="SeccompFilter"/>) that refuses mount, ptrace, keyctl, bpf, namespaces and the
/// like, applied last.</item>
/// </list>
/// </summary>
public sealed class BubblewrapSandbox(string bwrapPath, IReadOnlyList<string> readOnlyDirs, IReadOnlyList<string> hiddenDirs)
{
    /// <summary>The uid and gid a worker has inside its user namespace ("nobody").</summary>
    private const string InnerId = "65534";

    public string BwrapPath { get; } = bwrapPath;

    /// <summary>NVIDIA device nodes, where present, so model workers can use the GPU (listed once).</summary>
    private readonly string[] _gpuDevices = Directory.Exists("/dev") ? Directory.GetFiles("/dev", "nvidia*") : [];

    /// <summary>The system folders every sandbox gets, read-only (or as the links they are on merged-/usr systems).</summary>
    private static readonly string[] SystemPaths = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

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
        whyNot = !File.Exists(options.BubblewrapPath) ? $"{options.BubblewrapPath} does not exist" : Probe(options);
        if (whyNot is null) return true;
        if (mode == "bubblewrap")
            throw new InvalidOperationException(
                $"OSForAI:Workers:Sandbox is 'bubblewrap' but {whyNot}: install bubblewrap or set Sandbox to 'none'");
        return false;
    }

    /// <summary>Runs a trivial command in the same kind of sandbox (as the same kind of user); null when it works, else what went wrong.</summary>
    private static string? Probe(WorkerOptions options)
    {
        try
        {
            string[] mounts = ["--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--"];
            string[] command = Libc.IsRoot
                ? [options.BubblewrapPath, .. mounts, .. DropTo(options.SandboxFirstUid), "/bin/true"]
                : [options.BubblewrapPath, "--unshare-user", "--uid", InnerId, "--gid", InnerId, "--cap-drop", "ALL", .. mounts, "/bin/true"];
            var psi = new System.Diagnostics.ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in command[1..]) psi.ArgumentList.Add(a);
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

    /// <summary>
    /// The setpriv command that makes the rest of the command line run as <paramref name="uid"/> (group too), with no
    /// supplementary groups, no capabilities it could ever regain, and no-new-privileges. For a server running as root.
    /// </summary>
    public static string[] DropTo(int uid) =>
    [
        SetprivPath, $"--reuid={uid}", $"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
    ];

    private static string SetprivPath => File.Exists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : "setpriv";

    /// <summary>
    /// The bwrap command line that runs <paramref name="command"/> inside the sandbox, with <paramref name="folder"/> at
    /// /osai. With <paramref name="uid"/> (a server running as root) bwrap itself runs as root, so it can mount folders
    /// whatever their parents' permissions, and the first thing inside the sandbox is setpriv dropping to that uid with
    /// every capability gone for good; without it (an unprivileged server) a user namespace maps the server's uid and
    /// bwrap drops all capabilities.
    /// </summary>
    public IEnumerable<string> Command(WorkerFolder folder, IEnumerable<string> command, bool seccomp, int? uid)
    {
        var args = Common(network: false, uid, readOnlyDirs);
        args.AddRange(["--ro-bind", folder.HostPath, WorkerFolder.SandboxRoot, "--chdir", "/tmp"]);
        if (seccomp) args.AddRange(["--seccomp", SeccompFilter.LauncherFd.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        args.Add("--");
        if (uid is { } u) args.AddRange(DropTo(u));
        args.AddRange(command);
        return args;
    }

    /// <summary>
    /// The bwrap command line of a build step (pip) in the same sandbox as a worker — no capabilities, the worker's kind of uid,
    /// the system folders read-only, a private /tmp, the seccomp filter — with <paramref name="readOnly"/> and
    /// <paramref name="writable"/> folders bound at their own paths instead of a worker folder, and the host's network only when
    /// <paramref name="network"/> (pip reaching the package index).
    /// </summary>
    public IEnumerable<string> StepCommand(IReadOnlyList<string> readOnly, IReadOnlyList<string> writable, bool network,
        IEnumerable<string> command, bool seccomp, int? uid)
    {
        var args = Common(network, uid, [.. readOnlyDirs, .. readOnly, .. writable], writable);
        args.AddRange(["--chdir", "/tmp"]);
        if (seccomp) args.AddRange(["--seccomp", SeccompFilter.LauncherFd.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        args.Add("--");
        if (uid is { } u) args.AddRange(DropTo(u));
        args.AddRange(command);
        return args;
    }

    /// <summary>What every sandbox gets: namespaces, the system folders, /proc, /dev, a private /tmp, and the given binds.</summary>
    private List<string> Common(bool network, int? uid, IReadOnlyList<string> binds, IReadOnlyList<string>? writable = null)
    {
        var args = new List<string> { BwrapPath };
        if (uid is null) args.AddRange(["--unshare-user", "--uid", InnerId, "--gid", InnerId, "--disable-userns", "--cap-drop", "ALL"]);
        args.AddRange(["--unshare-pid", "--unshare-ipc", "--unshare-uts"]);
        if (!network) args.Add("--unshare-net");
        args.AddRange(
        [
            "--unshare-cgroup-try",
            // No --die-with-parent: its parent-death signal follows the *thread* that started the process, and .NET
            // starts processes from pool threads that come and go, so workers would be killed at random. A worker
            // ends with its channel instead (the runner exits when the host's end closes), and its cgroup is killed.
            "--new-session",
        ]);
        foreach (var path in SystemPaths)
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is { } target) args.AddRange(["--symlink", target, path]);
            else if (Directory.Exists(path)) args.AddRange(["--ro-bind", path, path]);
        }
        // A private /tmp and /dev/shm, writable by the worker's uid whoever made them (their pages count against its memory).
        args.AddRange(["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]);
        foreach (var dev in _gpuDevices) args.AddRange(["--dev-bind", dev, dev]);
        // CUDA reads the PCI topology; other workers have no use for /sys.
        if (_gpuDevices.Length > 0) args.AddRange(["--ro-bind", "/sys", "/sys"]);
        // Folders on the way to a bind are created by bwrap; as root it would make them 0700, closed to the worker's uid.
        foreach (var parent in binds.SelectMany(Ancestors).Distinct().Where(p => !SystemPaths.Any(s => Contains(s, p))).OrderBy(p => p.Length))
            args.AddRange(["--perms", "0755", "--dir", parent]);
        foreach (var dir in binds)
            args.AddRange([writable?.Contains(dir) == true ? "--bind" : "--ro-bind", dir, dir]);
        // The server's state stays out of sight even where it lies inside a folder the worker needs.
        foreach (var hidden in hiddenDirs)
            if (binds.Any(d => Contains(d, hidden)) && Directory.Exists(hidden)) args.AddRange(["--tmpfs", hidden]);
        return args;
    }

    /// <summary>
    /// The folders a worker needs beyond the system ones: those of <paramref name="executables"/> that lie outside
    /// them (an interpreter's install prefix, the runner, dotnet), plus configured extras.
    /// </summary>
    public static List<string> RuntimeFolders(IEnumerable<string?> executables, IEnumerable<string> extra)
    {
        bool Covered(string dir) => SystemPaths.Any(s => Contains(s, dir));
        var dirs = new List<string>();
        foreach (var exe in executables)
        {
            if (exe is not { Length: > 0 } || !Path.IsPathRooted(exe)) continue;
            var real = ResolveLinks(exe);
            var dir = Path.GetDirectoryName(real);
            // An interpreter in PREFIX/bin needs PREFIX/lib too.
            if (dir is not null && Path.GetFileName(dir) == "bin" && File.Exists(real)) dir = Path.GetDirectoryName(dir);
            if (dir is { Length: > 1 } && !Covered(dir)) dirs.Add(dir);
        }
        dirs.AddRange(extra.Where(Path.IsPathRooted).Select(Path.GetFullPath));
        return dirs.Where(Directory.Exists).Distinct().ToList();
    }

    /// <summary>The folders above <paramref name="path"/>, outermost first, without the root.</summary>
    private static IEnumerable<string> Ancestors(string path)
    {
        var parents = new List<string>();
        for (var p = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(path)); p is { Length: > 1 }; p = Path.GetDirectoryName(p)) parents.Add(p);
        parents.Reverse();
        return parents;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies inside it.</summary>
    private static bool Contains(string folder, string path)
    {
        folder = Path.TrimEndingDirectorySeparator(folder);
        path = Path.TrimEndingDirectorySeparator(path);
        return path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
    }

    private static string ResolveLinks(string path)
    {
        try { return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path; }
        catch (IOException) { return path; }
    }
}
