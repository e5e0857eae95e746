using System.Text;

namespace OSForAI.Data;

/// <summary>
/// A parsed, validated storage URI: <c>scheme[+label]://container/seg/seg[/]</c>.
/// Each segment is percent-decoded exactly once; '.', '..', empty segments, backslashes, control
/// characters and encoded slashes are refused rather than normalised, so a URI can never name
/// anything above its container. http(s) URIs keep their full address in <see cref="Address"/>.
/// </summary>
public sealed record StorageUri
{
    public const int MaxLength = 2048;

    /// <summary>Canonical scheme ("azureblob" is read as "azure").</summary>
    public string Scheme { get; }
    /// <summary>Named credential set, or null for the default one.</summary>
    public string? Label { get; }
    /// <summary>Bucket, container, owner (data://), root name (file://); empty for hdfs:// and dropbox:// paths.</summary>
    public string Container { get; }
    public IReadOnlyList<string> Segments { get; }
    /// <summary>True when the URI ended in '/', naming a directory or prefix.</summary>
    public bool IsDirectory { get; }
    /// <summary>For http(s): the absolute address to fetch.</summary>
    public Uri? Address { get; }

    private StorageUri(string scheme, string? label, string container, IReadOnlyList<string> segments, bool isDirectory, Uri? address)
    {
        Scheme = scheme; Label = label; Container = container; Segments = segments; IsDirectory = isDirectory; Address = address;
    }

    /// <summary>Schemes whose first path segment is a container (bucket, container, owner, root).</summary>
    public static readonly IReadOnlySet<string> ContainerSchemes = new HashSet<string> { "data", "file", "s3", "azure", "gs" };
    /// <summary>Every scheme OSForAI knows, canonical names.</summary>
    public static readonly IReadOnlySet<string> KnownSchemes = new HashSet<string> { "data", "file", "s3", "azure", "gs", "http", "https", "hdfs", "dropbox" };

    /// <summary>"scheme" or "scheme+label": the connector key this URI selects.</summary>
    public string ConnectorKey => Label is null ? Scheme : $"{Scheme}+{Label}";
    /// <summary>The object key inside the container: segments joined by '/'.</summary>
    public string Key => string.Join('/', Segments);
    /// <summary>The key as a prefix for listing: "a/b/" (or "" at the container root).</summary>
    public string KeyPrefix => Segments.Count == 0 ? "" : Key + "/";
    public string Name => Segments.Count > 0 ? Segments[^1] : Container;
    public bool IsContainerRoot => Segments.Count == 0;

    public StorageUri Child(string name, bool directory = false) =>
        new(Scheme, Label, Container, [.. Segments, ValidSegment(name)], directory, null);

    public StorageUri? Parent => Segments.Count == 0 ? null
        : new StorageUri(Scheme, Label, Container, Segments.Take(Segments.Count - 1).ToArray(), true, null);

    public StorageUri AsDirectory() => new(Scheme, Label, Container, Segments, true, Address);

    /// <summary>The same path in another container (e.g. data://.my resolved to the caller's own folder).</summary>
    public StorageUri WithContainer(string container) => new(Scheme, Label, ValidSegment(container), Segments, IsDirectory, Address);

    public override string ToString()
    {
        if (Address is not null) return Address.AbsoluteUri;
        var sb = new StringBuilder(ConnectorKey).Append("://");
        var parts = (ContainerSchemes.Contains(Scheme) ? new[] { Container } : []).Concat(Segments).Select(Uri.EscapeDataString);
        sb.Append(string.Join('/', parts));
        if (IsDirectory && Segments.Count > 0) sb.Append('/');
        return sb.ToString();
    }

    /// <summary>Parses a URI; a bare "owner/path" (no scheme) is read as data://owner/path.</summary>
    public static StorageUri Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw Bad("a data URI is empty");
        if (text.Length > MaxLength) throw Bad($"data URI is longer than {MaxLength} characters");
        foreach (var c in text)
            if (char.IsControl(c)) throw Bad("data URIs may not contain control characters");
        var sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep < 0) return FromParts("data", null, text);
        var head = text[..sep];
        var rest = text[(sep + 3)..];
        var plus = head.IndexOf('+');
        var scheme = (plus < 0 ? head : head[..plus]).ToLowerInvariant();
        var label = plus < 0 ? null : head[(plus + 1)..];
        if (scheme == "azureblob") scheme = "azure";
        if (!KnownSchemes.Contains(scheme))
            throw new DataException(DataError.NotConfigured, $"unknown data scheme '{Truncate(head)}' (known: data, file, s3, azure, azureblob, gs, http, https, hdfs, dropbox)");
        if (label is not null && !ValidLabel(label))
            throw Bad("a connector label is 1-32 letters, digits, '-' or '_' (as in s3+prod://)");
        if (scheme is "http" or "https")
        {
            if (label is not null) throw Bad("http(s) URIs take no label");
            if (!Uri.TryCreate(text, UriKind.Absolute, out var address) || string.IsNullOrEmpty(address.Host))
                throw Bad("malformed http(s) URI");
            if (!string.IsNullOrEmpty(address.UserInfo)) throw Bad("http(s) URIs may not carry credentials");
            return new StorageUri(scheme, null, address.Authority, [], address.AbsolutePath.EndsWith('/'), address);
        }
        return FromParts(scheme, label, rest);
    }

    private static StorageUri FromParts(string scheme, string? label, string rest)
    {
        if (rest.Contains('?') || rest.Contains('#')) throw Bad("data URIs may not contain '?' or '#'");
        var isDirectory = rest.EndsWith('/');
        var trimmed = rest.Trim('/');
        if (rest.StartsWith("//", StringComparison.Ordinal)) throw Bad("empty segment ('//') in data URI");
        var raw = trimmed.Length == 0 ? [] : trimmed.Split('/');
        var segments = raw.Select(s => ValidSegment(Decode(s))).ToList();
        string container = "";
        if (ContainerSchemes.Contains(scheme))
        {
            if (segments.Count == 0) throw Bad($"{scheme}:// URIs need a {ContainerWord(scheme)}, e.g. {scheme}://{ContainerWord(scheme)}/path");
            container = segments[0];
            segments.RemoveAt(0);
            if (segments.Count == 0) isDirectory = true;
        }
        else if (segments.Count == 0) isDirectory = true;
        return new StorageUri(scheme, label, container, segments, isDirectory, null);
    }

    private static string ContainerWord(string scheme) => scheme switch
    {
        "data" => "owner",
        "file" => "root",
        "azure" => "container",
        _ => "bucket",
    };

    private static string Decode(string segment)
    {
        for (var i = segment.IndexOf('%'); i >= 0; i = segment.IndexOf('%', i + 1))
            if (i + 2 >= segment.Length || !char.IsAsciiHexDigit(segment[i + 1]) || !char.IsAsciiHexDigit(segment[i + 2]))
                throw Bad("malformed percent-encoding in data URI (a '%' must start %XX)");
        var decoded = Uri.UnescapeDataString(segment);
        if (decoded.Contains('/') || decoded.Contains('\\')) throw Bad("data URIs may not contain encoded slashes or backslashes");
        return decoded;
    }

    /// <summary>Checks one already-decoded path segment.</summary>
    public static string ValidSegment(string s)
    {
        if (s.Length == 0) throw Bad("empty segment ('//') in data URI");
        if (s is "." or "..") throw Bad("'.' and '..' are not allowed in data URIs");
        if (s.Length > 255) throw Bad("a data URI segment is longer than 255 characters");
        foreach (var c in s)
            if (c == '\\' || c == '/' || char.IsControl(c))
                throw Bad("data URIs may not contain backslashes, control characters or encoded slashes");
        if (s.Contains("%2f", StringComparison.OrdinalIgnoreCase) || s.Contains("%5c", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("%2e", StringComparison.OrdinalIgnoreCase) && s.Replace("%2e", ".", StringComparison.OrdinalIgnoreCase) is "." or "..")
            throw Bad("data URIs may not contain doubly encoded slashes or dots");
        return s;
    }

    public static bool ValidLabel(string label) =>
        label.Length is > 0 and <= 32 && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static DataException Bad(string message) => new(DataError.BadPath, message);
    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
