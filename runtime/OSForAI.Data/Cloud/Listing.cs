using System.Buffers.Text;
using System.Text;

namespace OSForAI.Data.Cloud;

/// <summary>One upstream listing page: sub-folder names, then files, and the store's own continuation token.</summary>
internal sealed record UpstreamPage(IReadOnlyList<string> Folders, IReadOnlyList<ObjectInfo> Files, string? ContinuationToken);

/// <summary>
/// Turns a store's token-paged, delimiter-grouped listing into <see cref="ListPage"/>s of at most
/// pageSize entries, folders first within each page. The marker handed out is our own opaque,
/// versioned encoding of (store token, entries already returned from that store page), so a store
/// that returns more than it was asked for is still paged correctly.
/// </summary>
internal static class Listing
{
    public const int MaxPageSize = 1000;
    private const string Version = "1";

    public static async Task<ListPage> PageAsync(string? marker, int pageSize, Func<string?, int, Task<UpstreamPage>> fetch)
    {
        pageSize = Math.Clamp(pageSize, 1, MaxPageSize);
        var (token, skip) = Decode(marker);
        // A store may return an empty page that still has a continuation; follow a few of those.
        for (var hops = 0; ; hops++)
        {
            var page = await fetch(token, pageSize);
            var entries = page.Folders.Count + page.Files.Count;
            var take = Math.Min(pageSize, Math.Max(0, entries - skip));
            var folders = page.Folders.Skip(skip).Take(take).ToList();
            var fileSkip = Math.Max(0, skip - page.Folders.Count);
            var files = page.Files.Skip(fileSkip).Take(take - folders.Count).ToList();
            string? next = skip + take < entries ? Encode(token, skip + take)
                : page.ContinuationToken is { Length: > 0 } t ? Encode(t, 0) : null;
            if (take > 0 || next is null || hops >= 50) return new ListPage(folders, files, next);
            (token, skip) = (page.ContinuationToken, 0);
        }
    }

    private static string Encode(string? token, int skip) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{Version}|{skip}|{token}"));

    private static (string? Token, int Skip) Decode(string? marker)
    {
        if (string.IsNullOrEmpty(marker)) return (null, 0);
        try
        {
            var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(marker)).Split('|', 3);
            if (parts.Length == 3 && parts[0] == Version && int.TryParse(parts[1], out var skip) && skip >= 0)
                return (parts[2].Length == 0 ? null : parts[2], skip);
        }
        catch (FormatException) { }
        throw new DataException(DataError.BadPath, "the listing marker is not valid (pass back the marker of the previous page unchanged)");
    }

    /// <summary>The child name of <paramref name="key"/> under <paramref name="prefix"/>, or null when it is not a usable URI segment.</summary>
    public static string? ChildName(string key, string prefix)
    {
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var name = key[prefix.Length..].TrimEnd('/');
        if (name.Length == 0 || name.Contains('/')) return null;
        try { return StorageUri.ValidSegment(name); }
        catch (DataException) { return null; }
    }
}
