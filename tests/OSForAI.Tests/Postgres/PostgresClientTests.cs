using System.Diagnostics;
using OSForAI.Postgres;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Postgres;

/// <summary>The client against a real PostgreSQL server (<see cref="TestPostgres"/>).</summary>
public sealed class PostgresClientTests
{
    [SkippableFact]
    public async Task Values_round_trip_through_typed_parameters_in_both_io_modes()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        var at = new DateTimeOffset(2026, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);
        const string sql = "SELECT $1::text, $2::int4, $3::int8, $4::float8, $5::bool, $6::bytea, $7::timestamptz, $8::text IS NULL, 'x'::varchar";
        object?[] args = ["héllo ✓", 42, 1L << 40, 2.5, true, new byte[] { 0, 1, 255 }, at, null];
        object?[] expected = ["héllo ✓", 42, 1L << 40, 2.5, true, new byte[] { 0, 1, 255 }, at, true, "x"];

        using (var sync = PostgresConnection.Open(db))
            Assert.Equal(expected, sync.Query(sql, args).Rows.Single());
        await using var c = await PostgresConnection.OpenAsync(db);
        var result = await c.QueryAsync(sql, args);
        Assert.Equal(expected, result.Rows.Single());
        Assert.Equal(TypeOid.Int8, result.Columns[2].TypeOid);
    }

    [SkippableFact]
    public async Task An_error_carries_its_sqlstate_and_the_connection_recovers()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        using var c = PostgresConnection.Open(db);
        c.ExecuteScript("CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL)");
        Assert.Equal(1, c.Query("INSERT INTO t(id, v) VALUES ($1, $2)", 1, "a").RowsAffected);
        var e = Assert.Throws<PostgresException>(() => c.Query("INSERT INTO t(id, v) VALUES ($1, $2)", 1, "b"));
        Assert.Equal(PostgresException.UniqueViolation, e.SqlState);
        Assert.Contains("already exists", e.Detail);
        Assert.Equal("42P01", Assert.Throws<PostgresException>(() => c.Query("SELECT * FROM missing")).SqlState);
        Assert.False(c.IsBroken);
        Assert.Equal("a", c.Query("SELECT v FROM t WHERE id = $1", 1).Scalar);
        Assert.Equal(1L, c.Query("UPDATE t SET v = v || '!' WHERE id IN (SELECT generate_series(1, 3))").RowsAffected);
    }

    [SkippableFact]
    public async Task Transactions_commit_and_roll_back()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        using var c = PostgresConnection.Open(db);
        c.ExecuteScript("CREATE TABLE t(id int)");
        using (var tx = c.BeginTransaction())
        {
            c.Query("INSERT INTO t VALUES (1)");
            Assert.Equal('T', c.TransactionStatus);
        }   // disposed without commit
        Assert.Equal('I', c.TransactionStatus);
        await using (var tx = await c.BeginTransactionAsync())
        {
            await c.QueryAsync("INSERT INTO t VALUES (2)", []);
            await tx.CommitAsync();
        }
        Assert.Equal(2, c.Query("SELECT id FROM t").Rows.Single()[0]);
        using (c.BeginTransaction())
        {
            Assert.Throws<PostgresException>(() => c.Query("SELECT 1/0"));
            Assert.Equal('E', c.TransactionStatus);
        }
        Assert.Equal('I', c.TransactionStatus);
    }

    [SkippableTheory]
    [InlineData(PrivateCluster.ScramRole)]
    [InlineData(PrivateCluster.Md5Role)]
    [InlineData(PrivateCluster.CleartextRole)]
    [InlineData(PrivateCluster.TrustRole)]
    public async Task Each_authentication_method_logs_in_and_a_wrong_password_is_refused(string role)
    {
        var cluster = (await TestPostgres.PrivateClusterOrSkipAsync()).Cluster!;
        await using (var c = await PostgresConnection.OpenAsync(cluster.SettingsFor(role)))
            Assert.Equal(role, (await c.QueryAsync("SELECT current_user", [])).Scalar);
        if (role == PrivateCluster.TrustRole) return;
        var e = await Assert.ThrowsAsync<PostgresException>(() => PostgresConnection.OpenAsync(cluster.SettingsFor(role) with { Password = "wrong" }));
        Assert.Equal("28P01", e.SqlState);   // invalid_password
    }

    [SkippableFact]
    public async Task Tls_is_used_when_required_and_an_untrusted_certificate_fails_verify_full()
    {
        var cluster = (await TestPostgres.PrivateClusterOrSkipAsync()).Cluster!;
        await using (var c = await PostgresConnection.OpenAsync(cluster.AdminSettings with { SslMode = SslMode.Require }))
            Assert.Equal(true, (await c.QueryAsync("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])).Scalar);
        await using (var c = await PostgresConnection.OpenAsync(cluster.AdminSettings with { SslMode = SslMode.Disable }))
            Assert.Equal(false, (await c.QueryAsync("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])).Scalar);
        var e = await Assert.ThrowsAsync<PostgresProtocolException>(() => PostgresConnection.OpenAsync(cluster.AdminSettings with { SslMode = SslMode.VerifyFull }));
        Assert.Contains("cannot connect", e.Message);
    }

    [SkippableFact]
    public async Task Cancellation_and_timeouts_stop_the_command_on_the_server()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        await using var c = await PostgresConnection.OpenAsync(db);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.QueryAsync("SELECT pg_sleep(30)", [], cts.Token));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"cancelling took {watch.Elapsed}");
        Assert.True(c.IsBroken);

        using var quick = PostgresConnection.Open(db with { CommandTimeout = TimeSpan.FromSeconds(1) });
        watch.Restart();
        Assert.Throws<TimeoutException>(() => quick.Query("SELECT pg_sleep(30)"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the timeout took {watch.Elapsed}");

        // The cancel request reached the server: no backend is still sleeping.
        await using var check = await PostgresConnection.OpenAsync(db);
        for (var i = 0; i < 50 && (long)(await check.QueryAsync("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'", [])).Scalar! > 0; i++)
            await Task.Delay(100);
        Assert.Equal(0L, (await check.QueryAsync("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'", [])).Scalar);
    }

    [SkippableFact]
    public async Task The_pool_is_bounded_reuses_connections_and_replaces_ones_the_server_closed()
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        using var pool = new PostgresPool(db with { MaxPoolSize = 2, ConnectTimeout = TimeSpan.FromSeconds(1) });
        int firstPid;
        using (var a = pool.Rent())
        using (var b = await pool.RentAsync())
        {
            firstPid = (int)a.Connection.Query("SELECT pg_backend_pid()").Scalar!;
            Assert.Contains("stayed in use", Assert.Throws<TimeoutException>(() => pool.Rent()).Message);
            using (b.Connection.BeginTransaction()) { }
            b.Connection.ExecuteScript("BEGIN");   // returned inside a transaction: rolled back, then kept
        }
        Assert.Equal(2, pool.IdleCount);

        // The server ends one idle connection; renting notices and hands out a working one.
        await using (var admin = await PostgresConnection.OpenAsync(db))
            await admin.QueryAsync("SELECT pg_terminate_backend($1)", [firstPid]);
        await Task.Delay(200);
        for (var i = 0; i < 3; i++)
        {
            using var c = pool.Rent();
            Assert.Equal(1, c.Connection.Query("SELECT 1").Scalar);
            Assert.NotEqual(firstPid, c.Connection.Query("SELECT pg_backend_pid()").Scalar);
        }
    }
}
