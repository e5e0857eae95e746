using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Enforces per-worker memory, process-count and CPU limits with cgroups. <see cref="Detect"/>
/// finds, once at start, which mechanism works here and says why in <see cref="Description"/>:
/// <list type="bullet">
/// <item>cgroup v2 (the unified hierarchy with the memory, pids and cpu controllers): the workers'
/// parent group is <c>&lt;server's cgroup&gt;/&lt;groupName&gt;</c> when the server sits in the
/// (namespace) root, else the sibling <c>&lt;parent of the server's cgroup&gt;/&lt;groupName&gt;</c>,
/// because a v2 group that holds processes (the server's own) cannot pass controllers to children.
/// Controllers are enabled in that group's cgroup.subtree_control and each worker gets a leaf.</item>
/// <item>cgroup v1 (separate memory, pids and cpu hierarchies, each writable): the parent group is
/// <c>&lt;server's cgroup&gt;/&lt;groupName&gt;</c> in each hierarchy, so container limits still apply.</item>
/// <item>none: <see cref="Create"/> returns null; only rlimits (<see cref="RlimitArguments"/>) apply.</item>
/// </list>
/// Stale worker groups left below the parent group by a previous run (their server's pid is gone from
/// its pid namespace) are killed and removed at <see cref="Detect"/>; live servers' groups are left alone.
/// <para>
/// What it does not do: it does not move processes (the launcher does, see <see cref="WorkerLauncher"/>),
/// it does not limit disk or network I/O, GPU memory, or open files, it does not move the server
/// itself into a leaf group (a v2 server in a non-root group with a non-writable parent gets none),
/// and it does not watch groups: ask <see cref="IWorkerCgroup.WasOomKilled"/> after a worker dies.
/// </para>
/// </summary>
public sealed class CgroupLimiter
{
    private static readonly string[] Controllers = ["memory", "pids", "cpu"];
    private const long CpuPeriodUs = 100_000;
    private const long MinCpuQuotaUs = 1_000;

    private readonly ILogger? _logger;

    /// <summary>v1: the parent group directory per controller; v2: one entry, keyed "".</summary>
    private readonly IReadOnlyDictionary<string, string> _parents;

    /// <summary>The mechanism in use.</summary>
    public CgroupMechanism Mechanism { get; }

    /// <summary>Which mechanism is used and why (also why the others are not), for the server log.</summary>
    public string Description { get; }

    /// <summary>The parent group directories the worker groups are created in (empty for <see cref="CgroupMechanism.None"/>).</summary>
    public IReadOnlyList<string> ParentDirectories => [.. _parents.Values];

    private CgroupLimiter(CgroupMechanism mechanism, string description, IReadOnlyDictionary<string, string> parents, ILogger? logger)
    {
        Mechanism = mechanism;
        Description = description;
        _parents = parents;
        _logger = logger;
    }

    /// <summary>
    /// Finds the mechanism that can enforce limits here (v2, then v1, else none), creates the parent
    /// group <paramref name="groupName"/>, removes worker groups a previous run left in it, and logs
    /// <see cref="Description"/>. Never throws for an unusable machine: it returns a limiter with
    /// <see cref="CgroupMechanism.None"/> and the reason.
    /// </summary>
    /// <remarks>
    /// Worker groups are named after the process that made them and its pid namespace ("p&lt;pid&gt;n&lt;namespace&gt;-&lt;worker&gt;"),
    /// so several servers (or test servers in one process) can share the parent: only groups of processes that are gone
    /// count as stale. A pid is only checked in its own namespace: a server in another pid namespace that shares the parent
    /// (a cgroup hierarchy that is not namespaced, such as v1 controllers mounted at the root) has pids that mean nothing
    /// here, so its groups are never taken for stale, whatever state its workers are in.
    /// <paramref name="ownerPid"/> stands in for this process's pid (tests simulate a server that died), and
    /// <paramref name="ownerPidNamespace"/> for its pid namespace (tests simulate a server in another one).
    /// </remarks>
    public static CgroupLimiter Detect(string groupName = "osforai", ILogger? logger = null, int? ownerPid = null, string? ownerPidNamespace = null)
    {
        CheckName(groupName, nameof(groupName));
        var mounts = ReadMounts();
        var own = ReadOwnCgroups();

        var (v2, v2Why) = TryV2(groupName, mounts, own);
        CgroupLimiter limiter;
        if (v2 is not null)
            limiter = new CgroupLimiter(CgroupMechanism.V2, $"cgroup v2: worker groups under {v2}", new Dictionary<string, string> { [""] = v2 }, logger);
        else
        {
            var (v1, v1Why) = TryV1(groupName, mounts, own);
            limiter = v1 is not null
                ? new CgroupLimiter(CgroupMechanism.V1,
                    $"cgroup v1: worker groups under {string.Join(", ", v1.Values)} (cgroup v2 not used: {v2Why})", v1, logger)
                : new CgroupLimiter(CgroupMechanism.None,
                    $"no cgroups, rlimits only: cgroup v2 not usable ({v2Why}); cgroup v1 not usable ({v1Why})",
                    new Dictionary<string, string>(), logger);
        }
        limiter._ownerPid = ownerPid ?? Environment.ProcessId;
        limiter._ownerNamespace = ownerPidNamespace ?? OwnPidNamespace();
        if (limiter.Mechanism != CgroupMechanism.None) limiter.RemoveStaleGroups();
        logger?.LogInformation("Worker limits: {Description}", limiter.Description);
        return limiter;
    }

    /// <summary>
    /// Creates the cgroup(s) for worker <paramref name="workerId"/> (a group of that name left from
    /// before is killed and replaced) with <paramref name="limits"/> set. Returns null when this
    /// limiter uses no cgroups or the group could not be set up (the reason is logged as a warning).
    /// </summary>
    public IWorkerCgroup? Create(string workerId, WorkerLimits limits)
    {
        if (Mechanism == CgroupMechanism.None) return null;
        var name = _ownerNamespace is null ? $"p{_ownerPid}-{SafeName(workerId)}" : $"p{_ownerPid}n{_ownerNamespace}-{SafeName(workerId)}";
        var dirs = _parents.ToDictionary(kv => kv.Key, kv => Path.Combine(kv.Value, name));
        var group = new WorkerCgroup(workerId, Mechanism, dirs, _logger);
        try
        {
            group.RemoveExisting();
            foreach (var d in dirs.Values) Directory.CreateDirectory(d);
            if (Mechanism == CgroupMechanism.V1) ApplyV1(dirs, limits);
            else ApplyV2(dirs[""], limits);
            return group;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger?.LogWarning(e, "Could not create the cgroup for worker {WorkerId}; it runs without cgroup limits", workerId);
            group.Dispose();
            return null;
        }
    }

    /// <summary>
    /// The <c>prlimit</c> (util-linux) options for the fallback without cgroups; run
    /// <c>prlimit OPTIONS -- COMMAND...</c> (prlimit sets the limits on itself, then exec's the command,
    /// and children inherit them). Per process, not per worker, so weaker than cgroups:
    /// <list type="bullet">
    /// <item>Memory: RLIMIT_DATA (private writable mappings, heap and anonymous mmap, since Linux 4.7),
    /// set to the limit plus headroom (half the limit, at least 256 MiB), because it counts reserved,
    /// not resident, memory (thread stacks, allocator arenas). RLIMIT_AS is not used: it counts all
    /// virtual address space, and runtimes (CUDA, ONNX Runtime, Go, the JVM) reserve far more than
    /// they use, so any useful AS limit breaks them. Each process of a worker gets the whole amount.</item>
    /// <item>Processes: RLIMIT_NPROC only when <paramref name="workersHaveOwnUid"/> (it counts every
    /// process of the real uid on the machine, so with a shared uid it would cap the server too).</item>
    /// <item>CPU: nothing. RLIMIT_CPU limits total CPU seconds, then kills: a rate (cores) needs cgroups.</item>
    /// <item>Core dumps: off (<c>--core=0</c>), so a crashing worker does not write its memory to disk.</item>
    /// </list>
    /// </summary>
    public static IReadOnlyList<string> RlimitArguments(WorkerLimits limits, bool workersHaveOwnUid = false)
    {
        var args = new List<string> { "--core=0" };
        if (limits.MemoryBytes is long mem)
        {
            var data = mem + Math.Max(mem / 2, 256L << 20);
            args.Add(FormattableString.Invariant($"--data={data}"));
        }
        if (workersHaveOwnUid && limits.MaxProcesses is int n)
            args.Add(FormattableString.Invariant($"--nproc={n}"));
        return args;
    }

    private static void ApplyV1(Dictionary<string, string> dirs, WorkerLimits limits)
    {
        if (limits.MemoryBytes is long mem)
        {
            // memory+swap may never be below memory: when raising both, the first write only succeeds for memsw.
            TryWrite(Path.Combine(dirs["memory"], "memory.memsw.limit_in_bytes"), mem.ToString(CultureInfo.InvariantCulture));
            Write(Path.Combine(dirs["memory"], "memory.limit_in_bytes"), mem);
            TryWrite(Path.Combine(dirs["memory"], "memory.memsw.limit_in_bytes"), mem.ToString(CultureInfo.InvariantCulture));
        }
        if (limits.MaxProcesses is int n) Write(Path.Combine(dirs["pids"], "pids.max"), n);
        if (limits.CpuCores is double cores)
        {
            Write(Path.Combine(dirs["cpu"], "cpu.cfs_period_us"), CpuPeriodUs);
            Write(Path.Combine(dirs["cpu"], "cpu.cfs_quota_us"), Quota(cores));
        }
    }

    private static void ApplyV2(string dir, WorkerLimits limits)
    {
        if (limits.MemoryBytes is long mem)
        {
            Write(Path.Combine(dir, "memory.max"), mem);
            TryWrite(Path.Combine(dir, "memory.swap.max"), "0");
        }
        if (limits.MaxProcesses is int n) Write(Path.Combine(dir, "pids.max"), n);
        if (limits.CpuCores is double cores)
            File.WriteAllText(Path.Combine(dir, "cpu.max"), FormattableString.Invariant($"{Quota(cores)} {CpuPeriodUs}"));
    }

    private static long Quota(double cores)
    {
        if (!(cores > 0)) throw new ArgumentOutOfRangeException(nameof(cores), cores, "CpuCores must be positive");
        return Math.Max(MinCpuQuotaUs, (long)Math.Round(cores * CpuPeriodUs));
    }

    private int _ownerPid;
    private string? _ownerNamespace;

    /// <summary>This process's pid namespace (the inode number of /proc/self/ns/pid), or null where it cannot be read.</summary>
    private static string? OwnPidNamespace()
    {
        try
        {
            // "pid:[4026531836]"
            var target = new FileInfo("/proc/self/ns/pid").LinkTarget;
            var digits = target is null ? "" : new string(target.Where(char.IsAsciiDigit).ToArray());
            return digits.Length > 0 ? digits : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The pid (and pid namespace, when recorded) in a worker group's name, if it has them.</summary>
    private static (int Pid, string? Namespace)? OwnerOf(string name)
    {
        var dash = name.IndexOf('-');
        if (!name.StartsWith('p') || dash <= 1) return null;
        var owner = name.AsSpan(1, dash - 1);
        var n = owner.IndexOf('n');
        var ns = n < 0 ? null : owner[(n + 1)..].ToString();
        if (ns is { Length: 0 } || (ns is not null && !ns.All(char.IsAsciiDigit))) return null;
        return int.TryParse(n < 0 ? owner : owner[..n], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? (pid, ns) : null;
    }

    private void RemoveStaleGroups()
    {
        var names = _parents.Values.Where(Directory.Exists)
            .SelectMany(p => Directory.GetDirectories(p).Select(d => Path.GetFileName(d)))
            .Distinct().ToList();
        foreach (var name in names)
        {
            if (OwnerOf(name) is { } owner)
            {
                if (Directory.Exists($"/proc/{owner.Pid}")) continue;   // a live server's worker (or one whose namespace we cannot tell)
                if (owner.Namespace is not null && owner.Namespace != _ownerNamespace) continue;   // its pid means nothing in our namespace
            }
            _logger?.LogInformation("Removing the worker cgroup {Name} left by a previous run", name);
            new WorkerCgroup(name, Mechanism, _parents.ToDictionary(kv => kv.Key, kv => Path.Combine(kv.Value, name)), _logger).Dispose();
        }
    }

    // ---- detection ----

    internal sealed record Mount(string Root, string MountPoint, string FsType, string[] SuperOptions);

    private static (string? Parent, string Why) TryV2(string groupName, List<Mount> mounts, Dictionary<string, string> own)
    {
        var mount = mounts.Where(m => m.FsType == "cgroup2").OrderBy(m => m.MountPoint == "/sys/fs/cgroup" ? 0 : 1).FirstOrDefault();
        if (mount is null) return (null, "no cgroup2 file system is mounted");
        if (!own.TryGetValue("", out var ownPath)) return (null, "/proc/self/cgroup has no cgroup v2 entry");
        var ownDir = Resolve(mount, ownPath);
        var available = ReadWords(Path.Combine(ownDir, "cgroup.controllers"));
        var missing = Controllers.Where(c => !available.Contains(c)).ToList();
        if (missing.Count > 0)
            return (null, $"{mount.MountPoint} does not offer the {string.Join(", ", missing)} controller(s) to this process's cgroup {ownDir} (they are bound to cgroup v1 or not delegated)");

        // A group with processes (the server's) cannot enable controllers for children, except the root.
        var isRoot = ownDir == mount.MountPoint.TrimEnd('/');
        var host = isRoot ? ownDir : Path.GetDirectoryName(ownDir)!;
        var where = isRoot ? "a child of the server's (root) cgroup" : "a sibling of the server's cgroup";
        try
        {
            EnableControllers(host);
            var parent = Path.Combine(host, groupName);
            Directory.CreateDirectory(parent);
            EnableControllers(parent);
            var probe = Path.Combine(parent, ".probe-" + Environment.ProcessId);
            Directory.CreateDirectory(probe);
            try
            {
                foreach (var f in new[] { "memory.max", "pids.max", "cpu.max" })
                    File.WriteAllText(Path.Combine(probe, f), "max");
            }
            finally { TryRemoveDirectory(probe); }
            return (parent, $"{parent} ({where})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot set up {Path.Combine(host, groupName)} as {where} with memory, pids and cpu enabled: {e.Message}" +
                (isRoot ? " (if this is the root of a cgroup namespace, move the server into a leaf group first)" : ""));
        }
    }

    private static void EnableControllers(string dir)
    {
        var file = Path.Combine(dir, "cgroup.subtree_control");
        var enabled = ReadWords(file);
        var missing = Controllers.Where(c => !enabled.Contains(c)).ToList();
        if (missing.Count == 0) return;
        try
        {
            File.WriteAllText(file, string.Join(' ', missing.Select(c => "+" + c)));
        }
        catch (IOException e)
        {
            throw new IOException($"cannot enable {string.Join(", ", missing)} in {file} ({e.Message}; a v2 group holding processes cannot enable controllers for children)", e);
        }
    }

    private static (Dictionary<string, string>? Parents, string Why) TryV1(string groupName, List<Mount> mounts, Dictionary<string, string> own)
    {
        var parents = new Dictionary<string, string>();
        foreach (var c in Controllers)
        {
            var mount = mounts.FirstOrDefault(m => m.FsType == "cgroup" && m.SuperOptions.Contains(c));
            if (mount is null) return (null, $"no cgroup v1 hierarchy has the {c} controller");
            if (!own.TryGetValue(c, out var ownPath)) return (null, $"/proc/self/cgroup has no entry for the {c} controller");
            var parent = Path.Combine(Resolve(mount, ownPath), groupName);
            string[] probeFiles = c switch
            {
                "memory" => ["memory.limit_in_bytes"],
                "pids" => ["pids.max"],
                _ => ["cpu.cfs_quota_us", "cpu.cfs_period_us"],
            };
            try
            {
                Directory.CreateDirectory(parent);
                var probe = Path.Combine(parent, ".probe-" + Environment.ProcessId);
                Directory.CreateDirectory(probe);
                try
                {
                    foreach (var f in probeFiles)
                    {
                        var path = Path.Combine(probe, f);
                        if (!File.Exists(path)) return (null, $"{path} does not exist (kernel without {c} limits)");
                        File.WriteAllText(path, File.ReadAllText(path).Trim());
                    }
                }
                finally { TryRemoveDirectory(probe); }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot create and write {parent}: {e.Message}");
            }
            parents[c] = parent;
        }
        return (parents, "");
    }

    /// <summary>The directory of a cgroup path (as in /proc/self/cgroup) under a mount of its hierarchy.</summary>
    private static string Resolve(Mount mount, string cgroupPath)
    {
        var rel = cgroupPath;
        if (mount.Root != "/" && (rel == mount.Root || rel.StartsWith(mount.Root + "/", StringComparison.Ordinal)))
            rel = rel[mount.Root.Length..];
        else if (mount.Root != "/")
            rel = "/"; // the mount shows only part of the hierarchy and we are not in it: use its top
        return (mount.MountPoint.TrimEnd('/') + "/" + rel.Trim('/')).TrimEnd('/');
    }

    private static List<Mount> ReadMounts()
    {
        var result = new List<Mount>();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                var parts = line.Split(' ');
                var dash = Array.IndexOf(parts, "-");
                if (dash < 6 || parts.Length < dash + 4) continue;
                var fs = parts[dash + 1];
                if (fs is not ("cgroup" or "cgroup2")) continue;
                result.Add(new Mount(Unescape(parts[3]), Unescape(parts[4]), fs, parts[dash + 3].Split(',')));
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return result;
    }

    /// <summary>Controller name (or "" for the v2 entry) → cgroup path, from /proc/self/cgroup.</summary>
    private static Dictionary<string, string> ReadOwnCgroups()
    {
        var result = new Dictionary<string, string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length != 3) continue;
                if (parts[0] == "0" && parts[1] == "") result[""] = parts[2];
                else foreach (var c in parts[1].Split(',')) if (c.Length > 0) result[c] = parts[2];
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return result;
    }

    private static string Unescape(string s) =>
        System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());

    private static HashSet<string> ReadWords(string file)
    {
        try { return [.. File.ReadAllText(file).Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)]; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    // ---- helpers shared with WorkerCgroup ----

    private static void CheckName(string name, string param)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not a valid cgroup name", param);
    }

    /// <summary>A worker id as one path component: characters other than letters, digits, '.', '_' and '-' become '_'.</summary>
    internal static string SafeName(string workerId)
    {
        if (string.IsNullOrEmpty(workerId)) throw new ArgumentException("the worker id is empty", nameof(workerId));
        var chars = workerId.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '_' or '-' ? ch : '_').ToArray();
        var s = new string(chars);
        return s.StartsWith('.') ? "_" + s : s;
    }

    private static void Write(string file, long value) => File.WriteAllText(file, value.ToString(CultureInfo.InvariantCulture));

    private static void TryWrite(string file, string value)
    {
        try { if (File.Exists(file)) File.WriteAllText(file, value); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    internal static bool TryRemoveDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: false);
            return true;
        }
        catch (DirectoryNotFoundException) { return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>One worker's group directories: v1 one per controller, v2 one.</summary>
    private sealed class WorkerCgroup(string workerId, CgroupMechanism mechanism, Dictionary<string, string> dirs, ILogger? logger) : IWorkerCgroup
    {
        private int _disposed;

        public string WorkerId => workerId;
        public IReadOnlyList<string> Directories { get; } = [.. dirs.Values];
        public IReadOnlyList<string> ProcsFiles { get; } = [.. dirs.Values.Select(d => Path.Combine(d, "cgroup.procs"))];

        private string MemoryDir => mechanism == CgroupMechanism.V1 ? dirs["memory"] : dirs[""];
        private string PidsDir => mechanism == CgroupMechanism.V1 ? dirs["pids"] : dirs[""];

        public bool WasOomKilled()
        {
            var file = Path.Combine(MemoryDir, mechanism == CgroupMechanism.V1 ? "memory.oom_control" : "memory.events");
            return ReadKeyed(file, "oom_kill") > 0;
        }

        public void Update(WorkerLimits limits)
        {
            if (mechanism == CgroupMechanism.V1) ApplyV1(dirs, limits);
            else ApplyV2(dirs[""], limits);
        }

        public long? PeakMemoryBytes => ReadLong(Path.Combine(MemoryDir, mechanism == CgroupMechanism.V1 ? "memory.max_usage_in_bytes" : "memory.peak"));

        public int? ProcessCount => ReadLong(Path.Combine(PidsDir, "pids.current")) is long n ? (int)n : null;

        public IReadOnlyList<int> Pids()
        {
            var pids = new HashSet<int>();
            foreach (var f in ProcsFiles)
            {
                try
                {
                    foreach (var line in File.ReadLines(f))
                        if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) pids.Add(pid);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
            return [.. pids];
        }

        /// <summary>Kills and removes a group of the same name left from before.</summary>
        public void RemoveExisting()
        {
            if (Directories.Any(Directory.Exists) && !KillAndRemove(TimeSpan.FromSeconds(3)))
                throw new IOException($"a previous cgroup for worker {workerId} could not be removed");
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            if (!KillAndRemove(TimeSpan.FromSeconds(3)))
                logger?.LogWarning("The cgroup of worker {WorkerId} could not be removed: {Dirs}", workerId, string.Join(", ", Directories.Where(Directory.Exists)));
        }

        private bool KillAndRemove(TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var killFile = mechanism == CgroupMechanism.V2 ? Path.Combine(dirs[""], "cgroup.kill") : null;
                var viaKillFile = false;
                if (killFile is not null && File.Exists(killFile))
                {
                    try { File.WriteAllText(killFile, "1"); viaKillFile = true; }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                }
                if (!viaKillFile)
                    foreach (var pid in Pids())
                        if (pid > 1 && pid != Environment.ProcessId) _ = Native.Kill(pid, Native.SigKill); // never kill(0) or ourselves
                // v1: the memory group goes last, so it is not left without limits while others still run.
                var removed = true;
                foreach (var d in Directories.OrderBy(d => d == MemoryDir ? 1 : 0))
                    removed &= TryRemoveDirectory(d);
                if (removed) return true;
                if (DateTime.UtcNow > deadline) return false;
                Thread.Sleep(20);
            }
        }

        private static long? ReadLong(string file)
        {
            try { return long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }

        private static long ReadKeyed(string file, string key)
        {
            try
            {
                foreach (var line in File.ReadLines(file))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length == 2 && parts[0] == key && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
                        return v;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            return 0;
        }
    }

    private static class Native
    {
        public const int SigKill = 9;

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int sig);
    }
}
