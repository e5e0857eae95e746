namespace OSForAI.Data.Files;

/// <summary>
/// The folders file:// may serve, by root name (settings <c>Roots:&lt;name&gt;</c> = absolute path), and
/// the mapping of a URI to a path that stays under its root and passes through no symbolic link.
/// </summary>
public sealed class FileRoots
{
    /// <summary>Hidden name prefix of uploads in progress; reserved, never listed.</summary>
    public const string TempPrefix = ".osai-upload-";
    private const string RootsPrefix = "Roots:";
    private readonly Dictionary<string, string> _roots;

    public FileRoots(IReadOnlyDictionary<string, string> roots)
    {
        _roots = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, path) in roots)
        {
            if (!Path.IsPathFullyQualified(path))
                throw new DataException(DataError.NotConfigured, $"file:// root '{name}' must be an absolute path");
            _roots[name] = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        }
        if (_roots.Count == 0)
            throw new DataException(DataError.NotConfigured, "file:// has no roots configured; set OSForAI:Data:File:default:Roots:<name> to a folder");
    }

    /// <summary>The roots named by the settings' <c>Roots:&lt;name&gt;</c> keys.</summary>
    public static FileRoots From(ConnectorSettings settings) => new(settings.Values
        .Where(kv => kv.Key.StartsWith(RootsPrefix, StringComparison.OrdinalIgnoreCase) && kv.Key.Length > RootsPrefix.Length && !string.IsNullOrWhiteSpace(kv.Value))
        .ToDictionary(kv => kv.Key[RootsPrefix.Length..], kv => kv.Value!, StringComparer.OrdinalIgnoreCase));

    /// <summary>The root folder of the URI's container (root name).</summary>
    public string RootOf(StorageUri uri)
    {
        if (!_roots.TryGetValue(uri.Container, out var root))
            throw new DataException(DataError.NotConfigured, $"no file:// root named '{uri.Container}' is configured");
        if (!Directory.Exists(root))
            throw new DataException(DataError.NotConfigured, $"the folder of file:// root '{uri.Container}' does not exist on this server");
        return root;
    }

    /// <summary>
    /// The full path of the URI, checked: it stays under the root, no segment is a reserved temp
    /// name, and no existing component below the root (folders and the final entry) is a symbolic link.
    /// A link swapped in after this check is not caught; roots are meant for folders only the server writes.
    /// </summary>
    public string Resolve(StorageUri uri)
    {
        var root = RootOf(uri);
        if (uri.Segments.Any(s => s.StartsWith(TempPrefix, StringComparison.Ordinal)))
            throw new DataException(DataError.BadPath, $"names starting with '{TempPrefix}' are reserved");
        var full = Path.GetFullPath(Path.Combine([root, .. uri.Segments]));
        var under = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        if (full != root && !full.StartsWith(under, StringComparison.Ordinal))
            throw new DataException(DataError.BadPath, $"{uri} leaves its file:// root");
        var path = root;
        foreach (var segment in uri.Segments)
        {
            path = Path.Combine(path, segment);
            var entry = new FileInfo(path);
            if (entry.LinkTarget is not null)
                throw new DataException(DataError.BadPath, $"{uri} goes through a symbolic link");
            if (!entry.Exists && !Directory.Exists(path)) break;
        }
        return full;
    }
}
