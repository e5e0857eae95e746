using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Cli;

/// <summary>
/// <c>osai algo publish|deprecate|delete|audit</c> against a real server: a version number already used (published or deleted)
/// is refused before anything is uploaded, and the lifecycle commands do what they say.
/// </summary>
public sealed class LifecycleCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private async Task<CliRun> Osai(string key, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OSForAI.Cli.Cli.RunAsync([.. args, "--url", S.Url, "--key", key], output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    private async Task<int> BuildCountAsync(string owner, string name)
    {
        var r = await S.Admin.GetAsync($"/v1/algorithms/{owner}/{name}");
        if (r.StatusCode == System.Net.HttpStatusCode.NotFound) return 0;
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("builds").GetArrayLength();
    }

    [Fact]
    public async Task A_used_version_number_is_refused_before_the_upload_and_versions_are_deprecated_deleted_and_audited()
    {
        var key = await S.CreateKeyAsync("olive", "call", "publish");
        using var code = new TempDir();
        code.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:apply\n");
        code.Write("main.py", "def apply(x):\n    return 'first'\n");

        var published = await Osai(key, "algo", "publish", code.Path, "--name", "olive/tool", "--version", "1.0.0");
        Assert.True(published.ExitCode == 0, published.Error);
        Assert.Equal(1, await BuildCountAsync("olive", "tool"));

        // Different code under the same number: refused before uploading (no second build).
        code.Write("main.py", "def apply(x):\n    return 'second'\n");
        var again = await Osai(key, "algo", "publish", code.Path, "--name", "olive/tool", "--version", "1.0.0");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("olive/tool 1.0.0 is already published", again.Error);
        Assert.DoesNotContain("Uploaded", again.Error + again.Out);
        Assert.Equal(1, await BuildCountAsync("olive", "tool"));

        var deprecated = await Osai(key, "algo", "deprecate", "olive/tool", "1.0.0");
        Assert.True(deprecated.ExitCode == 0, deprecated.Error);
        Assert.StartsWith("Deprecated olive/tool 1.0.0", deprecated.Out);
        Assert.Contains("1.0.0 (deprecated)", (await Osai(key, "algo", "info", "olive/tool")).Out);
        var undone = await Osai(key, "algo", "deprecate", "olive/tool", "1.0.0", "--undo");
        Assert.True(undone.ExitCode == 0, undone.Error);
        Assert.DoesNotContain("(deprecated)", (await Osai(key, "algo", "info", "olive/tool")).Out);
        Assert.Equal(2, (await Osai(key, "algo", "deprecate", "olive/tool", "1.*")).ExitCode);

        var stranger = await S.CreateKeyAsync("otto", "call", "publish");
        var refused = await Osai(stranger, "algo", "delete", "olive/tool/1.0.0");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("may not delete", refused.Error);

        var deleted = await Osai(key, "algo", "delete", "olive/tool/1.0.0");
        Assert.True(deleted.ExitCode == 0, deleted.Error);
        Assert.Contains("410", deleted.Out);
        Assert.Contains("deleted", deleted.Out);
        Assert.Equal(0, await BuildCountAsync("olive", "tool"));

        // A deleted number: refused before uploading too.
        var reused = await Osai(key, "algo", "publish", code.Path, "--name", "olive/tool", "--version", "1.0.0");
        Assert.Equal(1, reused.ExitCode);
        Assert.Contains("was deleted", reused.Error);
        Assert.Equal(0, await BuildCountAsync("olive", "tool"));

        var gone = await Osai(key, "algo", "delete", "olive/tool");
        Assert.True(gone.ExitCode == 0, gone.Error);
        Assert.Equal("Deleted olive/tool and 0 builds", gone.Out.Trim());

        var audit = await Osai(key, "algo", "audit", "olive/tool");
        Assert.True(audit.ExitCode == 0, audit.Error);
        var lines = audit.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("WHEN", lines[0]);
        Assert.Equal(["delete_algorithm", "delete_version", "undeprecate", "deprecate", "publish", "create_algorithm"],
            lines.Skip(1).Select(l => new[] { "delete_algorithm", "delete_version", "undeprecate", "deprecate", "publish", "create_algorithm" }
                .First(a => l.Contains($" {a} ", StringComparison.Ordinal) || l.EndsWith($" {a}", StringComparison.Ordinal))));
    }
}
