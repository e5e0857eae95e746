using OSForAI.Data.Cloud;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using OSForAI.Data.Remote;

namespace OSForAI.Data.Hdfs;

/// <summary>Makes hdfs:// connectors from <c>OSForAI:Data:Hdfs:&lt;label&gt;</c> settings.</summary>
public sealed class WebHdfsConnectorFactory : IConnectorFactory
{
    public string Scheme => "hdfs";
    public bool WorksUnconfigured => false;
    public IDataConnector Create(ConnectorSettings settings) => WebHdfsConnector.Create(settings);
}

/// <summary>
/// HDFS through the WebHDFS REST API (hdfs://path/to/file; no container). Writes go to a hidden
/// sibling <c>.&lt;name&gt;.osai-&lt;id&gt;</c> through the two-step CREATE (namenode redirect, then the
/// data to the datanode) and are renamed over the target only when complete, so readers never see a
/// partial file; hidden temporaries never appear in listings. Reads follow OPEN's redirect and stream.
/// </summary>
public sealed class WebHdfsConnector : IDataConnector, IDisposable
{
    private const string Store = "the WebHDFS server";
    private const string TempMark = ".osai-";

    private readonly HttpClient _http;
    private readonly string _base;
    private readonly string? _user;
    private readonly string? _delegation;

    /// <param name="endpoint">The namenode's HTTP address, e.g. http://namenode:9870 (a gateway path prefix is kept).</param>
    /// <param name="user">Sent as user.name (clusters without security) when there is no token.</param>
    /// <param name="delegationToken">Sent as delegation (secured clusters).</param>
    public WebHdfsConnector(Uri endpoint, string? user = null, string? delegationToken = null)
    {
        _base = endpoint.AbsoluteUri.TrimEnd('/') + "/webhdfs/v1";
        _user = user;
        _delegation = delegationToken;
        // Redirects are followed by hand: CREATE's must receive the data, and OPEN's is the datanode.
        _http = RemoteSupport.NewHttpClient(followRedirects: false);
    }

    /// <summary>Settings: Endpoint (http(s)://namenode:port, required), User (user.name), DelegationToken (secret).</summary>
    public static WebHdfsConnector Create(ConnectorSettings settings)
    {
        var endpoint = settings.Require("Endpoint");
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new DataException(DataError.NotConfigured, $"{settings.Key}:// Endpoint must be an absolute http(s) URI such as http://namenode:9870");
        return new WebHdfsConnector(uri, settings.Get("User"), settings.Secret("DelegationToken"));
    }

    public bool CanWrite => true;

    public void Dispose() => _http.Dispose();

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.Segments.Count == 0) return null;
        var s = await StatusAsync(uri, PathOf(uri), ct);
        return s is { IsDirectory: false } ? Info(uri.Name, s) : null;
    }

    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) =>
        await StatusAsync(uri, PathOf(uri), ct) is { IsDirectory: true };

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var path = PathOf(uri);
        var status = await StatusAsync(uri, path, ct);
        if (status is not { IsDirectory: false }) throw new DataException(DataError.NotFound, $"{uri} was not found");
        var info = Info(uri.Name, status);
        var served = RemoteSupport.Served(range, info.Size);
        if (info.Size == 0 || served is { Length: 0 }) return new ObjectStream(Stream.Null, info, served);

        var args = served is { } r ? new[] { ("offset", r.Offset.ToString()), ("length", r.Length!.Value.ToString()) } : [];
        var response = await SendAsync(HttpMethod.Get, Op(path, "OPEN", args), null, uri, "read", ct);
        if (response.StatusCode is HttpStatusCode.TemporaryRedirect or HttpStatusCode.Redirect or HttpStatusCode.SeeOther)
        {
            var datanode = await RedirectTargetAsync(response, uri, "read", ct);
            response = await SendAsync(HttpMethod.Get, datanode, null, uri, "read", ct);
        }
        await EnsureSuccessAsync(response, uri, "read", ct);
        var body = await response.Content.ReadAsStreamAsync(ct);
        return new ObjectStream(new UpstreamReadStream(body, response, uri.ToString()), info, served);
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var path = PathOf(uri);
        if (await StatusAsync(uri, path, ct) is { IsDirectory: true })
            throw new DataException(DataError.Conflict, $"{uri} is a directory");
        var name = uri.Name;
        var tempName = $".{(name.Length > 100 ? name[..100] : name)}{TempMark}{Guid.NewGuid():N}";
        var tempPath = PathOf(uri.Parent!.Child(tempName));
        var source = new SourceStream(content);
        var committed = false;
        try
        {
            // Step 1: the namenode answers CREATE with a redirect to a datanode, without data.
            var create = await SendAsync(HttpMethod.Put, Op(tempPath, "CREATE", ("overwrite", "false")), null, uri, "write", ct);
            var datanode = await RedirectTargetAsync(create, uri, "write", ct);
            // Step 2: the data goes to the datanode (chunked when the length is unknown).
            var body = new StreamContent(source, 81920);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            if (length is { } n) body.Headers.ContentLength = n;
            using (var written = await SendAsync(HttpMethod.Put, datanode, body, uri, "write", ct, source))
                await EnsureSuccessAsync(written, uri, "write", ct);
            // Step 3: into place. WebHDFS RENAME never replaces a file, so an existing one goes first.
            var rename = Op(tempPath, "RENAME", ("destination", path));
            if (!await BooleanAsync(HttpMethod.Put, rename, uri, "write", ct))
            {
                if (await StatusAsync(uri, path, ct) is { IsDirectory: true })
                    throw new DataException(DataError.Conflict, $"{uri} is a directory");
                await BooleanAsync(HttpMethod.Delete, Op(path, "DELETE", ("recursive", "false")), uri, "write", ct);
                if (!await BooleanAsync(HttpMethod.Put, rename, uri, "write", ct))
                    throw new DataException(DataError.Upstream, $"{Store} did not rename the upload into place at {uri}");
            }
            committed = true;
        }
        finally
        {
            if (!committed) await DeleteQuietlyAsync(tempPath);
        }
        return await StatAsync(uri, ct) ?? throw new DataException(DataError.Upstream, $"{uri} vanished right after it was written");
    }

    public async Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var path = PathOf(uri);
        // DELETE would remove a directory too; only files are objects.
        if (await StatusAsync(uri, path, ct) is not { IsDirectory: false }) return false;
        return await BooleanAsync(HttpMethod.Delete, Op(path, "DELETE", ("recursive", "false")), uri, "delete", ct);
    }

    public async Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        // A directory that does not exist lists as empty, as a prefix does on object stores.
        try { return await ListPageAsync(uri, marker, pageSize, ct); }
        catch (DataException e) when (e.Kind == DataError.NotFound) { return new ListPage([], [], null); }
    }

    private async Task<ListPage> ListPageAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        // HDFS lists in name order and resumes after a name (LISTSTATUS_BATCH&startAfter). Folders come
        // first across pages: the marker says which pass (folders, then files) and the last name returned.
        pageSize = Math.Clamp(pageSize, 1, 10_000);
        var path = PathOf(uri);
        var at = ListMarker.Decode(marker);
        var folders = new List<string>();
        if (!at.InFiles)
        {
            await foreach (var s in EntriesAsync(uri, path, at.After, ct))
            {
                if (!s.IsDirectory || IsHidden(s.Name)) continue;
                if (folders.Count == pageSize) return new ListPage(folders, [], new ListMarker(false, folders[^1]).Encode());
                folders.Add(s.Name);
            }
            at = new ListMarker(true, null);
        }
        var room = pageSize - folders.Count;
        var files = new List<ObjectInfo>();
        await foreach (var s in EntriesAsync(uri, path, at.After, ct))
        {
            if (s.IsDirectory || IsHidden(s.Name)) continue;
            if (files.Count == room)
                return new ListPage(folders, files, new ListMarker(true, files.Count > 0 ? files[^1].Name : at.After).Encode());
            files.Add(Info(s.Name, s));
        }
        return new ListPage(folders, files, null);
    }

    public async Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct)
    {
        if (!await BooleanAsync(HttpMethod.Put, Op(PathOf(uri), "MKDIRS"), uri, "create", ct))
            throw new DataException(DataError.Upstream, $"{Store} did not create {uri}");
    }

    public async Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        if (uri.Segments.Count == 0) throw new DataException(DataError.NotSupported, "the HDFS root cannot be deleted through hdfs://");
        var path = PathOf(uri);
        if (await StatusAsync(uri, path, ct) is not { IsDirectory: true })
            throw new DataException(DataError.NotFound, $"the directory {uri} was not found");
        var files = 0;
        if (force)
        {
            using var summary = await JsonAsync(Op(path, "GETCONTENTSUMMARY"), uri, "delete", ct);
            files = (int)Math.Min(int.MaxValue, summary.RootElement.GetProperty("ContentSummary").GetProperty("fileCount").GetInt64());
        }
        // A non-empty directory without recursive=true fails with PathIsNotEmptyDirectoryException (NotEmpty).
        await BooleanAsync(HttpMethod.Delete, Op(path, "DELETE", ("recursive", force ? "true" : "false")), uri, "delete", ct);
        return files;
    }

    /// <summary>One directory's entries in name order, fetched in LISTSTATUS_BATCH pages.</summary>
    private async IAsyncEnumerable<HdfsStatus> EntriesAsync(StorageUri uri, string path, string? startAfter, [EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            var args = startAfter is null ? [] : new[] { ("startAfter", startAfter) };
            List<HdfsStatus> batch;
            long remaining;
            using (var doc = await JsonAsync(Op(path, "LISTSTATUS_BATCH", args), uri, "list", ct))
            {
                var listing = doc.RootElement.GetProperty("DirectoryListing");
                batch = listing.GetProperty("partialListing").GetProperty("FileStatuses").GetProperty("FileStatus")
                    .EnumerateArray().Select(HdfsStatus.From).ToList();
                remaining = listing.TryGetProperty("remainingEntries", out var r) ? r.GetInt64() : 0;
            }
            foreach (var s in batch)
                if (s.Name.Length > 0) yield return s; // a file lists as itself with an empty suffix
            if (remaining <= 0 || batch.Count == 0) yield break;
            startAfter = batch[^1].Name;
        }
    }

    private static bool IsHidden(string name) => name.StartsWith('.') && name.Contains(TempMark, StringComparison.Ordinal);

    private async Task<HdfsStatus?> StatusAsync(StorageUri uri, string path, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, Op(path, "GETFILESTATUS"), null, uri, "read", ct);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, uri, "read", ct);
        using var doc = await ReadJsonAsync(response, uri, ct);
        return HdfsStatus.From(doc.RootElement.GetProperty("FileStatus"));
    }

    private async Task<JsonDocument> JsonAsync(Uri url, StorageUri uri, string action, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, url, null, uri, action, ct);
        await EnsureSuccessAsync(response, uri, action, ct);
        return await ReadJsonAsync(response, uri, ct);
    }

    /// <summary>Sends an operation answered with {"boolean": ...}.</summary>
    private async Task<bool> BooleanAsync(HttpMethod method, Uri url, StorageUri uri, string action, CancellationToken ct)
    {
        using var response = await SendAsync(method, url, null, uri, action, ct);
        await EnsureSuccessAsync(response, uri, action, ct);
        using var doc = await ReadJsonAsync(response, uri, ct);
        return doc.RootElement.GetProperty("boolean").GetBoolean();
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, StorageUri uri, CancellationToken ct)
    {
        try { return JsonDocument.Parse(await RemoteSupport.ReadSmallAsync(response.Content, ct, 16 * 1024 * 1024)); }
        catch (JsonException) { throw new DataException(DataError.Upstream, $"{Store} sent an unreadable answer for {uri}"); }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, HttpContent? content, StorageUri uri, string action,
        CancellationToken ct, SourceStream? source = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = content };
        try { return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct); }
        catch (Exception e) when (!(e is OperationCanceledException && ct.IsCancellationRequested))
        {
            if (source is not null) RemoteSupport.ThrowIfSourceFailed(source);
            if (RemoteSupport.IsTransport(e, ct)) throw RemoteSupport.Unreachable(Store, e);
            throw;
        }
    }

    /// <summary>The datanode a namenode redirected to (the response is consumed); errors map as usual.</summary>
    private static async Task<Uri> RedirectTargetAsync(HttpResponseMessage response, StorageUri uri, string action, CancellationToken ct)
    {
        if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { IsAbsoluteUri: true } location)
        {
            response.Dispose();
            return location;
        }
        await EnsureSuccessAsync(response, uri, action, ct);
        response.Dispose();
        throw new DataException(DataError.Upstream, $"{Store} did not redirect the {action} of {uri} to a datanode");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, StorageUri uri, string action, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        string? exception = null;
        try
        {
            using var doc = JsonDocument.Parse(await RemoteSupport.ReadSmallAsync(response.Content, ct));
            if (doc.RootElement.TryGetProperty("RemoteException", out var re) && re.TryGetProperty("exception", out var ex))
                exception = ex.GetString();
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException) { }
        var status = response.StatusCode;
        response.Dispose();
        // The RemoteException message may quote paths and settings; only its class name is used.
        throw exception switch
        {
            "FileNotFoundException" => new DataException(DataError.NotFound, $"{uri} was not found"),
            "AccessControlException" or "SecurityException" or "AuthorizationException" or "InvalidToken" =>
                new DataException(DataError.Forbidden, $"{Store} refused access to {uri}"),
            "PathIsNotEmptyDirectoryException" => new DataException(DataError.NotEmpty, $"{uri} is not empty; delete it with force to remove its contents"),
            "FileAlreadyExistsException" or "ParentNotDirectoryException" => new DataException(DataError.Conflict, $"{uri} conflicts with an existing file or directory"),
            _ when status == HttpStatusCode.Unauthorized => new DataException(DataError.Forbidden, $"{Store} refused the hdfs credentials"),
            _ when status == HttpStatusCode.Forbidden && exception is null => new DataException(DataError.Forbidden, $"{Store} refused access to {uri}"),
            _ when status == HttpStatusCode.NotFound => new DataException(DataError.NotFound, $"{uri} was not found"),
            _ => new DataException(DataError.Upstream, $"{Store} failed to {action} {uri} (HTTP {(int)status}{(exception is null ? "" : ", " + exception)})"),
        };
    }

    /// <summary>Best-effort removal of an abandoned upload, even when the caller has cancelled.</summary>
    private async Task DeleteQuietlyAsync(string path)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var _ = await _http.DeleteAsync(Op(path, "DELETE", ("recursive", "false")), cts.Token);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException) { }
    }

    /// <summary>The HDFS path of a URI: "/" plus its segments, each percent-encoded for the URL.</summary>
    private static string PathOf(StorageUri uri) => "/" + string.Join('/', uri.Segments);

    private Uri Op(string path, string op, params (string Name, string Value)[] args)
    {
        var sb = new StringBuilder(_base);
        sb.Append(path == "/" ? "/" : string.Join('/', path.Split('/').Select(Uri.EscapeDataString)));
        sb.Append("?op=").Append(op);
        foreach (var (k, v) in args) sb.Append('&').Append(k).Append('=').Append(Uri.EscapeDataString(v));
        // As Hadoop's own client does: the token when there is one (it names the user), else user.name.
        if (_delegation is not null) sb.Append("&delegation=").Append(Uri.EscapeDataString(_delegation));
        else if (_user is not null) sb.Append("&user.name=").Append(Uri.EscapeDataString(_user));
        return new Uri(sb.ToString());
    }

    private static ObjectInfo Info(string name, HdfsStatus s) =>
        new(name, s.Length, null, DateTimeOffset.FromUnixTimeMilliseconds(s.ModificationTime));

    /// <summary>The fields of a WebHDFS FileStatus this connector uses.</summary>
    private sealed record HdfsStatus(string Name, bool IsDirectory, long Length, long ModificationTime)
    {
        public static HdfsStatus From(JsonElement e) => new(
            e.TryGetProperty("pathSuffix", out var p) ? p.GetString() ?? "" : "",
            e.TryGetProperty("type", out var t) && t.GetString() == "DIRECTORY",
            e.TryGetProperty("length", out var l) ? l.GetInt64() : 0,
            e.TryGetProperty("modificationTime", out var m) ? m.GetInt64() : 0);
    }
}
