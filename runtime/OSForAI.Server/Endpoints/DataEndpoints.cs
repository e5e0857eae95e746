using System.Text.Json;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Data;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>
/// The Algorithmia data API (PROTOCOLS.md) over every connector: /v1/data/&lt;owner&gt;/... is data://, and
/// /v1/connector/&lt;scheme&gt;[+label]/&lt;container&gt;/... is any other store. Objects stream both ways (with ranges);
/// directories list with markers.
/// </summary>
public static class DataEndpoints
{
    public static void MapData(this IEndpointRouteBuilder app)
    {
        string[] methods = ["GET", "HEAD", "PUT", "POST", "DELETE"];
        app.MapMethods("/v1/data/{**path}", methods, (HttpContext ctx, KeyStore keys, DataService data, IOptions<OsaiOptions> options) =>
            HandleAsync(ctx, keys, data, options.Value, "data://" + RawRest(ctx, "/v1/data")));
        app.MapMethods("/v1/connector/{**path}", methods, (HttpContext ctx, KeyStore keys, DataService data, IOptions<OsaiOptions> options) =>
        {
            var rest = RawRest(ctx, "/v1/connector");
            var slash = rest.IndexOf('/');
            var connector = slash < 0 ? rest : rest[..slash];
            return HandleAsync(ctx, keys, data, options.Value, Uri.UnescapeDataString(connector) + "://" + (slash < 0 ? "" : rest[(slash + 1)..]));
        });
    }

    private static async Task HandleAsync(HttpContext ctx, KeyStore keys, DataService data, OsaiOptions options, string uriText)
    {
        try
        {
            var caller = Authentication.Require(ctx, keys, Scopes.None);
            var write = ctx.Request.Method is "PUT" or "POST" or "DELETE";
            var (uri, connector) = data.Open(uriText, caller, write);
            var ct = ctx.RequestAborted;
            switch (ctx.Request.Method)
            {
                case "GET": await GetAsync(ctx, connector, uri, options.DataListPageSize, ct); break;
                case "HEAD": await HeadAsync(ctx, connector, uri, ct); break;
                case "PUT": await PutAsync(ctx, connector, uri, options.MaxDataUploadBytes, ct); break;
                case "POST": await CreateDirectoryAsync(ctx, connector, uri, ct); break;
                case "DELETE": await DeleteAsync(ctx, connector, uri, ct); break;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            // Headers already sent: the only honest signal left is to break the connection, so the client sees an
            // incomplete body instead of a short object.
            if (ctx.Response.HasStarted) ctx.Abort();
            else await ApiErrors.WriteAsync(ctx, e);
        }
    }

    /// <summary>
    /// The path after <paramref name="prefix"/> exactly as sent (still percent-encoded): StorageUri decodes each segment
    /// once and refuses encoded slashes, backslashes, '.' and '..', so nothing is normalised on the way.
    /// </summary>
    private static string RawRest(HttpContext ctx, string prefix)
    {
        var target = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path.Value ?? "";
        var q = target.IndexOf('?');
        if (q >= 0) target = target[..q];
        var rest = target.StartsWith(prefix, StringComparison.Ordinal) ? target[prefix.Length..] : target;
        return rest.TrimStart('/');
    }

    private static async Task GetAsync(HttpContext ctx, IDataConnector connector, StorageUri uri, int pageSize, CancellationToken ct)
    {
        if (!uri.IsDirectory && await OpenObjectAsync(ctx, connector, uri, ct) is { } o)
        {
            await using (o)
            {
                var accept = ctx.Request.Headers.Accept.ToString();
                ctx.Response.ContentType = accept.Contains("application/json", StringComparison.OrdinalIgnoreCase) ? "application/json"
                    : accept.Contains("text/plain", StringComparison.OrdinalIgnoreCase) ? "text/plain; charset=utf-8"
                    : "application/octet-stream";
                ctx.Response.Headers.AcceptRanges = "bytes";
                WriteMetadata(ctx, o.Info);
                long? size = o.Info.Size >= 0 ? o.Info.Size : null;   // http(s) objects may have no known size
                if (o.Range is { } served && (size is not null || served.Length is not null))
                {
                    var length = size is null ? served.Length!.Value : o.Length;
                    ctx.Response.StatusCode = 206;
                    ctx.Response.Headers.ContentRange = $"bytes {served.Offset}-{served.Offset + length - 1}/{size?.ToString() ?? "*"}";
                    ctx.Response.ContentLength = length;
                }
                else if (o.Range is null && size is not null) ctx.Response.ContentLength = o.Length;
                await o.Content.CopyToAsync(ctx.Response.Body, 256 * 1024, ct);
            }
            return;
        }
        if (ctx.Response.StatusCode == 416) return;
        if (!await connector.DirectoryExistsAsync(uri.AsDirectory(), ct))
            throw new DataException(DataError.NotFound, $"{uri} not found");
        var marker = ctx.Request.Query["marker"].ToString();
        var page = await connector.ListAsync(uri.AsDirectory(), marker.Length == 0 ? null : marker, pageSize, ct);
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteStartArray("folders");
        foreach (var f in page.Folders)
        {
            w.WriteStartObject();
            w.WriteString("name", f);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("files");
        foreach (var f in page.Files)
        {
            w.WriteStartObject();
            w.WriteString("filename", f.Name);
            w.WriteNumber("size", f.Size);
            if (f.LastModified is { } at) w.WriteString("last_modified", at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (page.Marker is not null) w.WriteString("marker", page.Marker);
        w.WriteEndObject();
    }

    /// <summary>
    /// Opens the object, or returns null when there is none (the path may be a directory). A plain GET is one request
    /// to the store; only a Range request asks for the size first (suffix ranges and 416 need it).
    /// </summary>
    private static async Task<ObjectStream?> OpenObjectAsync(HttpContext ctx, IDataConnector connector, StorageUri uri, CancellationToken ct)
    {
        var header = ctx.Request.Headers.Range.ToString();
        ByteRange? range = null;
        if (header.Length > 0)
        {
            if (await connector.StatAsync(uri, ct) is not { } info) return null;
            long? size = info.Size >= 0 ? info.Size : null;
            range = ByteRange.ParseHttp(header, size);
            if (range is { } r && r.Offset >= size && size > 0)
            {
                ctx.Response.StatusCode = 416;
                ctx.Response.Headers.ContentRange = $"bytes */{info.Size}";
                return null;
            }
        }
        try { return await connector.OpenReadAsync(uri, range, ct); }
        catch (DataException e) when (e.Kind == DataError.NotFound) { return null; }
    }

    private static void WriteMetadata(HttpContext ctx, ObjectInfo info)
    {
        if (info.ETag is { } etag) ctx.Response.Headers.ETag = etag.StartsWith('"') || etag.StartsWith("W/", StringComparison.Ordinal) ? etag : $"\"{etag}\"";
        if (info.LastModified is { } at) ctx.Response.Headers.LastModified = at.ToString("R");
    }

    private static async Task HeadAsync(HttpContext ctx, IDataConnector connector, StorageUri uri, CancellationToken ct)
    {
        if (!uri.IsDirectory && await connector.StatAsync(uri, ct) is { } info)
        {
            if (info.Size >= 0) ctx.Response.ContentLength = info.Size;
            ctx.Response.Headers.AcceptRanges = "bytes";
            WriteMetadata(ctx, info);
            return;
        }
        ctx.Response.StatusCode = await connector.DirectoryExistsAsync(uri.AsDirectory(), ct) ? 200 : 404;
    }

    private static async Task PutAsync(HttpContext ctx, IDataConnector connector, StorageUri uri, long limit, CancellationToken ct)
    {
        if (uri.IsDirectory) throw new DataException(DataError.BadPath, "a file URI may not end in '/'");
        RequestBody.RejectIfDeclaredOver(ctx.Request, limit);
        var info = await connector.WriteAsync(uri, new OSForAI.WorkerProtocol.LimitedReadStream(ctx.Request.Body, limit,
            () => new DataException(DataError.TooLarge, $"the object is larger than the limit of {limit} bytes")), ctx.Request.ContentLength, ct);
        await WriteResultAsync(ctx, 200, new { result = uri.ToString(), size = info.Size });
    }

    private static async Task CreateDirectoryAsync(HttpContext ctx, IDataConnector connector, StorageUri parent, CancellationToken ct)
    {
        var body = await RequestBody.ReadAsync(ctx.Request, 64 * 1024, ct);
        string? name;
        try
        {
            using var doc = JsonDocument.Parse(body);
            name = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("name", out var n) &&
                   n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        }
        catch (JsonException e) { throw ApiErrors.BadRequest("the request body is not valid JSON: " + e.Message); }
        if (string.IsNullOrEmpty(name)) throw ApiErrors.BadRequest("creating a directory needs a JSON body {\"name\": \"<folder name>\"}");
        var child = parent.Child(name, directory: true);
        await connector.CreateDirectoryAsync(child, ct);
        await WriteResultAsync(ctx, 200, new { result = child.ToString().TrimEnd('/') });
    }

    private static async Task DeleteAsync(HttpContext ctx, IDataConnector connector, StorageUri uri, CancellationToken ct)
    {
        if (!uri.IsDirectory && await connector.DeleteAsync(uri, ct))
        {
            await WriteResultAsync(ctx, 200, new { result = new { deleted = 1 } });
            return;
        }
        if (uri.IsContainerRoot) throw ApiErrors.Forbidden("a container's root (an owner's data folder, a bucket) cannot be deleted here");
        var force = string.Equals(ctx.Request.Query["force"], "true", StringComparison.OrdinalIgnoreCase);
        var deleted = await connector.DeleteDirectoryAsync(uri.AsDirectory(), force, ct);
        await WriteResultAsync(ctx, 200, new { result = new { deleted } });
    }

    internal static Task WriteResultAsync(HttpContext ctx, int status, object value)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(value, ServerJson.Options, ctx.RequestAborted);
    }
}
