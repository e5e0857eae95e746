namespace OSForAI.Data;

[Flags]
public enum DataAccess { None = 0, Read = 1, Write = 2, ReadWrite = Read | Write }

/// <summary>
/// Permission for a key to reach part of a store: a connector (scheme and label), a container (or "*" for all of them)
/// and a path prefix, for reading, writing or both. Written "rw:s3+prod://bucket/prefix/" ("r:" read-only, "w:"
/// write-only). A prefix covers itself and everything below it, at segment boundaries: "s3://b/data" does not cover
/// "s3://b/database". An http(s) grant covers addresses that start with its address.
/// </summary>
public sealed record DataGrant(StorageUri Scope, DataAccess Access)
{
    public static DataGrant Parse(string text)
    {
        var colon = text.IndexOf(':');
        var sep = text.IndexOf("://", StringComparison.Ordinal);
        if (colon <= 0 || colon == sep)
            throw new DataException(DataError.BadPath, $"a data grant looks like rw:s3+prod://bucket/prefix/ (r:, w: or rw:), not '{Short(text)}'");
        var access = text[..colon].ToLowerInvariant() switch
        {
            "r" => DataAccess.Read,
            "w" => DataAccess.Write,
            "rw" or "wr" => DataAccess.ReadWrite,
            _ => throw new DataException(DataError.BadPath, $"a data grant starts with r:, w: or rw:, not '{Short(text)}'"),
        };
        var scope = StorageUri.Parse(text[(colon + 1)..]);
        if (scope.Scheme is "http" or "https" && access.HasFlag(DataAccess.Write))
            throw new DataException(DataError.BadPath, "http(s) grants can only be read grants (r:)");
        return new DataGrant(scope, access);
    }

    /// <summary>True when this grant allows <paramref name="write"/> (or read) access to <paramref name="uri"/>.</summary>
    public bool Covers(StorageUri uri, bool write)
    {
        if (!Access.HasFlag(write ? DataAccess.Write : DataAccess.Read)) return false;
        if (uri.Scheme != Scope.Scheme || uri.Label != Scope.Label) return false;
        if (Scope.Address is { } grantAddress)
            return uri.Address is { } address && address.AbsoluteUri.StartsWith(grantAddress.AbsoluteUri, StringComparison.Ordinal) &&
                   (grantAddress.AbsoluteUri.EndsWith('/') || address.AbsoluteUri.Length == grantAddress.AbsoluteUri.Length ||
                    address.AbsoluteUri[grantAddress.AbsoluteUri.Length] is '/' or '?');
        if (Scope.Container == "*") return true;
        if (uri.Container != Scope.Container || uri.Segments.Count < Scope.Segments.Count) return false;
        for (var i = 0; i < Scope.Segments.Count; i++)
            if (!string.Equals(uri.Segments[i], Scope.Segments[i], StringComparison.Ordinal)) return false;
        return true;
    }

    public override string ToString() => (Access switch { DataAccess.Read => "r", DataAccess.Write => "w", _ => "rw" }) + ":" + Scope;

    private static string Short(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
