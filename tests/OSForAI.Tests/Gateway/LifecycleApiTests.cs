using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Testing;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>
/// The version lifecycle through the real server: deprecation (ranges and latest skip a deprecated version, which still answers
/// by its exact version, flagged), deletion (410, ranges fall back, the build's code collected when no other version uses it, a
/// running call finishes), deleting an algorithm, the owner-only rule, the audit trail, and the same on the /v2 model endpoints.
/// Real Python workers and real ONNX models.
/// </summary>
public sealed class LifecycleApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private async Task<(HttpClient Owner, HttpClient Stranger)> KeysAsync(string owner) =>
        (S.ClientFor(await S.CreateKeyAsync(owner, "call", "publish")), S.ClientFor(await S.CreateKeyAsync("walt-" + owner, "call", "publish")));

    private static async Task<string> UploadAsync(HttpClient client, string owner, string name, byte[] tarGz)
    {
        var created = await client.PostAsJsonAsync("/v1/algorithms", new { owner, name });
        if (created.StatusCode != System.Net.HttpStatusCode.Conflict) created.EnsureSuccessStatusCode();
        var content = new ByteArrayContent(tarGz);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        var build = await client.PostAsync($"/v1/algorithms/{owner}/{name}/builds", content);
        Assert.True(build.IsSuccessStatusCode, await build.Content.ReadAsStringAsync());
        return (await build.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("build").GetString()!;
    }

    private static async Task<(int Status, JsonElement Body)> PublishBuildAsync(HttpClient client, string owner, string name, string build, string version)
    {
        var r = await client.PostAsJsonAsync($"/v1/algorithms/{owner}/{name}/versions", new { build, version, visibility = "public" });
        return ((int)r.StatusCode, await r.Content.ReadFromJsonAsync<JsonElement>());
    }

    private static async Task<(int Status, JsonElement Body, string? Deprecation)> CallWithHeadersAsync(HttpClient client, string path, string json)
    {
        using var r = await client.PostAsync(path, Json(json));
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, JsonSerializer.Deserialize<JsonElement>(text),
            r.Headers.TryGetValues("Deprecation", out var d) ? d.Single() : null);
    }

    private static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var r = await client.SendAsync(request);
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, text.Length == 0 ? default : JsonSerializer.Deserialize<JsonElement>(text));
    }

    private static string Message(JsonElement body) => body.GetProperty("error").ValueKind == JsonValueKind.String
        ? body.GetProperty("error").GetString()! : body.GetProperty("error").GetProperty("message").GetString()!;

    private Task<int> ArchiveStatusAsync(string owner, string name, string build) =>
        S.Admin.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v1/data/.osforai/code/{owner}/{name}/{build}.tar.gz"))
            .ContinueWith(t => (int)t.Result.StatusCode);

    [Fact]
    public async Task A_deprecated_version_is_skipped_by_ranges_and_latest_and_flagged_when_called_by_its_exact_version()
    {
        var (lena, walt) = await KeysAsync("lena");
        await S.PublishAsync("lena/greet", "1.0.0", Python("def apply(x):\n    return 'one'\n"), client: lena);
        await S.PublishAsync("lena/greet", "1.1.0", Python("def apply(x):\n    return 'one-one'\n"), client: lena);

        var (status, body) = await SendAsync(walt, HttpMethod.Patch, "/v1/algorithms/lena/greet/versions/1.1.0", new { deprecated = true });
        Assert.Equal(403, status);
        Assert.Equal(400, (await SendAsync(lena, HttpMethod.Patch, "/v1/algorithms/lena/greet/versions/1.1.0", new { deprecate = true })).Status);
        Assert.Equal(400, (await SendAsync(lena, HttpMethod.Patch, "/v1/algorithms/lena/greet/versions/1.*", new { deprecated = true })).Status);
        (status, body) = await SendAsync(lena, HttpMethod.Patch, "/v1/algorithms/lena/greet/versions/1.1.0", new { deprecated = true });
        Assert.True(status == 200, body.ToString());
        Assert.True(body.GetProperty("deprecated").GetBoolean());

        foreach (var path in new[] { "/v1/algo/lena/greet/1.*", "/v1/algo/lena/greet/1.0.*", "/v1/algo/lena/greet" })
        {
            var (s, r, deprecation) = await CallWithHeadersAsync(walt, path, "1");
            Assert.True(s == 200, r.ToString());
            Assert.Equal("one", r.GetProperty("result").GetString());
            Assert.Null(deprecation);
            Assert.False(r.GetProperty("metadata").TryGetProperty("deprecated", out _));
        }
        var (exactStatus, exact, header) = await CallWithHeadersAsync(walt, "/v1/algo/lena/greet/1.1.0", "1");
        Assert.True(exactStatus == 200, exact.ToString());
        Assert.Equal("one-one", exact.GetProperty("result").GetString());
        Assert.True(exact.GetProperty("metadata").GetProperty("deprecated").GetBoolean());
        Assert.Matches("^@[0-9]+$", header);
        var (onlyStatus, only, _) = await CallWithHeadersAsync(walt, "/v1/algo/lena/greet/1.1.*", "1");
        Assert.Equal(404, onlyStatus);
        Assert.Contains("only deprecated versions", Message(only));

        var info = await walt.GetFromJsonAsync<JsonElement>("/v1/algorithms/lena/greet");
        Assert.Equal("1.0.0", info.GetProperty("latest_version").GetString());
        Assert.Equal([("1.1.0", true), ("1.0.0", false)],
            info.GetProperty("versions").EnumerateArray().Select(v => (v.GetProperty("version").GetString(), v.GetProperty("deprecated").GetBoolean())));

        (status, _) = await SendAsync(lena, HttpMethod.Patch, "/v1/algorithms/lena/greet/versions/1.1.0", new { deprecated = false });
        Assert.Equal(200, status);
        Assert.Equal("one-one", (await CallAsync(walt, "/v1/algo/lena/greet/1.*", Json("1"))).Body.GetProperty("result").GetString());

        (status, body) = await SendAsync(lena, HttpMethod.Get, "/v1/algorithms/lena/greet/audit");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(["undeprecate", "deprecate", "publish", "publish", "create_algorithm"],
            body.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.All(body.GetProperty("entries").EnumerateArray(), e => Assert.Equal("lena", e.GetProperty("actor").GetString()));
        Assert.Equal(403, (await SendAsync(walt, HttpMethod.Get, "/v1/algorithms/lena/greet/audit")).Status);
        Assert.Equal(400, (await SendAsync(lena, HttpMethod.Get, "/v1/algorithms/lena/greet/audit?limit=0")).Status);
        Assert.Single((await SendAsync(lena, HttpMethod.Get, "/v1/algorithms/lena/greet/audit?limit=1")).Body.GetProperty("entries").EnumerateArray());
    }

    [Fact]
    public async Task A_deleted_version_answers_410_a_running_call_finishes_and_the_build_is_collected_once_no_version_uses_it()
    {
        var (mia, walt) = await KeysAsync("mia");
        const string code = """
            import time
            def apply(x):
                time.sleep(x)
                return "{0}"
            """;
        var shared = await UploadAsync(mia, "mia", "sleepy", TarGz(Python(code.Replace("{0}", "shared"))));
        var alone = await UploadAsync(mia, "mia", "sleepy", TarGz(Python(code.Replace("{0}", "alone"))));
        foreach (var (build, version) in new[] { (shared, "1.0.0"), (shared, "1.1.0"), (alone, "2.0.0") })
            Assert.Equal(201, (await PublishBuildAsync(mia, "mia", "sleepy", build, version)).Status);
        Assert.Equal(200, await ArchiveStatusAsync("mia", "sleepy", alone));

        // Owner-only; an algorithm with versions cannot be deleted.
        Assert.Equal(403, (await SendAsync(walt, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/2.0.0")).Status);
        Assert.Equal(403, (await SendAsync(walt, HttpMethod.Delete, "/v1/algorithms/mia/sleepy")).Status);
        var (status, body) = await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy");
        Assert.Equal(409, status);
        Assert.Equal("mia/sleepy still has versions 1.0.0, 1.1.0, 2.0.0: delete them first", Message(body));
        Assert.Equal(400, (await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/2.*")).Status);

        // A call of 2.0.0 is running when 2.0.0 is deleted: it finishes.
        var running = CallAsync(walt, "/v1/algo/mia/sleepy/2.0.0", Json("1.5"));
        var pool = S.Get<WorkerPool>();
        var until = DateTime.UtcNow.AddSeconds(20);
        while (pool.InFlight("mia/sleepy@2.0.0") == 0 && !running.IsCompleted && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.Equal(1, pool.InFlight("mia/sleepy@2.0.0"));
        (status, body) = await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/2.0.0");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(("2.0.0", alone, true), (body.GetProperty("version").GetString(), body.GetProperty("build").GetString(),
            body.GetProperty("build_deleted").GetBoolean()));
        var finished = await running;
        Assert.True(finished.Status == 200, finished.Body.ToString());
        Assert.Equal("alone", finished.Body.GetProperty("result").GetString());

        var (goneStatus, gone) = await CallAsync(walt, "/v1/algo/mia/sleepy/2.0.0", Json("0"));
        Assert.Equal(410, goneStatus);
        Assert.Equal("Gone", gone.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains("version 2.0.0 of mia/sleepy was deleted", Message(gone));
        Assert.Equal(404, (await CallAsync(walt, "/v1/algo/mia/sleepy/2.*", Json("0"))).Status);
        Assert.Equal("shared", (await CallAsync(walt, "/v1/algo/mia/sleepy", Json("0"))).Body.GetProperty("result").GetString());
        Assert.Equal(410, (await SendAsync(walt, HttpMethod.Get, "/v1/algorithms/mia/sleepy/versions/2.0.0")).Status);
        // Its build went with it: the archive in the data store, this server's cached copy, and calls by its hash.
        Assert.Equal(404, await ArchiveStatusAsync("mia", "sleepy", alone));
        Assert.False(Directory.Exists(Path.Combine(S.Home, "code", alone)));
        Assert.False(File.Exists(Path.Combine(S.Home, "code", alone + ".tar.gz")));
        Assert.Equal(410, (await CallAsync(mia, $"/v1/algo/mia/sleepy/{alone}", Json("0"))).Status);

        // The shared build stays while another version uses it.
        (status, body) = await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/1.1.0");
        Assert.Equal((200, false), (status, body.GetProperty("build_deleted").GetBoolean()));
        Assert.Equal(200, await ArchiveStatusAsync("mia", "sleepy", shared));
        Assert.Equal("shared", (await CallAsync(mia, $"/v1/algo/mia/sleepy/{shared}", Json("0"))).Body.GetProperty("result").GetString());
        Assert.Equal("shared", (await CallAsync(walt, "/v1/algo/mia/sleepy/1.*", Json("0"))).Body.GetProperty("result").GetString());
        (status, body) = await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/1.0.0");
        Assert.Equal((200, true), (status, body.GetProperty("build_deleted").GetBoolean()));
        Assert.Equal(404, await ArchiveStatusAsync("mia", "sleepy", shared));
        Assert.Equal(410, (await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy/versions/1.0.0")).Status);

        // A deleted number is never published again, whatever the code.
        var fresh = await UploadAsync(mia, "mia", "sleepy", TarGz(Python(code.Replace("{0}", "fresh"))));
        (status, body) = await PublishBuildAsync(mia, "mia", "sleepy", fresh, "2.0.0");
        Assert.Equal(409, status);
        Assert.Contains("never reused", Message(body));

        // Without live versions the algorithm can go, with its remaining (unpublished) build; its history stays readable.
        (status, body) = await SendAsync(mia, HttpMethod.Delete, "/v1/algorithms/mia/sleepy");
        Assert.True(status == 200, body.ToString());
        Assert.Equal([fresh], body.GetProperty("deleted_builds").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal(404, await ArchiveStatusAsync("mia", "sleepy", fresh));
        Assert.Equal(404, (await SendAsync(mia, HttpMethod.Get, "/v1/algorithms/mia/sleepy")).Status);
        (status, body) = await SendAsync(mia, HttpMethod.Get, "/v1/algorithms/mia/sleepy/audit");
        Assert.Equal(200, status);
        Assert.Equal(["delete_algorithm", "delete_version", "delete_version", "delete_version"],
            body.GetProperty("entries").EnumerateArray().Take(4).Select(e => e.GetProperty("action").GetString()));
        Assert.Equal(404, (await SendAsync(mia, HttpMethod.Get, "/v1/algorithms/mia/nothing/audit")).Status);
    }

    [Fact]
    public async Task A_call_routed_to_a_version_just_before_its_deletion_fails_clearly_as_unavailable()
    {
        var (pia, _) = await KeysAsync("pia");
        await S.PublishAsync("pia/late", "1.0.0", Python("def apply(x):\n    return x\n"), client: pia);
        var calls = S.Get<OSForAI.Runtime.CallService>();
        var caller = new OSForAI.Runtime.Auth.Principal("test", "pia", OSForAI.Runtime.Auth.Scopes.Call);
        var routed = calls.Resolve("pia", "late", "1.0.0", caller);
        Assert.Equal(200, (await SendAsync(pia, HttpMethod.Delete, "/v1/algorithms/pia/late/versions/1.0.0")).Status);
        // No instance of it was warm, and its code is gone by the time one would start.
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() =>
            calls.CallAsync(routed, ContentKinds.Json, "1"u8.ToArray(), caller, TimeSpan.FromSeconds(20), CancellationToken.None));
        Assert.Equal(ErrorTypes.Unavailable, e.ErrorType);
        Assert.Contains("was deleted, with its version", e.Message);
    }

    [Fact]
    public async Task Model_versions_follow_the_lifecycle_on_the_open_inference_protocol()
    {
        var (nora, _) = await KeysAsync("nora");
        await S.PublishArchiveAsync("nora/lin", "1.0.0", AlgorithmFiles.Model(OnnxModels.Linear(4, 3, seed: 1)), client: nora);
        await S.PublishArchiveAsync("nora/lin", "1.1.0", AlgorithmFiles.Model(OnnxModels.Linear(4, 3, seed: 2)), client: nora);
        const string request = """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""";
        Assert.Equal(200, (await SendAsync(nora, HttpMethod.Patch, "/v1/algorithms/nora/lin/versions/1.1.0", new { deprecated = true })).Status);

        var (status, meta) = await SendAsync(nora, HttpMethod.Get, "/v2/models/nora.lin");
        Assert.True(status == 200, meta.ToString());
        Assert.Equal("1.0.0", meta.GetProperty("parameters").GetProperty("version").GetString());
        Assert.Equal(["1.1.0", "1.0.0"], meta.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        using (var r = await nora.GetAsync("/v2/models/nora.lin/versions/1.1.0"))
        {
            Assert.Equal(200, (int)r.StatusCode);
            Assert.True(r.Headers.Contains("Deprecation"));
            var body = await r.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(body.GetProperty("parameters").GetProperty("deprecated").GetBoolean());
        }
        var (inferStatus, inferred) = await SendAsync(nora, HttpMethod.Post, "/v2/models/nora.lin/infer", JsonDocument.Parse(request).RootElement);
        Assert.True(inferStatus == 200, inferred.ToString());
        Assert.Equal("1.0.0", inferred.GetProperty("model_version").GetString());

        Assert.Equal(200, (await SendAsync(nora, HttpMethod.Delete, "/v1/algorithms/nora/lin/versions/1.0.0")).Status);
        (status, var gone) = await SendAsync(nora, HttpMethod.Get, "/v2/models/nora.lin/versions/1.0.0");
        Assert.Equal(410, status);
        Assert.Contains("was deleted", gone.GetProperty("error").GetString());
        Assert.Equal(410, (await SendAsync(nora, HttpMethod.Post, "/v2/models/nora.lin/versions/1.0.0/infer", JsonDocument.Parse(request).RootElement)).Status);
        // Only a deprecated version is left: the model's default resolution finds nothing, its exact version still serves.
        (status, var none) = await SendAsync(nora, HttpMethod.Get, "/v2/models/nora.lin");
        Assert.Equal(404, status);
        Assert.Contains("deprecated", none.GetProperty("error").GetString());
        Assert.Equal(200, (await SendAsync(nora, HttpMethod.Post, "/v2/models/nora.lin/versions/1.1.0/infer", JsonDocument.Parse(request).RootElement)).Status);
    }
}
