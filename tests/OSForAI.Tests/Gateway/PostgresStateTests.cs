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

    [SkippableFact]
    public async Task While_the_database_cannot_be_reached_calls_get_a_clear_503_and_the_server_recovers_when_it_is_back()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        // The database behind a TCP relay the test can cut, as a network partition or a restarting server would.
        await using var relay = await CuttableRelay.StartAsync(db.Host, db.Port);
        var uri = $"postgres://{Uri.EscapeDataString(db.Username)}:{Uri.EscapeDataString(db.Password)}@127.0.0.1:{relay.Port}/{db.Database}?sslmode=disable&connect_timeout=2";
        var logs = new CapturedLogs();
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:State"] = uri }, logs: logs);
        await s.PublishAsync("olga/up", "1.0.0", Python("def apply(x):\n    return x + 1\n"));
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/olga/up/1.0.0", Json("1"))).Status);

        relay.Cut();
        // An asynchronous call must be committed before it is accepted: refused, clearly, rather than accepted and lost.
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/olga/up/1.0.0?output=void", Json("2"));
        Assert.Equal(503, status);
        Assert.Equal("StateUnavailable", body.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains(logs.Entries, e => e.Exception is Runtime.Storage.StateUnavailableException);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await s.Admin.GetAsync("/health")).StatusCode);   // the server itself stays up

        relay.Resume();
        (status, body) = await CallAsync(s.Admin, "/v1/algo/olga/up/1.0.0?output=void", Json("3"));
        Assert.True(status == 202, body.ToString());            // the pool replaced its broken connections
        await s.PublishAsync("olga/up", "1.0.1", Python("def apply(x):\n    return x + 2\n"));
        Assert.Equal(5, (await CallAsync(s.Admin, "/v1/algo/olga/up/1.0.1", Json("3"))).Body.GetProperty("result").GetInt32());
    }

    /// <summary>Relays loopback TCP connections to a server; <see cref="Cut"/> drops them all and refuses new ones until <see cref="Resume"/>.</summary>
    private sealed class CuttableRelay : IAsyncDisposable
    {
        private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly List<System.Net.Sockets.TcpClient> _open = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly string _host;
        private readonly int _port;
        private volatile bool _cut;

        private CuttableRelay(string host, int port) { _host = host; _port = port; }

        public int Port => ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;

        public static Task<CuttableRelay> StartAsync(string host, int port)
        {
            var relay = new CuttableRelay(host, port);
            relay._listener.Start();
            _ = relay.AcceptAsync();
            return Task.FromResult(relay);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                System.Net.Sockets.TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                if (_cut) { client.Dispose(); continue; }
                var upstream = new System.Net.Sockets.TcpClient();
                try { await upstream.ConnectAsync(_host, _port); }
                catch (System.Net.Sockets.SocketException) { client.Dispose(); upstream.Dispose(); continue; }
                lock (_open) { _open.Add(client); _open.Add(upstream); }
                _ = Pump(client.GetStream(), upstream.GetStream());
                _ = Pump(upstream.GetStream(), client.GetStream());
            }
        }

        private static async Task Pump(Stream from, Stream to)
        {
            try { await from.CopyToAsync(to); } catch (Exception) { }
            try { to.Dispose(); } catch (Exception) { }
        }

        public void Cut()
        {
            _cut = true;
            lock (_open)
            {
                foreach (var c in _open) { try { c.Client.Close(0); } catch (Exception) { } c.Dispose(); }
                _open.Clear();
            }
        }

        public void Resume() => _cut = false;

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            Cut();
            return ValueTask.CompletedTask;
        }
    }
}
