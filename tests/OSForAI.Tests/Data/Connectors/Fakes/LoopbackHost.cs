using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OSForAI.Tests.Data.Connectors.Fakes;

/// <summary>A Kestrel server on 127.0.0.1 (a free port) that hands every request to one handler.</summary>
public sealed class LoopbackHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackHost(WebApplication app, Uri baseUri)
    {
        _app = app;
        BaseUri = baseUri;
    }

    /// <summary>"http://127.0.0.1:port/".</summary>
    public Uri BaseUri { get; }
    /// <summary>Exceptions the handler threw (each answered with 500).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Exception> Failures { get; } = new();

    public static async Task<LoopbackHost> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();
        var host = (LoopbackHost?)null;
        app.Run(async ctx =>
        {
            try { await handler(ctx); }
            catch (Exception e) when (!ctx.Response.HasStarted)
            {
                // A bug in a fake must show in the test, not hide behind a 500.
                host?.Failures.Enqueue(e);
                ctx.Response.StatusCode = 500;
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        host = new LoopbackHost(app, new Uri(address.TrimEnd('/') + "/"));
        return host;
    }

    /// <summary>The request path exactly as sent, split at '/' and each segment percent-decoded once (so "%2F" stays inside a segment).</summary>
    public static string[] RawSegments(HttpContext ctx)
    {
        var raw = ctx.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var q = raw.IndexOf('?');
        var path = q < 0 ? raw : raw[..q];
        return path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
    }

    /// <summary>Reads the whole request body, undoing "Content-Encoding: gzip" (the Google client compresses JSON bodies).</summary>
    public static async Task<byte[]> BodyAsync(HttpRequest request)
    {
        using var ms = new MemoryStream();
        if (request.Headers.ContentEncoding.ToString().Equals("gzip", StringComparison.OrdinalIgnoreCase))
        {
            await using var gz = new System.IO.Compression.GZipStream(request.Body, System.IO.Compression.CompressionMode.Decompress);
            await gz.CopyToAsync(ms);
        }
        else await request.Body.CopyToAsync(ms);
        return ms.ToArray();
    }

    /// <summary>
    /// Writes a download body. With <paramref name="hold"/>, sends the first 64 KiB, flushes, and sends the
    /// rest only once it completes: a client that buffers whole bodies cannot return before then.
    /// </summary>
    public static async Task WriteBodyAsync(HttpResponse response, ReadOnlyMemory<byte> data, Task? hold)
    {
        if (hold is null)
        {
            await response.Body.WriteAsync(data);
            return;
        }
        var first = Math.Min(64 * 1024, data.Length);
        await response.Body.WriteAsync(data[..first]);
        await response.Body.FlushAsync();
        await hold;
        await response.Body.WriteAsync(data[first..]);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
