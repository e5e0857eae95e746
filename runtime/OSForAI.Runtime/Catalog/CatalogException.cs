namespace OSForAI.Runtime.Catalog;

public enum CatalogError { Invalid, NotFound, Conflict, Forbidden, TooLarge }

/// <summary>A catalog request that cannot be honoured; the message is safe to show the caller.</summary>
public sealed class CatalogException(CatalogError kind, string message) : Exception(message)
{
    public CatalogError Kind { get; } = kind;
}
