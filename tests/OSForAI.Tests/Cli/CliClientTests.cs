using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;

namespace OSForAI.Tests.Cli;

/// <summary>Client commands against a fake server: requests sent and output printed.</summary>
public sealed class CliClientTests : IDisposable
{
    private const string Url = "http://osai.test:8080";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Task<CliRun> Run(FakeServer server, params string[] args) =>
        CliRunner.RunAsync([.. args, "--url", Url, "--key", "secret"], server: server);

    private static JsonElement BodyJson(RecordedRequest request) => JsonDocument.Parse(request.Body).RootElement;

    [Fact]
    public async Task Keys_create_posts_the_key_and_prints_only_the_key()
    {
        var server = new FakeServer(_ => FakeServer.Json(HttpStatusCode.Created,
            """{"id":"k1","key":"osai_abc123","owner":"alice","scopes":["call","publish"],"name":"laptop","created_at":"2025-01-01T00:00:00Z"}"""));

        var run = await Run(server, "keys", "create", "--owner", "alice", "--scopes", "call,publish", "--name", "laptop");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("osai_abc123", run.Out.TrimEnd());
        Assert.Single(run.Out.TrimEnd().Split('\n'));
        var request = Assert.Single(server.Requests);
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal($"{Url}/v1/keys", request.Uri.ToString());
        Assert.Equal("Simple secret", request.Authorization);
        Assert.StartsWith("application/json", request.ContentType);
        var body = BodyJson(request);
        Assert.Equal("alice", body.GetProperty("owner").GetString());
        Assert.Equal(["call", "publish"], body.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("laptop", body.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Keys_create_without_name_sends_no_name()
    {
        var server = new FakeServer(_ => FakeServer.Json(HttpStatusCode.Created, """{"id":"k1","key":"osai_x","owner":"bob","scopes":["call"]}"""));

        var run = await Run(server, "keys", "create", "--owner", "bob", "--scopes", "call");

        Assert.Equal(0, run.ExitCode);
        Assert.False(BodyJson(server.Requests[0]).TryGetProperty("name", out _));
    }

    [Fact]
    public async Task Keys_list_prints_an_aligned_table()
    {
        var server = new FakeServer(_ => FakeServer.Json(HttpStatusCode.OK, """
            {"keys":[
              {"id":"k1","owner":"alice","scopes":["call","publish"],"name":"laptop","created_at":"2025-01-01T00:00:00Z","revoked":false},
              {"id":"key-two","owner":"bob","scopes":["call"],"name":null,"created_at":"2025-01-02T00:00:00Z","revoked":true}
            ]}
            """));

        var run = await Run(server, "keys", "list");

        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.TrimEnd().Split(Environment.NewLine);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("ID", lines[0]);
        var ownerColumn = lines[0].IndexOf("OWNER", StringComparison.Ordinal);
        Assert.Equal(ownerColumn, lines[1].IndexOf("alice", StringComparison.Ordinal));
        Assert.Equal(ownerColumn, lines[2].IndexOf("bob", StringComparison.Ordinal));
        Assert.Contains("call,publish", lines[1]);
        Assert.EndsWith("no", lines[1]);
        Assert.EndsWith("yes", lines[2]);
        Assert.Equal(HttpMethod.Get, server.Requests[0].Method);
        Assert.Equal("/v1/keys", server.Requests[0].PathAndQuery);
    }

    [Fact]
    public async Task Keys_revoke_deletes_the_key()
    {
        var server = new FakeServer(_ => new HttpResponseMessage(HttpStatusCode.NoContent));

        var run = await Run(server, "keys", "revoke", "k1");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Revoked key k1", run.Out);
        Assert.Equal(HttpMethod.Delete, server.Requests[0].Method);
        Assert.Equal("/v1/keys/k1", server.Requests[0].PathAndQuery);
    }

    [Fact]
    public async Task Keys_revoke_of_an_unknown_key_prints_the_servers_message()
    {
        var server = new FakeServer(_ => FakeServer.Json(HttpStatusCode.NotFound, """{"error":{"message":"no key 'zz'"}}"""));

        var run = await Run(server, "keys", "revoke", "zz");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: no key 'zz'", run.Error);
    }

    private void WriteAlgorithm()
    {
        _dir.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:apply\n");
        _dir.Write("main.py", "def apply(x): return 'Hello ' + x\n");
        _dir.Write("__pycache__/main.cpython-312.pyc", "junk");
    }

    private static FakeServer PublishServer(HttpStatusCode createStatus = HttpStatusCode.Conflict) => new(request =>
        request.PathAndQuery switch
        {
            "/v1/algorithms" => createStatus == HttpStatusCode.Conflict
                ? FakeServer.Json(createStatus, """{"error":{"message":"algorithm alice/hello already exists"}}""")
                : FakeServer.Json(createStatus, """{"owner":"alice","name":"hello"}"""),
            "/v1/algorithms/alice/hello/builds" => FakeServer.Json(HttpStatusCode.Created,
                """{"build":"0123456789abcdef0123","runtime":"python3","entrypoint":"main:apply","size":321}"""),
            "/v1/algorithms/alice/hello/versions" => FakeServer.Json(HttpStatusCode.Created,
                """{"version":"1.2.3","build":"0123456789abcdef0123"}"""),
            _ => FakeServer.Json(HttpStatusCode.NotFound, """{"error":{"message":"unexpected"}}"""),
        });

    [Fact]
    public async Task Publish_creates_uploads_and_publishes()
    {
        WriteAlgorithm();
        var server = PublishServer(HttpStatusCode.Created);

        var run = await Run(server, "algo", "publish", _dir.Path, "--name", "alice/hello", "--version", "1.2.3",
            "--private", "--description", "Says hello");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("Published alice/hello 1.2.3 (build 0123456789ab)", run.Out.TrimEnd());
        Assert.Contains("Uploaded", run.Error);
        Assert.Equal(4, server.Requests.Count);
        // First: is 1.2.3 free? (a 404 here), so that a used number is refused before the upload.
        Assert.Equal((HttpMethod.Get, "/v1/algorithms/alice/hello/versions/1.2.3"), (server.Requests[0].Method, server.Requests[0].PathAndQuery));

        var create = BodyJson(server.Requests[1]);
        Assert.Equal("alice", create.GetProperty("owner").GetString());
        Assert.Equal("hello", create.GetProperty("name").GetString());
        Assert.Equal("Says hello", create.GetProperty("description").GetString());

        var upload = server.Requests[2];
        Assert.Equal(HttpMethod.Post, upload.Method);
        Assert.Equal("application/gzip", upload.ContentType);
        var names = new List<string>();
        using (var tar = new TarReader(new GZipStream(new MemoryStream(upload.Body), CompressionMode.Decompress)))
            while (tar.GetNextEntry() is { } entry)
                names.Add(entry.Name);
        Assert.Equal(["algorithm.yaml", "main.py"], names);

        var version = BodyJson(server.Requests[3]);
        Assert.Equal("0123456789abcdef0123", version.GetProperty("build").GetString());
        Assert.Equal("1.2.3", version.GetProperty("version").GetString());
        Assert.Equal("private", version.GetProperty("visibility").GetString());
    }

    [Fact]
    public async Task Publish_continues_when_the_algorithm_exists_and_sends_no_visibility_by_default()
    {
        WriteAlgorithm();
        var server = PublishServer(HttpStatusCode.Conflict);

        var run = await Run(server, "algo", "publish", _dir.Path, "--name", "alice/hello", "--version", "1.2.3");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(4, server.Requests.Count);
        Assert.False(BodyJson(server.Requests[1]).TryGetProperty("description", out _));
        Assert.False(BodyJson(server.Requests[3]).TryGetProperty("visibility", out _));
    }

    [Fact]
    public async Task Publish_shows_live_progress_on_a_terminal()
    {
        WriteAlgorithm();
        var server = PublishServer();

        var run = await CliRunner.RunAsync(
            ["algo", "publish", _dir.Path, "--name", "alice/hello", "--version", "1.2.3", "--public", "--url", Url],
            server: server, errorIsTerminal: true);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("100%", run.Error);
        Assert.Contains("Uploaded", run.Error);
        Assert.Equal("public", BodyJson(server.Requests[3]).GetProperty("visibility").GetString());
    }

    [Fact]
    public async Task Publish_stops_at_the_first_error()
    {
        WriteAlgorithm();
        var server = new FakeServer(_ => FakeServer.Json(HttpStatusCode.Forbidden,
            """{"error":{"message":"key lacks the publish scope"}}"""));

        var run = await Run(server, "algo", "publish", _dir.Path, "--name", "alice/hello", "--version", "1.2.3");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: key lacks the publish scope", run.Error);
        Assert.Single(server.Requests);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task Algo_list_and_info_print_tables()
    {
        var server = new FakeServer(request => request.PathAndQuery switch
        {
            "/v1/algorithms" => FakeServer.Json(HttpStatusCode.OK, """
                {"algorithms":[{"owner":"alice","name":"hello","description":"Says hello","latest_version":"1.2.3","created_at":"2025-01-01T00:00:00Z"},
                               {"owner":"bob","name":"empty","description":"","latest_version":null,"created_at":"2025-01-02T00:00:00Z"}]}
                """),
            _ => FakeServer.Json(HttpStatusCode.OK, """
                {"owner":"alice","name":"hello","description":"Says hello","versions":[
                  {"version":"1.2.3","build":"0123456789abcdef0123","runtime":"python3","entrypoint":"main:apply","visibility":"public","published_at":"2025-01-03T00:00:00Z"}],
                 "builds":[
                  {"build":"0123456789abcdef0123","runtime":"python3","entrypoint":"main:apply","size":120,"created_at":"2025-01-03T00:00:00Z"},
                  {"build":"fedcba9876543210fedc","status":"failed","runtime":"python3","entrypoint":"draft:apply","size":99,"created_at":"2025-01-04T00:00:00Z"}]}
                """),
        });

        var list = await Run(server, "algo", "list");
        Assert.Equal(0, list.ExitCode);
        var lines = list.Out.TrimEnd().Split(Environment.NewLine);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("NAME", lines[0]);
        Assert.Contains("alice/hello", lines[1]);
        Assert.Contains("1.2.3", lines[1]);
        Assert.Contains("Says hello", lines[1]);
        Assert.StartsWith("bob/empty", lines[2]);

        var info = await Run(server, "algo", "info", "alice/hello");
        Assert.Equal(0, info.ExitCode);
        Assert.Equal("/v1/algorithms/alice/hello", server.Requests[1].PathAndQuery);
        Assert.StartsWith("alice/hello", info.Out);
        Assert.Contains("Description: Says hello", info.Out);
        Assert.Contains("VERSION", info.Out);
        var row = info.Out.Split(Environment.NewLine).Single(l => l.StartsWith("1.2.3"));
        Assert.Contains("0123456789ab ", row);
        Assert.DoesNotContain("0123456789abc", row);
        Assert.Contains("main:apply", row);
        Assert.Contains("public", row);
        // Only the build that no version uses is listed as unpublished.
        var drafts = info.Out[info.Out.IndexOf("Unpublished builds", StringComparison.Ordinal)..];
        Assert.Contains("fedcba987654", drafts);
        Assert.Contains("draft:apply", drafts);
        Assert.Contains("failed", drafts.Split(Environment.NewLine).Single(l => l.StartsWith("fedcba987654", StringComparison.Ordinal)));
        Assert.DoesNotContain("0123456789ab", drafts);
    }

    private static FakeServer CallServer(string envelope, HttpStatusCode status = HttpStatusCode.OK) =>
        new(_ => FakeServer.Json(status, envelope));

    [Fact]
    public async Task Call_sends_text_and_prints_a_text_result()
    {
        var server = CallServer("""{"result":"Hello World","metadata":{"content_type":"text","duration":0.01}}""");

        var run = await Run(server, "call", "alice/hello", "World");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("Hello World" + Environment.NewLine, run.Out);
        Assert.Equal("", run.Error);
        var request = Assert.Single(server.Requests);
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("/v1/algo/alice/hello", request.PathAndQuery);
        Assert.Equal("text/plain; charset=utf-8", request.ContentType);
        Assert.Equal("World", request.BodyText);
    }

    [Fact]
    public async Task Call_passes_version_timeout_and_stdout_and_prints_stdout_to_stderr()
    {
        var server = CallServer("""{"result":{"b":[1,2],"a":"ü"},"metadata":{"content_type":"json","duration":0.01,"stdout":"debug line\n"}}""");

        var run = await Run(server, "call", "alice/hello/1.2.3", "{\"x\": 1}", "--timeout", "30", "--stdout");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("/v1/algo/alice/hello/1.2.3?timeout=30&stdout=true", server.Requests[0].PathAndQuery);
        Assert.Equal("application/json; charset=utf-8", server.Requests[0].ContentType);
        Assert.Equal("debug line\n", run.Error);
        var expected = JsonSerializer.Serialize(JsonDocument.Parse("""{"b":[1,2],"a":"ü"}""").RootElement,
            new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        Assert.Equal(expected + Environment.NewLine, run.Out);
        Assert.Contains("\"a\": \"ü\"", run.Out);
    }

    [Fact]
    public async Task Call_with_binary_input_from_a_file()
    {
        var path = _dir.Combine("input.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        var server = CallServer("""{"result":null,"metadata":{"content_type":"void","duration":0.01}}""");

        var run = await Run(server, "call", "alice/hello", "@" + path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Equal("application/octet-stream", server.Requests[0].ContentType);
        Assert.Equal(new byte[] { 1, 2, 3 }, server.Requests[0].Body);
    }

    [Fact]
    public async Task Call_reads_stdin_for_dash()
    {
        var server = CallServer("""{"result":"ok","metadata":{"content_type":"text"}}""");

        var run = await CliRunner.RunAsync(["call", "alice/hello", "-", "--url", Url], server: server, stdin: [9, 9]);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(new byte[] { 9, 9 }, server.Requests[0].Body);
        Assert.Equal("application/octet-stream", server.Requests[0].ContentType);
    }

    [Fact]
    public async Task Call_prints_binary_results_as_base64_or_writes_them_to_a_file()
    {
        var bytes = new byte[] { 0, 1, 2, 250, 251 };
        var server = CallServer($$$"""{"result":"{{{Convert.ToBase64String(bytes)}}}","metadata":{"content_type":"binary","duration":0.01}}""");

        var printed = await Run(server, "call", "alice/hello", "x");
        Assert.Equal(0, printed.ExitCode);
        Assert.Equal(Convert.ToBase64String(bytes), printed.Out.TrimEnd());

        var outFile = _dir.Combine("out.bin");
        var written = await Run(server, "call", "alice/hello", "x", "--out", outFile);
        Assert.Equal(0, written.ExitCode);
        Assert.Equal("", written.Out);
        Assert.Equal(bytes, File.ReadAllBytes(outFile));
        Assert.Contains(outFile, written.Error);
    }

    [Fact]
    public async Task Call_error_envelope_prints_message_and_stacktrace_with_exit_1()
    {
        var server = CallServer("""
            {"error":{"message":"division by zero","error_type":"AlgorithmError","stacktrace":"Traceback (most recent call last):\n  File \"main.py\"\nZeroDivisionError"}}
            """, HttpStatusCode.BadRequest);

        var run = await Run(server, "call", "alice/hello", "1");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.StartsWith("error: division by zero", run.Error);
        Assert.Contains("AlgorithmError", run.Error);
        Assert.Contains("ZeroDivisionError", run.Error);
    }

    [Fact]
    public async Task Call_error_prints_what_the_algorithm_printed_first()
    {
        var server = CallServer("""{"error":{"message":"boom","error_type":"AlgorithmError"},"metadata":{"stdout":"working...\n"}}""",
            HttpStatusCode.BadRequest);

        var run = await Run(server, "call", "alice/hello", "1", "--stdout");

        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("working...\nerror: boom", run.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Call_error_envelope_counts_even_with_a_success_status()
    {
        var server = CallServer("""{"error":{"message":"boom"}}""");

        var run = await Run(server, "call", "alice/hello", "1");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: boom", run.Error);
    }

    [Fact]
    public async Task Error_without_envelope_reports_the_http_status()
    {
        var server = new FakeServer(_ => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("<html>bad</html>") });

        var run = await Run(server, "call", "alice/hello", "1");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: HTTP 502", run.Error);
    }

    [Fact]
    public async Task Call_usage_errors()
    {
        var server = CallServer("{}");

        Assert.Equal(2, (await Run(server, "call", "alice/hello")).ExitCode);
        Assert.Equal(2, (await Run(server, "call", "hello", "x")).ExitCode);
        Assert.Equal(2, (await Run(server, "call", "alice/hello", "x", "--timeout", "soon")).ExitCode);
        Assert.Equal(2, (await Run(server, "call", "alice/hello", "x", "--json", "--text")).ExitCode);
        Assert.Equal(2, (await Run(server, "call", "alice/hello", "x", "--json")).ExitCode);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Call_forced_text_sends_json_looking_input_as_text()
    {
        var server = CallServer("""{"result":"ok","metadata":{"content_type":"text"}}""");

        var run = await Run(server, "call", "alice/hello", "42", "--text");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("text/plain; charset=utf-8", server.Requests[0].ContentType);
        Assert.Equal("42", Encoding.UTF8.GetString(server.Requests[0].Body));
    }
}
