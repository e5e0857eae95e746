using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Building;

/// <summary>
/// Builds are a step of their own: broken code is refused at build (each case with its message, the worker's traceback in
/// the kept log), a failed build can be neither published nor called, a good one is callable by its hash, and a build's log
/// is its owner's alone. Real server, real sandboxed Python workers.
/// </summary>
public sealed class BuildTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private Task<JsonElement> BuildAsync(string name, IDictionary<string, string> files) => BuildAsync(name, TarGz(files));

    /// <summary>The same code is the same bytes: an archive made again has other timestamps, so tests that upload twice keep theirs.</summary>
    private async Task<JsonElement> BuildAsync(string name, byte[] archive)
    {
        var created = await S.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "builder", name });
        if (created.StatusCode != HttpStatusCode.Conflict) created.EnsureSuccessStatusCode();
        return await BuildWithAsync(S.Admin, "builder/" + name, archive);
    }

    private async Task<string> LogAsync(string name, string hash, HttpClient? client = null)
    {
        var r = await (client ?? S.Admin).GetAsync($"/v1/algorithms/builder/{name}/builds/{hash}/log");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain", r.Content.Headers.ContentType?.MediaType);
        return await r.Content.ReadAsStringAsync();
    }

    public static TheoryData<string, string, string, string, string> BrokenCode => new()
    {
        // name, manifest extra, main.py, what the error says, what the log shows besides
        { "syntax", "", "def apply(x):\n    return x +\n", "SyntaxError in main.py, line 2: invalid syntax", "return x +" },
        { "wrongmodule", "entrypoint: mian:apply\n", "def apply(x):\n    return x\n", "entrypoint mian:apply: module 'mian' not found in the code (it has main.py)", "ModuleNotFoundError" },
        { "nofunction", "entrypoint: main:run\n", "def apply(x):\n    return x\n\ndef helper():\n    pass\n", "entrypoint main:run not found in main.py (it defines apply, helper)", "AttributeError" },
        { "missingimport", "", "import requests\n\ndef apply(x):\n    return x\n", "No module named 'requests': add the package to requirements.txt", "main.py\", line 1" },
        { "raises", "", "raise RuntimeError('no config file')\n", "RuntimeError: no config file", "Traceback" },
    };

    [Theory]
    [MemberData(nameof(BrokenCode))]
    public async Task Broken_code_is_refused_at_build_with_its_message_and_kept_with_its_log(string name, string manifest, string code, string message, string inLog)
    {
        var files = Python(code);
        files["algorithm.yaml"] = "runtime: python3\n" + (manifest.Length > 0 ? manifest : "entrypoint: main:apply\n");
        var build = await BuildAsync(name, files);
        Assert.Equal("failed", build.GetProperty("status").GetString());
        var error = build.GetProperty("error").GetString()!;
        Assert.Contains(message, error);
        // The answer carries the log of a failed build; the stored log is the same and has the traceback too.
        var hash = build.GetProperty("build").GetString()!;
        var log = await LogAsync(name, hash);
        Assert.Equal(build.GetProperty("log").GetString(), log);
        Assert.Contains(message, log);
        Assert.Contains(inLog, log);
        Assert.Contains("build FAILED", log);

        // A failed build publishes nothing, and cannot be called by its hash: both say why.
        var pub = await S.Admin.PostAsJsonAsync($"/v1/algorithms/builder/{name}/versions", new { build = hash, version = "1.0.0" });
        Assert.Equal(HttpStatusCode.Conflict, pub.StatusCode);
        var pubText = (await pub.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("failed", pubText);
        Assert.Contains(message.Split(':')[0], pubText);
        var info = await S.Admin.GetFromJsonAsync<JsonElement>($"/v1/algorithms/builder/{name}");
        Assert.Empty(info.GetProperty("versions").EnumerateArray());
        Assert.Contains(info.GetProperty("builds").EnumerateArray(), b => b.GetProperty("status").GetString() == "failed");
        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/builder/{name}/{hash}", Json("1"));
        Assert.Equal(409, status);
        Assert.Contains("failed", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Code_run_by_the_build_check_reads_nothing_of_the_servers_reaches_no_network_and_leaves_no_process_behind()
    {
        // Hostile code at import time (the check runs unpublished code): it reads for the admin key and the catalog, lists the
        // server's home (where only the shared, read-only Python environments may show), dials the
        // gateway's port, and leaves two processes meant to outlive the check (a child in its own session, and a double-forked
        // one). Whatever it reaches fails the build with "LEAK"; the check's worker is killed afterwards, and its whole tree with it.
        var marker = "osai-hostile-" + Guid.NewGuid().ToString("N");
        var port = new Uri(S.Url).Port;
        var code = $$"""
            import os, socket, subprocess, sys
            MARK = "{{marker}}"
            sleeper = [sys.executable, "-c", "import time; time.sleep(300)", MARK]
            subprocess.Popen(sleeper, start_new_session=True)
            pid = os.fork()
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, sleeper)
                os._exit(0)
            os.waitpid(pid, 0)
            leaks = []
            for path in [{{Py(S.Server.AdminKeyPath)}}, {{Py(Path.Combine(S.Home, "osforai.db"))}}]:
                try:
                    open(path, "rb").read(1)
                    leaks.append(path)
                except OSError:
                    pass
            # Of the server's home only the shared Python environments are in sight (read-only; docs/builds.md).
            try:
                seen = [n for n in os.listdir({{Py(S.Home)}}) if n != "envs"]
                if seen:
                    leaks.append("the home's " + ", ".join(seen))
            except OSError:
                pass
            try:
                socket.create_connection(("127.0.0.1", {{port}}), timeout=2).close()
                leaks.append("the gateway's port")
            except OSError:
                pass
            if leaks:
                raise RuntimeError("LEAK " + ", ".join(leaks))

            def apply(x):
                return x
            """;
        var build = await BuildAsync("hostile", Python(code));
        Assert.True(build.GetProperty("status").GetString() == "succeeded", build.ToString());

        // Nothing the check started is left on this machine (the marker is in each sleeper's command line).
        var left = new List<int>();
        for (var i = 0; i < 50; i++)
        {
            left = Directory.EnumerateDirectories("/proc").Select(d => Path.GetFileName(d)).Where(n => n.All(char.IsAsciiDigit))
                .Where(n => { try { return File.ReadAllText($"/proc/{n}/cmdline").Contains(marker, StringComparison.Ordinal); } catch (IOException) { return false; } })
                .Select(int.Parse).ToList();
            if (left.Count == 0) break;
            await Task.Delay(200);
        }
        Assert.True(left.Count == 0, $"processes of the build check outlived it: {string.Join(", ", left)}");
    }

    private static string Py(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    [Fact]
    public async Task A_good_build_is_callable_by_its_hash_and_publishable_and_the_same_code_again_is_the_same_build()
    {
        var files = TarGz(Python("def apply(x):\n    return x * 2\n"));
        var build = await BuildAsync("good", files);
        Assert.Equal("succeeded", build.GetProperty("status").GetString());
        Assert.False(build.TryGetProperty("error", out _));
        Assert.False(build.TryGetProperty("log", out _));
        var hash = build.GetProperty("build").GetString()!;
        var log = await LogAsync("good", hash);
        Assert.Contains("checking that main:apply loads", log);
        Assert.Contains("build succeeded", log);

        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/builder/good/{hash}", Json("21"));
        Assert.Equal(200, status);
        Assert.Equal(42, body.GetProperty("result").GetInt32());

        var again = await BuildAsync("good", files);
        Assert.Equal(hash, again.GetProperty("build").GetString());
        Assert.Equal("succeeded", again.GetProperty("status").GetString());
        Assert.Equal(build.GetProperty("finished_at").GetString(), again.GetProperty("finished_at").GetString());

        var pub = await S.Admin.PostAsJsonAsync("/v1/algorithms/builder/good/versions", new { build = hash, version = "1.0.0" });
        Assert.Equal(HttpStatusCode.Created, pub.StatusCode);
    }

    [Fact]
    public async Task The_same_code_after_a_failed_build_is_built_again_and_replaces_the_failure()
    {
        // A failure is not answered from memory (it may have been the package index's fault: see DependencyTests), and the
        // build is replaced rather than kept twice.
        var code = Python("import osai_runner\ndef apply(x):\n    return x\n");
        code["algorithm.yaml"] = "runtime: python3\nentrypoint: main:missing\n";
        var files = TarGz(code);
        var first = await BuildAsync("retry", files);
        Assert.Equal("failed", first.GetProperty("status").GetString());
        var second = await BuildAsync("retry", files);
        Assert.Equal(first.GetProperty("build").GetString(), second.GetProperty("build").GetString());
        Assert.Equal("failed", second.GetProperty("status").GetString());
        Assert.DoesNotContain("built before", second.GetProperty("log").GetString());
        var info = await S.Admin.GetFromJsonAsync<JsonElement>("/v1/algorithms/builder/retry");
        Assert.Single(info.GetProperty("builds").EnumerateArray());
    }

    [Fact]
    public async Task A_build_and_its_log_are_the_owners_alone()
    {
        var owner = S.ClientFor(await S.CreateKeyAsync("olga", "publish", "call"));
        var other = S.ClientFor(await S.CreateKeyAsync("mallory", "publish", "call"));
        var created = await owner.PostAsJsonAsync("/v1/algorithms", new { owner = "olga", name = "secretive" });
        created.EnsureSuccessStatusCode();
        var build = await BuildWithAsync(owner, "olga/secretive", TarGz(Python("import nothing_here\n")));
        var hash = build.GetProperty("build").GetString()!;
        var pub = await owner.PostAsJsonAsync("/v1/algorithms/olga/secretive/versions",
            new { build = (await BuildWithAsync(owner, "olga/secretive", TarGz(Python("def apply(x):\n    return x\n")))).GetProperty("build").GetString(), version = "1.0.0" });
        Assert.Equal(HttpStatusCode.Created, pub.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/v1/algorithms/olga/secretive/builds/{hash}/log")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await S.Admin.GetAsync($"/v1/algorithms/olga/secretive/builds/{hash}/log")).StatusCode);
        var view = await owner.GetFromJsonAsync<JsonElement>($"/v1/algorithms/olga/secretive/builds/{hash[..12]}");
        Assert.Equal(hash, view.GetProperty("build").GetString());
        Assert.Equal("failed", view.GetProperty("status").GetString());
        Assert.Contains("nothing_here", view.GetProperty("error").GetString());

        // Someone else sees neither, answered as if there were no such build (the version is public, the build is not theirs).
        foreach (var path in new[] { $"builds/{hash}/log", $"builds/{hash}" })
        {
            var r = await other.GetAsync($"/v1/algorithms/olga/secretive/{path}");
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.DoesNotContain("nothing_here", await r.Content.ReadAsStringAsync());
        }
        using var anonymous = S.ClientFor(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/v1/algorithms/olga/secretive/builds/{hash}/log")).StatusCode);
    }

    [Fact]
    public async Task The_log_streams_while_the_build_runs_when_asked_for()
    {
        var created = await S.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "builder", name = "streamed" });
        created.EnsureSuccessStatusCode();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/algorithms/builder/streamed/builds")
        {
            Content = new ByteArrayContent(TarGz(Python("def apply(x):\n    return x\n"))) { Headers = { ContentType = new MediaTypeHeaderValue("application/gzip") } },
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var response = await S.Admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize<JsonElement>(l)).ToList();
        Assert.True(lines.Count >= 3, string.Join("\n", lines));
        Assert.All(lines[..^1], l => Assert.True(l.TryGetProperty("log", out _)));
        Assert.Contains(lines, l => l.TryGetProperty("log", out var t) && t.GetString()!.Contains("loads"));
        var build = lines[^1].GetProperty("build");
        Assert.Equal("succeeded", build.GetProperty("status").GetString());
        // The streamed lines are the stored log.
        var log = await LogAsync("streamed", build.GetProperty("build").GetString()!);
        Assert.Equal(string.Join("\n", lines[..^1].Select(l => l.GetProperty("log").GetString())) + "\n", log);
    }

    [Fact]
    public async Task A_manifest_with_a_typo_is_refused_at_upload_with_a_suggestion()
    {
        var files = Python("def apply(x):\n    return x\n");
        files["algorithm.yaml"] = "runtime: python3\nentrypont: main:apply\ntimout: 5\nresources:\n  memory_md: 256\n";
        await S.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "builder", name = "typo" });
        var content = new ByteArrayContent(TarGz(files)) { Headers = { ContentType = new MediaTypeHeaderValue("application/gzip") } };
        var r = await S.Admin.PostAsync("/v1/algorithms/builder/typo/builds", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var message = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("`entrypont`", message);
        Assert.Contains("did you mean `entrypoint`?", message);
        Assert.Contains("did you mean `timeout`?", message);
        Assert.Contains("did you mean `resources.memory_mb`?", message);
        var info = await S.Admin.GetFromJsonAsync<JsonElement>("/v1/algorithms/builder/typo");
        Assert.Empty(info.GetProperty("builds").EnumerateArray());
    }
}
