using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.NodeClient;

/// <summary>
/// The official Algorithmia Node client (npm algorithmia@0.3.10, unmodified) against a real OSForAI
/// server: algorithm calls with JSON, text and binary input, an algorithm error, and the data API.
/// The client is driven by tests/node-client/client-test.js, which prints what it observed as JSON.
/// </summary>
public sealed class NodeClientTests(ITestOutputHelper output)
{
    private const string Owner = "nodeuser";

    [Fact]
    public async Task Official_algorithmia_node_client_calls_algorithms_and_uses_the_data_api()
    {
        var clientDir = NodeClientInstall.EnsureInstalled();

        // Two entries per listing page, so listing three files makes the client follow a marker.
        await using var s = await StartAsync(new Dictionary<string, string?> { ["OSForAI:DataListPageSize"] = "2" });
        var key = await s.CreateKeyAsync(Owner, "call", "publish");
        using var user = s.ClientFor(key);
        await s.PublishAsync($"{Owner}/nodeecho", "1.0.0", Python("""
            def apply(x):
                if isinstance(x, bytes):
                    return bytes(reversed(x))
                if isinstance(x, str):
                    return "Hello " + x
                if isinstance(x, dict):
                    return {"sum": sum(x["a"]), "keys": sorted(x)}
                raise TypeError("unexpected input type " + type(x).__name__)
            """), client: user);
        await s.PublishAsync($"{Owner}/nodefail", "1.0.0", Python("""
            def apply(x):
                raise ValueError("bad input from node")
            """), client: user);

        var run = await NodeClientInstall.RunAsync(NodeClientInstall.Node, ["client-test.js"], clientDir, TimeSpan.FromSeconds(60),
            new Dictionary<string, string?>
            {
                ["OSAI_URL"] = s.Url,
                ["OSAI_KEY"] = key,
                ["OSAI_OWNER"] = Owner,
                ["ALGORITHMIA_API"] = null,
                ["ALGORITHMIA_API_KEY"] = null,
            });
        output.WriteLine($"client-test.js stdout:\n{run.Stdout}\nstderr:\n{run.Stderr}");
        Assert.True(run.ExitCode == 0, $"node client-test.js exited {run.ExitCode}\nstderr:\n{run.Stderr}\nstdout:\n{run.Stdout}");
        JsonElement o;
        try { o = JsonSerializer.Deserialize<JsonElement>(run.Stdout); }
        catch (JsonException e) { throw new Xunit.Sdk.XunitException($"client-test.js did not print one JSON object ({e.Message}):\n{run.Stdout}\nstderr:\n{run.Stderr}"); }
        var report = $"\nclient-test.js reported:\n{run.Stdout}";

        Assert.Equal("0.3.10", o.GetProperty("client").GetString());

        // pipe(object): application/json in, JSON envelope out.
        var json = o.GetProperty("json");
        Assert.True(200 == json.GetProperty("status").GetInt32(), report);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("error").ValueKind);
        Assert.Equal("json", json.GetProperty("contentType").GetString());
        AssertJson("""{"sum": 3, "keys": ["a"]}""", json.GetProperty("get").GetProperty("value"));

        // pipe(string): text/plain in, text result.
        var text = o.GetProperty("text");
        Assert.True(200 == text.GetProperty("status").GetInt32(), report);
        Assert.Equal(JsonValueKind.Null, text.GetProperty("error").ValueKind);
        Assert.Equal("text", text.GetProperty("contentType").GetString());
        Assert.Equal("Hello World", text.GetProperty("get").GetProperty("value").GetString());

        // pipe(Buffer): application/octet-stream in, base64 binary result that get() decodes to a Buffer.
        var binary = o.GetProperty("binary");
        Assert.True(200 == binary.GetProperty("status").GetInt32(), report);
        Assert.Equal(JsonValueKind.Null, binary.GetProperty("error").ValueKind);
        Assert.Equal("binary", binary.GetProperty("contentType").GetString());
        Assert.Equal(Convert.ToBase64String([3, 2, 1]), binary.GetProperty("rawResult").GetString());
        Assert.True(binary.GetProperty("get").GetProperty("isBuffer").GetBoolean(), report);
        Assert.Equal(new[] { 3, 2, 1 }, Ints(binary.GetProperty("get").GetProperty("bytes")));

        // An algorithm that raises: error envelope, and get() throws the message.
        var error = o.GetProperty("error");
        Assert.True(400 == error.GetProperty("status").GetInt32(), report);
        Assert.Contains("bad input from node", error.GetProperty("message").GetString());
        Assert.Equal("AlgorithmError", error.GetProperty("errorType").GetString());
        Assert.True(error.GetProperty("hasStacktrace").GetBoolean(), report);
        Assert.Equal(JsonValueKind.Null, error.GetProperty("result").ValueKind);
        Assert.Contains("bad input from node", error.GetProperty("get").GetProperty("thrown").GetString());

        // Data API on data://.my/nodetest.
        AssertOk(o, "dirCreate", report);
        AssertExists(o, "dirExists", expected: true, report);

        AssertOk(o, "putString", report);
        var getString = o.GetProperty("getString");
        Assert.True(200 == getString.GetProperty("status").GetInt32(), report);
        Assert.Equal("string", getString.GetProperty("type").GetString());
        Assert.Equal("Hello from node ✓", getString.GetProperty("value").GetString());

        const string storedJson = """{"answer":42,"list":[1,"two",null],"nested":{"ok":true}}""";
        AssertOk(o, "putJson", report);
        var getJson = o.GetProperty("getJson");
        Assert.True(200 == getJson.GetProperty("status").GetInt32(), report);
        Assert.Equal("object", getJson.GetProperty("type").GetString());
        AssertJson(storedJson, getJson.GetProperty("value"));

        byte[] storedBytes = [0, 1, 2, 127, 128, 254, 255];
        AssertOk(o, "putBytes", report);
        var getBytes = o.GetProperty("getBytes");
        Assert.True(getBytes.GetProperty("err").ValueKind == JsonValueKind.Null, report);
        Assert.True(getBytes.GetProperty("isBuffer").GetBoolean(), report);
        Assert.Equal(storedBytes.Select(b => (int)b), Ints(getBytes.GetProperty("bytes")));

        AssertOk(o, "putTemp", report);
        AssertExists(o, "existsBefore", expected: true, report);
        AssertOk(o, "deleteFile", report);
        AssertExists(o, "existsAfter", expected: false, report);
        Assert.Equal(404, o.GetProperty("existsAfter").GetProperty("status").GetInt32());
        var missing = o.GetProperty("getMissing");
        Assert.True(404 == missing.GetProperty("status").GetInt32(), report);
        Assert.False(string.IsNullOrEmpty(missing.GetProperty("error").GetString()), report);

        // forEachFile over two listing pages: exactly the three remaining files, with sizes and dates.
        var listing = o.GetProperty("listing");
        Assert.True(listing.GetProperty("errors").GetArrayLength() == 0, report);
        var files = listing.GetProperty("files").EnumerateArray().OrderBy(f => f.GetProperty("name").GetString(), StringComparer.Ordinal).ToList();
        Assert.True(files.Count == 3, report);
        var expected = new (string Name, long Size)[]
        {
            ("bytes.bin", storedBytes.Length),
            ("data.json", Encoding.UTF8.GetByteCount(storedJson)),
            ("hello.txt", Encoding.UTF8.GetByteCount("Hello from node ✓")),
        };
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Name, files[i].GetProperty("name").GetString());
            Assert.Equal(".my/nodetest/" + expected[i].Name, files[i].GetProperty("path").GetString());
            Assert.Equal(expected[i].Size, files[i].GetProperty("size").GetInt64());
            var modified = DateTimeOffset.Parse(files[i].GetProperty("last_modified").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(modified, DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddMinutes(1));
        }

        // The page size of 2 made the client follow exactly one marker, to a page it could read.
        var requests = o.GetProperty("requests").EnumerateArray()
            .Select(r => (Method: r.GetProperty("method").GetString()!, Path: r.GetProperty("path").GetString()!, Status: r.GetProperty("status").GetInt32()))
            .ToList();
        var markerPages = requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/v1/data/.my/nodetest?marker=", StringComparison.Ordinal)).ToList();
        Assert.True(markerPages.Count == 1 && markerPages[0].Status == 200, report);

        AssertOk(o, "dirDelete", report);
        AssertExists(o, "dirExistsAfter", expected: false, report);
        Assert.Equal(404, o.GetProperty("dirExistsAfter").GetProperty("status").GetInt32());

        // Every request succeeded except the ones meant to fail.
        Assert.Equal(new[]
            {
                ("POST", $"/v1/algo/{Owner}/nodefail/1.0.0", 400),
                ("HEAD", "/v1/data/.my/nodetest/temp.txt", 404),
                ("GET", "/v1/data/.my/nodetest/temp.txt", 404),
                ("GET", "/v1/data/.my/nodetest", 404),
            },
            requests.Where(r => r.Status != 200).Select(r => (r.Method, r.Path, r.Status)));

        // And the server agrees: the folder is gone for its owner.
        var after = await user.GetAsync($"/v1/data/{Owner}/nodetest");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, after.StatusCode);
    }

    private static void AssertOk(JsonElement o, string step, string report)
    {
        var e = o.GetProperty(step);
        Assert.True(e.GetProperty("status").GetInt32() == 200 && e.GetProperty("error").ValueKind == JsonValueKind.Null,
            $"{step}: expected 200 without an error{report}");
    }

    private static void AssertExists(JsonElement o, string step, bool expected, string report) =>
        Assert.True(o.GetProperty(step).GetProperty("exists").GetBoolean() == expected, $"{step}: expected exists={expected}{report}");

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static void AssertJson(string expected, JsonElement actual) =>
        Assert.True(JsonElement.DeepEquals(JsonSerializer.Deserialize<JsonElement>(expected), actual),
            $"expected {expected}, got {actual.GetRawText()}");
}

/// <summary>Installs the pinned client into tests/node-client once per test run and runs processes.</summary>
internal static class NodeClientInstall
{
    public const string ClientVersion = "0.3.10";
    private static readonly Lock Gate = new();
    private static string? _installed;

    public static string Node => FindOnPath("node") ?? throw NotOnPath("node");
    private static string Npm => FindOnPath("npm") ?? throw NotOnPath("npm");

    /// <summary>Returns tests/node-client with node_modules/algorithmia at the pinned version.</summary>
    public static string EnsureInstalled()
    {
        lock (Gate)
        {
            if (_installed is not null) return _installed;
            var dir = Path.Combine(RepoRoot(), "tests", "node-client");
            Assert.True(File.Exists(Path.Combine(dir, "package.json")), $"{dir}/package.json is missing");
            _ = Node;
            if (InstalledVersion(dir) != ClientVersion)
            {
                var npm = RunAsync(Npm, ["install", "--no-audit", "--no-fund", "--no-package-lock"], dir, TimeSpan.FromMinutes(5),
                    new Dictionary<string, string?> { ["npm_config_update_notifier"] = "false" }).GetAwaiter().GetResult();
                Assert.True(npm.ExitCode == 0, $"npm install in {dir} exited {npm.ExitCode}\nstderr:\n{npm.Stderr}\nstdout:\n{npm.Stdout}");
                var version = InstalledVersion(dir);
                Assert.True(version == ClientVersion, $"npm install left algorithmia {version ?? "(missing)"} in {dir}/node_modules, expected {ClientVersion}");
            }
            return _installed = dir;
        }
    }

    private static string? InstalledVersion(string dir)
    {
        var manifest = Path.Combine(dir, "node_modules", "algorithmia", "package.json");
        if (!File.Exists(manifest)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        return doc.RootElement.TryGetProperty("version", out var v) ? v.GetString() : null;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "OSForAI.sln")) || Directory.Exists(Path.Combine(d.FullName, ".git")) ||
                File.Exists(Path.Combine(d.FullName, ".git")))
                return d.FullName;
        throw new InvalidOperationException($"no OSForAI.sln or .git above {AppContext.BaseDirectory}");
    }

    private static Exception NotOnPath(string tool) => new InvalidOperationException(
        $"'{tool}' is not on PATH. The Algorithmia Node client compatibility test needs Node.js and npm " +
        "(CI installs them; locally install Node.js 18 or newer).");

    private static string? FindOnPath(string name)
    {
        var extensions = OperatingSystem.IsWindows()
            ? (Environment.GetEnvironmentVariable("PATHEXT") ?? ".EXE;.CMD;.BAT").Split(';', StringSplitOptions.RemoveEmptyEntries)
            : [""];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var ext in extensions)
            {
                var candidate = Path.Combine(dir, name + ext);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs a process to completion, killing its tree when it outlives <paramref name="timeout"/>.</summary>
    public static async Task<Result> RunAsync(string file, string[] args, string workingDirectory, TimeSpan timeout,
        IDictionary<string, string?> env)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env)
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync();
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', args)} ran longer than {timeout.TotalSeconds:0} s\n" +
                $"stderr:\n{await stderr}\nstdout:\n{await stdout}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
