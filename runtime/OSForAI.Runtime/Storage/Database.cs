using Microsoft.Data.Sqlite;

namespace OSForAI.Runtime.Storage;

/// <summary>
/// The embedded SQLite state (WAL). Schema changes are append-only migrations recorded in
/// schema_migrations, so an old home folder upgrades in place and a restart loses nothing.
/// </summary>
public sealed class Database
{
    private readonly string _connectionString;

    /// <summary>Ordered migrations; never edit one that has shipped, add a new one.</summary>
    internal static readonly (int Version, string Sql)[] Migrations =
    [
        (1, """
            CREATE TABLE algorithms(
              owner TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
              created_at TEXT NOT NULL, PRIMARY KEY(owner, name));
            CREATE TABLE builds(
              owner TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, code_uri TEXT NOT NULL,
              size INTEGER NOT NULL, manifest TEXT NOT NULL, created_at TEXT NOT NULL,
              PRIMARY KEY(owner, name, hash));
            CREATE TABLE versions(
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              owner TEXT NOT NULL, name TEXT NOT NULL,
              major INTEGER NOT NULL, minor INTEGER NOT NULL, patch INTEGER NOT NULL,
              build TEXT NOT NULL, record TEXT NOT NULL, visibility TEXT NOT NULL, published_at TEXT NOT NULL,
              UNIQUE(owner, name, major, minor, patch));
            CREATE TABLE api_keys(
              id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', scopes TEXT NOT NULL,
              salt BLOB NOT NULL, hash BLOB NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE grants(
              owner TEXT NOT NULL, name TEXT NOT NULL, grantee TEXT NOT NULL, created_at TEXT NOT NULL,
              PRIMARY KEY(owner, name, grantee));
            """),
        (2, """
            CREATE TABLE jobs(
              id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, version_spec TEXT NOT NULL,
              caller TEXT NOT NULL, content_type TEXT NOT NULL, input BLOB NOT NULL, timeout_s INTEGER NOT NULL,
              status TEXT NOT NULL, result_content_type TEXT, result BLOB, error TEXT,
              created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT);
            CREATE INDEX jobs_status ON jobs(status, created_at);
            """),
        (3, """
            ALTER TABLE api_keys ADD COLUMN data_grants TEXT NOT NULL DEFAULT '';
            """),
        // The key that queued an asynchronous call and its data grants, so the job runs with them (and not after
        // the key is revoked). Jobs queued before this migration have neither and run as they did.
        (4, """
            ALTER TABLE jobs ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
            ALTER TABLE jobs ADD COLUMN data_grants TEXT NOT NULL DEFAULT '';
            """),
    ];

    public Database(string path)
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

    public int SchemaVersion
    {
        get
        {
            using var c = Open();
            return Convert.ToInt32(Scalar(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
        }
    }

    public SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
        cmd.ExecuteNonQuery();
        return c;
    }

    private void Migrate()
    {
        using var c = Open();
        Exec(c, "PRAGMA journal_mode=WAL;");
        Exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);");
        var current = Convert.ToInt32(Scalar(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
        foreach (var (version, sql) in Migrations.Where(m => m.Version > current).OrderBy(m => m.Version))
        {
            using var tx = c.BeginTransaction();
            using (var cmd = c.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = sql;
                cmd.ExecuteNonQuery();
                cmd.CommandText = "INSERT INTO schema_migrations(version, applied_at) VALUES ($v, $t)";
                cmd.Parameters.AddWithValue("$v", version);
                cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToString("O"));
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    internal static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    internal static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    /// <summary>Runs one command with named parameters ($name → value).</summary>
    public int Execute(string sql, params (string Name, object? Value)[] args)
    {
        using var c = Open();
        using var cmd = Command(c, sql, args);
        return cmd.ExecuteNonQuery();
    }

    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] args)
    {
        using var c = Open();
        using var cmd = Command(c, sql, args);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(map(r));
        return list;
    }

    internal static SqliteCommand Command(SqliteConnection c, string sql, (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    public static string Now() => DateTimeOffset.UtcNow.ToString("O");
}
