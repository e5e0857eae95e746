namespace OSForAI.Runtime.Catalog;

/// <summary>What went wrong; <see cref="Gone"/>: the version existed and was deleted (410).</summary>
public enum CatalogError { Invalid, NotFound, Conflict, Forbidden, TooLarge, Gone }

/// <summary>A catalog request that cannot be honoured; the message is safe to show the caller.</summary>
public sealed class CatalogException(CatalogError kind, string message) : Exception(message)
{
    public CatalogError Kind { get; } = kind;
}
