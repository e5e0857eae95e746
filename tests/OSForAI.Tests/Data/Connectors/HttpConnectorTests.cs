using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using OSForAI.Data.Http;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>A small Kestrel web server on loopback with one route per behaviour the http connector must handle.</summary>
public sealed class WebFixture : IAsyncLifetime
{
    public const string SecretBody = "SECRET-UPSTREAM-BODY";
    private WebApplication? _app;
    public string Url { get; private set; } = "";

    public static byte[] Bytes(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var modified = new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);
        // Honours Range and answers HEAD.
        app.MapMethods("/data/{n:int}", ["GET", "HEAD"], (int n) =>
            Results.Bytes(Bytes(n), "application/octet-stream", enableRangeProcessing: true, lastModified: modified, entityTag: new EntityTagHeaderValue("\"v1\"")));
        // Ignores Range: always the whole object.
        app.MapGet("/norange/{n:int}", (int n) => Results.Bytes(Bytes(n), "application/octet-stream"));
        app.MapMethods("/nohead", ["HEAD"], () => Results.StatusCode(405));
        app.MapGet("/nohead", () => Results.Bytes(Bytes(1234), "application/octet-stream"));
        app.MapGet("/status/{code:int}", (int code) => Results.Text(SecretBody, "text/plain", statusCode: code));
        app.MapGet("/chunked/{n:int}", async (HttpContext ctx, int n) =>
        {
            var data = Bytes(n);
            for (var at = 0; at < n; at += 1000)
            {
                await ctx.Response.Body.WriteAsync(data.AsMemory(at, Math.Min(1000, n - at)));
                await ctx.Response.Body.FlushAsync();
            }
        });
        app.MapGet("/redirect/{n:int}", (int n) => n > 0 ? Results.Redirect($"/redirect/{n - 1}") : Results.Text("done"));
        app.MapGet("/to-ftp", () => Results.Redirect("ftp://127.0.0.1/file"));
        app.MapGet("/abort", async (HttpContext ctx) =>
        {
            ctx.Response.ContentLength = 1_000_000;
            await ctx.Response.Body.WriteAsync(Bytes(1000));
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(300);
            ctx.Abort();
        });
        app.MapGet("/slow", async (HttpContext ctx) =>
        {
            try { await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted); }
            catch (OperationCanceledException) { }
        });
        await app.StartAsync();
        _app = app;
        Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
    }

    public async Task DisposeAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed class HttpConnectorTests(WebFixture web) : IClassFixture<WebFixture>, IDisposable
{
    private readonly List<HttpConnector> _made = [];

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    /// <summary>A connector as the registry would build it; loopback allowed unless a test says otherwise.</summary>
    private HttpConnector Connector(long? maxBytes = null, bool allowPrivate = true, int? timeoutSeconds = null)
    {
        var values = new Dictionary<string, string?> { ["AllowPrivateAddresses"] = allowPrivate ? "true" : null };
        if (maxBytes is { } m) values["MaxBytes"] = m.ToString();
        if (timeoutSeconds is { } t) values["TimeoutSeconds"] = t.ToString();
        var c = (HttpConnector)new HttpConnectorFactory("http").Create(new ConnectorSettings("http", null, values));
        _made.Add(c);
        return c;
    }

    public void Dispose() => _made.ForEach(c => c.Dispose());

    private StorageUri U(string path) => StorageUri.Parse(web.Url + path);

    private static async Task<byte[]> ReadAllAsync(ObjectStream o)
    {
        using var ms = new MemoryStream();
        await o.Content.CopyToAsync(ms, Ct);
        return ms.ToArray();
    }

    private static async Task<byte[]> GetAsync(HttpConnector c, StorageUri uri, ByteRange? range = null)
    {
        await using var o = await c.OpenReadAsync(uri, range, Ct);
        return await ReadAllAsync(o);
    }

    private static async Task<DataException> Fails(DataError kind, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<DataException>(action);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    [Fact]
    public async Task Gets_whole_objects_with_metadata()
    {
        var c = Connector();
        await using var o = await c.OpenReadAsync(U("/data/10000"), null, Ct);
        Assert.Equal(WebFixture.Bytes(10_000), await ReadAllAsync(o));
        Assert.Equal(10_000, o.Info.Size);
        Assert.Equal("10000", o.Info.Name);
        Assert.Equal("\"v1\"", o.Info.ETag);
        Assert.Equal(10_000, o.Length);
    }

    [Theory]
    [InlineData("/data/10000")]
    [InlineData("/norange/10000")]
    public async Task Ranged_gets_return_exactly_the_range(string path)
    {
        var c = Connector();
        var data = WebFixture.Bytes(10_000);
        Assert.Equal(data[100..200], await GetAsync(c, U(path), new ByteRange(100, 100)));
        Assert.Equal(data[9_990..], await GetAsync(c, U(path), new ByteRange(9_990, null)));
        await using var o = await c.OpenReadAsync(U(path), new ByteRange(5, 10), Ct);
        Assert.Equal(10, o.Length);
        Assert.Equal(new ByteRange(5, 10), o.Range);
        Assert.Equal(data[5..15], await ReadAllAsync(o));
    }

    [Fact]
    public async Task Stat_uses_head_and_falls_back_to_get()
    {
        var c = Connector();
        var info = await c.StatAsync(U("/data/4321"), Ct);
        Assert.NotNull(info);
        Assert.Equal(4321, info.Size);
        Assert.Equal("\"v1\"", info.ETag);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero), info.LastModified);
        Assert.Equal("application/octet-stream", info.ContentType);
        Assert.Equal(1234, (await c.StatAsync(U("/nohead"), Ct))!.Size);
        Assert.Null(await c.StatAsync(U("/status/404"), Ct));
        Assert.Null(await c.StatAsync(U("/status/410"), Ct));
        Assert.False(await c.DirectoryExistsAsync(U("/data/"), Ct));
    }

    [Theory]
    [InlineData(404, DataError.NotFound)]
    [InlineData(401, DataError.Forbidden)]
    [InlineData(403, DataError.Forbidden)]
    [InlineData(500, DataError.Upstream)]
    [InlineData(503, DataError.Upstream)]
    public async Task Error_statuses_map_without_echoing_the_body(int status, DataError kind)
    {
        var e = await Fails(kind, () => Connector().OpenReadAsync(U($"/status/{status}?sig=SECRET-SIGNATURE"), null, Ct));
        Assert.DoesNotContain(WebFixture.SecretBody, e.Message);
        Assert.DoesNotContain("SECRET-SIGNATURE", e.Message);
        Assert.Contains(status.ToString(), e.Message);
    }

    [Fact]
    public async Task Content_length_over_the_limit_is_refused_before_reading()
    {
        var e = await Fails(DataError.TooLarge, () => Connector(maxBytes: 1000).OpenReadAsync(U("/data/5000"), null, Ct));
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public async Task Chunked_body_over_the_limit_fails_while_reading()
    {
        await using var o = await Connector(maxBytes: 2500).OpenReadAsync(U("/chunked/5000"), null, Ct);
        Assert.Equal(-1, o.Info.Size);
        await Fails(DataError.TooLarge, () => ReadAllAsync(o));
        Assert.Equal(WebFixture.Bytes(2500), await GetAsync(Connector(maxBytes: 2500), U("/chunked/2500")));
    }

    [Fact]
    public async Task Redirects_are_followed_up_to_the_limit()
    {
        var c = Connector();
        Assert.Equal("done"u8.ToArray(), await GetAsync(c, U("/redirect/3")));
        Assert.Equal("done"u8.ToArray(), await GetAsync(c, U("/redirect/5")));
        var e = await Fails(DataError.Upstream, () => c.OpenReadAsync(U("/redirect/6"), null, Ct));
        Assert.Contains("more than 5 redirects", e.Message);
        var ftp = await Fails(DataError.Upstream, () => c.OpenReadAsync(U("/to-ftp"), null, Ct));
        Assert.Contains("only http(s) redirects", ftp.Message);
    }

    [Fact]
    public void Redirect_policy_refuses_downgrades_and_other_schemes()
    {
        var https = new Uri("https://example.com/a");
        HttpAddressPolicy.CheckRedirect(https, new Uri("https://cdn.example.com/b"), 1, 5);
        HttpAddressPolicy.CheckRedirect(new Uri("http://example.com/a"), new Uri("https://example.com/a"), 5, 5);
        Assert.Contains("https to plain http", Assert.Throws<DataException>(() => HttpAddressPolicy.CheckRedirect(https, new Uri("http://example.com/a"), 1, 5)).Message);
        Assert.Equal(DataError.Upstream, Assert.Throws<DataException>(() => HttpAddressPolicy.CheckRedirect(https, new Uri("file:///etc/passwd"), 1, 5)).Kind);
        Assert.Equal(DataError.Upstream, Assert.Throws<DataException>(() => HttpAddressPolicy.CheckRedirect(https, new Uri("https://u:p@example.com/"), 1, 5)).Kind);
        Assert.Contains("more than 5 redirects", Assert.Throws<DataException>(() => HttpAddressPolicy.CheckRedirect(https, https, 6, 5)).Message);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("169.254.169.254")]
    [InlineData("169.254.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("100.64.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:c0a8:0101::1")]
    public void Private_addresses_are_refused(string address) => Assert.False(HttpAddressPolicy.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("172.32.0.1")]
    [InlineData("93.184.216.34")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("::ffff:8.8.8.8")]
    public void Public_addresses_are_allowed(string address) => Assert.True(HttpAddressPolicy.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public async Task Loopback_and_metadata_are_refused_by_default()
    {
        var strict = Connector(allowPrivate: false);
        var port = new Uri(web.Url).Port;
        foreach (var url in new[] { $"http://127.0.0.1:{port}/data/10", $"http://localhost:{port}/data/10", "http://169.254.169.254/latest/meta-data/", "http://[::1]:1/x" })
        {
            var e = await Fails(DataError.Forbidden, () => strict.OpenReadAsync(StorageUri.Parse(url), null, Ct));
            Assert.Equal(HttpAddressPolicy.ForbiddenMessage, e.Message);
        }
        await Fails(DataError.Forbidden, () => strict.StatAsync(StorageUri.Parse($"http://127.0.0.1:{port}/data/10"), Ct));
    }

    [Fact]
    public async Task A_dropped_connection_fails_the_read_instead_of_ending_it()
    {
        // The server pauses before aborting, so the headers and first bytes normally arrive and the
        // read fails; if the reset overtakes them, opening fails instead. Either way: never a clean end.
        long got = 0;
        var e = await Record.ExceptionAsync(async () =>
        {
            await using var o = await Connector().OpenReadAsync(U("/abort"), null, Ct);
            Assert.Equal(1_000_000, o.Info.Size);
            got = (await ReadAllAsync(o)).Length;
        });
        Assert.True(e is DataException { Kind: DataError.Upstream }, $"got {e?.GetType().Name ?? $"a clean end after {got} bytes"}: {e?.Message}");
    }

    [Fact]
    public async Task A_short_body_with_a_clean_close_is_an_error()
    {
        await using var s = new HttpBodyStream(new HttpResponseMessage(), new MemoryStream(new byte[10]), expected: 20, maxBytes: 100);
        var e = await Assert.ThrowsAsync<DataException>(() => s.CopyToAsync(Stream.Null));
        Assert.Equal(DataError.Upstream, e.Kind);
        Assert.Contains("after 10 of 20 bytes", e.Message);
    }

    [Fact]
    public async Task Slow_headers_time_out_as_upstream()
    {
        var e = await Fails(DataError.Upstream, () => Connector(timeoutSeconds: 1).OpenReadAsync(U("/slow"), null, Ct));
        Assert.Contains("did not answer within 1 s", e.Message);
    }

    [Fact]
    public async Task Writes_and_listings_are_not_supported()
    {
        var c = Connector();
        Assert.False(c.CanWrite);
        var e = await Fails(DataError.NotSupported, () => c.WriteAsync(U("/data/1"), new MemoryStream([1]), 1, Ct));
        Assert.Equal("http(s):// is read-only", e.Message);
        await Fails(DataError.NotSupported, () => c.DeleteAsync(U("/data/1"), Ct));
        await Fails(DataError.NotSupported, () => c.CreateDirectoryAsync(U("/d/"), Ct));
        await Fails(DataError.NotSupported, () => c.DeleteDirectoryAsync(U("/d/"), true, Ct));
        await Fails(DataError.NotSupported, () => c.ListAsync(U("/d/"), null, 10, Ct));
    }

    [Fact]
    public void Both_schemes_work_unconfigured_through_the_registry()
    {
        var registry = new ConnectorRegistry(HttpConnectorFactory.Both, (_, _) => null);
        Assert.False(registry.Resolve(StorageUri.Parse("https://example.com/x")).CanWrite);
        Assert.False(registry.Resolve(StorageUri.Parse("http://example.com/x")).CanWrite);
        Assert.Throws<ArgumentException>(() => new HttpConnectorFactory("ftp"));
    }
}
