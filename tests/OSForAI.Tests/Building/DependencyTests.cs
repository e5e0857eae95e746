using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Building;
using OSForAI.Testing;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Building;

/// <summary>
/// A server whose pip finds packages only in a local wheelhouse of wheels written by the test (the package index is not
/// reachable here): OSForAI:Build:Python:NoIndex with FindLinks.
/// </summary>
public sealed class WheelhouseServerFixture : IAsyncLifetime
{
    public string Wheelhouse { get; } = Path.Combine(Path.GetTempPath(), "osai-wheels-" + Guid.NewGuid().ToString("N")[..10]);
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Wheels.Module(Wheelhouse, "tinya", "1.0", "import tinyb\nVALUE = 40 + tinyb.TWO\n", "tinyb>=2");
        Wheels.Module(Wheelhouse, "tinyb", "2.0", "TWO = 2\n");
        Wheels.Module(Wheelhouse, "tinyb", "1.0", "TWO = 1\n");
        Wheels.Module(Wheelhouse, "tinyc", "1.0", "import tinyb\nVALUE = 40 + tinyb.TWO\n", "tinyb>=2");
        Server = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Build:Python:NoIndex"] = "true",
            ["OSForAI:Build:Python:FindLinks:0"] = Wheelhouse,
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Delete(Wheelhouse, recursive: true);
    }
}

/// <summary>
/// Python dependencies: requirements.txt installed with pip (sandboxed) into an environment shared by every build whose
/// requirements resolve the same, used by workers in place; pip's failures fail the build with pip's message; the host's
/// own packages only with system_packages: true. Real pip, real sandboxed workers.
/// </summary>
public sealed class DependencyTests(WheelhouseServerFixture fixture) : IClassFixture<WheelhouseServerFixture>
{
    private TestServer S => fixture.Server;

    private Task<JsonElement> BuildAsync(string name, IDictionary<string, string> files) => BuildAsync(name, TarGz(files));

    private async Task<JsonElement> BuildAsync(string name, byte[] archive)
    {
        var created = await S.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "deps", name });
        if (created.StatusCode != HttpStatusCode.Conflict) created.EnsureSuccessStatusCode();
        return await BuildWithAsync(S.Admin, "deps/" + name, archive);
    }

    private static Dictionary<string, string> WithRequirements(string code, string requirements, string manifestExtra = "")
    {
        var files = Python(code, manifestExtra);
        files[PythonEnvironments.RequirementsFile] = requirements;
        return files;
    }

    private async Task<string> LogAsync(string name, JsonElement build) =>
        await S.Admin.GetStringAsync($"/v1/algorithms/deps/{name}/builds/{build.GetProperty("build").GetString()}/log");

    [Fact]
    public async Task Two_versions_with_the_same_requirements_share_one_environment_installed_once()
    {
        var environments = S.Get<PythonEnvironments>();
        var installsBefore = environments.Installs;
        var first = await BuildAsync("shared", WithRequirements(
            """
            import os, tinyc

            def apply(x):
                try:
                    open(tinyc.__file__, "a").close()
                    write = "written"
                except OSError as e:
                    write = type(e).__name__
                home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(tinyc.__file__))))
                return [tinyc.VALUE, tinyc.__file__, write, os.path.exists(os.path.join(home, "build-work"))]
            """, "tinyc==1.0\n"));
        Assert.True(first.GetProperty("status").GetString() == "succeeded", first.ToString());
        var firstLog = await LogAsync("shared", first);
        Assert.Contains("resolved to 2 packages: tinyb==2.0, tinyc==1.0", firstLog);
        Assert.Contains("installing 2 packages", firstLog);

        // Other code, requirements written differently, the same resolved packages: the same environment, not installed again.
        var second = await BuildAsync("shared", WithRequirements(
            "import tinyc\n\ndef apply(x):\n    return tinyc.VALUE + x\n", "# the same, loosely\ntinyc>=1.0\ntinyb\n"));
        Assert.True(second.GetProperty("status").GetString() == "succeeded", second.ToString());
        Assert.NotEqual(first.GetProperty("build").GetString(), second.GetProperty("build").GetString());
        var env = first.GetProperty("environment").GetString()!;
        Assert.Equal(env, second.GetProperty("environment").GetString());
        Assert.Contains("cached (installed before; not installed again)", await LogAsync("shared", second));
        Assert.Equal(installsBefore + 1, environments.Installs);

        foreach (var (b, v) in new[] { (first, "1.0.0"), (second, "1.1.0") })
        {
            var pub = await S.Admin.PostAsJsonAsync("/v1/algorithms/deps/shared/versions", new { build = b.GetProperty("build").GetString(), version = v });
            Assert.Equal(HttpStatusCode.Created, pub.StatusCode);
        }
        var (status, body) = await CallAsync(S.Admin, "/v1/algo/deps/shared/1.0.0", Json("0"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(42, body.GetProperty("result")[0].GetInt32());
        // The worker imported the package from the shared environment itself, where the server installed it: not a copy.
        var file = body.GetProperty("result")[1].GetString()!;
        Assert.Equal(Path.Combine(environments.PathOf(env), "tinyc", "__init__.py"), file);
        Assert.True(File.Exists(file));
        // Read-only to the worker, and the builds' scratch space (other users' requirements) is not in its sandbox at all.
        Assert.NotEqual("written", body.GetProperty("result")[2].GetString());
        Assert.True(Directory.Exists(Path.Combine(S.Home, "build-work")));
        Assert.False(body.GetProperty("result")[3].GetBoolean());
        (status, body) = await CallAsync(S.Admin, "/v1/algo/deps/shared/1.1.0", Json("1"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(43, body.GetProperty("result").GetInt32());
    }

    [Fact]
    public async Task A_package_pip_cannot_find_fails_the_build_with_pips_message_and_builds_once_it_can()
    {
        var files = TarGz(WithRequirements("import nosuchpkg\n\ndef apply(x):\n    return nosuchpkg.X\n", "nosuchpkg==1.0\n"));
        var failed = await BuildAsync("missing", files);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        var error = failed.GetProperty("error").GetString()!;
        Assert.Contains("pip could not resolve requirements.txt", error);
        Assert.Contains("No matching distribution found for nosuchpkg==1.0", error);
        Assert.Contains("ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0", await LogAsync("missing", failed));
        Assert.False(failed.TryGetProperty("environment", out _));

        // The package appears in the wheelhouse: the same upload now builds (a failure is not remembered).
        Wheels.Module(fixture.Wheelhouse, "nosuchpkg", "1.0", "X = 'found'\n");
        var built = await BuildAsync("missing", files);
        Assert.Equal(failed.GetProperty("build").GetString(), built.GetProperty("build").GetString());
        Assert.True(built.GetProperty("status").GetString() == "succeeded", built.ToString());
        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/deps/missing/{built.GetProperty("build").GetString()}", Json("0"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal("found", body.GetProperty("result").GetString());
    }

    [Fact]
    public async Task The_hosts_packages_are_seen_only_with_system_packages()
    {
        // Debian's python3-yaml (a compiled extension: .ci/run installs it) lives in the host's dist-packages.
        Assert.True(Directory.Exists("/usr/lib/python3/dist-packages/yaml"), "python3-yaml is not installed (apt-get install python3-yaml)");
        const string code = "import yaml\n\ndef apply(x):\n    return yaml.safe_load(x)\n";
        var hidden = await BuildAsync("sysoff", Python(code));
        Assert.Equal("failed", hidden.GetProperty("status").GetString());
        Assert.Contains("No module named 'yaml'", hidden.GetProperty("error").GetString());
        Assert.Contains("system_packages: true", hidden.GetProperty("error").GetString());

        var seen = await BuildAsync("syson", Python(code, "system_packages: true\n"));
        Assert.True(seen.GetProperty("status").GetString() == "succeeded", seen.ToString());
        Assert.True(seen.GetProperty("system_packages").GetBoolean());
        var (status, body) = await CallAsync(S.Admin, $"/v1/algo/deps/syson/{seen.GetProperty("build").GetString()}", Json("\"a: 1\""));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(1, body.GetProperty("result").GetProperty("a").GetInt32());

        // With requirements too: the build's own packages first, the host's after them.
        var both = await BuildAsync("sysboth", WithRequirements("import yaml, tinya\n\ndef apply(x):\n    return tinya.VALUE\n", "tinya\n", "system_packages: true\n"));
        Assert.True(both.GetProperty("status").GetString() == "succeeded", both.ToString());
    }

    [Fact]
    public async Task Requirements_that_name_anything_but_packages_are_refused_at_upload()
    {
        await S.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "deps", name = "sneaky" });
        var files = WithRequirements("def apply(x):\n    return x\n", "tinya\n-e ./vendored\n");
        var content = new ByteArrayContent(TarGz(files)) { Headers = { ContentType = new MediaTypeHeaderValue("application/gzip") } };
        var r = await S.Admin.PostAsync("/v1/algorithms/deps/sneaky/builds", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("requirements.txt line 2: `-e ./vendored`: options are not allowed",
            (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());
    }
}
