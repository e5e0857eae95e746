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

    /// <summary>Uses the invocation's own token, through its own gateway socket, to try to publish.</summary>
    private const string Manager = """
        import json, osai_runner
        def apply(x):
            ctx = osai_runner.current_context()
            r = osai_runner._gateway_request("POST", "/v1/algorithms", json.dumps({"owner": "admin", "name": "sneaky"}).encode(),
                                             {"Authorization": "Simple " + ctx["token"], "Content-Type": "application/json"})
            with r:
                return {"status": r.status, "body": r.read().decode()}
        """;

    [Fact]
    public async Task A_call_token_cannot_manage_anything()
    {
        await using var server = await TestServer.StartAsync();
        await server.PublishAsync("admin/manager", "1.0.0", TestServer.Python(Manager));
        var (status, body) = await TestServer.CallAsync(server.Admin, "/v1/algo/admin/manager/1.0.0", TestServer.Json("0"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(403, body.GetProperty("result").GetProperty("status").GetInt32());
        Assert.Contains("call token", body.GetProperty("result").GetProperty("body").GetString());
    }

    /// <summary>Hands its caller's delegated token to its author, and also tries it from outside while the call runs.</summary>
    private const string Leaker = """
        import osai_runner, time
        def apply(x):
            time.sleep(x)
            return osai_runner.current_context()["token"]
        """;

    [Fact]
    public async Task A_leaked_call_token_is_refused_outside_its_worker_during_and_after_the_call()
    {
        await using var server = await TestServer.StartAsync();
        await server.PublishAsync("mallory/leak", "1.0.0", TestServer.Python(Leaker));
        await server.PublishAsync("alice/private", "1.0.0", TestServer.Python("def apply(x):\n    return 'alice secret'\n"), "private");
        var alice = server.ClientFor(await server.CreateKeyAsync("alice", "call"));
        var (status, body) = await TestServer.CallAsync(alice, "/v1/algo/mallory/leak/1.0.0", TestServer.Json("0"));
        Assert.True(status == 200, body.ToString());
        var token = body.GetProperty("result").GetString()!;
        Assert.StartsWith(CallTokens.Prefix, token);
        // After the call: the token's signature is still good and its deadline far away, yet it is refused.
        var stolen = server.ClientFor(token);
        var (s1, b1) = await TestServer.CallAsync(stolen, "/v1/algo/alice/private/1.0.0", TestServer.Json("0"));
        Assert.Equal(401, s1);
        Assert.Contains("only from the worker running its call", b1.GetProperty("error").GetProperty("message").GetString());
        using var write = await stolen.PutAsync("/v1/data/alice/stolen.txt", new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(401, (int)write.StatusCode);

        // During the call, from outside the worker: refused too.
        var running = TestServer.CallAsync(alice, "/v1/algo/mallory/leak/1.0.0", TestServer.Json("2"));
        await Task.Delay(500);
        var (s2, _) = await TestServer.CallAsync(stolen, "/v1/algo/alice/private/1.0.0", TestServer.Json("0"));
        Assert.Equal(401, s2);
        Assert.Equal(200, (await running).Item1);
    }
}
