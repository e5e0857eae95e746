using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Scaling;

/// <summary>The live scheduler: call-graph pre-warming and a burst against a version scaled to zero, end to end.</summary>
public sealed class LiveScalingTests
{
    [Fact]
    public async Task After_learning_calling_a_caller_leaves_no_cold_start_for_its_callee()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            // Instances are stopped one second after their last call, so every round below starts from zero.
            ["OSForAI:Workers:IdleKeepAlive"] = "00:00:01",
            ["OSForAI:Workers:KeepAlive"] = "fixed",
        });
        await s.PublishAsync("chain/b", "1.0.0", Python("def apply(x):\n    return x * 2\n"));
        // A does some work first (2 s, generous for a loaded machine), then calls B: the pre-warm has that long to get B ready.
        await s.PublishAsync("chain/a", "1.0.0", Python(
            "import time, osai_runner\n\ndef apply(x):\n    time.sleep(2.0)\n    return osai_runner.client().algo('chain/b/1.0.0').pipe(x).result + 1\n"));
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;

        async Task<(long Cold, long Hits)> RoundAsync(int x)
        {
            // Wait until both versions are scaled to zero.
            var until = DateTime.UtcNow.AddSeconds(15);
            while ((pool.InstancePids("chain/a@1.0.0").Count > 0 || pool.InstancePids("chain/b@1.0.0").Count > 0) && DateTime.UtcNow < until)
                await Task.Delay(100);
            Assert.Empty(pool.InstancePids("chain/b@1.0.0"));
            var before = pool.Stats;
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/chain/a/1.0.0", Json(x.ToString()));
            Assert.True(status == 200, body.ToString());
            Assert.Equal(2 * x + 1, body.GetProperty("result").GetInt32());
            var after = pool.Stats;
            return (after.ColdCalls - before.ColdCalls, after.PrewarmHits - before.PrewarmHits);
        }

        var first = await RoundAsync(1);
        Assert.Equal(2, first.Cold);                  // A and B both cold: nothing learned yet
        await RoundAsync(2);
        var learned = await RoundAsync(3);
        Assert.Equal(1, learned.Cold);                // only A: B was pre-warmed when A was called
        Assert.Equal(1, learned.Hits);
    }

    [Fact]
    public async Task A_burst_of_1000_calls_against_a_version_scaled_to_zero_completes_without_errors()
    {
        await using var s = await TestServer.StartAsync();
        await s.PublishAsync("burst/echo", "1.0.0", Python("def apply(x):\n    return x\n", "concurrency: 4\n"));
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        Assert.Empty(pool.InstancePids("burst/echo@1.0.0"));
        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/burst/echo/1.0.0", Json(i.ToString()));
            return (status, ok: status == 200 && body.GetProperty("result").GetInt32() == i);
        }));
        Assert.All(results, r => Assert.True(r.ok, $"status {r.status}"));
        Assert.InRange(pool.InstancePids("burst/echo@1.0.0").Count, 1, 8);
    }

    [Fact]
    public async Task The_adaptive_keep_alive_keeps_a_version_the_fixed_one_would_have_stopped()
    {
        // Same short fixed keep-alive, but the adaptive policy decides: until it has seen an idle time it keeps a version ten minutes.
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:IdleKeepAlive"] = "00:00:01",
            ["OSForAI:Workers:KeepAlive"] = "adaptive",
        });
        await s.PublishAsync("keep/me", "1.0.0", Python("def apply(x):\n    return x\n"));
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/keep/me/1.0.0", Json("1"))).Status);
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        await Task.Delay(TimeSpan.FromSeconds(2.5));   // well past the fixed 1 s and several reaper ticks
        Assert.Single(pool.InstancePids("keep/me@1.0.0"));
    }

    private static Dictionary<string, string?> FastAutoscaler(params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Autoscaling:MetricInterval"] = "00:00:00.2",
            ["OSForAI:Workers:Autoscaling:DecisionInterval"] = "00:00:00.2",
            ["OSForAI:Workers:Autoscaling:StableWindow"] = "00:00:03",
        };
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    [Fact]
    public async Task The_autoscaler_adds_an_instance_when_in_flight_load_passes_its_target_without_any_queue()
    {
        // Four slots per instance and four steady clients: the queue never grows, so only the autoscaler (aiming at half
        // the slots) can decide on a second instance.
        await using var s = await TestServer.StartAsync(FastAutoscaler(("OSForAI:Workers:Autoscaling:TargetUtilization", "0.5")));
        await s.PublishAsync("scale/up", "1.0.0", Python("import time\n\ndef apply(x):\n    time.sleep(0.2)\n    return x\n", "concurrency: 4\n"));
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/scale/up/1.0.0", Json("0"))).Status);
        var stop = DateTime.UtcNow.AddSeconds(3);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async c =>
        {
            while (DateTime.UtcNow < stop)
                Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/scale/up/1.0.0", Json(c.ToString()))).Status);
        }));
        Assert.True(pool.Stats.ScaleUps >= 1, $"scale-ups: {pool.Stats.ScaleUps}");
        Assert.Equal(2, pool.InstancePids("scale/up@1.0.0").Count);
    }

    [Fact]
    public async Task The_autoscaler_scales_a_burst_back_down_to_one_warm_instance_long_before_the_keep_alive_ends()
    {
        // Keep-alive is the default ten minutes: without the autoscaler the burst's extra instances would all stay.
        await using var s = await TestServer.StartAsync(FastAutoscaler());
        await s.PublishAsync("scale/down", "1.0.0", Python("import time\n\ndef apply(x):\n    time.sleep(0.3)\n    return x\n"));
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
            Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/scale/down/1.0.0", Json(i.ToString()))).Status)));
        Assert.True(pool.InstancePids("scale/down@1.0.0").Count > 1, "the burst should have started several instances");
        var until = DateTime.UtcNow.AddSeconds(20);
        while (pool.InstancePids("scale/down@1.0.0").Count > 1 && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Single(pool.InstancePids("scale/down@1.0.0"));
        Assert.True(pool.Stats.ScaleDowns >= 1);
        await Task.Delay(1000);
        Assert.Single(pool.InstancePids("scale/down@1.0.0"));   // zero is the keep-alive policy's call, not the autoscaler's
    }

    [Fact]
    public async Task An_unknown_autoscaler_policy_stops_the_server_from_starting_with_a_clear_error()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Autoscaling:Policy"] = "magic",
        }));
        Assert.Contains("'magic' at 'OSForAI:Workers:Autoscaling:Policy'", e.ToString());
    }

    [Fact]
    public async Task An_unknown_keep_alive_policy_stops_the_server_from_starting_with_a_clear_error()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:KeepAlive"] = "forever-and-ever",
        }));
        Assert.Contains("'forever-and-ever' at 'OSForAI:Workers:KeepAlive'", e.ToString());
    }
}
