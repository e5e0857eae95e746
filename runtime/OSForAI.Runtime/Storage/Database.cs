using OSForAI.Postgres;

namespace OSForAI.Runtime.Storage;

/// <summary>The SQL dialects the state can live in; stores branch on it only where the dialects truly differ.</summary>
public enum SqlDialect { Sqlite, Postgres }

/// <summary>A unique or primary-key constraint refused a row (the same on both backends).</summary>
public sealed class DuplicateKeyException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The state could not be reached or did not answer in time (a database server that is down, restarting, unreachable or out
/// of connections): nothing was changed that the caller should count on, and retrying later may succeed.
/// </summary>
public sealed class StateUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The runtime's state: SQLite in the home folder (the embedded default) or a PostgreSQL server shared by several gateways.
/// Statements name their parameters ($name) on both backends; rows are read through <see cref="IRow"/>. The schema is
/// <see cref="SchemaMigrations"/>, applied when the database is opened.
/// </summary>
public abstract class Database : IDisposable
{
    protected Database(TimeProvider clock) => Clock = clock;

    protected TimeProvider Clock { get; }

    public abstract SqlDialect Dialect { get; }

    /// <summary>Whether several servers may use this state at once (PostgreSQL), or this server alone (the SQLite file).</summary>
    public abstract bool IsShared { get; }

    /// <summary>Runs one statement; returns the rows it changed.</summary>
    public abstract int Execute(string sql, params (string Name, object? Value)[] args);

    /// <summary>Runs one statement and maps each row it returns.</summary>
    public abstract List<T> Query<T>(string sql, Func<IRow, T> map, params (string Name, object? Value)[] args);

    /// <summary>The newest migration applied.</summary>
    public int SchemaVersion => Query($"SELECT COALESCE(MAX(version), 0) FROM {SchemaMigrations.Table}", r => r.GetInt32(0)).Single();

    /// <summary>
    /// Opens the state <paramref name="state"/> names: empty for SQLite at <paramref name="sqlitePath"/>, else a postgres:// URI.
    /// </summary>
    public static Database Open(string state, string sqlitePath, TimeProvider clock) =>
        state.Length == 0 ? new SqliteDatabase(sqlitePath, clock) : new PostgresDatabase(PostgresConnectionSettings.Parse(state), clock);

    /// <summary>Whether <paramref name="state"/> names PostgreSQL; the one check both the factory and the options share.</summary>
    public static bool IsPostgres(string state) => PostgresConnectionSettings.IsUri(state);

    /// <summary>The text form every time column holds (UTC, round-trip "O"), so that text order is time order.</summary>
    public static string Timestamp(DateTimeOffset time) => time.ToUniversalTime().ToString("O");

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>One row of a result, whichever backend produced it.</summary>
public interface IRow
{
    bool IsNull(int column);
    string GetString(int column);
    int GetInt32(int column);
    long GetInt64(int column);
    byte[] GetBytes(int column);
}
