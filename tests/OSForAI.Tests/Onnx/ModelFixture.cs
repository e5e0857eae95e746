using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OSForAI.Testing;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Onnx;

/// <summary>One server with generated ONNX models published once for all tests of a class.</summary>
public sealed class ModelFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _published = new();

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(new Dictionary<string, string?>
    {
        ["OSForAI:MaxRequestBodyBytes"] = (4 * 1024 * 1024).ToString(),
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>Publishes a model once per fixture (owner "models"), however many tests ask for it.</summary>
    public Task EnsureModelAsync(string name, Func<byte[]> model, string? manifest = null, string version = "1.0.0",
        IDictionary<string, string>? extraFiles = null) =>
        _published.GetOrAdd($"{name}@{version}", _ => new Lazy<Task>(() =>
            Server.PublishModelAsync($"models/{name}", version, model(), manifest, extraFiles))).Value;
}

/// <summary>Small helpers for speaking the Open Inference Protocol in tests.</summary>
public static class Oip
{
    public static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var req = new HttpRequestMessage(method, path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var r = await client.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, text.Length > 0 ? JsonSerializer.Deserialize<JsonElement>(text) : default);
    }

    public static Task<(int Status, JsonElement Body)> GetAsync(HttpClient client, string path) => SendAsync(client, HttpMethod.Get, path);

    public static Task<(int Status, JsonElement Body)> InferAsync(HttpClient client, string model, string json, string? version = null) =>
        SendAsync(client, HttpMethod.Post, version is null ? $"/v2/models/{model}/infer" : $"/v2/models/{model}/versions/{version}/infer", json);

    /// <summary>An infer request body with one FP32 input.</summary>
    public static string Fp32Request(string input, long[] shape, float[] data, string? extra = null) =>
        $$"""{"inputs":[{"name":"{{input}}","shape":{{JsonSerializer.Serialize(shape)}},"datatype":"FP32","data":{{JsonSerializer.Serialize(data)}}}]{{extra}}}""";

    public static float[] Floats(JsonElement output) => output.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();

    public static JsonElement Output(JsonElement response, string name) =>
        response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name);

    /// <summary>A binary-extension request: JSON header then raw bytes, with Inference-Header-Content-Length.</summary>
    public static ByteArrayContent Binary(string jsonHeader, params byte[][] data)
    {
        var header = Encoding.UTF8.GetBytes(jsonHeader);
        var body = header.Concat(data.SelectMany(d => d)).ToArray();
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString());
        return content;
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}
