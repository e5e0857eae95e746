using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>output=void calls are persisted before the reply and survive a restart.</summary>
public sealed class AsyncJobTests
{
    private static async Task<JsonElement> WaitForJobAsync(TestServer s, string id, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            var job = await s.Admin.GetFromJsonAsync<JsonElement>("/v1/jobs/" + id);
            var status = job.GetProperty("status").GetString();
            if (status is "succeeded" or "failed" || DateTime.UtcNow > until) return job;
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Void_call_answers_before_the_algorithm_finishes_and_runs_in_the_background()
    {
        await using var s = await TestServer.StartAsync();
        // The algorithm waits for the test to open a gate (a data object appearing), so the reply can only come
        // first if the call is asynchronous. Data, not a socket or a file: sandboxed workers have no network and a private /tmp.
        await s.PublishAsync("olga/gated", "1.0.0", Python("""
            import osai_runner, time
            def apply(x):
                gate = osai_runner.client().file("data://.my/gate-" + x["gate"])
                deadline = time.time() + 30
                while not gate.exists():
                    if time.time() > deadline:
                        raise RuntimeError("gate never opened")
                    time.sleep(0.05)
                return x["n"] * 2
            """));
        var gateName = Guid.NewGuid().ToString("N");
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/olga/gated?output=void",
            Json(JsonSerializer.Serialize(new { gate = gateName, n = 21 })));
        Assert.Equal(202, status);
        Assert.Equal("void", body.GetProperty("metadata").GetProperty("content_type").GetString());
        var id = body.GetProperty("result").GetProperty("request_id").GetString()!;
        var pending = await s.Admin.GetFromJsonAsync<JsonElement>("/v1/jobs/" + id);
        Assert.Contains(pending.GetProperty("status").GetString(), new[] { "queued", "running" });

        using (var open = await s.Admin.PutAsync("/v1/data/.my/gate-" + gateName, new ByteArrayContent("open"u8.ToArray())))
            Assert.True(open.IsSuccessStatusCode, await open.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync(s, id, TimeSpan.FromSeconds(20));
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.ToString());
        Assert.Equal(42, job.GetProperty("result").GetInt32());
    }

    [Fact]
    public async Task Void_call_accepted_before_a_restart_completes_after_it()
    {
        var s = await TestServer.StartAsync();
        try
        {
            await s.PublishAsync("olga/slowmark", "1.0.0", Python("import time\ndef apply(x):\n    time.sleep(3)\n    return 'marked ' + x\n"));
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/olga/slowmark?output=void", Text("job-1"));
            Assert.Equal(202, status);
            var id = body.GetProperty("result").GetProperty("request_id").GetString()!;
            // Stop while the job is queued or running, then start again on the same home folder.
            await s.RestartAsync();
            var job = await WaitForJobAsync(s, id, TimeSpan.FromSeconds(30));
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.ToString());
            Assert.Equal("marked job-1", job.GetProperty("result").GetString());
        }
        finally { await s.DisposeAsync(); }
    }

    [Fact]
    public async Task Published_catalog_and_keys_survive_a_restart()
    {
        var s = await TestServer.StartAsync();
        try
        {
            await s.PublishAsync("olga/persist", "1.2.3", Python("def apply(x):\n    return 'persisted'\n"));
            var key = await s.CreateKeyAsync("olga", "call");
            await s.RestartAsync();
            using var c = s.ClientFor(key);
            var (status, body) = await CallAsync(c, "/v1/algo/olga/persist/1.2.*", Json("0"));
            Assert.Equal(200, status);
            Assert.Equal("persisted", body.GetProperty("result").GetString());
        }
        finally { await s.DisposeAsync(); }
    }
}
