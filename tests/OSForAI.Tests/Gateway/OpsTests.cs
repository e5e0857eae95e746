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
}
