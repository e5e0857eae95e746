using System.Text;

namespace OSForAI.Data.Files;

/// <summary>Makes the file:// connector; it needs at least one configured root.</summary>
public sealed class FileConnectorFactory : IConnectorFactory
{
    public string Scheme => "file";
    public bool WorksUnconfigured => false;
    public IDataConnector Create(ConnectorSettings settings) => new FileConnector(FileRoots.From(settings), settings.Flag("ReadOnly", false));
}

/// <summary>
/// file://root/a/b on the server's own disk, limited to the configured roots (<see cref="FileRoots"/>).
/// Directories are real folders. Writes go to a hidden temp file in the target folder and are
/// renamed into place, so a reader never sees half a file and a failed write leaves the old one.
/// A folder is not an object: Stat gives null and OpenRead NotFound for it.
/// </summary>
public sealed class FileConnector(FileRoots roots, bool readOnly) : IDataConnector
{
    private const int BufferSize = 81920;

    public bool CanWrite => !readOnly;

    public Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        var file = new FileInfo(roots.Resolve(uri));
        return Task.FromResult(file.Exists ? InfoOf(file) : null);
    }

    public Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) => Task.FromResult(Directory.Exists(roots.Resolve(uri)));

    public Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        var path = roots.Resolve(uri);
        if (range is { Offset: < 0 } or { Length: < 0 }) throw new DataException(DataError.BadPath, "a byte range cannot be negative");
        if (!File.Exists(path)) throw new DataException(DataError.NotFound, $"{uri} not found");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DataException(DataError.NotFound, $"{uri} not found");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new DataException(DataError.Forbidden, $"the server may not read {uri}", e);
        }
        try
        {
            var size = stream.Length;
            var modified = File.GetLastWriteTimeUtc(path);
            var info = new ObjectInfo(uri.Name, size, ETagOf(size, modified), modified);
            if (range is not { } r) return Task.FromResult(new ObjectStream(stream, info));
            if (r.Offset > size) throw new DataException(DataError.BadPath, $"the requested range starts beyond the end of {uri}");
            stream.Seek(r.Offset, SeekOrigin.Begin);
            var count = Math.Min(r.Length ?? long.MaxValue, size - r.Offset);
            return Task.FromResult(new ObjectStream(new RangeWindowStream(stream, 0, count), info, new ByteRange(r.Offset, count)));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        EnsureWritable();
        if (uri.IsContainerRoot || uri.IsDirectory) throw new DataException(DataError.BadPath, $"{uri} names a folder, not a file");
        var target = roots.Resolve(uri);
        if (Directory.Exists(target)) throw new DataException(DataError.Conflict, $"{uri} is a folder");
        var folder = EnsureFolders(uri.Parent!);
        var temp = Path.Combine(folder, FileRoots.TempPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var output = OpenTemp(temp, uri))
                await CopyAsync(content, output, uri, ct);
            roots.Resolve(uri); // a link planted meanwhile is still refused
            Guard(uri, () => File.Move(temp, target, overwrite: true));
        }
        finally
        {
            try { File.Delete(temp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return InfoOf(new FileInfo(target));
    }

    public Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        EnsureWritable();
        var path = roots.Resolve(uri);
        if (!File.Exists(path)) return Task.FromResult(false);
        Guard(uri, () => File.Delete(path));
        return Task.FromResult(true);
    }

    public Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        if (pageSize < 1) throw new DataException(DataError.BadPath, "the page size must be at least 1");
        var path = roots.Resolve(uri);
        if (!Directory.Exists(path)) throw new DataException(DataError.NotFound, $"{uri.AsDirectory()} not found");
        // Keys "d:name" sort before "f:name": one ordinal order gives folders first, then files.
        var entries = new DirectoryInfo(path).EnumerateFileSystemInfos()
            .Where(e => !e.Attributes.HasFlag(FileAttributes.ReparsePoint) && !e.Name.StartsWith(FileRoots.TempPrefix, StringComparison.Ordinal))
            .Select(e => (Key: (e is DirectoryInfo ? "d:" : "f:") + e.Name, Entry: e))
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .ToList();
        var start = 0;
        if (!string.IsNullOrEmpty(marker))
        {
            var after = DecodeMarker(marker);
            start = entries.FindIndex(e => string.CompareOrdinal(e.Key, after) > 0);
            if (start < 0) start = entries.Count;
        }
        var page = entries.Skip(start).Take(pageSize).ToList();
        var more = start + page.Count < entries.Count;
        return Task.FromResult(new ListPage(
            page.Where(e => e.Entry is DirectoryInfo).Select(e => e.Entry.Name).ToList(),
            page.Where(e => e.Entry is FileInfo).Select(e => InfoOf((FileInfo)e.Entry)).ToList(),
            more ? EncodeMarker(page[^1].Key) : null));
    }

    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct)
    {
        EnsureWritable();
        EnsureFolders(uri);
        return Task.CompletedTask;
    }

    public Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        EnsureWritable();
        if (uri.IsContainerRoot) throw new DataException(DataError.BadPath, "a file:// root itself cannot be deleted");
        var path = roots.Resolve(uri);
        if (!Directory.Exists(path)) throw new DataException(DataError.NotFound, $"{uri.AsDirectory()} not found");
        if (!force && Directory.EnumerateFileSystemEntries(path).Any())
            throw new DataException(DataError.NotEmpty, $"{uri.AsDirectory()} is not empty; delete it with force");
        var files = CountFiles(new DirectoryInfo(path));
        // Removes links inside as links; never follows them out of the root.
        Guard(uri, () => Directory.Delete(path, recursive: true));
        return Task.FromResult(files);
    }

    private void EnsureWritable()
    {
        if (readOnly) throw new DataException(DataError.NotSupported, "file:// is read-only on this server");
    }

    /// <summary>Creates the folder and any missing parents; a file in the way is a Conflict.</summary>
    private string EnsureFolders(StorageUri folder)
    {
        var full = roots.Resolve(folder);
        var path = roots.RootOf(folder);
        foreach (var segment in folder.Segments)
        {
            path = Path.Combine(path, segment);
            if (File.Exists(path)) throw new DataException(DataError.Conflict, $"{folder} goes through a file, not a folder");
            if (!Directory.Exists(path)) Guard(folder, () => Directory.CreateDirectory(path));
        }
        return full;
    }

    private static FileStream OpenTemp(string temp, StorageUri uri)
    {
        try { return new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous); }
        catch (UnauthorizedAccessException e) { throw new DataException(DataError.Forbidden, $"the server may not write {uri}", e); }
        catch (IOException e) { throw new DataException(DataError.Upstream, $"the server could not write {uri}", e); }
    }

    /// <summary>Copies the upload; a failing source (a dropped client) throws as it is, a failing disk as Upstream.</summary>
    private static async Task CopyAsync(Stream content, FileStream output, StorageUri uri, CancellationToken ct)
    {
        var buffer = new byte[BufferSize];
        int n;
        while ((n = await content.ReadAsync(buffer, ct)) > 0)
        {
            try { await output.WriteAsync(buffer.AsMemory(0, n), ct); }
            catch (IOException e) { throw WriteFailed(uri, e); }
        }
        try
        {
            await output.FlushAsync(ct);
            output.Flush(flushToDisk: true);
        }
        catch (IOException e) { throw WriteFailed(uri, e); }
    }

    private static DataException WriteFailed(StorageUri uri, IOException e) => new(DataError.Upstream, $"the server could not write {uri}", e);

    private static int CountFiles(DirectoryInfo folder) => folder.EnumerateFileSystemInfos()
        .Where(e => !e.Attributes.HasFlag(FileAttributes.ReparsePoint))
        .Sum(e => e is DirectoryInfo sub ? CountFiles(sub) : e.Name.StartsWith(FileRoots.TempPrefix, StringComparison.Ordinal) ? 0 : 1);

    /// <summary>File system failures as DataErrors: no permission is Forbidden, anything else Upstream.</summary>
    private static void Guard(StorageUri uri, Action action)
    {
        try { action(); }
        catch (UnauthorizedAccessException e) { throw new DataException(DataError.Forbidden, $"the server has no permission for {uri}", e); }
        catch (IOException e) { throw new DataException(DataError.Upstream, $"the file system failed on {uri}", e); }
    }

    private static ObjectInfo InfoOf(FileInfo file) =>
        new(file.Name, file.Length, ETagOf(file.Length, file.LastWriteTimeUtc), file.LastWriteTimeUtc);

    private static string ETagOf(long size, DateTime modifiedUtc) => $"\"{size:x}-{modifiedUtc.Ticks:x}\"";

    private static string EncodeMarker(string key) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string DecodeMarker(string marker)
    {
        try
        {
            var s = marker.Replace('-', '+').Replace('_', '/');
            var key = Encoding.UTF8.GetString(Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=')));
            if (key.StartsWith("d:", StringComparison.Ordinal) || key.StartsWith("f:", StringComparison.Ordinal)) return key;
        }
        catch (FormatException) { }
        throw new DataException(DataError.BadPath, "invalid listing marker");
    }
}
