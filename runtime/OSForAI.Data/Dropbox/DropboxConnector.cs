using OSForAI.Data.Cloud;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OSForAI.Data.Remote;

namespace OSForAI.Data.Dropbox;

/// <summary>Makes dropbox:// connectors from <c>OSForAI:Data:Dropbox:&lt;label&gt;</c> settings.</summary>
public sealed class DropboxConnectorFactory : IConnectorFactory
{
    public string Scheme => "dropbox";
    public bool WorksUnconfigured => false;
    public IDataConnector Create(ConnectorSettings settings) => DropboxConnector.Create(settings);
}

/// <summary>
/// Dropbox through its HTTP API v2 (dropbox://path/to/file; no container). Small files are one
/// files/upload; larger ones an upload session (start, append_v2, finish) that commits only at finish,
/// so an interrupted upload leaves nothing. Reads stream files/download with a Range header.
/// Dropbox lists folders in no particular order, so each listing page rescans the folder and keeps only
/// the next page's names (bounded memory), folders first.
/// </summary>
public sealed class DropboxConnector : IDataConnector, IDisposable
{
    public const int DefaultChunkSize = 8 * 1024 * 1024;
    public static readonly Uri DefaultApiEndpoint = new("https://api.dropboxapi.com");
    public static readonly Uri DefaultContentEndpoint = new("https://content.dropboxapi.com");
    private const string Store = "Dropbox";
    private const int MaxRequestBytes = 150 * 1024 * 1024; // the documented per-request upload limit

    private readonly HttpClient _http;
    private readonly string _api;
    private readonly string _content;
    private readonly int _chunkSize;

    public DropboxConnector(string accessToken, Uri? apiEndpoint = null, Uri? contentEndpoint = null, int chunkSize = DefaultChunkSize)
    {
        if (chunkSize is <= 0 or > MaxRequestBytes) throw new ArgumentOutOfRangeException(nameof(chunkSize));
        _api = (apiEndpoint ?? DefaultApiEndpoint).AbsoluteUri.TrimEnd('/') + "/2/";
        _content = (contentEndpoint ?? DefaultContentEndpoint).AbsoluteUri.TrimEnd('/') + "/2/";
        _chunkSize = chunkSize;
        _http = RemoteSupport.NewHttpClient(followRedirects: false);
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
    }

    /// <summary>Settings: AccessToken (secret, required), ApiEndpoint, ContentEndpoint, ChunkSizeBytes (default 8 MiB, at most 150 MiB).</summary>
    public static DropboxConnector Create(ConnectorSettings settings)
    {
        var token = settings.RequireSecret("AccessToken");
        var chunk = settings.Long("ChunkSizeBytes", DefaultChunkSize);
        if (chunk > MaxRequestBytes)
            throw new DataException(DataError.NotConfigured, $"{settings.Key}:// ChunkSizeBytes must be at most {MaxRequestBytes} (150 MiB)");
        return new DropboxConnector(token, Endpoint(settings, "ApiEndpoint"), Endpoint(settings, "ContentEndpoint"), (int)chunk);
    }

    private static Uri? Endpoint(ConnectorSettings settings, string name)
    {
        if (settings.Get(name) is not { } text) return null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new DataException(DataError.NotConfigured, $"{settings.Key}:// {name} must be an absolute http(s) URI");
        return uri;
    }

    public bool CanWrite => true;

    public void Dispose() => _http.Dispose();

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.Segments.Count == 0) return null;
        var entry = await MetadataAsync(uri, ct);
        return entry is { IsFolder: false } ? entry.Info : null;
    }

    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) =>
        uri.Segments.Count == 0 || await MetadataAsync(uri, ct) is { IsFolder: true };

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        if (range is { Length: 0 })
        {
            var info = (await MetadataAsync(uri, ct) is { IsFolder: false } e ? e.Info : null) ?? throw NotFound(uri);
            return new ObjectStream(Stream.Null, info, RemoteSupport.Served(range, info.Size));
        }
        var header = range is { } r ? new RangeHeaderValue(r.Offset, r.Length is { } n ? r.Offset + n - 1 : null) : null;
        var response = await ContentAsync("files/download", new { path = PathOf(uri) }, null, ct, header);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The range starts at or after the end: serve nothing, with the file's metadata.
            response.Dispose();
            var info = (await MetadataAsync(uri, ct) is { IsFolder: false } e ? e.Info : null) ?? throw NotFound(uri);
            return new ObjectStream(Stream.Null, info, RemoteSupport.Served(range, info.Size));
        }
        try
        {
            await EnsureSuccessAsync(response, uri, "read", ct);
            var result = response.Headers.TryGetValues("Dropbox-API-Result", out var values) ? values.FirstOrDefault() : null;
            var meta = result is null ? null : Entry.Parse(result);
            if (meta is null) throw new DataException(DataError.Upstream, $"{Store} sent no metadata with {uri}");
            var served = RemoteSupport.Served(range, meta.Info.Size);
            if (served is { } s && response.StatusCode != HttpStatusCode.PartialContent && !(s.Offset == 0 && s.Length == meta.Info.Size))
                throw new DataException(DataError.Upstream, $"{Store} ignored the requested range of {uri}");
            var body = await response.Content.ReadAsStreamAsync(ct);
            return new ObjectStream(new UpstreamReadStream(body, response, uri.ToString()), meta.Info, served);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var path = PathOf(uri);
        var commit = new { path, mode = "overwrite", autorename = false, mute = true };
        // One chunk in memory at a time (less when the length is known to be small). The caller's stream
        // may throw while it is read: nothing is committed then, and an unfinished session never shows.
        var buffer = new byte[length is { } l and >= 0 && l < _chunkSize ? (int)l + 1 : _chunkSize];
        var n = await RemoteSupport.FillAsync(content, buffer, ct);
        if (n == buffer.Length && n < _chunkSize)
        {
            // Longer than announced: carry on with full chunks.
            Array.Resize(ref buffer, _chunkSize);
            n += await RemoteSupport.FillAsync(content, buffer.AsMemory(n), ct);
        }
        if (n < buffer.Length)
            return (await UploadAsync("files/upload", commit, buffer, n, uri, ct)).Info;

        using var started = await UploadJsonAsync("files/upload_session/start", new { close = false }, buffer, n, uri, ct);
        var session = started.RootElement.GetProperty("session_id").GetString()!;
        long offset = n;
        while (true)
        {
            n = await RemoteSupport.FillAsync(content, buffer, ct);
            var cursor = new { session_id = session, offset };
            if (n < buffer.Length)
                return (await UploadAsync("files/upload_session/finish", new { cursor, commit }, buffer, n, uri, ct)).Info;
            using (await UploadJsonAsync("files/upload_session/append_v2", new { cursor, close = false }, buffer, n, uri, ct)) { }
            offset += n;
        }
    }

    public async Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        // delete_v2 removes folders too; only files are objects.
        if (await MetadataAsync(uri, ct) is not { IsFolder: false }) return false;
        try
        {
            using (await RpcAsync("files/delete_v2", new { path = PathOf(uri) }, uri, "delete", ct)) { }
            return true;
        }
        catch (DataException e) when (e.Kind == DataError.NotFound) { return false; }
    }

    public async Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        pageSize = Math.Clamp(pageSize, 1, 10_000);
        var at = ListMarker.Decode(marker);
        var folders = at.InFiles ? null : new NextNames<string>(pageSize + 1, at.After);
        var files = new NextNames<ObjectInfo>(pageSize + 1, at.InFiles ? at.After : null);
        try
        {
            await foreach (var e in EntriesAsync(uri, recursive: false, ct))
            {
                if (e.IsFolder) folders?.Offer(e.Info.Name, e.Info.Name);
                else if (e.IsFile) files.Offer(e.Info.Name, e.Info);
            }
        }
        catch (DataException e) when (e.Kind == DataError.NotFound)
        {
            // A folder that does not exist lists as empty, as a prefix does on object stores.
            return new ListPage([], [], null);
        }
        if (folders is { Count: var fc } && fc > pageSize)
        {
            var page = folders.Take(pageSize);
            return new ListPage(page, [], new ListMarker(false, page[^1]).Encode());
        }
        var folderPage = folders?.Take(pageSize) ?? [];
        var room = pageSize - folderPage.Count;
        var filePage = files.Take(room);
        string? next = null;
        if (files.Count > room)
            next = new ListMarker(true, filePage.Count > 0 ? filePage[^1].Name : at.InFiles ? at.After : null).Encode();
        return new ListPage(folderPage, filePage, next);
    }

    public async Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.Segments.Count == 0) return;
        try
        {
            using (await RpcAsync("files/create_folder_v2", new { path = PathOf(uri), autorename = false }, uri, "create", ct)) { }
        }
        catch (DataException e) when (e.Kind == DataError.Conflict)
        {
            // Already a folder is fine; a file in the way is the conflict.
            if (!await DirectoryExistsAsync(uri, ct)) throw;
        }
    }

    public async Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        if (uri.Segments.Count == 0) throw new DataException(DataError.NotSupported, "the Dropbox root cannot be deleted through dropbox://");
        if (await MetadataAsync(uri, ct) is not { IsFolder: true })
            throw new DataException(DataError.NotFound, $"the directory {uri} was not found");
        var files = 0;
        await foreach (var e in EntriesAsync(uri, recursive: force, ct))
        {
            if (!force) throw new DataException(DataError.NotEmpty, $"{uri} is not empty; delete it with force to remove its contents");
            if (e.IsFile) files++;
        }
        // Deleting a folder removes everything in it.
        using (await RpcAsync("files/delete_v2", new { path = PathOf(uri) }, uri, "delete", ct)) { }
        return files;
    }

    /// <summary>A folder's entries (files, folders) as Dropbox pages them: list_folder, then list_folder/continue.</summary>
    private async IAsyncEnumerable<Entry> EntriesAsync(StorageUri uri, bool recursive,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var doc = await RpcAsync("files/list_folder", new { path = PathOf(uri), recursive, include_deleted = false, limit = 2000 }, uri, "list", ct);
        while (true)
        {
            List<Entry> entries;
            string? cursor;
            using (doc)
            {
                var root = doc.RootElement;
                entries = root.GetProperty("entries").EnumerateArray().Select(Entry.From).ToList();
                cursor = root.TryGetProperty("has_more", out var more) && more.GetBoolean() ? root.GetProperty("cursor").GetString() : null;
            }
            foreach (var e in entries) yield return e;
            if (cursor is null) yield break;
            doc = await RpcAsync("files/list_folder/continue", new { cursor }, uri, "list", ct);
        }
    }

    /// <summary>The file's or folder's metadata, or null when nothing is at the path.</summary>
    private async Task<Entry?> MetadataAsync(StorageUri uri, CancellationToken ct)
    {
        try
        {
            using var doc = await RpcAsync("files/get_metadata", new { path = PathOf(uri) }, uri, "read", ct);
            return Entry.From(doc.RootElement);
        }
        catch (DataException e) when (e.Kind == DataError.NotFound) { return null; }
    }

    private async Task<Entry> UploadAsync(string route, object arg, byte[] data, int count, StorageUri uri, CancellationToken ct)
    {
        using var doc = await UploadJsonAsync(route, arg, data, count, uri, ct);
        return Entry.From(doc.RootElement);
    }

    private async Task<JsonDocument> UploadJsonAsync(string route, object arg, byte[] data, int count, StorageUri uri, CancellationToken ct)
    {
        var body = new ByteArrayContent(data, 0, count);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await ContentAsync(route, arg, body, ct);
        await EnsureSuccessAsync(response, uri, "write", ct);
        return await ReadJsonAsync(response, uri, ct);
    }

    /// <summary>A content endpoint call: the argument travels in the Dropbox-API-Arg header.</summary>
    private async Task<HttpResponseMessage> ContentAsync(string route, object arg, HttpContent? body, CancellationToken ct,
        RangeHeaderValue? range = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _content + route) { Content = body };
        request.Headers.TryAddWithoutValidation("Dropbox-API-Arg", HeaderSafeJson(arg));
        if (range is not null) request.Headers.Range = range;
        return await SendAsync(request, ct);
    }

    /// <summary>An RPC endpoint call (JSON in, JSON out); a "null" result comes back as a JSON null document.</summary>
    private async Task<JsonDocument> RpcAsync(string route, object arg, StorageUri uri, string action, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _api + route)
        {
            Content = new StringContent(JsonSerializer.Serialize(arg), Encoding.UTF8, "application/json"),
        };
        using var response = await SendAsync(request, ct);
        await EnsureSuccessAsync(response, uri, action, ct);
        return await ReadJsonAsync(response, uri, ct);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        try { return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct); }
        catch (Exception e) when (RemoteSupport.IsTransport(e, ct)) { throw RemoteSupport.Unreachable(Store, e); }
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, StorageUri uri, CancellationToken ct)
    {
        try { return JsonDocument.Parse(await RemoteSupport.ReadSmallAsync(response.Content, ct, 16 * 1024 * 1024)); }
        catch (JsonException) { throw new DataException(DataError.Upstream, $"{Store} sent an unreadable answer for {uri}"); }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, StorageUri uri, string action, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var status = response.StatusCode;
        string summary = "";
        if (status == HttpStatusCode.Conflict)
        {
            try
            {
                using var doc = JsonDocument.Parse(await RemoteSupport.ReadSmallAsync(response.Content, ct));
                summary = doc.RootElement.TryGetProperty("error_summary", out var s) ? s.GetString() ?? "" : "";
            }
            catch (Exception e) when (e is JsonException or IOException or HttpRequestException) { }
        }
        response.Dispose();
        // error_summary is "tag/tag/..." (e.g. "path/not_found/.."); only its tags decide, it is never shown.
        bool Has(string tag) => summary.Split('/').Contains(tag);
        throw status switch
        {
            HttpStatusCode.Unauthorized => new DataException(DataError.Forbidden, "the dropbox credentials were refused"),
            HttpStatusCode.Forbidden => new DataException(DataError.Forbidden, $"{Store} refused access to {uri}"),
            HttpStatusCode.Conflict when Has("not_found") || Has("not_file") || Has("not_folder") => NotFound(uri),
            HttpStatusCode.Conflict when Has("malformed_path") || Has("disallowed_name") =>
                new DataException(DataError.BadPath, $"{Store} does not accept the path {uri}"),
            HttpStatusCode.Conflict when Has("conflict") => new DataException(DataError.Conflict, $"{uri} conflicts with an existing file or folder"),
            HttpStatusCode.Conflict when Has("no_write_permission") => new DataException(DataError.Forbidden, $"{Store} refused to write {uri}"),
            HttpStatusCode.Conflict when Has("insufficient_space") => new DataException(DataError.Upstream, $"the {Store} account has no space left for {uri}"),
            HttpStatusCode.TooManyRequests => new DataException(DataError.Upstream, $"{Store} is rate-limiting requests; try again later"),
            _ => new DataException(DataError.Upstream, $"{Store} failed to {action} {uri} (HTTP {(int)status})"),
        };
    }

    private static DataException NotFound(StorageUri uri) => new(DataError.NotFound, $"{uri} was not found");

    /// <summary>The Dropbox path: "/a/b", or "" for the root (as list_folder wants it).</summary>
    private static string PathOf(StorageUri uri) => uri.Segments.Count == 0 ? "" : "/" + string.Join('/', uri.Segments);

    /// <summary>
    /// JSON that is safe in an HTTP header, as Dropbox requires for Dropbox-API-Arg: every character
    /// from 0x7F up is written as a \uXXXX escape (UTF-16, so surrogate pairs become two escapes).
    /// </summary>
    public static string HeaderSafeJson(object arg)
    {
        var json = JsonSerializer.Serialize(arg);
        var sb = new StringBuilder(json.Length + 16);
        foreach (var c in json)
        {
            if (c < 0x7F) sb.Append(c);
            else sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>One entry of Dropbox metadata (file or folder; deleted entries are neither).</summary>
    private sealed record Entry(string Tag, ObjectInfo Info)
    {
        public bool IsFolder => Tag == "folder";
        /// <summary>Upload and download results carry no ".tag"; they are files.</summary>
        public bool IsFile => Tag is "file" or "";

        public static Entry Parse(string json)
        {
            using var doc = JsonDocument.Parse(json);
            return From(doc.RootElement);
        }

        public static Entry From(JsonElement e)
        {
            var tag = e.TryGetProperty(".tag", out var t) ? t.GetString() ?? "" : "";
            var name = e.GetProperty("name").GetString() ?? "";
            var size = e.TryGetProperty("size", out var s) ? s.GetInt64() : 0;
            var rev = e.TryGetProperty("rev", out var r) ? r.GetString() : null;
            DateTimeOffset? modified = e.TryGetProperty("server_modified", out var m) && m.GetString() is { } text
                ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
                : null;
            return new Entry(tag, new ObjectInfo(name, size, rev, modified));
        }
    }

    /// <summary>Keeps the <c>capacity</c> smallest names (ordinal) after <c>after</c> from an unordered stream.</summary>
    private sealed class NextNames<T>(int capacity, string? after)
    {
        private readonly SortedSet<string> _names = new(StringComparer.Ordinal);
        private readonly Dictionary<string, T> _values = new(StringComparer.Ordinal);

        public int Count => _names.Count;

        public void Offer(string name, T value)
        {
            if (after is not null && string.CompareOrdinal(name, after) <= 0) return;
            if (_names.Count == capacity && string.CompareOrdinal(name, _names.Max) >= 0) return;
            if (!_names.Add(name)) return;
            _values[name] = value;
            if (_names.Count > capacity)
            {
                var max = _names.Max!;
                _names.Remove(max);
                _values.Remove(max);
            }
        }

        public List<T> Take(int n) => _names.Take(n).Select(k => _values[k]).ToList();
    }
}
