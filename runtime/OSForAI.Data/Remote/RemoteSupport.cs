using System.Buffers.Text;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Text;

namespace OSForAI.Data.Remote;

/// <summary>Small pieces shared by the connectors that talk to a remote store over HTTP.</summary>
internal static class RemoteSupport
{
    /// <summary>The range actually served for <paramref name="requested"/> of an object of <paramref name="size"/> bytes (null: all of it).</summary>
    public static ByteRange? Served(ByteRange? requested, long size)
    {
        if (requested is not { } r) return null;
        var offset = Math.Min(r.Offset, size);
        var available = size - offset;
        return new ByteRange(offset, r.Length is { } n ? Math.Min(n, available) : available);
    }

    /// <summary>The "Range" header value for a non-empty served range.</summary>
    public static System.Net.Http.Headers.RangeHeaderValue RangeHeader(ByteRange served) =>
        new(served.Offset, served.Offset + served.Length!.Value - 1);

    /// <summary>True for failures of the connection itself (refused, reset, timed out) rather than answers.</summary>
    public static bool IsTransport(Exception e, CancellationToken ct) =>
        e is HttpRequestException or IOException or SocketException || e is TaskCanceledException && !ct.IsCancellationRequested;

    public static DataException Unreachable(string store, Exception inner) =>
        new(DataError.Upstream, $"{store} could not be reached or dropped the connection", inner);

    /// <summary>
    /// When an upload failed because the caller's own content stream threw (over a size limit, a dropped
    /// client), rethrows that exception; otherwise returns.
    /// </summary>
    public static void ThrowIfSourceFailed(SourceStream source)
    {
        if (source.Failure is { } f) ExceptionDispatchInfo.Throw(f);
    }

    /// <summary>Reads a (JSON or error) body as text, at most <paramref name="max"/> bytes of it.</summary>
    public static async Task<string> ReadSmallAsync(HttpContent content, CancellationToken ct, int max = 64 * 1024)
    {
        await using var s = await content.ReadAsStreamAsync(ct);
        using var ms = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int n;
        while (ms.Length < max && (n = await s.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, max - ms.Length)), ct)) > 0)
            ms.Write(buffer, 0, n);
        return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    public static async Task<int> FillAsync(Stream source, Memory<byte> buffer, CancellationToken ct)
    {
        var total = 0;
        int n;
        while (total < buffer.Length && (n = await source.ReadAsync(buffer[total..], ct)) > 0) total += n;
        return total;
    }

    /// <summary>The object an URI names; a directory or container root is a bad path for object operations.</summary>
    public static void RequireObject(StorageUri uri)
    {
        if (uri.Segments.Count == 0 || uri.IsDirectory)
            throw new DataException(DataError.BadPath, $"{uri} names a directory, not a file");
    }

    public static HttpClient NewHttpClient(bool followRedirects) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = followRedirects,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    {
        // Bodies stream for as long as they take; callers cancel through their token.
        Timeout = Timeout.InfiniteTimeSpan,
    };
}

/// <summary>
/// An opaque listing marker for connectors that list folders first across pages: the phase (folders,
/// then files) and the last name returned in it.
/// </summary>
internal readonly record struct ListMarker(bool InFiles, string? After)
{
    public static readonly ListMarker Start = new(false, null);

    public string Encode() => Base64Url.EncodeToString(Encoding.UTF8.GetBytes((InFiles ? "f:" : "d:") + After));

    public static ListMarker Decode(string? marker)
    {
        if (string.IsNullOrEmpty(marker)) return Start;
        string text;
        try { text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(marker)); }
        catch (FormatException) { throw Malformed(); }
        if (text.Length < 2 || text[1] != ':' || text[0] is not ('d' or 'f')) throw Malformed();
        var after = text[2..];
        return new ListMarker(text[0] == 'f', after.Length == 0 ? null : after);
    }

    private static DataException Malformed() => new(DataError.BadPath, "the listing marker is malformed");
}
