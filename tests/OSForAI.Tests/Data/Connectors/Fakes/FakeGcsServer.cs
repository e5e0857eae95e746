// An in-process fake of the Google Cloud Storage JSON API, following Google's public documentation
// (objects get/list/delete, alt=media downloads with Range, resumable uploads), because no GCS server
// or emulator can run on the build machines. It implements only what Google.Cloud.Storage.V1 and the
// gs:// connector use, and is driven through the real client.
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace OSForAI.Tests.Data.Connectors.Fakes;

public sealed class FakeGcsServer : IAsyncDisposable
{
    private sealed record StoredObject(byte[] Data, long Generation, DateTimeOffset Updated, string ContentType, string Md5, string Crc32c);

    private sealed class Session(string bucket, string name, string contentType)
    {
        public string Bucket { get; } = bucket;
        public string Name { get; } = name;
        public string ContentType { get; } = contentType;
        public MemoryStream Received { get; } = new();
    }

    private readonly Dictionary<string, SortedDictionary<string, StoredObject>> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Session> _sessions = new();
    private readonly Lock _lock = new();
    private long _generation = 1_700_000_000_000_000;
    private LoopbackHost? _host;

    /// <summary>When set, every request must carry "Authorization: Bearer &lt;token&gt;" (else 401).</summary>
    public string? RequiredToken { get; init; }
    /// <summary>
    /// A service account's key: bearer tokens that are RS256 JWTs it signed are accepted (the client
    /// signs its own access tokens for service accounts instead of calling the token endpoint).
    /// </summary>
    public RSA? ServiceAccountKey { get; set; }
    /// <summary>Buckets whose every request is refused with 403, as for a caller without IAM permission.</summary>
    public ISet<string> ForbiddenBuckets { get; } = new HashSet<string>(StringComparer.Ordinal);
    /// <summary>Every request as "METHOD path?query", for tests that check what the client sent.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();
    /// <summary>When set, downloads pause after their first 64 KiB until this completes (see LoopbackHost.WriteBodyAsync).</summary>
    public Task? HoldDownloads { get; set; }

    public Uri BaseUri => _host!.BaseUri;
    public LoopbackHost Host => _host!;

    public static async Task<FakeGcsServer> StartAsync(string[] buckets, string? requiredToken = null)
    {
        var fake = new FakeGcsServer { RequiredToken = requiredToken };
        foreach (var b in buckets) fake._buckets[b] = new SortedDictionary<string, StoredObject>(StringComparer.Ordinal);
        fake._host = await LoopbackHost.StartAsync(fake.HandleAsync);
        return fake;
    }

    /// <summary>True when the object is visible (finalized).</summary>
    public bool Exists(string bucket, string name)
    {
        lock (_lock) return _buckets.TryGetValue(bucket, out var b) && b.ContainsKey(name);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var req = ctx.Request;
        Requests.Enqueue($"{req.Method} {req.Path}{req.QueryString}");
        if (RequiredToken is not null && !Authorized(req.Headers.Authorization.ToString()))
        {
            await ErrorAsync(ctx, 401, "Invalid Credentials", "authError");
            return;
        }
        var s = LoopbackHost.RawSegments(ctx);
        // /storage/v1/b/{bucket}/o[/{object}]  and  /upload/storage/v1/b/{bucket}/o
        if (s.Length >= 5 && s[0] == "storage" && s[1] == "v1" && s[2] == "b" && s[4] == "o")
        {
            if (ForbiddenBuckets.Contains(s[3])) { await ErrorAsync(ctx, 403, "Access denied.", "forbidden"); return; }
            if (s.Length == 5 && HttpMethods.IsGet(req.Method)) { await ListAsync(ctx, s[3]); return; }
            if (s.Length == 6 && HttpMethods.IsGet(req.Method)) { await GetAsync(ctx, s[3], s[5]); return; }
            if (s.Length == 6 && HttpMethods.IsDelete(req.Method)) { await DeleteAsync(ctx, s[3], s[5]); return; }
        }
        if (s.Length == 6 && s[0] == "upload" && s[1] == "storage" && s[2] == "v1" && s[3] == "b" && s[5] == "o")
        {
            if (ForbiddenBuckets.Contains(s[4])) { await ErrorAsync(ctx, 403, "Access denied.", "forbidden"); return; }
            var id = req.Query["upload_id"].ToString();
            if (HttpMethods.IsPost(req.Method) && req.Query["uploadType"] == "resumable") { await StartSessionAsync(ctx, s[4]); return; }
            if (HttpMethods.IsPut(req.Method) && id.Length > 0) { await PutChunkAsync(ctx, id); return; }
        }
        await ErrorAsync(ctx, 501, $"the fake does not implement {req.Method} {req.Path}", "notImplemented");
    }

    private bool Authorized(string header)
    {
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        var token = header[7..];
        return token == RequiredToken || SignedByServiceAccount(token);
    }

    /// <summary>True for an RS256 JWT whose signature the service account's key verifies.</summary>
    private bool SignedByServiceAccount(string jwt)
    {
        var parts = jwt.Split('.');
        if (ServiceAccountKey is null || parts.Length != 3) return false;
        try
        {
            var signature = System.Buffers.Text.Base64Url.DecodeFromChars(parts[2]);
            return ServiceAccountKey.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (FormatException) { return false; }
    }

    private async Task GetAsync(HttpContext ctx, string bucket, string name)
    {
        StoredObject? o;
        lock (_lock)
        {
            if (!_buckets.TryGetValue(bucket, out var b)) o = null;
            else b.TryGetValue(name, out o);
        }
        if (o is null || ctx.Request.Query["generation"] is { Count: > 0 } g && g.ToString() != o.Generation.ToString())
        {
            await ErrorAsync(ctx, 404, $"No such object: {bucket}/{name}", "notFound");
            return;
        }
        if (ctx.Request.Query["alt"] != "media")
        {
            await JsonAsync(ctx, 200, Resource(bucket, name, o));
            return;
        }
        var res = ctx.Response;
        res.Headers["x-goog-generation"] = o.Generation.ToString();
        res.Headers["x-goog-hash"] = $"crc32c={o.Crc32c},md5={o.Md5}";
        res.ContentType = o.ContentType;
        long from = 0, to = o.Data.Length - 1;
        if (ByteRange.ParseHttp(ctx.Request.Headers.Range, o.Data.Length) is { } r)
        {
            if (r.Offset >= o.Data.Length)
            {
                res.Headers.ContentRange = $"bytes */{o.Data.Length}";
                await ErrorAsync(ctx, 416, "Requested range not satisfiable", "requestedRangeNotSatisfiable");
                return;
            }
            from = r.Offset;
            to = r.Length is { } n ? Math.Min(o.Data.Length - 1, from + n - 1) : o.Data.Length - 1;
            res.StatusCode = 206;
            res.Headers.ContentRange = $"bytes {from}-{to}/{o.Data.Length}";
        }
        res.ContentLength = to - from + 1;
        await LoopbackHost.WriteBodyAsync(res, o.Data.AsMemory((int)from, (int)(to - from + 1)), HoldDownloads);
    }

    private async Task ListAsync(HttpContext ctx, string bucket)
    {
        var q = ctx.Request.Query;
        var prefix = q["prefix"].ToString();
        var delimiter = q["delimiter"].ToString();
        var max = int.TryParse(q["maxResults"], out var m) && m > 0 ? Math.Min(m, 1000) : 1000;
        var after = q["pageToken"].Count > 0 ? Encoding.UTF8.GetString(Convert.FromBase64String(q["pageToken"]!)) : null;
        List<(string Key, string Name, StoredObject? Object)>? entries = null;
        lock (_lock)
        {
            if (_buckets.TryGetValue(bucket, out var b))
            {
                // Items and prefixes in one name order; maxResults counts both (as the docs say).
                entries = [];
                string? lastPrefix = null;
                foreach (var (name, o) in b)
                {
                    if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
                    var cut = delimiter.Length > 0 ? name.IndexOf(delimiter, prefix.Length, StringComparison.Ordinal) : -1;
                    if (cut >= 0)
                    {
                        var p = name[..(cut + delimiter.Length)];
                        if (p != lastPrefix) entries.Add((p, p, null));
                        lastPrefix = p;
                    }
                    else entries.Add((name, name, o));
                }
            }
        }
        if (entries is null) { await ErrorAsync(ctx, 404, "The specified bucket does not exist.", "notFound"); return; }
        var page = entries.Where(e => after is null || string.CompareOrdinal(e.Key, after) > 0).Take(max + 1).ToList();
        var more = page.Count > max;
        if (more) page.RemoveAt(max);
        var body = new Dictionary<string, object> { ["kind"] = "storage#objects" };
        var items = page.Where(e => e.Object is not null).Select(e => Resource(bucket, e.Name, e.Object!)).ToList();
        var prefixes = page.Where(e => e.Object is null).Select(e => e.Name).ToList();
        if (items.Count > 0) body["items"] = items;
        if (prefixes.Count > 0) body["prefixes"] = prefixes;
        if (more) body["nextPageToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(page[^1].Key));
        await JsonAsync(ctx, 200, body);
    }

    private async Task DeleteAsync(HttpContext ctx, string bucket, string name)
    {
        bool removed;
        lock (_lock) removed = _buckets.TryGetValue(bucket, out var b) && b.Remove(name);
        if (!removed) { await ErrorAsync(ctx, 404, $"No such object: {bucket}/{name}", "notFound"); return; }
        ctx.Response.StatusCode = 204;
    }

    private async Task StartSessionAsync(HttpContext ctx, string bucket)
    {
        bool known;
        lock (_lock) known = _buckets.ContainsKey(bucket);
        if (!known) { await ErrorAsync(ctx, 404, "The specified bucket does not exist.", "notFound"); return; }
        var body = await LoopbackHost.BodyAsync(ctx.Request);
        string? name = ctx.Request.Query["name"];
        var contentType = ctx.Request.Headers["X-Upload-Content-Type"].ToString();
        if (body.Length > 0)
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("name", out var n)) name ??= n.GetString();
            if (doc.RootElement.TryGetProperty("contentType", out var c) && contentType.Length == 0) contentType = c.GetString() ?? "";
        }
        if (string.IsNullOrEmpty(name)) { await ErrorAsync(ctx, 400, "Required", "required"); return; }
        var id = Guid.NewGuid().ToString("N");
        _sessions[id] = new Session(bucket, name, contentType.Length > 0 ? contentType : "application/octet-stream");
        ctx.Response.Headers.Location = new Uri(BaseUri, $"upload/storage/v1/b/{Uri.EscapeDataString(bucket)}/o?uploadType=resumable&upload_id={id}").AbsoluteUri;
        ctx.Response.StatusCode = 200;
    }

    private async Task PutChunkAsync(HttpContext ctx, string id)
    {
        if (!_sessions.TryGetValue(id, out var session)) { await ErrorAsync(ctx, 404, "No such upload session.", "notFound"); return; }
        var chunk = await LoopbackHost.BodyAsync(ctx.Request);
        // Content-Range: "bytes a-b/total", "bytes a-b/*", "bytes */total" (finish or query), "bytes */*" (query).
        var range = ctx.Request.Headers.ContentRange.ToString();
        if (!range.StartsWith("bytes ", StringComparison.Ordinal) || range.IndexOf('/') is var slash && slash < 0)
        {
            await ErrorAsync(ctx, 400, "Invalid Content-Range", "invalid");
            return;
        }
        var span = range[6..slash];
        var totalText = range[(slash + 1)..];
        long? total = totalText == "*" ? null : long.Parse(totalText);
        lock (session)
        {
            if (span != "*")
            {
                var dash = span.IndexOf('-');
                var start = long.Parse(span[..dash]);
                var end = long.Parse(span[(dash + 1)..]);
                if (end - start + 1 != chunk.Length) { ctx.Response.StatusCode = 400; return; }
                // A chunk that does not continue where the server is resends bytes it already has: skip them.
                if (start <= session.Received.Length && end >= session.Received.Length)
                    session.Received.Write(chunk, (int)(session.Received.Length - start), (int)(end + 1 - session.Received.Length));
            }
        }
        var received = session.Received.Length;
        if (total is null || received < total)
        {
            ctx.Response.StatusCode = 308;
            if (received > 0) ctx.Response.Headers["Range"] = $"bytes=0-{received - 1}";
            return;
        }
        var data = session.Received.ToArray();
        var crc = Crc32c(data);
        foreach (var h in ctx.Request.Headers["x-goog-hash"].SelectMany(v => v!.Split(',')))
        {
            var kv = h.Trim().Split('=', 2);
            if (kv.Length == 2 && kv[0] == "crc32c" && kv[1] != crc)
            {
                _sessions.TryRemove(id, out _);
                await ErrorAsync(ctx, 400, "Provided CRC32C \"" + kv[1] + "\" doesn't match calculated CRC32C.", "invalid");
                return;
            }
        }
        // Only the final chunk makes the object visible.
        StoredObject stored;
        lock (_lock)
        {
            stored = new StoredObject(data, ++_generation, DateTimeOffset.UtcNow, session.ContentType, Convert.ToBase64String(MD5.HashData(data)), crc);
            _buckets[session.Bucket][session.Name] = stored;
        }
        _sessions.TryRemove(id, out _);
        await JsonAsync(ctx, 200, Resource(session.Bucket, session.Name, stored));
    }

    private Dictionary<string, object> Resource(string bucket, string name, StoredObject o) => new()
    {
        ["kind"] = "storage#object",
        ["id"] = $"{bucket}/{name}/{o.Generation}",
        ["selfLink"] = new Uri(BaseUri, $"storage/v1/b/{Uri.EscapeDataString(bucket)}/o/{Uri.EscapeDataString(name)}").AbsoluteUri,
        ["name"] = name,
        ["bucket"] = bucket,
        ["generation"] = o.Generation.ToString(),
        ["metageneration"] = "1",
        ["contentType"] = o.ContentType,
        ["size"] = o.Data.Length.ToString(),
        ["md5Hash"] = o.Md5,
        ["crc32c"] = o.Crc32c,
        ["etag"] = "C" + o.Generation.ToString("x") + "EAE=",
        ["timeCreated"] = o.Updated.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
        ["updated"] = o.Updated.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
    };

    /// <summary>CRC32C (Castagnoli) as GCS reports it: base64 of the big-endian 32-bit value.</summary>
    public static string Crc32c(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, ~crc);
        return Convert.ToBase64String(bytes);
    }

    private static Task ErrorAsync(HttpContext ctx, int status, string message, string reason) => JsonAsync(ctx, status, new
    {
        error = new { code = status, message, errors = new[] { new { message, domain = "global", reason } } },
    });

    private static async Task JsonAsync(HttpContext ctx, int status, object body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=UTF-8";
        await ctx.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body));
    }

    public ValueTask DisposeAsync() => _host?.DisposeAsync() ?? ValueTask.CompletedTask;
}
