using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;

namespace OSForAI.Runtime.Data;

/// <summary>
/// A validated data:// path: an owner followed by zero or more plain segments. "." / ".." / empty
/// segments, backslashes, control characters and encoded slashes are rejected, never normalised,
/// so no request can name anything outside its owner's folder.
/// </summary>
public sealed record DataPath(string Owner, IReadOnlyList<string> Segments)
{
    /// <summary>The platform's own namespace (algorithm code); admin only.</summary>
    public const string PlatformOwner = ".osforai";
    /// <summary>Alias for the caller's own folder, as in Algorithmia's data://.my/.</summary>
    public const string MyAlias = ".my";

    public bool IsRoot => Segments.Count == 0;
    public string Name => Segments.Count > 0 ? Segments[^1] : Owner;
    public override string ToString() => Segments.Count == 0 ? Owner : $"{Owner}/{string.Join('/', Segments)}";
    public DataPath Child(string name) => new(Owner, [.. Segments, ValidSegment(name)]);
    public DataPath? Parent => Segments.Count == 0 ? null : new DataPath(Owner, Segments.Take(Segments.Count - 1).ToArray());

    /// <summary>Parses "owner/a/b" (already URL-decoded once); <paramref name="caller"/> resolves ".my".</summary>
    public static DataPath Parse(string? raw, Principal? caller)
    {
        var text = (raw ?? "").Trim('/');
        if (text.StartsWith("data://", StringComparison.Ordinal)) text = text["data://".Length..].Trim('/');
        if (text.Length == 0) throw new DataException(DataError.BadPath, "a data path needs at least an owner, e.g. data://.my/file.txt");
        if (text.Length > 1024) throw new DataException(DataError.BadPath, "data path is too long (max 1024 characters)");
        var parts = text.Split('/');
        var owner = parts[0];
        if (owner == MyAlias)
            owner = caller?.Owner ?? throw new DataException(DataError.Forbidden, "data://.my needs an API key");
        else if (owner != PlatformOwner && !Names.IsValid(owner))
            throw new DataException(DataError.BadPath, $"invalid owner '{owner}' in data path");
        return new DataPath(owner, parts.Skip(1).Select(ValidSegment).ToArray());
    }

    /// <summary>Validates one file name, reporting problems as a catalog error about <paramref name="what"/>.</summary>
    public static string ValidSegmentOrThrow(string s, string what)
    {
        try { return ValidSegment(s); }
        catch (DataException e) { throw new CatalogException(CatalogError.Invalid, $"invalid {what}: {e.Message}"); }
    }

    public static string ValidSegment(string s)
    {
        if (s.Length == 0) throw new DataException(DataError.BadPath, "empty segment ('//') in data path");
        if (s is "." or "..") throw new DataException(DataError.BadPath, "'.' and '..' are not allowed in data paths");
        if (s.Length > 255) throw new DataException(DataError.BadPath, "a data path segment is longer than 255 characters");
        foreach (var c in s)
            if (c == '\\' || c == '/' || char.IsControl(c))
                throw new DataException(DataError.BadPath, "data paths may not contain backslashes, control characters or encoded slashes");
        if (s.Contains("%2f", StringComparison.OrdinalIgnoreCase) || s.Contains("%5c", StringComparison.OrdinalIgnoreCase))
            throw new DataException(DataError.BadPath, "data paths may not contain encoded slashes");
        if (s.StartsWith(LocalDataStore.TempPrefix, StringComparison.Ordinal))
            throw new DataException(DataError.BadPath, "names starting with '" + LocalDataStore.TempPrefix + "' are reserved");
        return s;
    }
}
