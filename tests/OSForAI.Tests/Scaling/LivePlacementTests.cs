using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Scaling;

/// <summary>Placement on the local node: instances are packed by their measured memory, within the node's declared capacity.</summary>
public sealed class LivePlacementTests
{
    private static Dictionary<string, string?> SmallNode() => new()
    {
        ["OSForAI:Workers:Node:MemoryMb"] = "250",
        // One instance per version: at the default target utilisation (0.8) one call in flight asks for a second instance,
        // whose start would race these placement checks.
        ["OSForAI:Workers:MaxInstancesPerVersion"] = "1",
        ["OSForAI:Workers:Autoscaling:MetricInterval"] = "00:00:00.1",
        ["OSForAI:Workers:Autoscaling:DecisionInterval"] = "00:00:00.1",
    };

    private const string Sleeper = "import time\n\ndef apply(x):\n    time.sleep(x)\n    return x\n";

    private static async Task WaitMeasuredAsync(WorkerPool pool, ResourceProfiles profiles, string key)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((profiles.Of(key)?.Samples ?? 0) < ResourceProfiles.SamplesToTrust && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.True(profiles.Of(key)!.Samples >= ResourceProfiles.SamplesToTrust);
        Assert.InRange(profiles.Of(key)!.PeakMemoryMb, 1, 150);
    }

    [Fact]
    public async Task Measured_memory_packs_two_instances_where_their_declared_requests_would_not_fit()
    {
        await using var s = await TestServer.StartAsync(SmallNode());
        await s.PublishAsync("pack/a", "1.0.0", Python(Sleeper, "resources:\n  memory_mb: 200\n"));
        await s.PublishAsync("pack/b", "1.0.0", Python(Sleeper, "resources:\n  memory_mb: 200\n"));
        var pool = s.Get<WorkerPool>();
        var profiles = s.Get<ResourceProfiles>();
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/pack/a/1.0.0", Json("0"))).Status);
        await WaitMeasuredAsync(pool, profiles, "pack/a@1.0.0");
        // 200 + 200 declared > 250, but a's measured need (a python worker, tens of MB) leaves room for b's 200.
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/pack/b/1.0.0", Json("0"))).Status);
        Assert.Single(pool.InstancePids("pack/a@1.0.0"));
        Assert.Single(pool.InstancePids("pack/b@1.0.0"));
        var metrics = await s.Admin.GetStringAsync("/metrics");
        Assert.Contains("osai_version_memory_peak_bytes{version=\"pack/a@1.0.0\"}", metrics);
    }

    [Fact]
    public async Task A_start_that_does_not_fit_evicts_idle_instances_and_fails_clearly_when_the_rest_are_busy()
    {
        await using var s = await TestServer.StartAsync(SmallNode());
        await s.PublishAsync("fit/busy", "1.0.0", Python(Sleeper, "resources:\n  memory_mb: 100\n"));
        await s.PublishAsync("fit/big", "1.0.0", Python(Sleeper, "resources:\n  memory_mb: 240\n"));
        var pool = s.Get<WorkerPool>();
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/fit/busy/1.0.0", Json("0"))).Status);
        await WaitMeasuredAsync(pool, s.Get<ResourceProfiles>(), "fit/busy@1.0.0");

        // While fit/busy runs a call, fit/big (240 MB declared) cannot join it on a 250 MB node.
        var running = CallAsync(s.Admin, "/v1/algo/fit/busy/1.0.0", Json("3"));
        var until = DateTime.UtcNow.AddSeconds(10);
        while (pool.InFlight("fit/busy@1.0.0") == 0 && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.Equal(1, pool.InFlight("fit/busy@1.0.0"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/fit/big/1.0.0", Json("0"));
        Assert.Equal(503, status);
        Assert.Contains("not enough memory on this node", body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(200, (await running).Status);

        // Once fit/busy is idle, it is stopped to make room.
        (status, _) = await CallAsync(s.Admin, "/v1/algo/fit/big/1.0.0", Json("0"));
        Assert.Equal(200, status);
        Assert.Empty(pool.InstancePids("fit/busy@1.0.0"));
        Assert.Single(pool.InstancePids("fit/big@1.0.0"));
    }
}
