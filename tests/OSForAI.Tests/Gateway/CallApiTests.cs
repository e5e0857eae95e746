using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>The v1 call API over a real Kestrel server and real Python workers.</summary>
public sealed class CallApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private async Task EnsureEchoAsync()
    {
        await fixture.EnsurePublishedAsync("alice/echo", "1.0.0", Python("""
            def apply(x):
                if isinstance(x, bytes):
                    return bytes(reversed(x))
                if isinstance(x, str):
                    print("got text")
                    return "Hello " + x
                return {"echo": x, "type": type(x).__name__}
            """));
    }

    [Fact]
    public async Task Json_text_and_binary_inputs_round_trip_in_envelopes()
    {
        await EnsureEchoAsync();
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo/1.0.0", Json("""{"a": [1, 2.5, null]}"""));
        Assert.Equal(200, status);
        Assert.Equal("json", body.GetProperty("metadata").GetProperty("content_type").GetString());
        Assert.Equal("dict", body.GetProperty("result").GetProperty("type").GetString());
        Assert.Equal(2.5, body.GetProperty("result").GetProperty("echo").GetProperty("a")[1].GetDouble());
        Assert.True(body.GetProperty("metadata").GetProperty("duration").GetDouble() > 0);

        (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", Text("World"));
        Assert.Equal(200, status);
        Assert.Equal("Hello World", body.GetProperty("result").GetString());
        Assert.Equal("text", body.GetProperty("metadata").GetProperty("content_type").GetString());

        var bin = new ByteArrayContent([1, 2, 3, 255]);
        bin.Headers.ContentType = new("application/octet-stream");
        (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo/1.*", bin);
        Assert.Equal(200, status);
        Assert.Equal("binary", body.GetProperty("metadata").GetProperty("content_type").GetString());
        Assert.Equal(new byte[] { 255, 3, 2, 1 }, Convert.FromBase64String(body.GetProperty("result").GetString()!));
    }

    [Fact]
    public async Task Chunked_body_without_content_length_is_accepted()
    {
        await EnsureEchoAsync();
        var content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes("\"chunky\"")));
        content.Headers.ContentType = new("application/json");
        var req = new HttpRequestMessage(HttpMethod.Post, "/v1/algo/alice/echo") { Content = content };
        req.Headers.TransferEncodingChunked = true;
        var r = await S.Admin.SendAsync(req);
        var body = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("Hello chunky", body.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Stdout_is_returned_only_when_asked_and_output_raw_returns_the_bare_result()
    {
        await EnsureEchoAsync();
        var (_, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo?stdout=true", Text("x"));
        Assert.Equal("got text\n", body.GetProperty("metadata").GetProperty("stdout").GetString());
        (_, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", Text("x"));
        Assert.False(body.GetProperty("metadata").TryGetProperty("stdout", out _));

        var raw = await S.Admin.PostAsync("/v1/algo/alice/echo?output=raw", Text("raw"));
        Assert.Equal("text/plain", raw.Content.Headers.ContentType!.MediaType);
        Assert.Equal("Hello raw", await raw.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("{\"a\": ", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    [InlineData("[1] 2", "not valid JSON")]
    public async Task Malformed_json_is_a_400_with_an_error_envelope(string input, string expected)
    {
        await EnsureEchoAsync();
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", Json(input));
        Assert.Equal(400, status);
        Assert.Contains(expected, body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unsupported_or_missing_content_type_is_a_415()
    {
        await EnsureEchoAsync();
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", new StringContent("a=b", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(415, status);
        Assert.Contains("not supported", body.GetProperty("error").GetProperty("message").GetString());
        var none = new ByteArrayContent("x"u8.ToArray());
        (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", none);
        Assert.Equal(415, status);
        Assert.Contains("Content-Type is required", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Invalid_utf8_text_is_a_400()
    {
        await EnsureEchoAsync();
        var bad = new ByteArrayContent([0x48, 0xC3, 0x28, 0xFF]);
        bad.Headers.ContentType = new("text/plain");
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", bad);
        Assert.Equal(400, status);
        Assert.Contains("UTF-8", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("/v1/algo/nobody/echo", 404, "not found")]
    [InlineData("/v1/algo/alice/missing", 404, "not found")]
    [InlineData("/v1/algo/alice/echo/9.9.9", 404, "not found")]
    [InlineData("/v1/algo/alice/echo/1.2", 400, "not a valid version")]
    [InlineData("/v1/algo/alice/echo/01.0.0", 400, "not a valid version")]
    [InlineData("/v1/algo/alice/echo/1.x.3", 400, "not a valid version")]
    [InlineData("/v1/algo/alice/echo/latest?timeout=0", 400, "timeout")]
    [InlineData("/v1/algo/alice/echo?timeout=abc", 400, "timeout")]
    [InlineData("/v1/algo/alice/echo?output=loud", 400, "output")]
    public async Task Unknown_targets_and_bad_versions_or_options_get_clear_errors(string path, int expectedStatus, string expected)
    {
        await EnsureEchoAsync();
        var (status, body) = await CallAsync(S.Admin, path, Json("1"));
        Assert.Equal(expectedStatus, status);
        Assert.Contains(expected, body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Oversize_body_is_a_413_and_the_server_keeps_serving()
    {
        await EnsureEchoAsync();
        var big = new string('a', 1024 * 1024 + 10);
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/alice/echo", Text(big));
        Assert.Equal(413, status);
        Assert.Contains("limit", body.GetProperty("error").GetProperty("message").GetString());
        // Chunked, so the size is only known while reading.
        var chunked = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new("text/plain");
        (status, _) = await CallAsync(S.Admin, "/v1/algo/alice/echo", chunked);
        Assert.Equal(413, status);
        (status, _) = await CallAsync(S.Admin, "/v1/algo/alice/echo", Text("still up"));
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task Version_wildcards_resolve_to_the_newest_match()
    {
        foreach (var v in new[] { "1.0.0", "1.2.0", "1.2.5", "2.0.0" })
            await S.PublishAsync("alice/ver", v, Python($"def apply(x):\n    return '{v}'\n"));
        async Task<string> Resolve(string spec) =>
            (await CallAsync(S.Admin, "/v1/algo/alice/ver" + spec, Json("0"))).Body.GetProperty("result").GetString()!;
        Assert.Equal("2.0.0", await Resolve(""));
        Assert.Equal("1.2.5", await Resolve("/1.*"));
        Assert.Equal("1.2.5", await Resolve("/1.2.*"));
        Assert.Equal("1.0.0", await Resolve("/1.0.0"));
        Assert.Equal("1.0.0", await Resolve("/1.0.*"));
    }

    [Fact]
    public async Task Published_versions_are_immutable()
    {
        await S.PublishAsync("alice/immut", "1.0.0", Python("def apply(x):\n    return 1\n"));
        var info = await S.Admin.GetFromJsonAsync<JsonElement>("/v1/algorithms/alice/immut");
        var build = info.GetProperty("versions")[0].GetProperty("build").GetString();
        var again = await S.Admin.PostAsJsonAsync("/v1/algorithms/alice/immut/versions", new { build, version = "1.0.0" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("immutable", (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unpublished_builds_are_callable_by_hash_by_their_owner_only()
    {
        var key = await S.CreateKeyAsync("carol", "call", "publish");
        var other = await S.CreateKeyAsync("dave", "call");
        using var carol = S.ClientFor(key);
        using var dave = S.ClientFor(other);
        await carol.PostAsJsonAsync("/v1/algorithms", new { owner = "carol", name = "draft" });
        var content = new ByteArrayContent(TarGz(Python("def apply(x):\n    return 'draft'\n")));
        content.Headers.ContentType = new("application/gzip");
        var build = await (await carol.PostAsync("/v1/algorithms/carol/draft/builds", content)).Content.ReadFromJsonAsync<JsonElement>();
        var hash = build.GetProperty("build").GetString()!;
        var (status, body) = await CallAsync(carol, $"/v1/algo/carol/draft/{hash}", Json("0"));
        Assert.Equal(200, status);
        Assert.Equal("draft", body.GetProperty("result").GetString());
        (status, _) = await CallAsync(dave, $"/v1/algo/carol/draft/{hash}", Json("0"));
        Assert.Equal(404, status);
        (status, _) = await CallAsync(carol, "/v1/algo/carol/draft", Json("0"));
        Assert.Equal(404, status);
    }

    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 4096));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
