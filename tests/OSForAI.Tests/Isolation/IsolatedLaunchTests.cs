using System.Globalization;
using OSForAI.Runtime.Workers.Isolation;

namespace OSForAI.Tests.Isolation;

/// <summary>Both pieces together, as the worker host launches them: launcher shell → cgroups → bwrap with the filter.</summary>
public sealed class IsolatedLaunchTests
{
    [Fact]
    public async Task Bwrap_worker_runs_in_its_cgroup_under_the_filter()
    {
        IsolationProcess.Require(IsolationProcess.Bwrap, "bubblewrap");
        IsolationProcess.Require(IsolationProcess.Python, "Debian's python3");
        var name = "osforai-test-" + Guid.NewGuid().ToString("N")[..10];
        var limiter = CgroupLimiter.Detect(name);
        Assert.True(limiter.Mechanism != CgroupMechanism.None, "cgroups are not usable here: " + limiter.Description);
        var filter = Path.Combine(Path.GetTempPath(), name + ".bpf");
        try
        {
            Assert.True(SeccompFilter.WriteTo(filter), "no seccomp filter for this architecture");
            using var g = limiter.Create("w1", new WorkerLimits(64L << 20, 20, 1))!;
            Assert.NotNull(g);
            const string script = """
                import ctypes, os, platform
                libc = ctypes.CDLL(None, use_errno=True)
                r = libc.syscall(165 if platform.machine() == "x86_64" else 40, 0, 0, 0, 0, 0)
                print("mount", r, ctypes.get_errno(), flush=True)
                print(open("/proc/self/cgroup").read(), flush=True)
                s = b"x" * (300 * 1024 * 1024)
                """;
            string[] bwrap =
            [
                IsolationProcess.Bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--unshare-user", "--unshare-pid", "--seccomp", SeccompFilter.LauncherFd.ToString(CultureInfo.InvariantCulture),
                "--", IsolationProcess.Python, "-c", script,
            ];
            var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell, WorkerLauncher.ShellArguments(g.ProcsFiles, filter, bwrap));
            Assert.Contains("mount -1 1", stdout);                      // EPERM from the filter
            Assert.Matches($"/{name}/p{Environment.ProcessId}(n[0-9]+)?-w1\\b", stdout);   // in the worker's cgroup
            Assert.True(exit != 0, $"the 300 MB allocation succeeded under a 64 MB limit: {stdout} {stderr}");
            Assert.True(g.WasOomKilled(), $"no OOM kill recorded (exit {exit}): {stderr}");
        }
        finally
        {
            File.Delete(filter);
            foreach (var dir in limiter.ParentDirectories)
                try { Directory.Delete(dir); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task Launcher_refuses_to_run_when_it_cannot_join_the_cgroup()
    {
        var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell,
            WorkerLauncher.ShellArguments(["/nonexistent/cgroup.procs"], null, ["/bin/echo", "ran"]));
        Assert.Equal(WorkerLauncher.LaunchFailedExitCode, exit);
        Assert.DoesNotContain("ran", stdout);
        Assert.Contains("cannot join cgroup", stderr);
    }
}
