using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>
/// Another owner's private versions are indistinguishable from missing ones: 404 with the message a missing version gets,
/// whatever the version text, on the v1 call API, the management API and the Open Inference Protocol endpoints.
/// </summary>
public sealed class VisibilityTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private async Task<(string HiddenBuild, string MixedPrivateBuild)> PublishAsync()
    {
        var hidden = await PublishOnceAsync("vera/hidden", "1.0.0", "private");
        await PublishOnceAsync("vera/mixed", "1.0.0", "public");
        var mixedPrivate = await PublishOnceAsync("vera/mixed", "2.0.0", "private");
        return (hidden, mixedPrivate);
    }

    private async Task<string> PublishOnceAsync(string fullName, string version, string visibility)
    {
        await fixture.EnsurePublishedAsync(fullName, version, Python($"def apply(x):\n    return '{fullName} {version}'\n"), visibility);
        var (owner, name) = (fullName.Split('/')[0], fullName.Split('/')[1]);
        var v = await S.Admin.GetFromJsonAsync<JsonElement>($"/v1/algorithms/{owner}/{name}/versions/{version}");
        return v.GetProperty("build").GetString()!;
    }

    /// <summary>Status and error message of one request; version null means none in the path.</summary>
    private static async Task<(int Status, string Message)> ProbeAsync(HttpClient c, string endpoint, string owner, string name, string? version)
    {
        HttpResponseMessage r = endpoint switch
        {
            "call" => await c.PostAsync($"/v1/algo/{owner}/{name}" + (version is null ? "" : "/" + version), Json("1")),
            "info" => await c.GetAsync($"/v1/algorithms/{owner}/{name}/versions/{version ?? "latest"}"),
            "v2-metadata" => await c.GetAsync($"/v2/models/{owner}.{name}" + (version is null ? "" : "/versions/" + version)),
            "v2-ready" => await c.GetAsync($"/v2/models/{owner}.{name}" + (version is null ? "" : "/versions/" + version) + "/ready"),
            "v2-infer" => await c.PostAsync($"/v2/models/{owner}.{name}" + (version is null ? "" : "/versions/" + version) + "/infer",
                Json("""{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}""")),
            _ => throw new ArgumentException(endpoint),
        };
        var text = await r.Content.ReadAsStringAsync();
        var json = JsonDocument.Parse(text).RootElement;
        var error = json.GetProperty("error");
        return ((int)r.StatusCode, error.ValueKind == JsonValueKind.String ? error.GetString()! : error.GetProperty("message").GetString()!);
    }

    public static TheoryData<string> Endpoints => ["call", "info", "v2-metadata", "v2-ready", "v2-infer"];

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Private_versions_answer_404_like_missing_ones_whatever_the_version_text(string endpoint)
    {
        var (hiddenBuild, mixedPrivateBuild) = await PublishAsync();
        using var stranger = S.ClientFor(await S.CreateKeyAsync("walt", "call"));
        var missingBuild = new string('a', 64);

        // An algorithm with only private versions looks like no algorithm at all.
        foreach (var version in new[] { "1.0.0", "1.0.*", "1.*", "latest", null, hiddenBuild, hiddenBuild[..12] })
        {
            var (status, message) = await ProbeAsync(stranger, endpoint, "vera", "hidden", version);
            var text = version == hiddenBuild ? missingBuild : version == hiddenBuild[..12] ? missingBuild[..12] : version;
            var (missingStatus, missingMessage) = await ProbeAsync(stranger, endpoint, "vera", "nosuchalgo", text);
            Assert.Equal(404, status);
            Assert.Equal(404, missingStatus);
            Assert.Equal(missingMessage.Replace("nosuchalgo", "hidden").Replace(missingBuild, hiddenBuild).Replace(missingBuild[..12], hiddenBuild[..12]), message);
            Assert.DoesNotContain("private", message);
        }

        // A public algorithm's private version looks like a version that does not exist.
        foreach (var (version, missing) in new[] { ("2.0.0", "3.0.0"), ("2.0.*", "3.0.*"), ("2.*", "3.*"), (mixedPrivateBuild, missingBuild) })
        {
            var (status, message) = await ProbeAsync(stranger, endpoint, "vera", "mixed", version);
            var (missingStatus, missingMessage) = await ProbeAsync(stranger, endpoint, "vera", "mixed", missing);
            Assert.Equal(404, status);
            Assert.Equal(404, missingStatus);
            Assert.Equal(missingMessage.Replace(missing, version), message);
        }
    }

    [Fact]
    public async Task Algorithm_info_hides_an_algorithm_with_only_private_versions_and_lists_only_public_ones()
    {
        await PublishAsync();
        using var stranger = S.ClientFor(await S.CreateKeyAsync("walt", "call"));
        var hidden = await stranger.GetAsync("/v1/algorithms/vera/hidden");
        var missing = await stranger.GetAsync("/v1/algorithms/vera/nosuchalgo");
        Assert.Equal(404, (int)hidden.StatusCode);
        Assert.Equal((await missing.Content.ReadAsStringAsync()).Replace("nosuchalgo", "hidden"), await hidden.Content.ReadAsStringAsync());
        var mixed = await stranger.GetFromJsonAsync<JsonElement>("/v1/algorithms/vera/mixed");
        Assert.Equal(["1.0.0"], mixed.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()));
        Assert.False(mixed.TryGetProperty("builds", out var builds) && builds.ValueKind != JsonValueKind.Null, "builds are shown to a stranger");
    }

    [Fact]
    public async Task The_owner_still_reaches_private_versions_by_every_kind_of_version_text()
    {
        var (hiddenBuild, _) = await PublishAsync();
        foreach (var version in new[] { "1.0.0", "1.*", "latest", hiddenBuild })
            Assert.Equal(200, (await ProbeOkAsync(S.Admin, $"/v1/algorithms/vera/hidden/versions/{version}")));
    }

    private static async Task<int> ProbeOkAsync(HttpClient c, string path) => (int)(await c.GetAsync(path)).StatusCode;

    [Theory]
    [InlineData("%")]
    [InlineData("_")]
    [InlineData("____________")]
    [InlineData("________________________________________________________________")]
    [InlineData("abc%")]
    [InlineData("0123456789ab")]
    public async Task Publish_takes_only_a_full_hex_build_hash(string build)
    {
        await fixture.EnsurePublishedAsync("vera/builds", "1.0.0", Python("def apply(x):\n    return 1\n"));
        var r = await S.Admin.PostAsJsonAsync("/v1/algorithms/vera/builds/versions", new { build, version = "9.9.9" });
        Assert.Equal(400, (int)r.StatusCode);
        var error = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Contains("64 hexadecimal", error.GetProperty("message").GetString());
        Assert.Equal(404, (int)(await S.Admin.GetAsync("/v1/algorithms/vera/builds/versions/9.9.9")).StatusCode);
    }
}
