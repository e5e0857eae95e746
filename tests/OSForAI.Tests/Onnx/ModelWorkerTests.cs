using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Testing;
using OSForAI.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace OSForAI.Tests.Onnx;

/// <summary>Dynamic batching, the device-memory budget and worker failure, each on its own server.</summary>
public sealed class ModelWorkerTests
{
    private static async Task<double> MetricAsync(TestServer server, string name)
    {
        var text = await server.Admin.GetStringAsync("/metrics");
        var line = text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Concurrent_calls_are_batched_and_match_unbatched_results()
    {
        await using var server = await TestServer.StartAsync();
        const int layers = 48;
        var model = OnnxModels.SlowModel(layers, size: 64);
        // One run at a time, and a first call may wait 50 ms for companions: concurrent calls reliably share runs,
        // however slowly a busy test machine delivers them.
        await server.PublishModelAsync("models/batched", "1.0.0", model, "max_batch_size: 16\nmodel_instances: 1\nmax_queue_delay_ms: 50\n");
        await server.PublishModelAsync("models/unbatched", "1.0.0", model);

        const int clients = 16;
        var inputs = Enumerable.Range(0, clients).Select(i => OnnxModels.TestData(64, seed: 100 + i)).ToArray();
        async Task<float[][]> RunAllAsync(string name) => await Task.WhenAll(inputs.Select(async x =>
        {
            var (s, body) = await Oip.InferAsync(server.Admin, name, Oip.Fp32Request("x", [1, 64], x));
            Assert.True(s == 200, body.ToString());
            return Oip.Floats(Oip.Output(body, "y"));
        }));

        // Warm both (load), then measure how many calls shared a run.
        await RunAllAsync("models.unbatched");
        await RunAllAsync("models.batched");
        var before = await MetricAsync(server, "osai_inferences_batched_total");
        var unbatched = await RunAllAsync("models.unbatched");
        Assert.Equal(before, await MetricAsync(server, "osai_inferences_batched_total"));
        var batched = await RunAllAsync("models.batched");
        Assert.True(await MetricAsync(server, "osai_inferences_batched_total") > before, "no call shared a run with another");

        for (var i = 0; i < clients; i++)
        {
            Oip.AssertClose(OnnxModels.SlowModelReference(inputs[i], layers, size: 64), batched[i], 1e-4f);
            // Merged and single runs agree to float rounding (MLAS may block a batch differently).
            Oip.AssertClose(unbatched[i], batched[i], 1e-6f);
        }
    }

    [Fact]
    public async Task Models_beyond_the_memory_budget_evict_the_least_recently_used()
    {
        var a = OnnxModels.Linear(64, 64, seed: 1);
        var budget = (long)(a.Length * 2.5);
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Models:MemoryBudgetBytes"] = budget.ToString(),
        });
        await server.PublishModelAsync("models/a", "1.0.0", a);
        await server.PublishModelAsync("models/b", "1.0.0", OnnxModels.Linear(64, 64, seed: 2));
        await server.PublishModelAsync("models/c", "1.0.0", OnnxModels.Linear(64, 64, seed: 3));
        var x = OnnxModels.TestData(64, 1);

        async Task CallAsync(string m, int seed)
        {
            var (s, body) = await Oip.InferAsync(server.Admin, m, Oip.Fp32Request("x", [1, 64], x));
            Assert.True(s == 200, body.ToString());
            Oip.AssertClose(OnnxModels.LinearReference(x, 64, 64, seed), Oip.Floats(Oip.Output(body, "y")));
        }

        await CallAsync("models.a", 1);
        await CallAsync("models.b", 2);
        Assert.Equal(2, await MetricAsync(server, "osai_models_resident"));
        Assert.Equal(0, await MetricAsync(server, "osai_model_evictions_total"));
        await CallAsync("models.a", 1);          // a is now more recent than b
        await CallAsync("models.c", 3);          // no room for three: b goes
        Assert.Equal(1, await MetricAsync(server, "osai_model_evictions_total"));
        Assert.Equal(3, await MetricAsync(server, "osai_model_loads_total"));
        Assert.Equal(2, await MetricAsync(server, "osai_models_resident"));
        Assert.True(await MetricAsync(server, "osai_model_resident_bytes") <= budget);
        Assert.Equal(budget, await MetricAsync(server, "osai_model_memory_budget_bytes"));

        var (_, index) = await Oip.SendAsync(server.Admin, HttpMethod.Post, "/v2/repository/index");
        string State(string m) => index.EnumerateArray().Single(e => e.GetProperty("name").GetString() == m).GetProperty("state").GetString()!;
        Assert.Equal("READY", State("models.a"));
        Assert.Equal("UNAVAILABLE", State("models.b"));
        Assert.Equal("READY", State("models.c"));

        // An evicted model loads again on demand, evicting the least recently used (a).
        await CallAsync("models.b", 2);
        Assert.Equal(4, await MetricAsync(server, "osai_model_loads_total"));
        Assert.Equal(2, await MetricAsync(server, "osai_model_evictions_total"));
    }

    [Fact]
    public async Task A_model_larger_than_the_budget_is_refused_with_a_clear_error()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Models:MemoryBudgetBytes"] = "1000",
        });
        await server.PublishModelAsync("models/big", "1.0.0", OnnxModels.Linear(64, 64, seed: 1));
        var (s, body) = await Oip.InferAsync(server.Admin, "models.big", Oip.Fp32Request("x", [1, 64], OnnxModels.TestData(64, 1)));
        Assert.Equal(400, s);
        Assert.Contains("budget", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_killed_model_worker_is_replaced_and_models_reload()
    {
        await using var server = await TestServer.StartAsync();
        await server.PublishModelAsync("models/survivor", "1.0.0", OnnxModels.Linear(4, 3, seed: 1));
        var x = OnnxModels.TestData(4, 2);
        var (s1, _) = await Oip.InferAsync(server.Admin, "models.survivor", Oip.Fp32Request("x", [1, 4], x));
        Assert.Equal(200, s1);
        var pool = server.Server.Services.GetRequiredService<ModelWorkerPool>();
        var worker = Assert.Single(await pool.StatsAsync(default));
        Process.GetProcessById(worker.Pid).Kill();
        await Task.Delay(200);
        var (s2, body) = await Oip.InferAsync(server.Admin, "models.survivor", Oip.Fp32Request("x", [1, 4], x));
        Assert.True(s2 == 200, body.ToString());
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), Oip.Floats(Oip.Output(body, "y")));
        var replaced = Assert.Single(await pool.StatsAsync(default));
        Assert.NotEqual(worker.Pid, replaced.Pid);
    }

    [Fact]
    public async Task A_model_worker_that_cannot_start_is_a_clear_503_and_the_server_stays_up()
    {
        var broken = new Dictionary<string, string?> { ["OSForAI:Models:DotnetPath"] = "/nonexistent/dotnet" };
        await using var server = await TestServer.StartAsync(broken);
        // A build needs a model worker for its load check: without one there is no verdict, so nothing is recorded (503).
        await server.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "orphan" });
        var content = new ByteArrayContent(AlgorithmFiles.Model(OnnxModels.Linear(4, 3, seed: 1)));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/gzip");
        using (var r = await server.Admin.PostAsync("/v1/algorithms/models/orphan/builds", content))
        {
            Assert.Equal(503, (int)r.StatusCode);
            Assert.Contains("the build could not run", await r.Content.ReadAsStringAsync());
        }
        // Published on a working server, then served by a broken one: calls are a clear 503.
        await server.RestartAsync(new Dictionary<string, string?>());
        await server.PublishModelAsync("models/orphan", "1.0.0", OnnxModels.Linear(4, 3, seed: 1));
        await server.RestartAsync(broken);
        var (s, body) = await Oip.InferAsync(server.Admin, "models.orphan", Oip.Fp32Request("x", [1, 4], [1, 2, 3, 4]));
        Assert.Equal(503, s);
        Assert.Contains("onnx worker", body.GetProperty("error").GetString());
        var (live, _) = await Oip.GetAsync(server.Admin, "/v2/health/live");
        Assert.Equal(200, live);
        var (s2, _) = await TestServer.CallAsync(server.Admin, "/v1/algo/models/orphan/1.0.0", TestServer.Json("""{"x": [[1, 2, 3, 4]]}"""));
        Assert.Equal(503, s2);
    }

    [Fact]
    public async Task A_model_slower_than_its_timeout_gets_504_its_run_is_stopped_and_the_worker_keeps_serving()
    {
        await using var server = await TestServer.StartAsync();
        // About 0.2 ms per layer per row on a 2-core machine: 512 layers × 64 rows would run for several seconds.
        await server.PublishModelAsync("models/slow", "1.0.0", OnnxModels.SlowModel(512), "timeout: 1\n");
        await server.PublishModelAsync("models/quick", "1.0.0", OnnxModels.Linear(4, 3, seed: 1));
        var rows = OnnxModels.TestData(64 * 256, 3);
        var (s, body) = await Oip.InferAsync(server.Admin, "models.slow", Oip.Fp32Request("x", [64, 256], rows));
        Assert.True(s == 504, $"{s} {body}");
        Assert.Contains("did not answer within 1 s", body.GetProperty("error").GetString());

        // The worker was told to stop the run: nothing is left running on it soon after.
        var pool = server.Server.Services.GetRequiredService<ModelWorkerPool>();
        var idle = false;
        for (var i = 0; i < 30 && !idle; i++)
        {
            idle = (await pool.StatsAsync(default)).All(w => w.InFlight == 0);
            if (!idle) await Task.Delay(100);
        }
        Assert.True(idle, "the timed-out run was still running 3 s later");
        var x = OnnxModels.TestData(4, 1);
        var (s2, b2) = await Oip.InferAsync(server.Admin, "models.quick", Oip.Fp32Request("x", [1, 4], x));
        Assert.True(s2 == 200, b2.ToString());
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), Oip.Floats(Oip.Output(b2, "y")));
    }
}
