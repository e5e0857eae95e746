using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>Algorithms that raise, hang, crash or misbehave: clear errors, replaced workers, a server that stays up.</summary>
public sealed class FailureTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private Task Publish(string name, string code, string manifest = "") =>
        fixture.EnsurePublishedAsync("bob/" + name, "1.0.0", Python(code, manifest));

    private async Task AssertStillServesAsync(string name, string input, string expected)
    {
        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/bob/{name}", Json(input));
        Assert.Equal(200, status);
        Assert.Equal(expected, body.GetProperty("result").ToString());
    }

    [Fact]
    public async Task Raising_algorithm_returns_message_and_stacktrace()
    {
        await Publish("raiser", """
            def helper(x):
                return 1 / x
            def apply(x):
                if x == 0:
                    return helper(x)
                return x
            """);
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/raiser", Json("0"));
        Assert.Equal(400, status);
        var error = body.GetProperty("error");
        Assert.Equal("division by zero", error.GetProperty("message").GetString());
        Assert.Equal("AlgorithmError", error.GetProperty("error_type").GetString());
        Assert.Contains("ZeroDivisionError", error.GetProperty("stacktrace").GetString());
        Assert.Contains("in helper", error.GetProperty("stacktrace").GetString());
        await AssertStillServesAsync("raiser", "5", "5");
    }

    [Fact]
    public async Task Hanging_algorithm_times_out_is_killed_and_replaced()
    {
        await Publish("sleeper", """
            import time
            def apply(x):
                time.sleep(x)
                return x
            """);
        var pool = S.Server.Services.GetService(typeof(WorkerPool)) as WorkerPool;
        await AssertStillServesAsync("sleeper", "0", "0");
        var before = pool!.InstancePids("bob/sleeper@1.0.0");
        var sw = Stopwatch.StartNew();
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/sleeper?timeout=1", Json("60"));
        Assert.Equal(504, status);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"timeout took {sw.Elapsed}");
        Assert.Equal("AlgorithmTimeout", body.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains("timeout", body.GetProperty("error").GetProperty("message").GetString());
        await AssertStillServesAsync("sleeper", "0", "0");
        var after = pool.InstancePids("bob/sleeper@1.0.0");
        Assert.Empty(before.Intersect(after));
    }

    [Theory]
    [InlineData("os_exit", "import os\ndef apply(x):\n    if x: os._exit(3)\n    return 'alive'\n", "exit status 3")]
    [InlineData("segfault", "import ctypes\ndef apply(x):\n    if x: ctypes.string_at(0)\n    return 'alive'\n", "died")]
    public async Task Crashing_algorithm_fails_fast_and_its_worker_is_replaced(string name, string code, string expected)
    {
        await Publish(name, code);
        await AssertStillServesAsync(name, "0", "alive");
        var sw = Stopwatch.StartNew();
        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/bob/{name}", Json("1"));
        var elapsed = sw.Elapsed;
        Assert.Equal(500, status);
        Assert.Equal("AlgorithmCrashed", body.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains(expected, body.GetProperty("error").GetProperty("message").GetString());
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"crash was reported after {elapsed.TotalMilliseconds} ms");
        await AssertStillServesAsync(name, "0", "alive");
    }

    [Fact]
    public async Task Stderr_is_captured_per_call_beside_stdout_also_when_the_algorithm_fails()
    {
        await Publish("warner", """
            import sys
            def apply(x):
                print("out", x)
                print("warn", x, file=sys.stderr)
                if x == "fail":
                    raise ValueError("failed after warning")
                return x
            """);
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/warner?stdout=true", Text("ok"));
        Assert.Equal(200, status);
        Assert.Equal("out ok\n", body.GetProperty("metadata").GetProperty("stdout").GetString());
        Assert.Equal("warn ok\n", body.GetProperty("metadata").GetProperty("stderr").GetString());
        (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/warner?stdout=true", Text("fail"));
        Assert.Equal(400, status);
        Assert.Equal("warn fail\n", body.GetProperty("metadata").GetProperty("stderr").GetString());
        Assert.Equal("failed after warning", body.GetProperty("error").GetProperty("message").GetString());
        (_, body) = await CallAsync(S.Admin, "/v1/algo/bob/warner", Text("quiet"));
        Assert.False(body.GetProperty("metadata").TryGetProperty("stderr", out _));
    }

    [Fact]
    public async Task Huge_stdout_is_truncated_and_the_call_succeeds()
    {
        await Publish("chatty", """
            def apply(x):
                line = "y" * 1023
                for _ in range(x):
                    print(line)
                return "done"
            """);
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/chatty?stdout=true", Json("100000"));
        Assert.Equal(200, status);
        Assert.Equal("done", body.GetProperty("result").GetString());
        var stdout = body.GetProperty("metadata").GetProperty("stdout").GetString()!;
        Assert.InRange(stdout.Length, 60_000, 65_536);
        Assert.True(body.GetProperty("metadata").GetProperty("stdout_truncated").GetBoolean());
    }

    [Theory]
    [InlineData("object()", "SerializationError")]
    [InlineData("float('nan')", "SerializationError")]
    [InlineData("{1, 2}", "SerializationError")]
    public async Task Non_serializable_results_are_clear_errors(string expression, string errorType)
    {
        await Publish("badresult", "def apply(x):\n    return eval(x)\n");
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/bob/badresult", Json(JsonSerializer.Serialize(expression)));
        Assert.Equal(400, status);
        Assert.Equal(errorType, body.GetProperty("error").GetProperty("error_type").GetString());
        await AssertStillServesAsync("badresult", "\"[1, 2]\"", "[1,2]");
    }

    [Fact]
    public async Task Algorithm_that_fails_to_import_is_refused_at_build_and_nothing_is_published()
    {
        // Code that does not load never becomes a version (Building/BuildTests has every case); a load that fails at call
        // time all the same (LoadError) is covered by WorkerPoolTests.
        var s = fixture.Server;
        await s.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "bob", name = "broken" });
        var build = await TestServer.BuildWithAsync(s.Admin, "bob/broken", TarGz(Python("import definitely_not_a_module\ndef apply(x):\n    return x\n")));
        Assert.Equal("failed", build.GetProperty("status").GetString());
        Assert.Contains("definitely_not_a_module", build.GetProperty("error").GetString());
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/bob/broken", Json("1"));
        Assert.Equal(404, status);
        Assert.Contains("no published version", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Many_concurrent_calls_on_a_crashing_algorithm_never_take_the_server_down()
    {
        await Publish("flaky", "import os\ndef apply(x):\n    if x % 3 == 0: os._exit(1)\n    return x\n");
        var tasks = Enumerable.Range(0, 30).Select(i => CallAsync(S.Admin, "/v1/algo/bob/flaky", Json(i.ToString())));
        var results = await Task.WhenAll(tasks);
        Assert.All(results, r => Assert.True(r.Status is 200 or 500, $"unexpected status {r.Status}"));
        Assert.Contains(results, r => r.Status == 200);
        var health = await S.Admin.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("ok", health.GetProperty("status").GetString());
        await AssertStillServesAsync("flaky", "4", "4");
    }
}
