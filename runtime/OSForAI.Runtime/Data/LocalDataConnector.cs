namespace OSForAI.Runtime.Data;

/// <summary>
/// data:// on the local data folder (the embedded default): the URI's container is the owner's folder. Writes stream
/// into a hidden temporary file renamed into place, so a failed upload leaves the old file or nothing.
/// </summary>
public sealed class LocalDataConnector(LocalDataStore store) : IDataConnector
{
    public bool CanWrite => true;

    /// <summary>Also refuses names the store reserves for its temporary files.</summary>
    private static DataPath PathOf(StorageUri uri) => new(uri.Container, uri.Segments.Select(DataPath.ValidSegment).ToList());

    public Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct) =>
        Task.FromResult(store.Stat(PathOf(uri)) is { } f ? Info(f) : null);

    public Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) => Task.FromResult(store.DirectoryExists(PathOf(uri)));

    public Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        var path = PathOf(uri);
        var file = store.OpenRead(path);
        var info = store.Stat(path) is { } f ? Info(f) : throw new DataException(DataError.NotFound, $"{uri} not found");
        if (range is not { } r) return Task.FromResult(new ObjectStream(file, info));
        var offset = Math.Min(r.Offset, info.Size);
        var length = Math.Min(r.Length ?? long.MaxValue, info.Size - offset);
        return Task.FromResult(new ObjectStream(new RangeWindowStream(file, offset, length), info, new ByteRange(offset, length)));
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        var path = PathOf(uri);
        await store.WriteAsync(path, content, long.MaxValue, ct);
        return Info(store.Stat(path)!);
    }

    public Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        var path = PathOf(uri);
        if (!store.FileExists(path)) return Task.FromResult(false);
        store.DeleteFile(path);
        return Task.FromResult(true);
    }

    public Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        var listing = store.List(PathOf(uri), marker, pageSize);
        return Task.FromResult(new ListPage(listing.Folders, listing.Files.Select(Info).ToList(), listing.Marker));
    }

    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct)
    {
        var path = PathOf(uri);
        store.CreateDirectory(path.Parent ?? throw new DataException(DataError.Conflict, $"{uri} already exists"), path.Name);
        return Task.CompletedTask;
    }

    public Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct) =>
        Task.FromResult(store.DeleteDirectory(PathOf(uri), force));

    private static ObjectInfo Info(DataFileInfo f) =>
        new(f.Name, f.Size, $"\"{f.Size:x}-{f.LastModified.UtcTicks:x}\"", f.LastModified);
}

/// <summary>
/// data:// kept in another store (the stack's bucket on cloud stacks): data://owner/path is read and written as
/// &lt;base&gt;/owner/path through that store's connector.
/// </summary>
public sealed class RebasedDataConnector(IDataConnector inner, StorageUri baseUri) : IDataConnector
{
    public bool CanWrite => inner.CanWrite;

    private StorageUri Map(StorageUri uri)
    {
        var mapped = baseUri.Child(uri.Container, directory: uri.Segments.Count == 0 || uri.IsDirectory);
        foreach (var (s, i) in uri.Segments.Select((s, i) => (s, i))) mapped = mapped.Child(s, directory: i == uri.Segments.Count - 1 && uri.IsDirectory);
        return mapped;
    }

    public Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct) => inner.StatAsync(Map(uri), ct);
    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) =>
        uri.IsContainerRoot || await inner.DirectoryExistsAsync(Map(uri), ct);
    public Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct) => inner.OpenReadAsync(Map(uri), range, ct);
    public Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct) => inner.WriteAsync(Map(uri), content, length, ct);
    public Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct) => inner.DeleteAsync(Map(uri), ct);
    public Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct) => inner.ListAsync(Map(uri), marker, pageSize, ct);
    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct) => inner.CreateDirectoryAsync(Map(uri), ct);
    public Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct) => inner.DeleteDirectoryAsync(Map(uri), force, ct);
}
