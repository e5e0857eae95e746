using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

public sealed class AuthTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer S => fixture.Server;

    private Task PublishPrivate() => fixture.EnsurePublishedAsync("erin/secret", "1.0.0", Python("def apply(x):\n    return 'secret'\n"), "private");

    [Fact]
    public async Task Missing_or_invalid_key_is_401_with_an_error_envelope()
    {
        await PublishPrivate();
        using var anon = S.ClientFor(null);
        var (status, body) = await CallAsync(anon, "/v1/algo/erin/secret", Json("1"));
        Assert.Equal(401, status);
        Assert.Contains("API key is required", body.GetProperty("error").GetProperty("message").GetString());
        using var bogus = S.ClientFor("osai_0123456789abcdef_notthesecret");
        (status, body) = await CallAsync(bogus, "/v1/algo/erin/secret", Json("1"));
        Assert.Equal(401, status);
        Assert.Contains("not valid", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Under_scoped_key_is_403()
    {
        var callOnly = await S.CreateKeyAsync("frank", "call");
        using var c = S.ClientFor(callOnly);
        var r = await c.PostAsJsonAsync("/v1/algorithms", new { owner = "frank", name = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Contains("publish", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());
        r = await c.PostAsJsonAsync("/v1/keys", new { owner = "frank", scopes = new[] { "admin" } });
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        var publishOnly = await S.CreateKeyAsync("frank", "publish");
        using var p = S.ClientFor(publishOnly);
        var (status, _) = await CallAsync(p, "/v1/algo/erin/secret", Json("1"));
        Assert.Equal(403, status);
    }

    [Fact]
    public async Task Private_algorithm_is_refused_to_another_users_key_until_granted()
    {
        await PublishPrivate();
        var owner = await S.CreateKeyAsync("erin", "call", "publish");
        var stranger = await S.CreateKeyAsync("mallory", "call");
        using var o = S.ClientFor(owner);
        using var m = S.ClientFor(stranger);
        Assert.Equal(200, (await CallAsync(o, "/v1/algo/erin/secret", Json("1"))).Status);
        var (status, body) = await CallAsync(m, "/v1/algo/erin/secret/1.0.0", Json("1"));
        Assert.Equal(404, status);
        Assert.DoesNotContain("private", body.GetProperty("error").GetProperty("message").GetString());
        (status, _) = await CallAsync(m, "/v1/algo/erin/secret", Json("1"));
        Assert.Equal(404, status);

        var grant = await o.PostAsJsonAsync("/v1/algorithms/erin/secret/grants", new { grantee = "mallory" });
        Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        (status, body) = await CallAsync(m, "/v1/algo/erin/secret", Json("1"));
        Assert.Equal(200, status);
        Assert.Equal("secret", body.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Users_cannot_publish_into_another_owners_namespace()
    {
        var key = await S.CreateKeyAsync("grace", "publish");
        using var g = S.ClientFor(key);
        var r = await g.PostAsJsonAsync("/v1/algorithms", new { owner = "erin", name = "hijack" });
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
    }

    [Fact]
    public async Task Revoked_keys_stop_working_and_keys_are_stored_only_as_hashes()
    {
        var created = await (await S.Admin.PostAsJsonAsync("/v1/keys", new { owner = "heidi", scopes = new[] { "call" } }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var key = created.GetProperty("key").GetString()!;
        using var h = S.ClientFor(key);
        Assert.Equal(HttpStatusCode.OK, (await h.GetAsync("/v1/algorithms")).StatusCode);
        var del = await S.Admin.DeleteAsync("/v1/keys/" + created.GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.NoContent, del.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await h.GetAsync("/v1/algorithms")).StatusCode);

        var secret = key.Split('_', 3)[2];
        var db = await File.ReadAllBytesAsync(Path.Combine(S.Home, "osforai.db"));
        var wal = Path.Combine(S.Home, "osforai.db-wal");
        var all = db.Concat(File.Exists(wal) ? await ReadSharedAsync(wal) : []).ToArray();
        Assert.DoesNotContain(secret, System.Text.Encoding.ASCII.GetString(all));
    }

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var ms = new MemoryStream();
        await fs.CopyToAsync(ms);
        return ms.ToArray();
    }
}
