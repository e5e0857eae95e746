// An in-process fake of the Dropbox HTTP API v2 (both the api.dropboxapi.com RPC routes and the
// content.dropboxapi.com upload/download routes on one Kestrel app), following Dropbox's public API
// documentation, because no Dropbox server can run on the build machines. It checks the bearer token,
// requires header-safe (ASCII) Dropbox-API-Arg JSON, lists folders in a scrambled order (Dropbox
// promises none) and answers errors as 409 {"error_summary", "error"} like the real service.
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace OSForAI.Tests.Data.Connectors.Fakes;

public sealed class FakeDropboxServer : IAsyncDisposable
{
    private sealed class Item(string display, bool folder)
    {
        public string Display { get; set; } = display;
        public bool IsFolder { get; } = folder;
        public byte[] Data { get; set; } = [];
        public string Rev { get; set; } = NewRev();
        public DateTimeOffset Modified { get; set; } = DateTimeOffset.UtcNow;
        public string Id { get; } = "id:" + Guid.NewGuid().ToString("N")[..22];
    }

    // Keys are lower-cased paths ("/a/b"): Dropbox paths are case-insensitive.
    private readonly Dictionary<string, Item> _items = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MemoryStream> _sessions = new();
    private readonly Lock _lock = new();
    private LoopbackHost? _host;

    public required string Token { get; init; }
    /// <summary>The most entries one list_folder answer holds, whatever the limit asked (Dropbox's limit is approximate).</summary>
    public int MaxPage { get; init; } = 4;
    public ConcurrentQueue<string> Requests { get; } = new();
    /// <summary>When set, downloads pause after their first 64 KiB until this completes (see LoopbackHost.WriteBodyAsync).</summary>
    public Task? HoldDownloads { get; set; }

    public Uri BaseUri => _host!.BaseUri;
    public LoopbackHost Host => _host!;
    /// <summary>Upload sessions started and never finished.</summary>
    public int OpenSessions => _sessions.Count;

    public static async Task<FakeDropboxServer> StartAsync(string token, int maxPage = 4)
    {
        var fake = new FakeDropboxServer { Token = token, MaxPage = maxPage };
        fake._host = await LoopbackHost.StartAsync(fake.HandleAsync);
        return fake;
    }

    public bool Exists(string path)
    {
        lock (_lock) return _items.ContainsKey(path.ToLowerInvariant());
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var req = ctx.Request;
        var route = req.Path.Value ?? "";
        Requests.Enqueue($"{req.Method} {route}");
        if (req.Headers.Authorization.ToString() != "Bearer " + Token)
        {
            await JsonAsync(ctx, 401, new { error_summary = "invalid_access_token/...", error = new Dictionary<string, string> { [".tag"] = "invalid_access_token" } });
            return;
        }
        if (!HttpMethods.IsPost(req.Method)) { ctx.Response.StatusCode = 405; return; }
        if (route is "/2/files/download" or "/2/files/upload" or "/2/files/upload_session/start" or "/2/files/upload_session/append_v2" or "/2/files/upload_session/finish")
        {
            var header = req.Headers["Dropbox-API-Arg"].ToString();
            if (header.Length == 0 || header.Any(c => c >= 0x7F))
            {
                await TextAsync(ctx, 400, "Error in call to API function: HTTP header \"Dropbox-API-Arg\": could not decode input as JSON");
                return;
            }
            using var arg = JsonDocument.Parse(header);
            if (route == "/2/files/download") { await DownloadAsync(ctx, arg.RootElement); return; }
            if (req.ContentType is not { } type || !type.StartsWith("application/octet-stream", StringComparison.Ordinal))
            {
                await TextAsync(ctx, 400, "Error in call to API function: Bad HTTP \"Content-Type\" header");
                return;
            }
            var data = await LoopbackHost.BodyAsync(req);
            await (route switch
            {
                "/2/files/upload" => CommitAsync(ctx, arg.RootElement, data),
                "/2/files/upload_session/start" => StartAsync(ctx, data),
                "/2/files/upload_session/append_v2" => AppendAsync(ctx, arg.RootElement.GetProperty("cursor"), data, finishCommit: null),
                _ => AppendAsync(ctx, arg.RootElement.GetProperty("cursor"), data, arg.RootElement.GetProperty("commit")),
            });
            return;
        }
        if (req.ContentType is not { } rpcType || !rpcType.StartsWith("application/json", StringComparison.Ordinal))
        {
            await TextAsync(ctx, 400, "Error in call to API function: Bad HTTP \"Content-Type\" header");
            return;
        }
        using var body = JsonDocument.Parse(await LoopbackHost.BodyAsync(req));
        var a = body.RootElement;
        await (route switch
        {
            "/2/files/get_metadata" => GetMetadataAsync(ctx, a.GetProperty("path").GetString()!),
            "/2/files/list_folder" => ListFolderAsync(ctx, a.GetProperty("path").GetString()!, a.TryGetProperty("recursive", out var r) && r.GetBoolean(), 0),
            "/2/files/list_folder/continue" => ContinueAsync(ctx, a.GetProperty("cursor").GetString()!),
            "/2/files/delete_v2" => DeleteAsync(ctx, a.GetProperty("path").GetString()!),
            "/2/files/create_folder_v2" => CreateFolderAsync(ctx, a.GetProperty("path").GetString()!),
            _ => TextAsync(ctx, 404, "Unknown API function: " + route),
        });
    }

    private async Task DownloadAsync(HttpContext ctx, JsonElement arg)
    {
        var path = arg.GetProperty("path").GetString()!;
        Item? item;
        lock (_lock) _items.TryGetValue(path.ToLowerInvariant(), out item);
        if (item is null) { await ConflictAsync(ctx, "path", "not_found"); return; }
        if (item.IsFolder) { await ConflictAsync(ctx, "path", "not_file"); return; }
        var data = item.Data;
        var res = ctx.Response;
        res.Headers["Dropbox-API-Result"] = HeaderSafe(JsonSerializer.Serialize(FileMetadata(item, tagged: false)));
        res.ContentType = "application/octet-stream";
        long from = 0, to = data.Length - 1;
        if (ByteRange.ParseHttp(ctx.Request.Headers.Range, data.Length) is { } r)
        {
            if (r.Offset >= data.Length)
            {
                res.Headers.ContentRange = $"bytes */{data.Length}";
                res.StatusCode = 416;
                return;
            }
            from = r.Offset;
            to = r.Length is { } n ? Math.Min(data.Length - 1, from + n - 1) : data.Length - 1;
            res.StatusCode = 206;
            res.Headers.ContentRange = $"bytes {from}-{to}/{data.Length}";
        }
        res.ContentLength = to - from + 1;
        await LoopbackHost.WriteBodyAsync(res, data.AsMemory((int)from, (int)(to - from + 1)), HoldDownloads);
    }

    /// <summary>files/upload and the commit of upload_session/finish: the file appears whole, or not at all.</summary>
    private async Task CommitAsync(HttpContext ctx, JsonElement commit, byte[] data)
    {
        var path = commit.GetProperty("path").GetString()!;
        var mode = commit.TryGetProperty("mode", out var m) ? m.ValueKind == JsonValueKind.String ? m.GetString() : m.GetProperty(".tag").GetString() : "add";
        Item? item = null;
        lock (_lock)
        {
            var key = path.ToLowerInvariant();
            var blocked = _items.TryGetValue(key, out var existing) && (existing.IsFolder || mode != "overwrite") || AncestorFile(key);
            if (!blocked)
            {
                MakeParents(path);
                item = _items[key] = new Item(path, folder: false) { Data = data };
            }
        }
        if (item is null) { await ConflictAsync(ctx, "path", "conflict", "file"); return; }
        await JsonAsync(ctx, 200, FileMetadata(item, tagged: false));
    }

    private async Task StartAsync(HttpContext ctx, byte[] data)
    {
        var id = "pid_upload_session:" + Guid.NewGuid().ToString("N");
        var ms = new MemoryStream();
        ms.Write(data);
        _sessions[id] = ms;
        await JsonAsync(ctx, 200, new { session_id = id });
    }

    private async Task AppendAsync(HttpContext ctx, JsonElement cursor, byte[] data, JsonElement? finishCommit)
    {
        var id = cursor.GetProperty("session_id").GetString()!;
        var offset = cursor.GetProperty("offset").GetInt64();
        if (!_sessions.TryGetValue(id, out var ms)) { await ConflictAsync(ctx, "not_found"); return; }
        if (offset != ms.Length)
        {
            await JsonAsync(ctx, 409, new { error_summary = "incorrect_offset/..", error = new Dictionary<string, object> { [".tag"] = "incorrect_offset", ["correct_offset"] = ms.Length } });
            return;
        }
        ms.Write(data);
        if (finishCommit is not { } commit) { await JsonAsync(ctx, 200, (object?)null); return; }
        _sessions.TryRemove(id, out _);
        await CommitAsync(ctx, commit, ms.ToArray());
    }

    private async Task GetMetadataAsync(HttpContext ctx, string path)
    {
        if (path.Length == 0) { await TextAsync(ctx, 400, "Error in call to API function \"files/get_metadata\": request body: path: The root folder is unsupported."); return; }
        Item? item;
        lock (_lock) _items.TryGetValue(path.ToLowerInvariant(), out item);
        if (item is null) await ConflictAsync(ctx, "path", "not_found");
        else await JsonAsync(ctx, 200, Metadata(item));
    }

    private async Task ListFolderAsync(HttpContext ctx, string path, bool recursive, int start)
    {
        List<Item>? all = null;
        lock (_lock)
        {
            var key = path.ToLowerInvariant();
            if (key.Length == 0 || _items.TryGetValue(key, out var folder) && folder.IsFolder)
            {
                var prefix = key + "/";
                all = _items.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && (recursive || kv.Key.IndexOf('/', prefix.Length) < 0))
                    .Select(kv => kv.Value)
                    // No promised order: scramble it, deterministically.
                    .OrderBy(i => SHA256.HashData(Encoding.UTF8.GetBytes(i.Display))[0]).ThenBy(i => i.Display, StringComparer.Ordinal)
                    .ToList();
            }
        }
        if (all is null) { await ConflictAsync(ctx, "path", "not_found"); return; }
        var page = all.Skip(start).Take(MaxPage).ToList();
        var next = start + page.Count;
        var cursor = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { path, recursive, next })));
        await JsonAsync(ctx, 200, new { entries = page.Select(Metadata).ToList(), cursor, has_more = next < all.Count });
    }

    private Task ContinueAsync(HttpContext ctx, string cursor)
    {
        using var c = JsonDocument.Parse(Convert.FromBase64String(cursor));
        var r = c.RootElement;
        return ListFolderAsync(ctx, r.GetProperty("path").GetString()!, r.GetProperty("recursive").GetBoolean(), r.GetProperty("next").GetInt32());
    }

    private async Task DeleteAsync(HttpContext ctx, string path)
    {
        Item? item;
        lock (_lock)
        {
            var key = path.ToLowerInvariant();
            if (_items.Remove(key, out item))
                foreach (var below in _items.Keys.Where(k => k.StartsWith(key + "/", StringComparison.Ordinal)).ToList()) _items.Remove(below);
        }
        if (item is null) await ConflictAsync(ctx, "path_lookup", "not_found");
        else await JsonAsync(ctx, 200, new { metadata = Metadata(item) });
    }

    private async Task CreateFolderAsync(HttpContext ctx, string path)
    {
        Item? created = null;
        string? conflict = null;
        lock (_lock)
        {
            var key = path.ToLowerInvariant();
            if (_items.TryGetValue(key, out var existing)) conflict = existing.IsFolder ? "folder" : "file";
            else if (AncestorFile(key)) conflict = "file";
            else
            {
                MakeParents(path);
                created = _items[key] = new Item(path, folder: true);
            }
        }
        if (created is null) await ConflictAsync(ctx, "path", "conflict", conflict!);
        else await JsonAsync(ctx, 200, new { metadata = Metadata(created) });
    }

    private bool AncestorFile(string key)
    {
        for (var i = key.LastIndexOf('/'); i > 0; i = key.LastIndexOf('/', i - 1))
            if (_items.TryGetValue(key[..i], out var p) && !p.IsFolder) return true;
        return false;
    }

    private void MakeParents(string path)
    {
        for (var i = path.IndexOf('/', 1); i > 0; i = path.IndexOf('/', i + 1))
            _items.TryAdd(path[..i].ToLowerInvariant(), new Item(path[..i], folder: true));
    }

    private static object Metadata(Item i) => i.IsFolder
        ? new Dictionary<string, object> { [".tag"] = "folder", ["name"] = Name(i), ["id"] = i.Id, ["path_lower"] = i.Display.ToLowerInvariant(), ["path_display"] = i.Display }
        : FileMetadata(i, tagged: true);

    private static Dictionary<string, object> FileMetadata(Item i, bool tagged)
    {
        var d = new Dictionary<string, object>();
        if (tagged) d[".tag"] = "file";
        d["name"] = Name(i);
        d["id"] = i.Id;
        d["client_modified"] = i.Modified.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        d["server_modified"] = i.Modified.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        d["rev"] = i.Rev;
        d["size"] = i.Data.LongLength;
        d["path_lower"] = i.Display.ToLowerInvariant();
        d["path_display"] = i.Display;
        d["is_downloadable"] = true;
        d["content_hash"] = ContentHash(i.Data);
        return d;
    }

    private static string Name(Item i) => i.Display[(i.Display.LastIndexOf('/') + 1)..];

    /// <summary>Dropbox's content hash: SHA-256 over the SHA-256 of each 4 MiB block, in hex.</summary>
    private static string ContentHash(byte[] data)
    {
        using var all = new MemoryStream();
        for (var at = 0; at < data.Length; at += 4 << 20)
            all.Write(SHA256.HashData(data.AsSpan(at, Math.Min(4 << 20, data.Length - at))));
        return Convert.ToHexStringLower(SHA256.HashData(all.ToArray()));
    }

    private static string NewRev() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(9));

    /// <summary>JSON made header-safe the way Dropbox does for Dropbox-API-Result.</summary>
    private static string HeaderSafe(string json)
    {
        var sb = new StringBuilder();
        foreach (var c in json) sb.Append(c < 0x7F ? c.ToString() : $"\\u{(int)c:x4}");
        return sb.ToString();
    }

    /// <summary>409 with the documented error shape, e.g. tags ("path", "not_found") → "path/not_found/..".</summary>
    private static Task ConflictAsync(HttpContext ctx, params string[] tags)
    {
        object error = new Dictionary<string, object> { [".tag"] = tags[^1] };
        for (var i = tags.Length - 2; i >= 0; i--)
            error = new Dictionary<string, object> { [".tag"] = tags[i], [tags[i]] = error };
        return JsonAsync(ctx, 409, new { error_summary = string.Join('/', tags) + "/..", error });
    }

    private static async Task TextAsync(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text));
    }

    private static async Task JsonAsync(HttpContext ctx, int status, object? body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body));
    }

    public ValueTask DisposeAsync() => _host?.DisposeAsync() ?? ValueTask.CompletedTask;
}
