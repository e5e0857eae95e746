using System.Diagnostics;
using System.Runtime.InteropServices;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Workers;

/// <summary>
/// No mechanism of the server kills a worker that has calls in flight (issue 137: workers SIGKILLed mid-call, "the worker
/// closed its connection (exit status 137)", under load and on quiet servers alike). The cause was bubblewrap's
/// --die-with-parent: its parent-death signal fires when the *thread* that forked the sandbox ends, and .NET forks from
/// whichever thread calls Process.Start, a thread-pool thread that retires when the pool shrinks or idles for 20 s.
/// </summary>
public sealed class WorkerSurvivalTests
{
    private const string Sleeper = "import time\n\ndef apply(x):\n    time.sleep(x)\n    return x\n";

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    private static void RequireBubblewrap() =>
        Skip.IfNot(File.Exists("/usr/bin/bwrap") || Environment.GetEnvironmentVariable("CI") == "true",
            "bubblewrap is not installed (apt-get install bubblewrap); CI installs it and runs these tests");

    [SkippableFact]
    public async Task A_sandboxed_worker_outlives_the_thread_that_started_it()
    {
        RequireBubblewrap();
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Sandbox"] = "bubblewrap",
            ["OSForAI:Workers:WarmGenericWorkers"] = "0",
        });
        var host = s.Get<IWorkerHost>();
        Assert.True(((ProcessWorkerHost)host).IsSandboxed);

        // Start a worker the way the pools do, but from a thread of our own that ends right after: Process.Start forks on
        // the calling thread, so that thread is the sandbox's parent, as a pool thread is in the server.
        WorkerConnection? started = null;
        Exception? failure = null;
        var tid = 0;
        var starter = new Thread(() =>
        {
            tid = GetTid();
            try { started = host.StartAsync("python3", CancellationToken.None).GetAwaiter().GetResult(); }
            catch (Exception e) { failure = e; }
        }) { IsBackground = true, Name = "worker starter" };
        starter.Start();
        Assert.True(starter.Join(TimeSpan.FromSeconds(30)), "the worker did not start in 30 s");
        Assert.Null(failure);
        await using var worker = started!;
        var identity = ProcessIdentity.Of(worker.Pid);
        Assert.NotNull(identity);

        // Until the kernel has let the thread go (its end is what a parent-death signal follows).
        for (var i = 0; i < 500 && Directory.Exists($"/proc/self/task/{tid}"); i++) await Task.Delay(10);
        Assert.False(Directory.Exists($"/proc/self/task/{tid}"), "the starting thread is still there after 5 s");
        // More threads come and go, as in a thread pool that grows under load and shrinks after it.
        for (var i = 0; i < 16; i++)
        {
            var t = new Thread(() => Thread.Sleep(1));
            t.Start();
            t.Join();
        }
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => Thread.Sleep(1))));

        // The worker still answers, and is not dying either.
        for (var i = 0; i < 10; i++)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var pong = await worker.RequestAsync("ping", _ => { }, default, timeout.Token);
            Assert.Equal("pong", pong.Type);
        }
        Assert.NotSame(worker.Exited, await Task.WhenAny(worker.Exited, Task.Delay(300)));
        Assert.True(worker.IsAlive);
        Assert.True(identity.Value.IsRunning);

        // Our own stop still reaches it (the host kills the worker by identity now, not by pid).
        await worker.DisposeAsync();
        for (var i = 0; i < 500 && identity.Value.IsRunning; i++) await Task.Delay(10);
        Assert.False(identity.Value.IsRunning, "the worker was still running 5 s after its connection was disposed");
    }

    [Fact]
    public void A_pid_that_no_longer_names_the_worker_is_never_signalled()
    {
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            var identity = ProcessIdentity.Of(sleeper.Id);
            Assert.NotNull(identity);
            Assert.True(identity.Value.IsRunning);

            // The same number held by another process: what a worker's pid names once the worker has exited and the kernel
            // has handed the number to the next process or thread (another worker with calls in flight, or this server).
            var other = identity.Value with { StartTicks = identity.Value.StartTicks + 1 };
            Assert.False(other.IsRunning);
            Assert.False(other.KillTree());
            Assert.False(sleeper.HasExited);

            Assert.True(identity.Value.KillTree());
            Assert.True(sleeper.WaitForExit(5000));
            Assert.Equal(137, sleeper.ExitCode);
            Assert.False(identity.Value.IsRunning);
            Assert.False(identity.Value.KillTree());
            Assert.Null(ProcessIdentity.Of(sleeper.Id));
        }
        finally
        {
            if (!sleeper.HasExited) sleeper.Kill();
        }
    }

    [Fact]
    public async Task Scaling_down_and_keep_alive_never_stop_an_instance_with_a_call_in_flight()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Autoscaling:MetricInterval"] = "00:00:00.1",
            ["OSForAI:Workers:Autoscaling:DecisionInterval"] = "00:00:00.1",
            ["OSForAI:Workers:Autoscaling:StableWindow"] = "00:00:01",   // scale-down window: 1/6 s
            ["OSForAI:Workers:KeepAlive"] = "fixed",
            ["OSForAI:Workers:IdleKeepAlive"] = "00:00:00.3",
            ["OSForAI:Workers:MaxInstancesPerVersion"] = "4",
        });
        await s.PublishAsync("keep/busy", "1.0.0", Python(Sleeper));
        var pool = s.Get<WorkerPool>();
        // A burst starts several instances ...
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/keep/busy/1.0.0", Json("0.3"))).Status)));
        Assert.True(pool.InstancePids("keep/busy@1.0.0").Count > 1, "the burst should have started several instances");
        var scaleDowns = pool.Stats.ScaleDowns;

        // ... which the autoscaler stops while one of them runs a long call; short calls keep coming meanwhile.
        var running = CallAsync(s.Admin, "/v1/algo/keep/busy/1.0.0", Json("2.5"));
        var until = DateTime.UtcNow.AddSeconds(2);
        while (DateTime.UtcNow < until)
        {
            Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/keep/busy/1.0.0", Json("0"))).Status);
            await Task.Delay(150);
        }
        var (status, body) = await running;
        Assert.True(status == 200, $"the long call failed: {status} {body}");
        Assert.True(pool.Stats.ScaleDowns > scaleDowns, "the autoscaler should have stopped instances during the long call");
    }

    [Fact]
    public async Task A_call_that_times_out_does_not_take_down_the_other_calls_on_its_worker()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:MaxInstancesPerVersion"] = "1",
        });
        await s.PublishAsync("keep/shared", "1.0.0", Python(Sleeper, "concurrency: 2\n"));
        var pool = s.Get<WorkerPool>();
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/keep/shared/1.0.0", Json("0"))).Status);

        // One call runs for 3 s; another on the same worker runs into its 1 s timeout meanwhile.
        var running = CallAsync(s.Admin, "/v1/algo/keep/shared/1.0.0", Json("3"));
        for (var i = 0; i < 500 && pool.InFlight("keep/shared@1.0.0") == 0; i++) await Task.Delay(10);
        Assert.Equal(1, pool.InFlight("keep/shared@1.0.0"));
        var (timedOut, _) = await CallAsync(s.Admin, "/v1/algo/keep/shared/1.0.0?timeout=1", Json("30"));
        Assert.Equal(504, timedOut);

        var (status, body) = await running;
        Assert.True(status == 200, $"the call that was within its timeout failed with the other's: {status} {body}");
    }
}
