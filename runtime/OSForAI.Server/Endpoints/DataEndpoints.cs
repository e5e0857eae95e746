using System.Text.Json;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Data;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>The Algorithmia data API on data:// (PROTOCOLS.md): files, directories, listings with markers.</summary>
public static class DataEndpoints
{
    public static void MapData(this IEndpointRouteBuilder app)
    {
        app.MapMethods("/v1/data/{**path}", ["GET", "HEAD", "PUT", "POST", "DELETE"], HandleAsync);
    }

    private static async Task HandleAsync(HttpContext ctx, KeyStore keys, LocalDataStore store, IOptions<OsaiOptions> options)
    {
        try
        {
            var caller = Authentication.Require(ctx, keys, Scopes.None);
            var raw = RawDataPath(ctx);
            var dataPath = DataPath.Parse(raw, caller);
            var write = ctx.Request.Method is "PUT" or "POST" or "DELETE";
            dataPath.Authorize(caller, write);
            switch (ctx.Request.Method)
            {
                case "GET": await GetAsync(ctx, store, dataPath, options.Value.DataListPageSize); break;
                case "HEAD": Head(ctx, store, dataPath); break;
                case "PUT": await PutAsync(ctx, store, dataPath, options.Value.MaxDataUploadBytes); break;
                case "POST": await CreateDirectoryAsync(ctx, store, dataPath); break;
                case "DELETE": await DeleteAsync(ctx, store, dataPath); break;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            await ApiErrors.WriteAsync(ctx, ApiErrors.From(e));
        }
    }

    /// <summary>
    /// The path exactly as sent, decoded once per segment: an encoded slash or backslash inside a
    /// segment is refused rather than turned into a separator, and '.'/'..' are refused by DataPath.
    /// </summary>
    private static string RawDataPath(HttpContext ctx)
    {
        var target = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path.Value ?? "";
        var q = target.IndexOf('?');
        if (q >= 0) target = target[..q];
        const string prefix = "/v1/data";
        var rest = target.StartsWith(prefix, StringComparison.Ordinal) ? target[prefix.Length..] : target;
        var segments = rest.Trim('/').Split('/').Select(seg =>
        {
            var decoded = Uri.UnescapeDataString(seg);
            if (decoded.Contains('/') || decoded.Contains('\\'))
                throw new DataException(DataError.BadPath, "data paths may not contain encoded slashes or backslashes");
            return decoded;
        });
        return string.Join('/', segments);
    }

    private static async Task GetAsync(HttpContext ctx, LocalDataStore store, DataPath path, int pageSize)
    {
        if (store.FileExists(path))
        {
            var accept = ctx.Request.Headers.Accept.ToString();
            ctx.Response.ContentType = accept.Contains("application/json", StringComparison.OrdinalIgnoreCase) ? "application/json"
                : accept.Contains("text/plain", StringComparison.OrdinalIgnoreCase) ? "text/plain; charset=utf-8"
                : "application/octet-stream";
            await using var file = store.OpenRead(path);
            ctx.Response.ContentLength = file.Length;
            await file.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
            return;
        }
        var marker = ctx.Request.Query["marker"].ToString();
        var listing = store.List(path, marker, pageSize);
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteStartArray("folders");
        foreach (var f in listing.Folders)
        {
            w.WriteStartObject();
            w.WriteString("name", f);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("files");
        foreach (var f in listing.Files)
        {
            w.WriteStartObject();
            w.WriteString("filename", f.Name);
            w.WriteNumber("size", f.Size);
            w.WriteString("last_modified", f.LastModified.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (listing.Marker is not null) w.WriteString("marker", listing.Marker);
        w.WriteEndObject();
    }

    private static void Head(HttpContext ctx, LocalDataStore store, DataPath path)
    {
        if (store.Stat(path) is { } file)
        {
            ctx.Response.ContentLength = file.Size;
            ctx.Response.Headers.LastModified = file.LastModified.ToString("R");
            return;
        }
        ctx.Response.StatusCode = store.DirectoryExists(path) ? 200 : 404;
    }

    private static async Task PutAsync(HttpContext ctx, LocalDataStore store, DataPath path, long limit)
    {
        RequestBody.RejectIfDeclaredOver(ctx.Request, limit);
        var size = await store.WriteAsync(path, ctx.Request.Body, limit, ctx.RequestAborted);
        await WriteResultAsync(ctx, 200, new { result = "data://" + path, size });
    }

    private static async Task CreateDirectoryAsync(HttpContext ctx, LocalDataStore store, DataPath parent)
    {
        var body = await RequestBody.ReadAsync(ctx.Request, 64 * 1024, ctx.RequestAborted);
        string? name;
        try
        {
            using var doc = JsonDocument.Parse(body);
            name = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("name", out var n) &&
                   n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        }
        catch (JsonException e) { throw ApiErrors.BadRequest("the request body is not valid JSON: " + e.Message); }
        if (string.IsNullOrEmpty(name)) throw ApiErrors.BadRequest("creating a directory needs a JSON body {\"name\": \"<folder name>\"}");
        store.CreateDirectory(parent, name);
        await WriteResultAsync(ctx, 200, new { result = "data://" + parent.Child(name) });
    }

    private static async Task DeleteAsync(HttpContext ctx, LocalDataStore store, DataPath path)
    {
        if (store.FileExists(path))
        {
            store.DeleteFile(path);
            await WriteResultAsync(ctx, 200, new { result = new { deleted = 1 } });
            return;
        }
        if (path.IsRoot) throw ApiErrors.Forbidden("an owner's root folder cannot be deleted");
        var force = string.Equals(ctx.Request.Query["force"], "true", StringComparison.OrdinalIgnoreCase);
        var deleted = store.DeleteDirectory(path, force);
        await WriteResultAsync(ctx, 200, new { result = new { deleted } });
    }

    internal static Task WriteResultAsync(HttpContext ctx, int status, object value)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(value, ServerJson.Options, ctx.RequestAborted);
    }
}
