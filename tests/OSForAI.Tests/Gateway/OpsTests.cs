using System.Globalization;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

public sealed class OpsTests
{
    private static double Metric(string text, string name) =>
        double.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);

    [Fact]
    public async Task Metrics_count_calls_cold_starts_and_instances()
    {
        await using var s = await TestServer.StartAsync();
        await s.PublishAsync("rita/m", "1.0.0", Python("def apply(x):\n    return x\n"));
        var before = await s.Admin.GetStringAsync("/metrics");
        Assert.Equal(0, Metric(before, "osai_calls_total"));
        Assert.Equal(0, Metric(before, "osai_instances"));
        for (var i = 0; i < 3; i++) Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/rita/m", Json("1"))).Status);
        var after = await s.Admin.GetStringAsync("/metrics");
        Assert.Equal(3, Metric(after, "osai_calls_total"));
        Assert.Equal(1, Metric(after, "osai_cold_starts_total"));
        Assert.Equal(1, Metric(after, "osai_instances"));
        Assert.Contains("# TYPE osai_queue_depth gauge", after);
    }

    [Theory]
    [InlineData("GET", "/v1/algo/rita/m", 405, "not allowed")]
    [InlineData("POST", "/v1/algo/rita/m/1.0.0/extra/segments", 404, "no such endpoint")]
    [InlineData("GET", "/nowhere", 404, "no such endpoint")]
    public async Task Unknown_routes_and_wrong_methods_get_error_envelopes(string method, string path, int status, string expected)
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:Workers:WarmGenericWorkers"] = "0" });
        var r = await s.Admin.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(status, (int)r.StatusCode);
        var body = System.Text.Json.JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains(expected, body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Metrics_need_an_admin_key_or_the_scrape_token()
    {
        {
            await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
            {
                ["OSForAI:Workers:WarmGenericWorkers"] = "0",
                ["OSForAI:Metrics:ScrapeToken"] = "scrape-token-0123456789",
            });
            await s.PublishAsync("rita/secretname", "1.0.0", Python("def apply(x):\n    return x\n"), visibility: "private");
            Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/rita/secretname", Json("1"))).Status);

            using var anonymous = s.ClientFor(null);
            var r = await anonymous.GetAsync("/metrics");
            Assert.Equal(401, (int)r.StatusCode);
            var text = await r.Content.ReadAsStringAsync();
            Assert.DoesNotContain("secretname", text);
            Assert.Equal("Unauthorized", System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("error_type").GetString());

            using var caller = s.ClientFor(await s.CreateKeyAsync("rita", "call"));
            Assert.Equal(403, (int)(await caller.GetAsync("/metrics")).StatusCode);
            foreach (var wrong in new[] { "scrape-token-012345678", "scrape-token-0123456789x", "" })
            {
                using var req = new HttpRequestMessage(HttpMethod.Get, "/metrics");
                req.Headers.TryAddWithoutValidation("Authorization", "Bearer " + wrong);
                Assert.Equal(401, (int)(await anonymous.SendAsync(req)).StatusCode);
            }

            using (var req = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
            {
                req.Headers.Authorization = new("Bearer", "scrape-token-0123456789");
                var ok = await anonymous.SendAsync(req);
                Assert.Equal(200, (int)ok.StatusCode);
                Assert.Contains("osai_calls_total 1", await ok.Content.ReadAsStringAsync());
            }
            Assert.Contains("osai_calls_total", await s.Admin.GetStringAsync("/metrics"));
        }

        // The token may come from a file (e.g. a mounted Kubernetes Secret).
        await using var f = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:WarmGenericWorkers"] = "0",
            ["OSForAI:Metrics:ScrapeTokenFile"] = await WriteTempAsync("file-token-0123456789\n"),
        });
        using var scraper = f.ClientFor(null);
        scraper.DefaultRequestHeaders.Authorization = new("Bearer", "file-token-0123456789");
        Assert.Equal(200, (int)(await scraper.GetAsync("/metrics")).StatusCode);
    }

    private static async Task<string> WriteTempAsync(string content)
    {
        var path = Path.Combine(Path.GetTempPath(), "osai-scrape-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(path, content);
        return path;
    }

    [Fact]
    public async Task A_scrape_token_file_that_does_not_exist_stops_the_start()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:WarmGenericWorkers"] = "0",
            ["OSForAI:Metrics:ScrapeTokenFile"] = "/nonexistent/osai-token",
        }));
        Assert.Contains("ScrapeTokenFile", e.Message);
    }
}
