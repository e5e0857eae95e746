namespace OSForAI.Data;

/// <summary>Metadata of one object. <see cref="ETag"/> and <see cref="LastModified"/> are null where a store has none.</summary>
public sealed record ObjectInfo(string Name, long Size, string? ETag, DateTimeOffset? LastModified, string? ContentType = null);

/// <summary>One page of a listing: sub-folders (common prefixes) and files directly under a directory.</summary>
public sealed record ListPage(IReadOnlyList<string> Folders, IReadOnlyList<ObjectInfo> Files, string? Marker);

/// <summary>An inclusive-start byte range; <see cref="Length"/> null means "to the end".</summary>
public readonly record struct ByteRange(long Offset, long? Length)
{
    /// <summary>Parses one HTTP range ("bytes=10-19", "bytes=10-", "bytes=-5" needs the size); null for none or multi-range.</summary>
    public static ByteRange? ParseHttp(string? header, long? size)
    {
        if (string.IsNullOrWhiteSpace(header) || !header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) return null;
        var spec = header[6..].Trim();
        if (spec.Contains(',')) return null;
        var dash = spec.IndexOf('-');
        if (dash < 0) return null;
        var a = spec[..dash].Trim();
        var b = spec[(dash + 1)..].Trim();
        if (a.Length == 0)
        {
            if (size is null || !long.TryParse(b, out var suffix) || suffix <= 0) return null;
            var start = Math.Max(0, size.Value - suffix);
            return new ByteRange(start, size.Value - start);
        }
        if (!long.TryParse(a, out var from) || from < 0) return null;
        if (b.Length == 0) return new ByteRange(from, null);
        if (!long.TryParse(b, out var to) || to < from) return null;
        return new ByteRange(from, to - from + 1);
    }
}

/// <summary>An open object: its content (already positioned at the range start) and metadata. Dispose it.</summary>
public sealed class ObjectStream(Stream content, ObjectInfo info, ByteRange? range = null) : IAsyncDisposable, IDisposable
{
    public Stream Content { get; } = content;
    public ObjectInfo Info { get; } = info;
    /// <summary>The range actually served, or null for the whole object.</summary>
    public ByteRange? Range { get; } = range;
    /// <summary>Bytes the content will yield.</summary>
    public long Length => Range is { } r ? r.Length ?? Info.Size - r.Offset : Info.Size;

    public ValueTask DisposeAsync() => Content.DisposeAsync();
    public void Dispose() => Content.Dispose();
}

/// <summary>
/// One store behind one scheme (and label). Every method takes a URI the connector's own scheme
/// parsed; keys are relative to <see cref="StorageUri.Container"/>.
/// Contract:
/// - Writes are atomic: an object becomes visible only complete. A failed or cancelled upload
///   (including a content stream that throws, e.g. over a size limit) leaves the previous object
///   or nothing, never a partial one; large uploads use the store's multipart mechanism.
/// - Failures are <see cref="DataException"/>s whose messages never contain credentials.
/// - Directories are real folders where the store has them, and key prefixes elsewhere.
/// </summary>
public interface IDataConnector
{
    /// <summary>Writes, deletes and directory creation are allowed.</summary>
    bool CanWrite { get; }

    /// <summary>Metadata of the object, or null when there is no such object (a directory is not an object).</summary>
    Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct);

    /// <summary>True when the directory (or a non-empty prefix) exists; a container root exists when the container does.</summary>
    Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct);

    /// <summary>Opens the object for streaming, optionally a byte range. Throws NotFound.</summary>
    Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct);

    /// <summary>Streams <paramref name="content"/> into the object (replacing it atomically). <paramref name="length"/> is a hint when known.</summary>
    Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct);

    /// <summary>Deletes the object; false when it did not exist.</summary>
    Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct);

    /// <summary>One page of the directory's immediate children, folders first, resuming after <paramref name="marker"/>.</summary>
    Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct);

    /// <summary>Creates a directory (a no-op where directories are only prefixes).</summary>
    Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct);

    /// <summary>Deletes a directory; a non-empty one only with <paramref name="force"/>. Returns files deleted.</summary>
    Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct);
}
