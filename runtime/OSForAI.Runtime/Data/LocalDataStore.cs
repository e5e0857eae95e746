using System.Text;

namespace OSForAI.Runtime.Data;

public sealed record DataFileInfo(string Name, long Size, DateTimeOffset LastModified);

public sealed record DataListing(IReadOnlyList<string> Folders, IReadOnlyList<DataFileInfo> Files, string? Marker);

/// <summary>
/// data:// on a local folder: one sub-folder per owner. Writes go to a hidden temporary file and are
/// renamed into place, so readers never see half a file and a failed upload leaves nothing behind.
/// </summary>
public sealed class LocalDataStore
{
    internal const string TempPrefix = ".osai-upload-";
    private readonly string _root;

    public LocalDataStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public string Root => _root;

    /// <summary>Most bytes one owner may keep (0 = unlimited); the platform's own space is not counted.</summary>
    public long QuotaBytes { get; init; }

    /// <summary>Per owner: bytes stored (walked once, then kept current) and bytes being written right now.</summary>
    private sealed class Usage { public long Stored; public long Reserved; }
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Usage>> _usage = new(StringComparer.Ordinal);

    private Usage? UsageOf(DataPath path)
    {
        if (QuotaBytes <= 0 || path.Owner == DataPath.PlatformOwner) return null;
        return _usage.GetOrAdd(path.Owner, owner => new Lazy<Usage>(() =>
        {
            var dir = Path.Combine(_root, owner);
            long bytes = 0;
            if (Directory.Exists(dir))
                foreach (var f in new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories))
                    if (!f.Name.StartsWith(TempPrefix, StringComparison.Ordinal)) bytes += f.Length;
            return new Usage { Stored = bytes };
        })).Value;
    }

    /// <summary>Maps a validated path to the file system, and double-checks it stays inside the root.</summary>
    public string PhysicalPath(DataPath path)
    {
        var full = Path.GetFullPath(Path.Combine([_root, path.Owner, .. path.Segments]));
        if (full != _root && !full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new DataException(DataError.BadPath, "data path escapes the data root");
        // Refuse to follow symbolic links planted anywhere along the way.
        for (var p = full; p.Length > _root.Length; p = Path.GetDirectoryName(p)!)
        {
            var info = new FileInfo(p);
            if (info.Exists || Directory.Exists(p))
                if (info.LinkTarget is not null || new DirectoryInfo(p).LinkTarget is not null)
                    throw new DataException(DataError.BadPath, "data path goes through a symbolic link");
        }
        return full;
    }

    public bool FileExists(DataPath path) => File.Exists(PhysicalPath(path));
    public bool DirectoryExists(DataPath path) => Directory.Exists(PhysicalPath(path)) || (path.IsRoot && path.Owner != DataPath.PlatformOwner);

    public DataFileInfo? Stat(DataPath path)
    {
        var fi = new FileInfo(PhysicalPath(path));
        return fi.Exists ? new DataFileInfo(fi.Name, fi.Length, fi.LastWriteTimeUtc) : null;
    }

    public Stream OpenRead(DataPath path)
    {
        var p = PhysicalPath(path);
        if (!File.Exists(p)) throw new DataException(DataError.NotFound, $"data://{path} not found");
        return new FileStream(p, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    /// <summary>Streams <paramref name="content"/> into the file; more than <paramref name="maxBytes"/> fails and leaves the old file as it was.</summary>
    public async Task<long> WriteAsync(DataPath path, Stream content, long maxBytes, CancellationToken ct)
    {
        if (path.IsRoot) throw new DataException(DataError.BadPath, "cannot write a file at an owner's root");
        var target = PhysicalPath(path);
        if (Directory.Exists(target)) throw new DataException(DataError.Conflict, $"data://{path} is a directory");
        var dir = Path.GetDirectoryName(target)!;
        EnsureDirectoryChain(path.Parent!);
        var temp = Path.Combine(dir, TempPrefix + Guid.NewGuid().ToString("N"));
        long total = 0;
        var usage = UsageOf(path);
        // The file being replaced frees its bytes when the new one is in place, so it does not count against the write.
        var replaced = usage is null ? 0 : new FileInfo(target) is { Exists: true } old ? old.Length : 0;
        try
        {
            await using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                var buffer = new byte[81920];
                int n;
                while ((n = await content.ReadAsync(buffer, ct)) > 0)
                {
                    total += n;
                    if (total > maxBytes) throw new DataException(DataError.TooLarge, $"file is larger than the limit of {maxBytes} bytes");
                    if (usage is not null)
                        lock (usage)
                        {
                            if (usage.Stored + usage.Reserved + n - replaced > QuotaBytes)
                                throw new DataException(DataError.QuotaExceeded,
                                    $"writing data://{path} would take {path.Owner}'s data past its quota of {QuotaBytes} bytes " +
                                    $"({usage.Stored} bytes stored); delete something first");
                            usage.Reserved += n;
                        }
                    await fs.WriteAsync(buffer.AsMemory(0, n), ct);
                }
            }
            File.Move(temp, target, overwrite: true);
            if (usage is not null) lock (usage) usage.Stored += total - replaced;
            return total;
        }
        finally
        {
            if (usage is not null) lock (usage) usage.Reserved -= Math.Min(total, usage.Reserved);
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private void EnsureDirectoryChain(DataPath dir)
    {
        var p = PhysicalPath(dir);
        if (File.Exists(p)) throw new DataException(DataError.Conflict, $"data://{dir} is a file, not a directory");
        Directory.CreateDirectory(p);
    }

    public void CreateDirectory(DataPath parent, string name)
    {
        var child = parent.Child(name);
        var p = PhysicalPath(child);
        if (Directory.Exists(p) || File.Exists(p)) throw new DataException(DataError.Conflict, $"data://{child} already exists");
        EnsureDirectoryChain(parent);
        Directory.CreateDirectory(p);
    }

    public void DeleteFile(DataPath path)
    {
        var p = PhysicalPath(path);
        if (!File.Exists(p)) throw new DataException(DataError.NotFound, $"data://{path} not found");
        var size = new FileInfo(p).Length;
        File.Delete(p);
        if (UsageOf(path) is { } usage) lock (usage) usage.Stored = Math.Max(0, usage.Stored - size);
    }

    /// <summary>Deletes a directory; a non-empty one only with <paramref name="force"/>. Returns files deleted.</summary>
    public int DeleteDirectory(DataPath path, bool force)
    {
        var p = PhysicalPath(path);
        if (!Directory.Exists(p)) throw new DataException(DataError.NotFound, $"data://{path} not found");
        var files = Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Count();
        if (!force && Directory.EnumerateFileSystemEntries(p).Any())
            throw new DataException(DataError.NotEmpty, $"data://{path} is not empty; delete with force=true");
        Directory.Delete(p, recursive: true);
        _usage.TryRemove(path.Owner, out _);   // counted again at the next write
        return files;
    }

    /// <summary>One page of a directory: folders then files, each in ordinal order, resuming after <paramref name="marker"/>.</summary>
    public DataListing List(DataPath path, string? marker, int pageSize)
    {
        var p = PhysicalPath(path);
        if (!Directory.Exists(p))
        {
            if (path.IsRoot && path.Owner != DataPath.PlatformOwner) return new DataListing([], [], null);
            throw new DataException(DataError.NotFound, $"data://{path} not found");
        }
        var dir = new DirectoryInfo(p);
        // Keys "d:name" sort before "f:name", so one ordinal order gives folders first, then files.
        var entries = dir.EnumerateDirectories().Select(d => (Key: "d:" + d.Name, Info: (FileSystemInfo)d))
            .Concat(dir.EnumerateFiles().Select(f => (Key: "f:" + f.Name, Info: (FileSystemInfo)f)))
            .Where(e => !e.Info.Name.StartsWith(TempPrefix, StringComparison.Ordinal))
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
        return new DataListing(
            page.Where(e => e.Info is DirectoryInfo).Select(e => e.Info.Name).ToList(),
            page.Where(e => e.Info is FileInfo).Select(e => new DataFileInfo(e.Info.Name, ((FileInfo)e.Info).Length, e.Info.LastWriteTimeUtc)).ToList(),
            more ? EncodeMarker(page[^1].Key) : null);
    }

    private static string EncodeMarker(string key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string DecodeMarker(string marker)
    {
        try
        {
            var s = marker.Replace('-', '+').Replace('_', '/');
            s = s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
            var key = Encoding.UTF8.GetString(Convert.FromBase64String(s));
            if (key.StartsWith("d:", StringComparison.Ordinal) || key.StartsWith("f:", StringComparison.Ordinal)) return key;
        }
        catch (FormatException) { }
        throw new DataException(DataError.BadPath, "invalid listing marker");
    }
}
