namespace OSForAI.Postgres;

/// <summary>A result column: its name and type OID.</summary>
public sealed record PostgresColumn(string Name, int TypeOid);

/// <summary>What one statement returned: its columns and rows (decoded values, null for SQL NULL) and the rows it affected.</summary>
public sealed class PostgresResult(IReadOnlyList<PostgresColumn> columns, IReadOnlyList<object?[]> rows, long rowsAffected, string commandTag)
{
    public IReadOnlyList<PostgresColumn> Columns { get; } = columns;
    public IReadOnlyList<object?[]> Rows { get; } = rows;
    /// <summary>Rows inserted, updated, deleted or selected, from the command tag (0 when it carries no count).</summary>
    public long RowsAffected { get; } = rowsAffected;
    public string CommandTag { get; } = commandTag;

    /// <summary>The first column of the first row, or null when there is none.</summary>
    public object? Scalar => Rows.Count > 0 && Rows[0].Length > 0 ? Rows[0][0] : null;
}
