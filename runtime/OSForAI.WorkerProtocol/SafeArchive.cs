using System.Formats.Tar;
using System.Text;

namespace OSForAI.WorkerProtocol;

/// <summary>An archive that <see cref="SafeArchive"/> refused: what in it is not allowed, or that it is not an archive.</summary>
public sealed class UnsafeArchiveException(string message) : Exception(message);

/// <summary>
/// Extracts build archives (tar; the caller decompresses) that may be hostile, on the gateway (uploads, its build cache) and in
/// workers that get their build in a message (a pod). Only plain files and folders are written; absolute paths, '..', links,
/// devices, an entry that is both a file and a folder and names a Linux file system cannot store are refused; the expanded size
/// and the entry count are bounded, and so is the stream itself, so headers and padding cannot make it read without end.
/// </summary>
public static class SafeArchive
{
    /// <summary>Longest file or folder name (bytes of UTF-8), what Linux file systems store.</summary>
    public const int MaxNameBytes = 255;
    /// <summary>Longest path inside an archive (bytes of UTF-8).</summary>
    public const int MaxPathBytes = 1024;

    /// <summary>Extracts <paramref name="tar"/> into <paramref name="destination"/> (an existing, empty folder).</summary>
    /// <exception cref="UnsafeArchiveException">The archive holds something not allowed, is too large, or is malformed.</exception>
    public static async Task ExtractAsync(Stream tar, string destination, long maxBytes, int maxEntries, CancellationToken ct)
    {
        var root = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        long total = 0;
        var count = 0;
        var files = new HashSet<string>(StringComparer.Ordinal);
        var folders = new HashSet<string>(StringComparer.Ordinal);
        var tooBig = $"archive expands to more than {maxBytes} bytes (the limit on a build's expanded size)";
        try
        {
            // Headers and padding: at most a few 512-byte blocks per entry beyond the files' own bytes.
            await using var bounded = new LimitedReadStream(tar, maxBytes + (maxEntries + 2L) * 4096, () => new UnsafeArchiveException(tooBig));
            await using var reader = new TarReader(bounded);
            while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
            {
                if (++count > maxEntries) throw new UnsafeArchiveException($"archive has more than {maxEntries} entries");
                var segments = entry.Name.Replace('\\', '/').Split('/').Where(s => s.Length > 0 && s != ".").ToArray();
                if (segments.Length == 0) continue;
                if (entry.Name.StartsWith('/') || segments.Any(s => s == ".."))
                    throw new UnsafeArchiveException($"archive entry '{entry.Name}' points outside the archive");
                var name = string.Join('/', segments);
                if (segments.FirstOrDefault(s => Encoding.UTF8.GetByteCount(s) > MaxNameBytes) is { } longName)
                    throw new UnsafeArchiveException($"archive entry '{Shorten(name)}' has a name longer than {MaxNameBytes} bytes ('{Shorten(longName)}')");
                if (Encoding.UTF8.GetByteCount(name) > MaxPathBytes)
                    throw new UnsafeArchiveException($"archive entry '{Shorten(name)}' has a path longer than {MaxPathBytes} bytes");
                var full = Path.GetFullPath(Path.Combine(root, name));
                if (!full.StartsWith(root, StringComparison.Ordinal) && full + Path.DirectorySeparatorChar != root)
                    throw new UnsafeArchiveException($"archive entry '{entry.Name}' points outside the archive");
                var isFile = entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile;
                if (isFile || entry.EntryType == TarEntryType.Directory)
                {
                    // Every parent must be (or become) a folder; a file may not sit where a folder is, nor the reverse.
                    for (var i = 1; i < segments.Length; i++)
                    {
                        var parent = string.Join('/', segments[..i]);
                        if (files.Contains(parent)) throw BothFileAndFolder(parent);
                        folders.Add(parent);
                    }
                    if (isFile ? folders.Contains(name) : files.Contains(name)) throw BothFileAndFolder(name);
                    (isFile ? files : folders).Add(name);
                }
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(full);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        total += entry.Length;
                        if (total > maxBytes) throw new UnsafeArchiveException(tooBig);
                        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                        await using (var fs = File.Create(full))
                            if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(fs, ct);
                        break;
                    case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                        break;
                    default:
                        throw new UnsafeArchiveException($"archive entry '{entry.Name}' is a {entry.EntryType}; only plain files and folders are allowed");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new UnsafeArchiveException($"the build is not a valid archive: {e.Message}");
        }
    }

    private static UnsafeArchiveException BothFileAndFolder(string name) => new($"archive entry '{Shorten(name)}' is both a file and a folder");

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
