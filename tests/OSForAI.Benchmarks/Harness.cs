using OSForAI.Testing;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OSForAI.Server;

namespace OSForAI.Benchmarks;

/// <summary>An embedded OSForAI server in a temporary home, plus an admin client.</summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private BenchServer(RunningServer server, string home, string key)
    {
        Server = server;
        Home = home;
        Key = key;
        Admin = Http.Client(server.Url, key, TimeSpan.FromSeconds(120));
    }

    public RunningServer Server { get; }
    public string Home { get; }
    public string Key { get; }
    public HttpClient Admin { get; }
    public string Url => Server.Url;
    public IServiceProvider Services => Server.Services;

    public static async Task<BenchServer> StartAsync(IDictionary<string, string?> settings)
    {
        var home = Path.Combine(Path.GetTempPath(), "osai-bench-" + Guid.NewGuid().ToString("N")[..12]);
        var merged = new Dictionary<string, string?>
        {
            // Keep the console quiet: the report goes to stdout.
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        };
        foreach (var kv in settings) merged[kv.Key] = kv.Value;
        var server = await OsaiServer.StartAsync(new ServerStartOptions { Home = home, Port = 0, Settings = merged });
        var key = (await File.ReadAllTextAsync(server.AdminKeyPath)).Trim();
        return new BenchServer(server, home, key);
    }

    /// <summary>Creates (if needed), uploads and publishes an algorithm whose files are given inline.</summary>
    public Task PublishAsync(string owner, string name, string version, IDictionary<string, string> files) =>
        PublishArchiveAsync(owner, name, version, AlgorithmFiles.TarGz(files));

    /// <summary>Publishes an ONNX model with manifest settings (<paramref name="manifestExtra"/>, YAML lines).</summary>
    public Task PublishModelAsync(string owner, string name, string version, byte[] onnx, string manifestExtra) =>
        PublishArchiveAsync(owner, name, version, AlgorithmFiles.Model(onnx, manifestExtra));

    private async Task PublishArchiveAsync(string owner, string name, string version, byte[] tarGz)
    {
        var created = await Admin.PostAsJsonAsync("/v1/algorithms", new { owner, name });
        if (created.StatusCode != HttpStatusCode.Conflict) await EnsureOk(created, "create algorithm");
        var content = new ByteArrayContent(tarGz);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        var build = await Admin.PostAsync($"/v1/algorithms/{owner}/{name}/builds", content);
        await EnsureOk(build, "upload build");
        var built = await build.Content.ReadFromJsonAsync<JsonElement>();
        if (built.TryGetProperty("status", out var status) && status.GetString() != "succeeded")
            throw new InvalidOperationException($"the build of {owner}/{name} failed: {built}");
        var hash = built.GetProperty("build").GetString();
        var pub = await Admin.PostAsJsonAsync($"/v1/algorithms/{owner}/{name}/versions", new { build = hash, version, visibility = "public" });
        await EnsureOk(pub, "publish version");
    }

    public static Dictionary<string, string> Python(string mainPy, string manifestExtra = "") => AlgorithmFiles.Python(mainPy, manifestExtra);

    private static async Task EnsureOk(HttpResponseMessage r, string what)
    {
        if (!r.IsSuccessStatusCode)
            throw new InvalidOperationException($"{what} failed: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Server.DisposeAsync();
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The baseline: a bare Kestrel minimal-API endpoint on the same route that answers with fixed envelope
/// bytes, written the same way OSForAI writes them (application/json through the body pipe, chunked).
/// </summary>
internal sealed class RawServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RawServer(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    public static async Task<RawServer> StartAsync(byte[] envelope)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/v1/algo/{owner}/{name}/{version?}", (RequestDelegate)(async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.BodyWriter.WriteAsync(envelope, ctx.RequestAborted);
        }));
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RawServer(app, url);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal static class Http
{
    public static HttpClient Client(string baseUrl, string? key, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = int.MaxValue,
        };
        var c = new HttpClient(handler) { BaseAddress = new Uri(baseUrl), Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        if (key is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Simple", key);
        return c;
    }

    private static readonly MediaTypeHeaderValue JsonType = new("application/json");

    /// <summary>POSTs a small JSON body; returns the status and the whole response body.</summary>
    public static async Task<(int Status, byte[] Body)> PostJsonAsync(HttpClient client, string path, byte[] json, CancellationToken ct = default)
    {
        using var content = new ByteArrayContent(json);
        content.Headers.ContentType = JsonType;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        return ((int)response.StatusCode, body);
    }
}
