using System.Formats.Tar;
using System.IO.Compression;

namespace OSForAI.Cli;

/// <summary>What <see cref="CodePackager.Pack"/> put into an archive.</summary>
internal sealed record PackResult(int Files, int Directories, long UncompressedBytes);

/// <summary>
/// Packs an algorithm's folder as a tar.gz archive: relative paths, regular files and directories only,
/// in a stable order with fixed timestamps so the same code gives the same archive. GNU format: long names
/// work, and unlike PAX (whose extended headers carry the process id) the bytes do not depend on the process.
/// </summary>
internal static class CodePackager
{
    public const string ManifestFile = "algorithm.yaml";

    /// <summary>Folder names that are never packed.</summary>
    public static readonly IReadOnlySet<string> SkippedDirectories =
        new HashSet<string>(StringComparer.Ordinal) { ".git", "__pycache__", "node_modules" };

    /// <summary>File extensions that are never packed.</summary>
    public static readonly IReadOnlySet<string> SkippedExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".pyc" };

    private static readonly DateTimeOffset FixedTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Whether an entry with this file name is left out (".git" may be a file in worktrees).</summary>
    public static bool IsSkipped(string name, bool isDirectory) =>
        name == ".git"
        || (isDirectory ? SkippedDirectories.Contains(name) : SkippedExtensions.Contains(Path.GetExtension(name)));

    /// <summary>Writes the gzip-compressed tar of <paramref name="directory"/> to <paramref name="output"/> (left open).</summary>
    public static PackResult Pack(string directory, Stream output)
    {
        var root = new DirectoryInfo(Path.GetFullPath(directory));
        if (!root.Exists)
            throw new DirectoryNotFoundException($"{directory} does not exist");

        int files = 0, directories = 0;
        long bytes = 0;
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var (info, relative) in Walk(root, ""))
            {
                if (info is DirectoryInfo)
                {
                    tar.WriteEntry(new GnuTarEntry(TarEntryType.Directory, relative + "/")
                    {
                        Mode = DirectoryMode,
                        ModificationTime = FixedTime,
                    });
                    directories++;
                }
                else
                {
                    var file = (FileInfo)info;
                    using var data = file.OpenRead();
                    tar.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, relative)
                    {
                        Mode = FileMode(file),
                        ModificationTime = FixedTime,
                        DataStream = data,
                    });
                    files++;
                    bytes += data.Length;
                }
            }
        }
        return new PackResult(files, directories, bytes);
    }

    /// <summary>Packs into a byte array (small folders and tests).</summary>
    public static byte[] Pack(string directory)
    {
        using var buffer = new MemoryStream();
        Pack(directory, buffer);
        return buffer.ToArray();
    }

    /// <summary>Files and folders under <paramref name="dir"/>, depth first, sorted by name; links and skipped names left out.</summary>
    private static IEnumerable<(FileSystemInfo Info, string Relative)> Walk(DirectoryInfo dir, string prefix)
    {
        var children = dir.EnumerateFileSystemInfos()
            .OrderBy(i => i.Name, StringComparer.Ordinal)
            .ToList();
        foreach (var child in children)
        {
            if (child.LinkTarget is not null || (child.Attributes & FileAttributes.ReparsePoint) != 0)
                continue; // symbolic links (and junctions) are not packed
            var isDirectory = child is DirectoryInfo;
            if (IsSkipped(child.Name, isDirectory))
                continue;
            var relative = prefix.Length == 0 ? child.Name : $"{prefix}/{child.Name}";
            yield return (child, relative);
            if (child is DirectoryInfo sub)
                foreach (var nested in Walk(sub, relative))
                    yield return nested;
        }
    }

    private const UnixFileMode DirectoryMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode RegularMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>0644, or 0755 when the file is executable by its owner (Unix only).</summary>
    private static UnixFileMode FileMode(FileInfo file)
    {
        if (OperatingSystem.IsWindows())
            return RegularMode;
        return (file.UnixFileMode & UnixFileMode.UserExecute) != 0
            ? RegularMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute
            : RegularMode;
    }
}
