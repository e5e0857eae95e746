using Microsoft.Data.Sqlite;

namespace OSForAI.Runtime.Storage;

/// <summary>The embedded state: one SQLite file in WAL mode, used by one server.</summary>
public sealed class SqliteDatabase : Database
{
    // Extended result codes of SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE.
    private const int PrimaryKeyViolation = 1555;
    private const int UniqueViolation = 2067;
    private readonly string _connectionString;

    public SqliteDatabase(string path, TimeProvider clock) : base(clock)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        Migrate();
    }

    public string Path { get; }

    public override bool IsShared => false;

    public override SqlDialect Dialect => SqlDialect.Sqlite;

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        Exec(c, null, "PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
        return c;
    }

    // SQLite has one writer at a time: each migration's transaction is enough to keep two openers apart.
    private void Migrate()
    {
        using var c = Open();
        Exec(c, null, "PRAGMA journal_mode=WAL;");
        Exec(c, null, SchemaMigrations.CreateTable);
        foreach (var migration in SchemaMigrations.All.OrderBy(m => m.Version))
        {
            using var tx = c.BeginTransaction(deferred: false);
            using (var current = Command(c, tx, SchemaMigrations.Current, []))
                if (Convert.ToInt32(current.ExecuteScalar()) >= migration.Version) continue;
            Exec(c, tx, migration.SqlFor(Dialect));
            using (var record = Command(c, tx, SchemaMigrations.Record, [("$v", migration.Version), ("$t", Timestamp(Clock.GetUtcNow()))]))
                record.ExecuteNonQuery();
            tx.Commit();
        }
    }

    private static void Exec(SqliteConnection c, SqliteTransaction? tx, string sql)
    {
        using var cmd = Command(c, tx, sql, []);
        cmd.ExecuteNonQuery();
    }

    public override int Execute(string sql, params (string Name, object? Value)[] args)
    {
        using var c = Open();
        using var cmd = Command(c, null, sql, args);
        return Translate(cmd.ExecuteNonQuery);
    }

    public override List<T> Query<T>(string sql, Func<IRow, T> map, params (string Name, object? Value)[] args)
    {
        using var c = Open();
        using var cmd = Command(c, null, sql, args);
        return Translate(() =>
        {
            using var r = cmd.ExecuteReader();
            var row = new SqliteRow(r);
            var list = new List<T>();
            while (r.Read()) list.Add(map(row));
            return list;
        });
    }

    private static T Translate<T>(Func<T> run)
    {
        try { return run(); }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode is PrimaryKeyViolation or UniqueViolation)
        {
            throw new DuplicateKeyException(e.Message, e);
        }
    }

    private static SqliteCommand Command(SqliteConnection c, SqliteTransaction? tx, string sql, (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private sealed class SqliteRow(SqliteDataReader r) : IRow
    {
        public bool IsNull(int column) => r.IsDBNull(column);
        public string GetString(int column) => r.GetString(column);
        public int GetInt32(int column) => r.GetInt32(column);
        public long GetInt64(int column) => r.GetInt64(column);
        public byte[] GetBytes(int column) => (byte[])r[column];
    }
}
