using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Postgres;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Gateway;

/// <summary>The real server with its state on PostgreSQL (OSForAI:State).</summary>
public sealed class PostgresStateTests
{
    [SkippableFact]
    public async Task A_server_on_postgres_publishes_calls_and_runs_an_async_job_that_sees_its_id()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        var uri = $"postgres://{Uri.EscapeDataString(db.Username)}:{Uri.EscapeDataString(db.Password)}@{db.Host}:{db.Port}/{db.Database}?sslmode=disable";
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:State"] = uri });
        await s.PublishAsync("olga/whoami", "1.0.0", Python("""
            import osai_runner
            def apply(x):
                return {"echo": x, "job_id": osai_runner.current_context().get("job_id")}
            """));

        var (status, sync) = await CallAsync(s.Admin, "/v1/algo/olga/whoami", Json("7"));
        Assert.Equal(200, status);
        Assert.Equal(7, sync.GetProperty("result").GetProperty("echo").GetInt32());
        Assert.Equal(JsonValueKind.Null, sync.GetProperty("result").GetProperty("job_id").ValueKind);

        (status, var accepted) = await CallAsync(s.Admin, "/v1/algo/olga/whoami?output=void", Json("8"));
        Assert.Equal(202, status);
        var id = accepted.GetProperty("result").GetProperty("request_id").GetString()!;
        JsonElement job;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        do
        {
            await Task.Delay(100);
            job = await s.Admin.GetFromJsonAsync<JsonElement>("/v1/jobs/" + id);
        } while (job.GetProperty("status").GetString() is "queued" or "running" && DateTime.UtcNow < until);
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.ToString());
        Assert.Equal(id, job.GetProperty("result").GetProperty("job_id").GetString());

        // The state is in PostgreSQL, not in the home folder.
        Assert.False(File.Exists(Path.Combine(s.Home, "osforai.db")));
        await using var c = await PostgresConnection.OpenAsync(db);
        Assert.Equal(1L, (await c.QueryAsync("SELECT COUNT(*) FROM versions WHERE owner = $1 AND name = $2", ["olga", "whoami"])).Scalar);
        Assert.Equal("succeeded", (await c.QueryAsync("SELECT status FROM jobs WHERE id = $1", [id])).Scalar);
    }
}
