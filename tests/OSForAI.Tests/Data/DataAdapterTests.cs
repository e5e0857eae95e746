using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Data;

/// <summary>
/// The Data Adapter API end to end: /v1/connector on a configured file:// root, data grants on keys, algorithms reading
/// and writing through the Python client with their caller's delegated grants, and the bad inputs the issue lists.
/// </summary>
public sealed class DataAdapterTests : IAsyncLifetime
{
    private string _shared = "";
    private TestServer _s = null!;

    public async Task InitializeAsync()
    {
        _shared = Path.Combine(Path.GetTempPath(), "osai-shared-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path.Combine(_shared, "public"));
        Directory.CreateDirectory(Path.Combine(_shared, "secret"));
        await File.WriteAllTextAsync(Path.Combine(_shared, "public", "a.txt"), "public text");
        await File.WriteAllTextAsync(Path.Combine(_shared, "secret", "b.txt"), "secret text");
        _s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Data:File:default:Roots:shared"] = _shared,
        });
    }

    public async Task DisposeAsync()
    {
        await _s.DisposeAsync();
        Directory.Delete(_shared, recursive: true);
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient c, string path, string? range = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, path);
        if (range is not null) req.Headers.Range = RangeHeaderValue.Parse(range);
        using var r = await c.SendAsync(req);
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    private static string ErrorOf(string body) => JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("message").GetString()!;

    [Fact]
    public async Task A_read_grant_reaches_its_prefix_only_and_never_writes()
    {
        var bob = _s.ClientFor(await _s.CreateKeyAsync("bob", ["call"], ["r:file://shared/public/"]));
        Assert.Equal((HttpStatusCode.OK, "public text"), await GetAsync(bob, "/v1/connector/file/shared/public/a.txt"));
        var (status, body) = await GetAsync(bob, "/v1/connector/file/shared/secret/b.txt");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("no data grant", ErrorOf(body));
        var put = await bob.PutAsync("/v1/connector/file/shared/public/new.txt", new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        Assert.False(File.Exists(Path.Combine(_shared, "public", "new.txt")));

        var none = _s.ClientFor(await _s.CreateKeyAsync("carol", "call"));
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(none, "/v1/connector/file/shared/public/a.txt")).Status);
        // The admin reaches everything; listing works through the connector.
        var (listStatus, listing) = await GetAsync(_s.Admin, "/v1/connector/file/shared/");
        Assert.Equal(HttpStatusCode.OK, listStatus);
        var folders = JsonDocument.Parse(listing).RootElement.GetProperty("folders").EnumerateArray().Select(f => f.GetProperty("name").GetString());
        Assert.Equal(["public", "secret"], folders);
    }

    [Fact]
    public async Task Ranges_stream_through_the_gateway_with_206_and_content_range()
    {
        var (status, body) = await GetAsync(_s.Admin, "/v1/connector/file/shared/public/a.txt", "bytes=2-5");
        Assert.Equal(HttpStatusCode.PartialContent, status);
        Assert.Equal("blic", body);
        using var req = new HttpRequestMessage(HttpMethod.Get, "/v1/connector/file/shared/public/a.txt");
        req.Headers.Range = RangeHeaderValue.Parse("bytes=-4");
        using var r = await _s.Admin.SendAsync(req);
        Assert.Equal("bytes 7-10/11", r.Content.Headers.ContentRange!.ToString());
        Assert.Equal("text", await r.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, (await GetAsync(_s.Admin, "/v1/connector/file/shared/public/a.txt", "bytes=50-60")).Status);
    }

    [Theory]
    [InlineData("/v1/connector/ftp/host/x", 400, "unknown data scheme")]
    [InlineData("/v1/connector/file+nope/shared/public/a.txt", 400, "unknown connector label")]
    [InlineData("/v1/connector/s3/bucket/key", 400, "has no AccessKeyId configured")]
    [InlineData("/v1/connector/s3+bad!label/bucket/key", 400, "label")]
    [InlineData("/v1/connector/file/shared/public/..%2f..%2fsecret/b.txt", 400, "encoded slashes")]
    [InlineData("/v1/connector/file/shared/public/%2e%2e/secret/b.txt", 400, "are not allowed")]
    [InlineData("/v1/connector/file/elsewhere/a.txt", 400, "no file:// root named")]
    [InlineData("/v1/connector/file/shared/public/missing.txt", 404, "not found")]
    [InlineData("/v1/data/alice/%2e%2e/bob/x", 400, "are not allowed")]
    [InlineData("/v1/data/.osforai/code/x", 403, "")]
    public async Task Bad_uris_get_clear_errors(string path, int status, string message)
    {
        // The platform's own space is refused to anyone but admins; everything else is tried as the admin.
        var client = path.Contains(".osforai") ? _s.ClientFor(await _s.CreateKeyAsync("alice", "call")) : _s.Admin;
        var (code, response) = await _s.RawRequestAsync(client, "GET", path, null);
        Assert.Equal(status, code);
        Assert.Contains("\"error\"", response);
        Assert.Contains(message, response, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_symlink_inside_a_root_does_not_lead_out_of_it()
    {
        File.CreateSymbolicLink(Path.Combine(_shared, "public", "passwd"), "/etc/passwd");
        var (status, body) = await GetAsync(_s.Admin, "/v1/connector/file/shared/public/passwd");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("symbolic link", ErrorOf(body));
    }

    [Fact]
    public async Task An_algorithm_uses_the_python_client_with_its_callers_grant_and_no_more()
    {
        await _s.PublishAsync("alice/reader", "1.0.0", Python("""
            import osai_runner

            def apply(uri):
                c = osai_runner.client()
                try:
                    return {"ok": c.file(uri).getString()}
                except osai_runner.DataApiError as e:
                    return {"error": str(e), "status": e.status}
            """));
        var bob = _s.ClientFor(await _s.CreateKeyAsync("bob", ["call"], ["r:file://shared/public/"]));
        var (status, body) = await CallAsync(bob, "/v1/algo/alice/reader/1.0.0", Json("\"file://shared/public/a.txt\""));
        Assert.Equal(200, status);
        Assert.Equal("public text", body.GetProperty("result").GetProperty("ok").GetString());

        (status, body) = await CallAsync(bob, "/v1/algo/alice/reader/1.0.0", Json("\"file://shared/secret/b.txt\""));
        Assert.Equal(200, status);
        Assert.Equal(403, body.GetProperty("result").GetProperty("status").GetInt32());
        Assert.Contains("no data grant", body.GetProperty("result").GetProperty("error").GetString());

        // Alice owns the algorithm but calls it without a grant: it gets no more than she has.
        var alice = _s.ClientFor(await _s.CreateKeyAsync("alice", "call"));
        (_, body) = await CallAsync(alice, "/v1/algo/alice/reader/1.0.0", Json("\"file://shared/public/a.txt\""));
        Assert.Equal(403, body.GetProperty("result").GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task The_python_client_reads_writes_lists_and_deletes_in_the_callers_space()
    {
        await _s.PublishAsync("alice/files", "1.0.0", Python("""
            import io, osai_runner

            def apply(_):
                c = osai_runner.client()
                d = c.dir("data://.my/work")
                d.create()
                c.file("data://.my/work/a.txt").put("hello")
                c.file("data://.my/work/b.json").putJson({"n": 1})
                c.file("data://.my/work/c.bin").put(io.BytesIO(b"0123456789" * 100000))   # streamed, chunked
                with c.file("data://.my/work/c.bin").getStream(offset=5, length=3) as s:
                    window = s.read().decode()
                listed = sorted(e[1] for e in d.list())
                out = {
                    "text": c.file("data://.my/work/a.txt").getString(),
                    "json": c.file("data://.my/work/b.json").getJson(),
                    "size": len(c.file("data://.my/work/c.bin").getFile().read()),
                    "window": window,
                    "listed": listed,
                    "exists": c.file("data://.my/work/a.txt").exists(),
                    "dir_exists": d.exists(),
                }
                c.file("data://.my/work/a.txt").delete()
                out["after_delete"] = c.file("data://.my/work/a.txt").exists()
                d.delete(force=True)
                out["dir_after_delete"] = d.exists()
                return out
            """));
        var bob = _s.ClientFor(await _s.CreateKeyAsync("bob", "call"));
        var (status, body) = await CallAsync(bob, "/v1/algo/alice/files/1.0.0", Json("null"));
        Assert.True(status == 200, body.ToString());
        var r = body.GetProperty("result");
        Assert.Equal("hello", r.GetProperty("text").GetString());
        Assert.Equal(1, r.GetProperty("json").GetProperty("n").GetInt32());
        Assert.Equal(1_000_000, r.GetProperty("size").GetInt32());
        Assert.Equal("567", r.GetProperty("window").GetString());
        Assert.Equal(["a.txt", "b.json", "c.bin"], r.GetProperty("listed").EnumerateArray().Select(e => e.GetString()));
        Assert.True(r.GetProperty("exists").GetBoolean());
        Assert.True(r.GetProperty("dir_exists").GetBoolean());
        Assert.False(r.GetProperty("after_delete").GetBoolean());
        Assert.False(r.GetProperty("dir_after_delete").GetBoolean());
        // It all happened in bob's space (the caller's), not alice's.
        Assert.False(Directory.Exists(Path.Combine(_s.Home, "data", "alice", "work")));
    }

    [Fact]
    public async Task An_upload_cut_off_mid_stream_leaves_nothing_visible()
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        var url = new Uri(_s.Url);
        await tcp.ConnectAsync(url.Host, url.Port);
        var stream = tcp.GetStream();
        var head = $"PUT /v1/data/.my/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Simple {_s.AdminKey}\r\nContent-Length: 10000000\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(new byte[1_000_000]);
        await stream.FlushAsync();
        await Task.Delay(300);
        tcp.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        tcp.Close();   // reset mid-body
        await Task.Delay(500);
        Assert.Equal(HttpStatusCode.NotFound, (await _s.Admin.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v1/data/.my/cut.bin"))).StatusCode);
        var adminDir = Directory.GetDirectories(Path.Combine(_s.Home, "data")).SelectMany(d => Directory.GetFiles(d, "*", SearchOption.AllDirectories));
        Assert.DoesNotContain(adminDir, f => f.Contains("cut.bin") || Path.GetFileName(f).StartsWith(".osai-upload-"));
    }

    [Fact]
    public async Task A_result_over_the_inline_limit_comes_back_as_a_uri_in_the_callers_space()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:MaxInlineResultBytes"] = "1000" });
        await s.PublishAsync("alice/big", "1.0.0", Python("def apply(n):\n    return 'x' * n\n"));
        var bob = s.ClientFor(await s.CreateKeyAsync("bob", "call"));
        var (status, body) = await CallAsync(bob, "/v1/algo/alice/big/1.0.0", Json("5000"));
        Assert.Equal(200, status);
        var uri = body.GetProperty("result").GetString()!;
        Assert.StartsWith("data://bob/.results/alice/big/", uri);
        var stored = body.GetProperty("metadata").GetProperty("stored");
        Assert.Equal("text", stored.GetProperty("content_type").GetString());   // a Python str is a text result
        Assert.Equal(5000, stored.GetProperty("size").GetInt32());
        Assert.Equal(new string('x', 5000), await bob.GetStringAsync("/v1/data/" + uri["data://".Length..]));
        // Small results stay inline.
        (_, body) = await CallAsync(bob, "/v1/algo/alice/big/1.0.0", Json("3"));
        Assert.Equal("xxx", body.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Http_through_the_gateway_is_refused_for_loopback_by_default_and_a_dropped_upstream_breaks_the_download()
    {
        // A real web server on loopback: one whole file, and one that promises 1 MB and hangs up after 100 KB.
        await using var upstream = await Connectors.Fakes.LoopbackHost.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/whole.txt")
            {
                await ctx.Response.WriteAsync("from the web");
                return;
            }
            ctx.Response.ContentLength = 1_000_000;
            if (HttpMethods.IsHead(ctx.Request.Method)) return;
            await ctx.Response.Body.WriteAsync(new byte[100_000]);
            await ctx.Response.Body.FlushAsync();
            ctx.Abort();
        });
        var target = $"/v1/connector/http/127.0.0.1:{upstream.BaseUri.Port}";

        var (status, body) = await GetAsync(_s.Admin, target + "/whole.txt");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("private or loopback", ErrorOf(body));

        await using var open = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:Data:Http:default:AllowPrivateAddresses"] = "true" });
        Assert.Equal((HttpStatusCode.OK, "from the web"), await GetAsync(open.Admin, target + "/whole.txt"));
        var put = await open.Admin.PutAsync(target + "/whole.txt", new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);

        // Headers were already sent when the upstream dropped: the gateway breaks the connection instead of ending the body short.
        using var r = await open.Admin.GetAsync(target + "/dropped.bin", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(1_000_000, r.Content.Headers.ContentLength);
        await using var stream = await r.Content.ReadAsStreamAsync();
        await Assert.ThrowsAnyAsync<IOException>(() => stream.CopyToAsync(Stream.Null));
    }

    [Fact]
    public async Task Data_can_live_in_another_store_under_a_prefix()
    {
        // As a cloud stack keeps data:// in its bucket; here the other store is a file:// root.
        var store = Path.Combine(_shared, "store");
        Directory.CreateDirectory(store);
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Data:File:platform:Roots:store"] = store,
            ["OSForAI:DataStore"] = "file+platform://store/osforai",
        });
        var bob = s.ClientFor(await s.CreateKeyAsync("bob", "call"));
        Assert.Equal(HttpStatusCode.OK, (await bob.PutAsync("/v1/data/.my/notes/a.txt", new StringContent("kept elsewhere"))).StatusCode);
        Assert.Equal("kept elsewhere", await File.ReadAllTextAsync(Path.Combine(store, "osforai", "bob", "notes", "a.txt")));
        Assert.Equal("kept elsewhere", await bob.GetStringAsync("/v1/data/bob/notes/a.txt"));
        var listing = JsonDocument.Parse(await bob.GetStringAsync("/v1/data/bob/notes")).RootElement;
        Assert.Equal("a.txt", listing.GetProperty("files")[0].GetProperty("filename").GetString());
        Assert.False(Directory.Exists(Path.Combine(s.Home, "data", "bob")));
    }

    [Fact]
    public async Task Builds_live_in_the_data_store_and_the_local_code_cache_is_only_a_cache()
    {
        var store = Path.Combine(_shared, "builds");
        Directory.CreateDirectory(store);
        var settings = new Dictionary<string, string?>
        {
            ["OSForAI:Data:File:platform:Roots:store"] = store,
            ["OSForAI:DataStore"] = "file+platform://store/osforai",
        };
        var s = await TestServer.StartAsync(settings);
        try
        {
            var build = await s.PublishAsync("carol/twice", "1.0.0", TestServer.Python("def apply(x):\n    return x * 2\n"));
            var hash = build.GetProperty("build").GetString()!;
            Assert.True(File.Exists(Path.Combine(store, "osforai", ".osforai", "code", "carol", "twice", hash + ".tar.gz")),
                "the build's archive is not in the data store");
            Assert.False(Directory.Exists(Path.Combine(s.Home, "data", ".osforai")), "the build was kept in the local data folder");

            // A server that lost its local cache (a new pod, another replica's disk) loads the build from the store.
            await s.RestartAsync(settings);
            Directory.Delete(Path.Combine(s.Home, "code"), recursive: true);
            var (status, body) = await TestServer.CallAsync(s.Admin, "/v1/algo/carol/twice/1.0.0", TestServer.Json("21"));
            Assert.True(status == 200, body.ToString());
            Assert.Equal(42, body.GetProperty("result").GetInt32());
            Assert.True(File.Exists(Path.Combine(s.Home, "code", hash + ".tar.gz")), "the fetched archive was not cached");
        }
        finally { await s.DisposeAsync(); }
    }
}
