namespace OSForAI.Data;

/// <summary>What went wrong with a data request; the server maps each kind to one HTTP status.</summary>
public enum DataError
{
    /// <summary>Malformed URI or path (400).</summary>
    BadPath,
    /// <summary>The caller's key or grant does not allow this (403).</summary>
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    NotEmpty,
    /// <summary>Unknown scheme or label, or a connector without credentials (400): fix the URI or the server's configuration.</summary>
    NotConfigured,
    /// <summary>The connector cannot do this (e.g. writing to http://) (405).</summary>
    NotSupported,
    /// <summary>The store failed or dropped the connection (502); nothing partial is left visible.</summary>
    Upstream,
    /// <summary>The write would take the owner past their data quota (413); the old object is left as it was.</summary>
    QuotaExceeded,
}

/// <summary>
/// A data failure with a message safe to show the caller: connectors never put credentials,
/// signed URLs or upstream response bodies into it.
/// </summary>
public sealed class DataException(DataError kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public DataError Kind { get; } = kind;
}
