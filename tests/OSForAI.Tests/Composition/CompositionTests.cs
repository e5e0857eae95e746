using System.Text.Json;
using OSForAI.Runtime.Auth;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Composition;

/// <summary>Algorithms calling algorithms through the gateway with the runner's client, on their caller's behalf.</summary>
public sealed class CompositionTests
{
    private const string Caller = "import osai_runner\n\ndef apply(x):\n    return osai_runner.client().algo(x['target']).pipe(x['value']).result\n";

    [Fact]
    public async Task An_algorithm_calls_another_with_the_client_api()
    {
        await using var server = await TestServer.StartAsync();
        await server.PublishAsync("alice/double", "1.0.0", TestServer.Python("def apply(x):\n    return x * 2\n"));
        await server.PublishAsync("alice/plus-one", "1.0.0", TestServer.Python(
            "import osai_runner\n\ndef apply(x):\n    return osai_runner.client().algo('alice/double/1.*').pipe(x).result + 1\n"));
        var (status, body) = await TestServer.CallAsync(server.Admin, "/v1/algo/alice/plus-one/1.0.0", TestServer.Json("20"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(41, body.GetProperty("result").GetInt32());

        // Text and binary travel as themselves.
        await server.PublishAsync("alice/echo", "1.0.0", TestServer.Python("def apply(x):\n    return x\n"));
        await server.PublishAsync("alice/relay", "1.0.0", TestServer.Python(Caller));
        var (s2, b2) = await TestServer.CallAsync(server.Admin, "/v1/algo/alice/relay/1.0.0",
            TestServer.Json("""{"target": "alice/echo/1.0.0", "value": "héllo"}"""));
        Assert.True(s2 == 200, b2.ToString());
        Assert.Equal("héllo", b2.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Cycles_and_excessive_depth_are_refused_with_a_clear_error()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:MaxCallDepth"] = "1" });
        await server.PublishAsync("alice/loop", "1.0.0", TestServer.Python(
            "import osai_runner\n\ndef apply(x):\n    return osai_runner.client().algo('alice/loop/1.0.0').pipe(x).result\n"));
        var (s1, b1) = await TestServer.CallAsync(server.Admin, "/v1/algo/alice/loop/1.0.0", TestServer.Json("1"));
        Assert.Equal(400, s1);
        Assert.Contains("already on this call's path", b1.GetProperty("error").GetProperty("message").GetString());

        await server.PublishAsync("alice/d2", "1.0.0", TestServer.Python("def apply(x):\n    return x\n"));
        await server.PublishAsync("alice/d1", "1.0.0", TestServer.Python(Caller));
        await server.PublishAsync("alice/d0", "1.0.0", TestServer.Python(Caller));
        var nested = """{"target": "alice/d1/1.0.0", "value": {"target": "alice/d2/1.0.0", "value": 5}}""";
        var (s2, b2) = await TestServer.CallAsync(server.Admin, "/v1/algo/alice/d0/1.0.0", TestServer.Json(nested));
        Assert.Equal(400, s2);
        Assert.Contains("2 deep; the limit is 1", b2.GetProperty("error").GetProperty("message").GetString());
        // One level is within the limit.
        var (s3, b3) = await TestServer.CallAsync(server.Admin, "/v1/algo/alice/d1/1.0.0", TestServer.Json("""{"target": "alice/d2/1.0.0", "value": 5}"""));
        Assert.True(s3 == 200, b3.ToString());
        Assert.Equal(5, b3.GetProperty("result").GetInt32());
    }

    [Fact]
    public async Task A_composed_call_has_its_callers_rights_never_more()
    {
        await using var server = await TestServer.StartAsync();
        await server.PublishAsync("alice/secret", "1.0.0", TestServer.Python("def apply(x):\n    return 'classified'\n"), visibility: "private");
        await server.PublishAsync("alice/relay", "1.0.0", TestServer.Python(Caller));
        var input = TestServer.Json("""{"target": "alice/secret/1.0.0", "value": 0}""");
        // The owner may reach her private algorithm through her own relay…
        var (s1, b1) = await TestServer.CallAsync(server.ClientFor(await server.CreateKeyAsync("alice", "call")), "/v1/algo/alice/relay/1.0.0", input);
        Assert.True(s1 == 200, b1.ToString());
        Assert.Equal("classified", b1.GetProperty("result").GetString());
        // …but bob, calling the same public relay, may not.
        var (s2, b2) = await TestServer.CallAsync(server.ClientFor(await server.CreateKeyAsync("bob", "call")), "/v1/algo/alice/relay/1.0.0",
            TestServer.Json("""{"target": "alice/secret/1.0.0", "value": 0}"""));
        Assert.Equal(400, s2);
        // To bob the private algorithm does not exist (the same answer as a missing one).
        Assert.Contains("algorithm alice/secret not found", b2.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void Call_tokens_are_tamper_proof_and_expire()
    {
        var tokens = new CallTokens();
        var now = DateTimeOffset.UtcNow;
        var chain = new CallChain("alice", "trace", 1, ["alice/a"], now.AddSeconds(30));
        var token = tokens.Issue(chain);
        Assert.Equal("alice", tokens.Verify(token, now)!.Owner);
        Assert.Null(tokens.Verify(token, now.AddSeconds(31)));
        Assert.Null(new CallTokens().Verify(token, now));                      // another server's secret
        var parts = token.Split('.');
        var forged = JsonSerializer.SerializeToUtf8Bytes(chain with { Owner = "admin" }, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Null(tokens.Verify($"{parts[0]}.{Convert.ToBase64String(forged).TrimEnd('=')}.{parts[2]}", now));
        Assert.Null(tokens.Verify("osai_call.garbage", now));
    }

    [Fact]
    public async Task A_call_token_cannot_manage_anything()
    {
        await using var server = await TestServer.StartAsync();
        var tokens = server.Server.Services.GetService(typeof(CallTokens)) as CallTokens;
        var token = tokens!.Issue(new CallChain("admin", "t", 1, ["x/y"], DateTimeOffset.UtcNow.AddMinutes(1)));
        var client = server.ClientFor(token);
        using var r = await client.PostAsync("/v1/algorithms", TestServer.Json("""{"owner": "admin", "name": "sneaky"}"""));
        Assert.Equal(403, (int)r.StatusCode);
        Assert.Contains("call token", await r.Content.ReadAsStringAsync());
    }
}
