using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Cluster;

/// <summary>
/// Two real <c>osai serve</c> processes as replicas of one cluster: one PostgreSQL state (a real server, see
/// <see cref="TestPostgres"/>) and one data store (s3rver, the real S3 emulator from npm). One of them is killed with SIGKILL
/// in the middle of a stream of calls.
/// </summary>
[Collection(S3EmulatorCollection.Name)]
public sealed class ReplicaTests(S3Emulator s3)
{
    [SkippableFact]
    public async Task Replicas_share_state_and_builds_and_one_dying_loses_no_accepted_job()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        var env = new Dictionary<string, string>
        {
            ["OSForAI__State"] = $"postgres://{Uri.EscapeDataString(db.Username)}:{Uri.EscapeDataString(db.Password)}@{db.Host}:{db.Port}/{db.Database}?sslmode=disable",
            ["OSForAI__DataStore"] = $"s3+platform://{S3Emulator.Bucket}/replicas-{Guid.NewGuid():N}",
            ["OSForAI__JobLease"] = "00:00:03",
            ["OSForAI__Cluster__LeaseDuration"] = "00:00:06",
            ["OSForAI__Cluster__RenewInterval"] = "00:00:01",
            ["OSForAI__Workers__WarmGenericWorkers"] = "1",
            // One admin key for the cluster, as the stacks give it from a Secret, rather than one per replica.
            ["OSForAI__AdminKey"] = "osai_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) + "_"
                + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)),
        };
        foreach (var (k, v) in s3.S3Settings()) env["OSForAI__Data__s3__platform__" + k] = v!;

        await using var a = await ServeProcess.StartAsync(Directory.CreateTempSubdirectory("osai-replica-").FullName, env);
        await WaitUntilAsync(async () => await IsLeaderAsync(a), TimeSpan.FromSeconds(15), "the first replica never led");
        await using var b = await ServeProcess.StartAsync(Directory.CreateTempSubdirectory("osai-replica-").FullName, env);
        Assert.False(await IsLeaderAsync(b));
        Assert.Equal(env["OSForAI__AdminKey"], (await File.ReadAllTextAsync(Path.Combine(b.Home, "admin.key"))).Trim());

        // Published on one replica, called on the other: the version is in the shared state, its build in the shared store.
        await PublishArchiveWithAsync(a.Admin, "rita/slow", "1.0.0", TarGz(Python("""
            import time
            def apply(x):
                time.sleep(x["sleep"])
                return x["n"]
            """)), "public");
        var (status, body) = await CallAsync(b.Admin, "/v1/algo/rita/slow/1.0.0", Json("""{"n": 1, "sleep": 0}"""));
        Assert.True(status == 200, body.ToString());
        // A key created on one replica works on the other.
        var created = await (await a.Admin.PostAsync("/v1/keys", Json("""{"owner": "rita", "scopes": ["call"]}"""))).Content.ReadFromJsonAsync<JsonElement>();
        using var rita = Client(b.Url, created.GetProperty("key").GetString()!);
        Assert.Equal(200, (await CallAsync(rita, "/v1/algo/rita/slow/1.0.0", Json("""{"n": 2, "sleep": 0}"""))).Status);

        // Asynchronous calls accepted by both, still running when the first replica is killed.
        var accepted = new Dictionary<string, int>();
        for (var n = 0; n < 8; n++)
        {
            var target = n % 2 == 0 ? a : b;
            var (s, r) = await CallAsync(target.Admin, "/v1/algo/rita/slow/1.0.0?output=void", Json($$"""{"n": {{n}}, "sleep": 2}"""));
            Assert.True(s == 202, r.ToString());
            accepted[r.GetProperty("result").GetProperty("request_id").GetString()!] = n;
        }
        var syncFailures = new List<string>();
        using var stopSync = new CancellationTokenSource();
        var syncStream = Task.Run(async () =>
        {
            for (var n = 100; !stopSync.IsCancellationRequested; n++)
            {
                var (s, r) = await CallAsync(b.Admin, "/v1/algo/rita/slow/1.0.0", Json($$"""{"n": {{n}}, "sleep": 0}"""));
                if (s != 200 || r.GetProperty("result").GetInt32() != n) lock (syncFailures) syncFailures.Add($"{s} {r}");
                await Task.Delay(100);
            }
        });
        await Task.Delay(1000);
        var killedAt = Stopwatch.StartNew();
        a.Kill();

        // Leadership moves to the survivor within 15 s; calls to it never failed meanwhile.
        await WaitUntilAsync(async () => await IsLeaderAsync(b), TimeSpan.FromSeconds(15), "the survivor did not take over leadership");
        Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(15), $"leadership moved after {killedAt.Elapsed}");
        // Every accepted job completes, once, with its own result (those the dead replica held are taken over after their lease).
        foreach (var (id, n) in accepted)
        {
            JsonElement job = default;
            await WaitUntilAsync(async () =>
            {
                job = await b.Admin.GetFromJsonAsync<JsonElement>("/v1/jobs/" + id);
                return job.GetProperty("status").GetString() is not ("queued" or "running");
            }, TimeSpan.FromSeconds(60), $"job {id} never finished");
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.ToString());
            Assert.Equal(n, job.GetProperty("result").GetInt32());
        }
        stopSync.Cancel();
        await syncStream;
        Assert.Empty(syncFailures);
    }

    private static async Task<bool> IsLeaderAsync(ServeProcess p)
    {
        try { return (await p.Admin.GetFromJsonAsync<JsonElement>("/health")).GetProperty("leader").GetBoolean(); }
        catch (HttpRequestException) { return false; }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit, string failure)
    {
        var until = DateTime.UtcNow + limit;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, failure);
            await Task.Delay(200);
        }
    }

    private static HttpClient Client(string url, string key)
    {
        var c = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Simple", key);
        return c;
    }
}
