namespace OSForAI.Runtime.Storage;

/// <summary>One schema change: its SQL, and PostgreSQL's where that dialect differs (BLOB vs BYTEA, AUTOINCREMENT vs identity).</summary>
public sealed record Migration(int Version, string Sql, string? PostgresSql = null)
{
    public string SqlFor(SqlDialect dialect) => dialect == SqlDialect.Postgres ? PostgresSql ?? Sql : Sql;
}

/// <summary>
/// The schema, as ordered append-only migrations recorded in schema_migrations, the same list for both backends: an old
/// home folder upgrades in place and a restart loses nothing. Never edit one that has shipped; add a new one.
/// </summary>
public static class SchemaMigrations
{
    public const string Table = "schema_migrations";
    public const string CreateTable = $"CREATE TABLE IF NOT EXISTS {Table}(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";
    public const string Record = $"INSERT INTO {Table}(version, applied_at) VALUES ($v, $t)";
    public const string Current = $"SELECT COALESCE(MAX(version), 0) FROM {Table}";

    public static readonly Migration[] All =
    [
        new(1, """
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
            """,
            // SQLite's INTEGER is 64-bit; PostgreSQL's is not, so sizes and ids are BIGINT there.
            """
            CREATE TABLE algorithms(
              owner TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
              created_at TEXT NOT NULL, PRIMARY KEY(owner, name));
            CREATE TABLE builds(
              owner TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, code_uri TEXT NOT NULL,
              size BIGINT NOT NULL, manifest TEXT NOT NULL, created_at TEXT NOT NULL,
              PRIMARY KEY(owner, name, hash));
            CREATE TABLE versions(
              id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              owner TEXT NOT NULL, name TEXT NOT NULL,
              major INTEGER NOT NULL, minor INTEGER NOT NULL, patch INTEGER NOT NULL,
              build TEXT NOT NULL, record TEXT NOT NULL, visibility TEXT NOT NULL, published_at TEXT NOT NULL,
              UNIQUE(owner, name, major, minor, patch));
            CREATE TABLE api_keys(
              id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', scopes TEXT NOT NULL,
              salt BYTEA NOT NULL, hash BYTEA NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE grants(
              owner TEXT NOT NULL, name TEXT NOT NULL, grantee TEXT NOT NULL, created_at TEXT NOT NULL,
              PRIMARY KEY(owner, name, grantee));
            """),
        new(2, """
            CREATE TABLE jobs(
              id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, version_spec TEXT NOT NULL,
              caller TEXT NOT NULL, content_type TEXT NOT NULL, input BLOB NOT NULL, timeout_s INTEGER NOT NULL,
              status TEXT NOT NULL, result_content_type TEXT, result BLOB, error TEXT,
              created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT);
            CREATE INDEX jobs_status ON jobs(status, created_at);
            """,
            """
            CREATE TABLE jobs(
              id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, version_spec TEXT NOT NULL,
              caller TEXT NOT NULL, content_type TEXT NOT NULL, input BYTEA NOT NULL, timeout_s INTEGER NOT NULL,
              status TEXT NOT NULL, result_content_type TEXT, result BYTEA, error TEXT,
              created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT);
            CREATE INDEX jobs_status ON jobs(status, created_at);
            """),
        new(3, """
            ALTER TABLE api_keys ADD COLUMN data_grants TEXT NOT NULL DEFAULT '';
            """),
        // The key that queued an asynchronous call and its data grants, so the job runs with them (and not after
        // the key is revoked). Jobs queued before this migration have neither and run as they did.
        new(4, """
            ALTER TABLE jobs ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
            ALTER TABLE jobs ADD COLUMN data_grants TEXT NOT NULL DEFAULT '';
            """),
        // Leases of running jobs: who claimed one and until when (a time in Database.Timestamp's form). A running job whose
        // lease has passed (or that has none: it ran before this migration) may be claimed again.
        new(5, """
            ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
            ALTER TABLE jobs ADD COLUMN lease_until TEXT;
            """),
        // Named leases shared by the replicas of a cluster (the leader's, see Cluster/LeaderElection): who holds one and until
        // when (Database.Timestamp's form, which sorts as time).
        new(6, """
            CREATE TABLE leases(name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL);
            """),
        // Builds are a step of their own (docs/api.md, "Builds"): how each ended, why it failed, the Python environment it runs
        // with, and its log. Builds stored before this migration were accepted at upload and count as succeeded.
        new(7, """
            ALTER TABLE builds ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded';
            ALTER TABLE builds ADD COLUMN error TEXT;
            ALTER TABLE builds ADD COLUMN environment TEXT;
            ALTER TABLE builds ADD COLUMN log TEXT NOT NULL DEFAULT '';
            ALTER TABLE builds ADD COLUMN finished_at TEXT;
            ALTER TABLE builds ADD COLUMN duration_ms BIGINT;
            """),
        // The version lifecycle (Catalog/CatalogStore): a version's deprecation and deletion times (Database.Timestamp's form; null
        // while not deprecated, not deleted). A deleted version's row stays as a tombstone, so calls to it answer 410 and its number is
        // never published again. The audit trail of changes to algorithms and versions: who (owner and key id), what, when.
        new(8, """
            ALTER TABLE versions ADD COLUMN deprecated_at TEXT;
            ALTER TABLE versions ADD COLUMN deleted_at TEXT;
            CREATE TABLE audit(
              id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL,
              actor TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL, version TEXT, build TEXT,
              detail TEXT NOT NULL DEFAULT '');
            CREATE INDEX audit_algorithm ON audit(owner, name, id);
            """,
            """
            ALTER TABLE versions ADD COLUMN deprecated_at TEXT;
            ALTER TABLE versions ADD COLUMN deleted_at TEXT;
            CREATE TABLE audit(
              id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL,
              actor TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL, version TEXT, build TEXT,
              detail TEXT NOT NULL DEFAULT '');
            CREATE INDEX audit_algorithm ON audit(owner, name, id);
            """),
    ];
}
