using System.Globalization;
using OSForAI.Runtime.Workers.Isolation;
using Xunit.Abstractions;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// Per-worker cgroup limits, enforced for real on this machine (cgroup v1 or v2). Each test uses its
/// own parent group name, so they can run concurrently, and removes it at the end. They need root,
/// writable memory/pids/cpu cgroups and /usr/bin/python3, and fail (not skip) with the detector's
/// reason when cgroups are unusable.
/// </summary>
public sealed class CgroupLimiterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _group = "osforai-test-" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<CgroupLimiter> _limiters = [];

    private CgroupLimiter Limiter(int? ownerPid = null, string? ownerPidNamespace = null)
    {
        Assert.True(OperatingSystem.IsLinux(), "cgroup tests need Linux");
        IsolationProcess.Require(IsolationProcess.Python, "Debian's python3");
        var limiter = CgroupLimiter.Detect(_group, ownerPid: ownerPid, ownerPidNamespace: ownerPidNamespace);
        _limiters.Add(limiter);
        Assert.True(limiter.Mechanism != CgroupMechanism.None, "cgroups are not usable here, so limits cannot be tested: " + limiter.Description);
        return limiter;
    }

    public void Dispose()
    {
        foreach (var dir in _limiters.SelectMany(l => l.ParentDirectories).Distinct())
        {
            if (!Directory.Exists(dir)) continue;
            foreach (var child in Directory.GetDirectories(dir)) TryRmdir(child);
            TryRmdir(dir);
        }
    }

    private static void TryRmdir(string dir)
    {
        try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static IReadOnlyList<string> InGroup(IWorkerCgroup g, params string[] command) =>
        WorkerLauncher.ShellArguments(g.ProcsFiles, null, command);

    [Fact]
    public void Detect_says_which_mechanism_and_why()
    {
        var limiter = Limiter();
        output.WriteLine(limiter.Description);
        Assert.Contains(limiter.Mechanism == CgroupMechanism.V1 ? "cgroup v1" : "cgroup v2", limiter.Description);
        Assert.All(limiter.ParentDirectories, d => Assert.True(Directory.Exists(d), d));
        Assert.All(limiter.ParentDirectories, d => Assert.EndsWith("/" + _group, d));
    }

    [Fact]
    public async Task A_worker_over_its_memory_limit_is_OOM_killed()
    {
        using var g = Limiter().Create("mem-big", new WorkerLimits(64L << 20, null, null))!;
        Assert.NotNull(g);
        var (exit, _, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell,
            InGroup(g, IsolationProcess.Python, "-c", "s = b'x' * (300 * 1024 * 1024); print(len(s))"));
        Assert.True(exit == 137, $"expected SIGKILL (137), got {exit}: {stderr}");
        Assert.True(g.WasOomKilled(), "the group records no OOM kill");
        Assert.InRange(g.PeakMemoryBytes ?? 0, 32L << 20, 64L << 20);
    }

    [Fact]
    public async Task A_worker_under_its_memory_limit_runs_normally()
    {
        using var g = Limiter().Create("mem-small", new WorkerLimits(64L << 20, null, null))!;
        Assert.NotNull(g);
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell,
            InGroup(g, IsolationProcess.Python, "-c", "s = b'x' * (10 * 1024 * 1024); print(len(s))"));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal((10 * 1024 * 1024).ToString(CultureInfo.InvariantCulture), stdout.Trim());
        Assert.False(g.WasOomKilled());
        Assert.InRange(g.PeakMemoryBytes ?? 0, 10L << 20, 64L << 20);
    }

    private const string ForkStorm = """
        import errno, os, sys, time
        made, err = 0, None
        for i in range(200):
            try:
                pid = os.fork()
            except OSError as e:
                err = errno.errorcode[e.errno]
                break
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            made += 1
        print(made, err, flush=True)
        sys.stdin.readline()
        """;

    [Fact]
    public async Task A_fork_storm_is_capped_at_MaxProcesses()
    {
        using var g = Limiter().Create("forks", new WorkerLimits(null, 20, null))!;
        Assert.NotNull(g);
        using var p = IsolationProcess.Start(WorkerLauncher.Shell, InGroup(g, IsolationProcess.Python, "-c", ForkStorm), stdin: true);
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (line is null) Assert.Fail("the storm printed nothing: " + await p.StandardError.ReadToEndAsync());
        var parts = line!.Split(' ');
        var made = int.Parse(parts[0], CultureInfo.InvariantCulture);
        Assert.Equal("EAGAIN", parts[1]);
        Assert.InRange(made, 1, 19);
        Assert.InRange(g.ProcessCount ?? 999, made + 1, 20);
        var children = g.Pids();
        Assert.Contains(p.Id, children);
        g.Dispose();
        Assert.True(p.WaitForExit(10_000), "the storm's parent survived Dispose");
        Assert.Equal(137, p.ExitCode);
        Assert.All(g.Directories, d => Assert.False(Directory.Exists(d), d + " still exists"));
        foreach (var pid in children) Assert.False(IsRunning(pid), $"pid {pid} survived Dispose");
    }

    [Fact]
    public async Task A_CPU_spinner_is_held_to_its_quota()
    {
        using var g = Limiter().Create("cpu", new WorkerLimits(null, null, 0.2))!;
        Assert.NotNull(g);
        using var p = IsolationProcess.Start(WorkerLauncher.Shell, InGroup(g, IsolationProcess.Python, "-c", "while True: pass"));
        try
        {
            await Task.Delay(300);
            var (t0, w0) = (CpuTicks(p.Id), DateTime.UtcNow);
            await Task.Delay(1000);
            var (t1, w1) = (CpuTicks(p.Id), DateTime.UtcNow);
            var cores = (t1 - t0) / 100.0 / (w1 - w0).TotalSeconds; // USER_HZ is 100 on x86_64 and aarch64
            Assert.True(cores <= 0.3, $"the spinner used {cores:F2} cores with a 0.2-core quota");
            Assert.True(cores >= 0.05, $"the spinner used only {cores:F2} cores: did it run?");
            var throttled = g.Directories.Select(d => Path.Combine(d, "cpu.stat")).Where(File.Exists)
                .SelectMany(File.ReadLines).Where(l => l.StartsWith("nr_throttled ", StringComparison.Ordinal))
                .Select(l => long.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture)).Sum();
            Assert.True(throttled > 0, "cpu.stat shows no throttling");
        }
        finally
        {
            g.Dispose();
            p.WaitForExit(10_000);
        }
    }

    [Fact]
    public async Task Dispose_kills_leftover_processes_and_removes_the_groups()
    {
        using var g = Limiter().Create("leftover", new WorkerLimits(256L << 20, 50, 1))!;
        Assert.NotNull(g);
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell, InGroup(g, IsolationProcess.Python, "-c",
            "import subprocess; print(subprocess.Popen(['sleep', '300'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"));
        Assert.True(exit == 0, stderr);
        var orphan = int.Parse(stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.True(IsRunning(orphan), "the detached sleep is not running");
        Assert.Contains(orphan, g.Pids());
        g.Dispose();
        Assert.False(IsRunning(orphan), "the detached sleep survived Dispose");
        Assert.All(g.Directories, d => Assert.False(Directory.Exists(d), d + " still exists"));
    }

    [Fact]
    public async Task Detect_removes_groups_left_by_a_previous_run()
    {
        // The "crashed" server: a process that has exited since.
        using var gone = System.Diagnostics.Process.Start("/bin/true")!;
        gone.WaitForExit();
        var first = Limiter(gone.Id);
        var g = first.Create("stale", new WorkerLimits(null, 10, null))!; // not disposed: the crashed server's
        Assert.NotNull(g);
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell, InGroup(g, IsolationProcess.Python, "-c",
            "import subprocess; print(subprocess.Popen(['sleep', '300'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"));
        Assert.True(exit == 0, stderr);
        var orphan = int.Parse(stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.True(IsRunning(orphan));
        var live = Limiter().Create("live", new WorkerLimits(null, 10, null))!;   // a live server's group
        Limiter(); // the restarted server
        Assert.All(live.Directories, d => Assert.True(Directory.Exists(d), "a live server's group was removed: " + d));
        live.Dispose();
        Assert.False(IsRunning(orphan), "the stale worker's process survived Detect");
        Assert.All(g.Directories, d => Assert.False(Directory.Exists(d), d + " still exists"));
    }

    [Fact]
    public async Task Detect_leaves_alone_the_groups_of_a_server_in_another_pid_namespace()
    {
        // A server in another pid namespace, sharing the parent group (v1 controllers at the root are shared by every
        // namespace): its pid names no process here, yet its worker is alive and may be running calls.
        using var notHere = System.Diagnostics.Process.Start("/bin/true")!;
        notHere.WaitForExit();
        var other = Limiter(notHere.Id, ownerPidNamespace: "1");
        using var g = other.Create("elsewhere", new WorkerLimits(null, 10, null))!;
        Assert.NotNull(g);
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell, InGroup(g, IsolationProcess.Python, "-c",
            "import subprocess; print(subprocess.Popen(['sleep', '300'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"));
        Assert.True(exit == 0, stderr);
        var worker = int.Parse(stdout.Trim(), CultureInfo.InvariantCulture);

        Limiter(); // a server starting in this namespace
        Assert.True(IsRunning(worker), "a server in this pid namespace killed the worker of a server in another one");
        Assert.All(g.Directories, d => Assert.True(Directory.Exists(d), "the other server's group was removed: " + d));
        g.Dispose();
        Assert.False(IsRunning(worker));
    }

    [Fact]
    public void Rlimit_arguments_follow_the_documented_rules()
    {
        Assert.Equal(["--core=0"], CgroupLimiter.RlimitArguments(new WorkerLimits(null, 20, 1)));
        Assert.Equal(["--core=0", $"--data={(64L << 20) + (256L << 20)}"], CgroupLimiter.RlimitArguments(new WorkerLimits(64L << 20, 20, null)));
        Assert.Equal(["--core=0", $"--data={(4L << 30) + (2L << 30)}", "--nproc=20"],
            CgroupLimiter.RlimitArguments(new WorkerLimits(4L << 30, 20, null), workersHaveOwnUid: true));
    }

    [Fact]
    public async Task Rlimit_fallback_stops_a_large_allocation()
    {
        const string prlimit = "/usr/bin/prlimit";
        IsolationProcess.Require(prlimit, "util-linux's prlimit");
        IsolationProcess.Require(IsolationProcess.Python, "Debian's python3");
        var args = CgroupLimiter.RlimitArguments(new WorkerLimits(64L << 20, null, null));
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(prlimit, [.. args, "--", IsolationProcess.Python, "-c",
            "import sys\ntry:\n    s = b'x' * (1024 * 1024 * 1024)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')"]);
        Assert.True(exit == 0, stderr);
        Assert.Equal("MemoryError", stdout.Trim());
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException) { return false; }
    }

    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
    }
}
