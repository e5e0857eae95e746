namespace OSForAI.Postgres;

/// <summary>An ErrorResponse from the server: its SQLSTATE, message and detail. The connection stays usable.</summary>
public sealed class PostgresException(string sqlState, string severity, string message, string? detail, string? hint)
    : Exception($"{severity}: {message} (SQLSTATE {sqlState})" + (detail is null ? "" : $" {detail}"))
{
    /// <summary>SQLSTATE of a unique or primary-key violation.</summary>
    public const string UniqueViolation = "23505";

    public string SqlState { get; } = sqlState;
    public string Severity { get; } = severity;
    public string MessageText { get; } = message;
    public string? Detail { get; } = detail;
    public string? Hint { get; } = hint;
}

/// <summary>The server said something this client cannot follow, or refused the connection; the connection is closed.</summary>
public sealed class PostgresProtocolException(string message, Exception? inner = null) : Exception(message, inner);
