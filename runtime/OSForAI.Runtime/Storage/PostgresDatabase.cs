using OSForAI.Postgres;

namespace OSForAI.Runtime.Storage;

/// <summary>
/// The state on a PostgreSQL server that several gateways share, through a pool of connections. Migrations run under an
/// advisory lock, so servers that start together apply each one once.
/// </summary>
public sealed class PostgresDatabase : Database
{
    // pg_advisory_lock key of the migrations: "OSAIMIGR" in ASCII.
    private const long MigrationLock = 0x4F5341494D494752;
    private readonly PostgresPool _pool;

    public PostgresDatabase(PostgresConnectionSettings settings, TimeProvider clock) : base(clock)
    {
        Settings = settings;
        _pool = new PostgresPool(settings);
        try { Migrate(); }
        catch
        {
            _pool.Dispose();
            throw;
        }
    }

    /// <summary>Where it connects (its ToString leaves the password out).</summary>
    public PostgresConnectionSettings Settings { get; }

    public override bool IsShared => true;

    public override SqlDialect Dialect => SqlDialect.Postgres;

    private void Migrate()
    {
        using var lease = _pool.Rent();
        var c = lease.Connection;
        c.Query("SELECT pg_advisory_lock($1)", MigrationLock);
        try
        {
            c.ExecuteScript(SchemaMigrations.CreateTable);
            var current = Convert.ToInt32(c.Query(SchemaMigrations.Current).Scalar);
            foreach (var migration in SchemaMigrations.All.Where(m => m.Version > current).OrderBy(m => m.Version))
            {
                using var tx = c.BeginTransaction();
                c.ExecuteScript(migration.SqlFor(Dialect));
                Run(c, SchemaMigrations.Record, [("$v", migration.Version), ("$t", Timestamp(Clock.GetUtcNow()))]);
                tx.Commit();
            }
        }
        finally
        {
            if (!c.IsBroken) c.Query("SELECT pg_advisory_unlock($1)", MigrationLock);
        }
    }

    public override int Execute(string sql, params (string Name, object? Value)[] args) => Reaching(() =>
    {
        using var lease = _pool.Rent();
        return (int)Run(lease.Connection, sql, args).RowsAffected;
    });

    public override List<T> Query<T>(string sql, Func<IRow, T> map, params (string Name, object? Value)[] args) => Reaching(() =>
    {
        using var lease = _pool.Rent();
        return Run(lease.Connection, sql, args).Rows.Select(values => map(new PostgresRow(values))).ToList();
    });

    /// <summary>Runs <paramref name="work"/>, turning "the server cannot be reached or answer" into <see cref="StateUnavailableException"/>.</summary>
    private T Reaching<T>(Func<T> work)
    {
        try { return work(); }
        catch (Exception e) when (IsUnavailability(e))
        {
            throw new StateUnavailableException($"the state database ({Settings.Host}:{Settings.Port}) cannot be reached: {e.Message}", e);
        }
    }

    /// <summary>
    /// Connection failures, time-outs, a broken protocol stream, and the SQLSTATEs of a server that is going away or full:
    /// class 08 (connection exception), 57P01–57P03 (shutting down, crashed, cannot connect now), 53300 (too many connections).
    /// </summary>
    private static bool IsUnavailability(Exception e) => e switch
    {
        System.Net.Sockets.SocketException or IOException or TimeoutException or PostgresProtocolException => true,
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState is "57P01" or "57P02" or "57P03" or "53300",
        _ => false,
    };

    private static PostgresResult Run(PostgresConnection c, string sql, (string Name, object? Value)[] args)
    {
        var statement = PositionalParameters.Of(sql);
        try { return c.Query(statement.Sql, statement.Arguments(args)); }
        catch (PostgresException e) when (e.SqlState == PostgresException.UniqueViolation)
        {
            throw new DuplicateKeyException(e.Message, e);
        }
    }

    public override void Dispose()
    {
        _pool.Dispose();
        base.Dispose();
    }

    private sealed class PostgresRow(object?[] values) : IRow
    {
        public bool IsNull(int column) => values[column] is null;
        public string GetString(int column) => (string)values[column]!;
        public int GetInt32(int column) => Convert.ToInt32(values[column]);
        public long GetInt64(int column) => Convert.ToInt64(values[column]);
        public byte[] GetBytes(int column) => (byte[])values[column]!;
    }
}
