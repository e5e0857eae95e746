// An in-process fake of a WebHDFS namenode and datanode (one Kestrel app), following the public
// WebHDFS REST API documentation (hadoop-hdfs WebHDFS.md), because no HDFS cluster can run on the
// build machines. It keeps an in-memory tree and answers with the documented JSON shapes: FileStatus,
// DirectoryListing (LISTSTATUS_BATCH with startAfter), ContentSummary, boolean and RemoteException.
using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace OSForAI.Tests.Data.Connectors.Fakes;

public sealed class FakeWebHdfsServer : IAsyncDisposable
{
    private sealed class Node(bool directory)
    {
        public bool IsDirectory { get; } = directory;
        public MemoryStream Data { get; } = new();
        public long ModificationTime { get; set; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    // Paths are "/a/b"; the root is "/". Sorted so listings come in name order, as HDFS lists.
    private readonly SortedDictionary<string, Node> _tree = new(StringComparer.Ordinal) { ["/"] = new Node(true) };
    private readonly Lock _lock = new();
    private LoopbackHost? _host;

    /// <summary>Entries per LISTSTATUS_BATCH answer (the namenode's dfs.ls.limit).</summary>
    public int ListLimit { get; init; } = 3;
    /// <summary>When set, the delegation parameter must carry this token (else 401 SecurityException).</summary>
    public string? RequiredToken { get; init; }
    /// <summary>Paths (and everything below) refused with AccessControlException.</summary>
    public ISet<string> LockedPaths { get; } = new HashSet<string>(StringComparer.Ordinal);
    public ConcurrentQueue<string> Requests { get; } = new();
    /// <summary>When set, downloads pause after their first 64 KiB until this completes (see LoopbackHost.WriteBodyAsync).</summary>
    public Task? HoldDownloads { get; set; }

    public Uri BaseUri => _host!.BaseUri;
    public LoopbackHost Host => _host!;

    public static async Task<FakeWebHdfsServer> StartAsync(string? requiredToken = null, int listLimit = 3)
    {
        var fake = new FakeWebHdfsServer { RequiredToken = requiredToken, ListLimit = listLimit };
        fake._host = await LoopbackHost.StartAsync(fake.HandleAsync);
        return fake;
    }

    /// <summary>All paths in the tree, hidden ones included (the namenode's own view).</summary>
    public IReadOnlyList<string> AllPaths()
    {
        lock (_lock) return _tree.Keys.ToList();
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var req = ctx.Request;
        Requests.Enqueue($"{req.Method} {req.Path}{req.QueryString}");
        var segments = LoopbackHost.RawSegments(ctx);
        var datanode = segments.Length > 0 && segments[0] == "datanode";
        if (datanode) segments = segments[1..];
        if (segments.Length < 2 || segments[0] != "webhdfs" || segments[1] != "v1")
        {
            await RemoteAsync(ctx, 404, "FileNotFoundException", "java.io.FileNotFoundException", "no such endpoint");
            return;
        }
        var path = "/" + string.Join('/', segments[2..]);
        var op = req.Query["op"].ToString().ToUpperInvariant();
        if (!datanode && RequiredToken is not null && req.Query["delegation"] != RequiredToken)
        {
            await RemoteAsync(ctx, 401, "SecurityException", "java.lang.SecurityException", "Failed to obtain user group information: token is not valid");
            return;
        }
        if (LockedPaths.Any(p => path == p || path.StartsWith(p + "/", StringComparison.Ordinal)))
        {
            await RemoteAsync(ctx, 403, "AccessControlException", "org.apache.hadoop.security.AccessControlException", "Permission denied: user=osai, access=ALL, inode=" + path);
            return;
        }
        switch (datanode, req.Method, op)
        {
            case (false, "GET", "GETFILESTATUS"): await FileStatusAsync(ctx, path); break;
            case (false, "GET", "LISTSTATUS_BATCH"): await ListBatchAsync(ctx, path); break;
            case (false, "GET", "GETCONTENTSUMMARY"): await ContentSummaryAsync(ctx, path); break;
            case (false, "GET", "OPEN"):
                if (IsFile(path)) Redirect(ctx);
                else await NotFoundAsync(ctx, path);
                break;
            case (false, "PUT", "CREATE"): await CreateAsync(ctx, path); break;
            case (false, "PUT", "MKDIRS"): await MkdirsAsync(ctx, path); break;
            case (false, "PUT", "RENAME"): await RenameAsync(ctx, path); break;
            case (false, "DELETE", "DELETE"): await DeleteAsync(ctx, path); break;
            case (true, "GET", "OPEN"): await ReadAsync(ctx, path); break;
            case (true, "PUT", "CREATE"): await WriteAsync(ctx, path); break;
            default:
                await RemoteAsync(ctx, 400, "IllegalArgumentException", "java.lang.IllegalArgumentException", $"Invalid value for webhdfs parameter \"op\": {op}");
                break;
        }
    }

    /// <summary>307 to the same request on the datanode (the namenode passes the query on, as the docs show).</summary>
    private void Redirect(HttpContext ctx)
    {
        var raw = ctx.Request.Path.Value + ctx.Request.QueryString.Value;
        ctx.Response.StatusCode = 307;
        ctx.Response.Headers.Location = new Uri(BaseUri, "datanode" + raw).AbsoluteUri;
    }

    private async Task FileStatusAsync(HttpContext ctx, string path)
    {
        object? status;
        lock (_lock) status = _tree.TryGetValue(path, out var n) ? Status("", n) : null;
        if (status is null) await NotFoundAsync(ctx, path);
        else await JsonAsync(ctx, 200, new { FileStatus = status });
    }

    private async Task ListBatchAsync(HttpContext ctx, string path)
    {
        var after = ctx.Request.Query["startAfter"].ToString();
        List<object>? batch = null;
        var remaining = 0;
        lock (_lock)
        {
            if (_tree.TryGetValue(path, out var node))
            {
                var children = node.IsDirectory
                    ? Children(path).Where(c => after.Length == 0 || string.CompareOrdinal(c.Name, after) > 0).ToList()
                    : [("", node)];
                batch = children.Take(ListLimit).Select(c => Status(c.Name, c.Node)).ToList();
                remaining = children.Count - batch.Count;
            }
        }
        if (batch is null) { await NotFoundAsync(ctx, path); return; }
        await JsonAsync(ctx, 200, new
        {
            DirectoryListing = new { partialListing = new { FileStatuses = new { FileStatus = batch } }, remainingEntries = remaining },
        });
    }

    private async Task ContentSummaryAsync(HttpContext ctx, string path)
    {
        object? summary = null;
        lock (_lock)
        {
            if (_tree.TryGetValue(path, out var node))
            {
                var below = Below(path).Select(p => _tree[p]).Append(node).ToList();
                summary = new
                {
                    directoryCount = below.Count(n => n.IsDirectory),
                    fileCount = below.Count(n => !n.IsDirectory),
                    length = below.Sum(n => n.Data.Length),
                    quota = -1,
                    spaceConsumed = below.Sum(n => n.Data.Length),
                    spaceQuota = -1,
                };
            }
        }
        if (summary is null) await NotFoundAsync(ctx, path);
        else await JsonAsync(ctx, 200, new { ContentSummary = summary });
    }

    private async Task CreateAsync(HttpContext ctx, string path)
    {
        var overwrite = ctx.Request.Query["overwrite"] == "true";
        string? conflict = null;
        lock (_lock)
        {
            if (_tree.TryGetValue(path, out var n) && (n.IsDirectory || !overwrite)) conflict = "FileAlreadyExistsException";
            else if (AncestorFile(path) is not null) conflict = "ParentNotDirectoryException";
        }
        if (conflict is not null)
        {
            await RemoteAsync(ctx, 403, conflict, "org.apache.hadoop.fs." + conflict, "cannot create " + path);
            return;
        }
        Redirect(ctx);
    }

    /// <summary>The datanode's half of CREATE: the file exists (and grows) from the first byte, as in HDFS.</summary>
    private async Task WriteAsync(HttpContext ctx, string path)
    {
        Node node;
        lock (_lock)
        {
            MakeParents(path);
            node = _tree[path] = new Node(false);
        }
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                lock (_lock) node.Data.Write(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException)
        {
            // The writer went away mid-file: HDFS keeps what arrived (until lease recovery); so does the fake.
            return;
        }
        lock (_lock) node.ModificationTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        ctx.Response.StatusCode = 201;
        ctx.Response.Headers.Location = $"webhdfs://{BaseUri.Authority}{path}";
    }

    private async Task ReadAsync(HttpContext ctx, string path)
    {
        byte[]? data;
        lock (_lock) data = _tree.TryGetValue(path, out var n) && !n.IsDirectory ? n.Data.ToArray() : null;
        if (data is null) { await NotFoundAsync(ctx, path); return; }
        var offset = long.TryParse(ctx.Request.Query["offset"], out var o) ? o : 0;
        var length = long.TryParse(ctx.Request.Query["length"], out var l) ? l : data.Length - offset;
        if (offset > data.Length)
        {
            await RemoteAsync(ctx, 403, "IOException", "java.io.IOException", "Offset=" + offset + " out of the range");
            return;
        }
        length = Math.Min(length, data.Length - offset);
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = length;
        await LoopbackHost.WriteBodyAsync(ctx.Response, data.AsMemory((int)offset, (int)length), HoldDownloads);
    }

    private async Task MkdirsAsync(HttpContext ctx, string path)
    {
        bool conflict;
        lock (_lock)
        {
            conflict = _tree.TryGetValue(path, out var n) && !n.IsDirectory || AncestorFile(path) is not null;
            if (!conflict)
            {
                MakeParents(path);
                _tree.TryAdd(path, new Node(true));
            }
        }
        if (conflict) await RemoteAsync(ctx, 403, "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException", "Path is not a directory: " + path);
        else await JsonAsync(ctx, 200, new { boolean = true });
    }

    /// <summary>HDFS rename: false when the source is missing, the destination exists or its parent does not.</summary>
    private async Task RenameAsync(HttpContext ctx, string path)
    {
        var destination = ctx.Request.Query["destination"].ToString();
        bool ok;
        lock (_lock)
        {
            ok = _tree.ContainsKey(path) && !_tree.ContainsKey(destination) && _tree.TryGetValue(Parent(destination), out var p) && p.IsDirectory;
            if (ok)
            {
                foreach (var old in Below(path).Prepend(path).ToList())
                {
                    var node = _tree[old];
                    _tree.Remove(old);
                    _tree[destination + old[path.Length..]] = node;
                }
            }
        }
        await JsonAsync(ctx, 200, new { boolean = ok });
    }

    private async Task DeleteAsync(HttpContext ctx, string path)
    {
        var recursive = ctx.Request.Query["recursive"] == "true";
        bool deleted = false, notEmpty = false;
        lock (_lock)
        {
            if (path != "/" && _tree.ContainsKey(path))
            {
                var below = Below(path).ToList();
                notEmpty = below.Count > 0 && !recursive;
                if (!notEmpty)
                {
                    foreach (var p in below) _tree.Remove(p);
                    deleted = _tree.Remove(path);
                }
            }
        }
        if (notEmpty) await RemoteAsync(ctx, 403, "PathIsNotEmptyDirectoryException", "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", $"`{path} is non empty': Directory is not empty");
        else await JsonAsync(ctx, 200, new { boolean = deleted });
    }

    private bool IsFile(string path)
    {
        lock (_lock) return _tree.TryGetValue(path, out var n) && !n.IsDirectory;
    }

    private IEnumerable<(string Name, Node Node)> Children(string dir)
    {
        var prefix = dir == "/" ? "/" : dir + "/";
        return _tree.Where(kv => kv.Key.Length > prefix.Length && kv.Key.StartsWith(prefix, StringComparison.Ordinal) && kv.Key.IndexOf('/', prefix.Length) < 0)
            .Select(kv => (kv.Key[prefix.Length..], kv.Value));
    }

    private IEnumerable<string> Below(string dir)
    {
        var prefix = dir == "/" ? "/" : dir + "/";
        return _tree.Keys.Where(k => k.Length > prefix.Length && k.StartsWith(prefix, StringComparison.Ordinal));
    }

    private string? AncestorFile(string path)
    {
        for (var p = Parent(path); p != "/"; p = Parent(p))
            if (_tree.TryGetValue(p, out var n) && !n.IsDirectory) return p;
        return null;
    }

    private void MakeParents(string path)
    {
        for (var p = Parent(path); p != "/"; p = Parent(p)) _tree.TryAdd(p, new Node(true));
    }

    private static string Parent(string path)
    {
        var i = path.LastIndexOf('/');
        return i <= 0 ? "/" : path[..i];
    }

    private static object Status(string suffix, Node n) => new
    {
        accessTime = n.IsDirectory ? 0 : n.ModificationTime,
        blockSize = n.IsDirectory ? 0 : 134217728,
        childrenNum = 0,
        fileId = 16386,
        group = "supergroup",
        length = n.IsDirectory ? 0 : n.Data.Length,
        modificationTime = n.ModificationTime,
        owner = "osai",
        pathSuffix = suffix,
        permission = n.IsDirectory ? "755" : "644",
        replication = n.IsDirectory ? 0 : 3,
        storagePolicy = 0,
        type = n.IsDirectory ? "DIRECTORY" : "FILE",
    };

    private static Task NotFoundAsync(HttpContext ctx, string path) =>
        RemoteAsync(ctx, 404, "FileNotFoundException", "java.io.FileNotFoundException", "File does not exist: " + path);

    private static Task RemoteAsync(HttpContext ctx, int status, string exception, string javaClassName, string message) =>
        JsonAsync(ctx, status, new { RemoteException = new { exception, javaClassName, message } });

    private static async Task JsonAsync(HttpContext ctx, int status, object body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body));
    }

    public ValueTask DisposeAsync() => _host?.DisposeAsync() ?? ValueTask.CompletedTask;
}
