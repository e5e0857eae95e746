using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Data;

/// <summary>The data API on the local data:// store, over HTTP.</summary>
public sealed class DataApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private async Task<HttpClient> UserAsync(string owner) => S.ClientFor(await S.CreateKeyAsync(owner, "call"));

    [Fact]
    public async Task Put_get_head_delete_a_file()
    {
        using var c = await UserAsync("ivan");
        var put = await c.PutAsync("/v1/data/.my/docs/hello.txt", new StringContent("hi there", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("data://ivan/docs/hello.txt", (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetString());

        var get = await c.GetAsync("/v1/data/ivan/docs/hello.txt");
        Assert.Equal("hi there", await get.Content.ReadAsStringAsync());
        Assert.Equal("application/octet-stream", get.Content.Headers.ContentType!.MediaType);

        var head = await c.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v1/data/ivan/docs/hello.txt"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(8, head.Content.Headers.ContentLength);

        Assert.Equal(HttpStatusCode.OK, (await c.DeleteAsync("/v1/data/ivan/docs/hello.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await c.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v1/data/ivan/docs/hello.txt"))).StatusCode);
        var missing = await c.GetAsync("/v1/data/ivan/docs/hello.txt");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("not found", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Directories_list_with_markers_across_pages()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:DataListPageSize"] = "3", ["OSForAI:Workers:WarmGenericWorkers"] = "0" });
        using var c = server.ClientFor(await server.CreateKeyAsync("judy", "call"));
        var mk = await c.PostAsync("/v1/data/judy", JsonContent.Create(new { name = "set" }));
        Assert.Equal(HttpStatusCode.OK, mk.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await c.PostAsync("/v1/data/judy", JsonContent.Create(new { name = "set" }))).StatusCode);
        await c.PostAsync("/v1/data/judy/set", JsonContent.Create(new { name = "sub" }));
        for (var i = 0; i < 7; i++)
            await c.PutAsync($"/v1/data/judy/set/f{i}.bin", new ByteArrayContent(new byte[i]));

        var folders = new List<string>();
        var files = new List<(string, long)>();
        string? marker = null;
        var pages = 0;
        do
        {
            var page = await c.GetFromJsonAsync<JsonElement>("/v1/data/judy/set" + (marker is null ? "" : "?marker=" + Uri.EscapeDataString(marker)));
            pages++;
            folders.AddRange(page.GetProperty("folders").EnumerateArray().Select(f => f.GetProperty("name").GetString()!));
            files.AddRange(page.GetProperty("files").EnumerateArray().Select(f => (f.GetProperty("filename").GetString()!, f.GetProperty("size").GetInt64())));
            foreach (var f in page.GetProperty("files").EnumerateArray())
                Assert.True(DateTimeOffset.TryParse(f.GetProperty("last_modified").GetString(), out _));
            marker = page.TryGetProperty("marker", out var m) ? m.GetString() : null;
        } while (marker is not null);
        Assert.Equal(3, pages);
        Assert.Equal(["sub"], folders);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => ($"f{i}.bin", (long)i)), files);

        var notEmpty = await c.DeleteAsync("/v1/data/judy/set");
        Assert.Equal(HttpStatusCode.Conflict, notEmpty.StatusCode);
        var forced = await c.DeleteAsync("/v1/data/judy/set?force=true");
        Assert.Equal(HttpStatusCode.OK, forced.StatusCode);
        Assert.Equal(7, (await forced.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("result").GetProperty("deleted").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await c.GetAsync("/v1/data/judy/set")).StatusCode);
    }

    [Theory]
    [InlineData("/v1/data/ivan/../judy/secret.txt")]
    [InlineData("/v1/data/ivan/%2e%2e/judy/secret.txt")]
    [InlineData("/v1/data/ivan/a%2f..%2f..%2fjudy/secret.txt")]
    [InlineData("/v1/data/ivan/a%5c..%5cjudy")]
    [InlineData("/v1/data/ivan//x")]
    [InlineData("/v1/data/ivan/%00x")]
    public async Task Traversal_attempts_are_rejected_and_write_nothing(string path)
    {
        using var c = await UserAsync("ivan");
        // Send the path exactly as written: HttpClient would normalise "..", so use a raw request target.
        var (status, body) = await S.RawRequestAsync(c, "PUT", path, "evil");
        Assert.True(status is 400 or 403 or 404, $"{path} gave {status}: {body}");
        Assert.False(File.Exists(Path.Combine(S.Home, "data", "judy", "secret.txt")));
        Assert.DoesNotContain(Directory.EnumerateFiles(Path.Combine(S.Home, "data"), "*", SearchOption.AllDirectories),
            f => f.Contains("secret") || f.EndsWith("x", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Other_owners_data_and_the_platform_space_are_forbidden()
    {
        using var c = await UserAsync("ivan");
        var (status, _) = await S.RawRequestAsync(c, "GET", "/v1/data/judy/anything", null);
        Assert.Equal(403, status);
        (status, _) = await S.RawRequestAsync(c, "GET", "/v1/data/.osforai/code", null);
        Assert.Equal(403, status);
        (status, _) = await S.RawRequestAsync(c, "PUT", "/v1/data/judy/planted.txt", "x");
        Assert.Equal(403, status);
    }

    [Fact]
    public async Task Oversize_upload_is_413_and_leaves_no_partial_file()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:MaxDataUploadBytes"] = "1000", ["OSForAI:Workers:WarmGenericWorkers"] = "0" });
        using var c = server.ClientFor(await server.CreateKeyAsync("kim", "call"));
        await c.PutAsync("/v1/data/kim/f.bin", new ByteArrayContent(new byte[10]));
        var content = new StreamContent(new MemoryStream(new byte[5000]));
        var r = await c.PutAsync("/v1/data/kim/f.bin", content);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Equal(10, (await c.GetByteArrayAsync("/v1/data/kim/f.bin")).Length);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(server.Home, "data", "kim")));
    }

    [Fact]
    public async Task A_write_past_the_owners_quota_is_refused_and_leaves_the_old_file()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:DataQuotaBytes"] = "1000", ["OSForAI:Workers:WarmGenericWorkers"] = "0" });
        using var c = server.ClientFor(await server.CreateKeyAsync("quinn", "call"));
        Assert.Equal(HttpStatusCode.OK, (await c.PutAsync("/v1/data/quinn/a.bin", new ByteArrayContent(new byte[600]))).StatusCode);
        var r = await c.PutAsync("/v1/data/quinn/b.bin", new ByteArrayContent(new byte[600]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        var error = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("QuotaExceeded", error.GetProperty("error_type").GetString());
        Assert.Contains("1000 bytes", error.GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await c.GetAsync("/v1/data/quinn/b.bin")).StatusCode);

        // Replacing a file counts its new size instead of the old one; a replacement too big leaves the old file.
        Assert.Equal(HttpStatusCode.OK, (await c.PutAsync("/v1/data/quinn/a.bin", new ByteArrayContent(new byte[900]))).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await c.PutAsync("/v1/data/quinn/a.bin", new StreamContent(new MemoryStream(new byte[1200])))).StatusCode);
        Assert.Equal(900, (await c.GetByteArrayAsync("/v1/data/quinn/a.bin")).Length);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(server.Home, "data", "quinn")));

        // Deleting frees the space; other owners have their own quota.
        Assert.Equal(HttpStatusCode.OK, (await c.DeleteAsync("/v1/data/quinn/a.bin")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await c.PutAsync("/v1/data/quinn/b.bin", new ByteArrayContent(new byte[1000]))).StatusCode);
        using var other = server.ClientFor(await server.CreateKeyAsync("rosa", "call"));
        Assert.Equal(HttpStatusCode.OK, (await other.PutAsync("/v1/data/rosa/c.bin", new ByteArrayContent(new byte[1000]))).StatusCode);
    }
}
