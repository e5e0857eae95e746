using System.Net;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Workers;

/// <summary>Queue bounds, idle keep-alive and worker isolation of the process worker pool, end to end.</summary>
public sealed class PoolBehaviourTests
{
    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_accepted_calls_all_complete()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:QueueLimit"] = "3",
            ["OSForAI:Workers:MaxInstancesPerVersion"] = "1",
        });
        await s.PublishAsync("quinn/slow", "1.0.0", Python("import time\ndef apply(x):\n    time.sleep(0.3)\n    return x\n"));
        var calls = Enumerable.Range(0, 12).Select(async i =>
        {
            var r = await s.Admin.PostAsync("/v1/algo/quinn/slow", Json(i.ToString()));
            return (Status: (int)r.StatusCode, RetryAfter: r.Headers.RetryAfter?.Delta, Body: await r.Content.ReadAsStringAsync(), Input: i);
        }).ToList();
        var results = await Task.WhenAll(calls);
        var accepted = results.Where(r => r.Status == 200).ToList();
        var refused = results.Where(r => r.Status == 429).ToList();
        Assert.Equal(results.Length, accepted.Count + refused.Count);
        Assert.NotEmpty(refused);
        Assert.NotEmpty(accepted);
        Assert.All(refused, r => Assert.Equal(TimeSpan.FromSeconds(1), r.RetryAfter));
        Assert.All(refused, r => Assert.Contains("QueueFull", r.Body));
        Assert.All(accepted, r => Assert.Contains($"\"result\":{r.Input}", r.Body));
    }

    [Fact]
    public async Task Idle_instances_are_stopped_after_the_keep_alive()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:IdleKeepAlive"] = "00:00:01",
            ["OSForAI:Workers:KeepAlive"] = "fixed",
        });
        await s.PublishAsync("quinn/brief", "1.0.0", Python("def apply(x):\n    return x\n"));
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/quinn/brief", Json("1"))).Status);
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        Assert.Single(pool.InstancePids("quinn/brief@1.0.0"));
        var until = DateTime.UtcNow.AddSeconds(10);
        while (pool.InstancePids("quinn/brief@1.0.0").Count > 0 && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Empty(pool.InstancePids("quinn/brief@1.0.0"));
        // And it comes back on the next call.
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/quinn/brief", Json("2"))).Status);
    }

    [Fact]
    public async Task Workers_do_not_inherit_the_servers_secrets()
    {
        Environment.SetEnvironmentVariable("OSAI_TEST_SECRET", "do-not-leak");
        try
        {
            await using var s = await TestServer.StartAsync();
            await s.PublishAsync("quinn/env", "1.0.0", Python("import os\ndef apply(x):\n    return os.environ.get(x, 'absent')\n"));
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/quinn/env", Json("\"OSAI_TEST_SECRET\""));
            Assert.Equal(200, status);
            Assert.Equal("absent", body.GetProperty("result").GetString());
        }
        finally { Environment.SetEnvironmentVariable("OSAI_TEST_SECRET", null); }
    }

    [Fact]
    public async Task More_algorithms_than_workers_evict_the_least_recently_used_idle_instance()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:MaxWorkers"] = "3",
            ["OSForAI:Workers:WarmGenericWorkers"] = "1",
        });
        for (var i = 0; i < 5; i++)
            await s.PublishAsync($"quinn/many{i}", "1.0.0", Python($"def apply(x):\n    return {i}\n"));
        var pool = (WorkerPool)s.Server.Services.GetService(typeof(WorkerPool))!;
        for (var round = 0; round < 2; round++)
            for (var i = 0; i < 5; i++)
            {
                var (status, body) = await CallAsync(s.Admin, $"/v1/algo/quinn/many{i}", Json("0"));
                Assert.Equal(200, status);
                Assert.Equal(i, body.GetProperty("result").GetInt32());
                Assert.True(pool.Stats.LiveWorkers <= 3, $"{pool.Stats.LiveWorkers} workers alive, limit 3");
            }
    }
}
