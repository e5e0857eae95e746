using System.Net;
using System.Net.Http.Headers;

namespace OSForAI.Data.Http;

/// <summary>Limits of the http(s):// connector; every one is an optional setting.</summary>
public sealed record HttpConnectorOptions(long MaxBytes, int MaxRedirects, TimeSpan Timeout, bool AllowPrivateAddresses)
{
    public const long DefaultMaxBytes = 1L << 30;
    public static HttpConnectorOptions Default { get; } = new(DefaultMaxBytes, 5, TimeSpan.FromSeconds(30), false);

    /// <summary>Reads MaxBytes, MaxRedirects, TimeoutSeconds (for the response headers) and AllowPrivateAddresses.</summary>
    public static HttpConnectorOptions From(ConnectorSettings s)
    {
        var redirects = Default.MaxRedirects;
        if (s.Get("MaxRedirects") is { } text && (!int.TryParse(text, out redirects) || redirects is < 0 or > 20))
            throw new DataException(DataError.NotConfigured, $"the {s.Key}:// setting MaxRedirects must be a whole number from 0 to 20");
        return new HttpConnectorOptions(
            s.Long("MaxBytes", DefaultMaxBytes),
            redirects,
            TimeSpan.FromSeconds(Math.Min(s.Long("TimeoutSeconds", 30), 86_400)),
            s.Flag("AllowPrivateAddresses", false));
    }
}

/// <summary>Makes the read-only web connector; the registry is keyed by scheme, so there is one factory for "http" and one for "https".</summary>
public sealed class HttpConnectorFactory : IConnectorFactory
{
    public HttpConnectorFactory(string scheme) =>
        Scheme = scheme is "http" or "https" ? scheme : throw new ArgumentException("the web connector serves http or https", nameof(scheme));

    public static IEnumerable<HttpConnectorFactory> Both => [new("http"), new("https")];

    public string Scheme { get; }
    public bool WorksUnconfigured => true;
    public IDataConnector Create(ConnectorSettings settings) => new HttpConnector(HttpConnectorOptions.From(settings));
}

/// <summary>
/// http(s)://: reads any public web address, read-only. Redirects are followed here, hop by hop, so
/// each is checked (<see cref="HttpAddressPolicy"/>); connections go only to addresses that passed the
/// check. Error messages name the address without its query string and never carry the response body.
/// An object whose size the server does not give has <see cref="ObjectInfo.Size"/> -1.
/// </summary>
public sealed class HttpConnector : IDataConnector, IDisposable
{
    private const string ReadOnly = "http(s):// is read-only";
    private readonly HttpConnectorOptions _options;
    private readonly HttpClient _client;

    public HttpConnector(HttpConnectorOptions options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = options.Timeout,
        };
        if (!options.AllowPrivateAddresses) handler.ConnectCallback = HttpAddressPolicy.ConnectToPublicAddressAsync;
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("OSForAI-Data/1.0");
    }

    public bool CanWrite => false;

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        var address = AddressOf(uri);
        var response = await SendAsync(address, HttpMethod.Head, null, ct);
        if (response.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
        {
            // No HEAD here: a GET's headers say the same; the body is never read.
            response.Dispose();
            response = await SendAsync(address, HttpMethod.Get, null, ct);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone) return null;
            EnsureSuccess(response, address);
            return InfoOf(address, response, response.Content.Headers.ContentLength);
        }
    }

    public Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct) => Task.FromResult(false);

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        var address = AddressOf(uri);
        if (range is { Offset: < 0 } or { Length: < 0 }) throw new DataException(DataError.BadPath, "a byte range cannot be negative");
        var ranged = range is { } asked && (asked.Offset > 0 || asked.Length is not null);
        var response = await SendAsync(address, HttpMethod.Get, ranged ? range : null, ct);
        try
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                throw new DataException(DataError.BadPath, $"the requested range starts beyond the end of {HttpAddressPolicy.Describe(address)}");
            EnsureSuccess(response, address);
            var length = response.Content.Headers.ContentLength;
            if (length > _options.MaxBytes)
                throw new DataException(DataError.TooLarge, $"{HttpAddressPolicy.Describe(address)} is {length} bytes, over the limit of {_options.MaxBytes}");
            var body = new HttpBodyStream(response, await response.Content.ReadAsStreamAsync(ct), length, _options.MaxBytes);
            if (!ranged) return new ObjectStream(body, InfoOf(address, response, length), range);

            var r = range!.Value;
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                if (response.Content.Headers.ContentRange is not { From: { } from, To: { } to } served || from != r.Offset)
                    throw new DataException(DataError.Upstream, $"{HttpAddressPolicy.Describe(address)} answered a different byte range than the one asked for");
                var count = Math.Min(to - from + 1, r.Length ?? long.MaxValue);
                return new ObjectStream(new RangeWindowStream(body, 0, count), InfoOf(address, response, served.Length), new ByteRange(from, count));
            }
            // The server ignored Range and sent the whole object: skip to the offset and trim here.
            if (r.Offset > length)
                throw new DataException(DataError.BadPath, $"the requested range starts beyond the end of {HttpAddressPolicy.Describe(address)}");
            var window = length is { } size ? Math.Min(r.Length ?? long.MaxValue, size - r.Offset) : r.Length;
            return new ObjectStream(new RangeWindowStream(body, r.Offset, window), InfoOf(address, response, length), new ByteRange(r.Offset, window));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct) => throw NotWritable();
    public Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct) => throw NotWritable();
    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct) => throw NotWritable();
    public Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct) => throw NotWritable();

    public Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct) =>
        throw new DataException(DataError.NotSupported, "http(s):// addresses cannot be listed");

    private static DataException NotWritable() => new(DataError.NotSupported, ReadOnly);

    private static Uri AddressOf(StorageUri uri) =>
        uri.Address ?? throw new DataException(DataError.BadPath, $"{uri} is not an http(s) address");

    /// <summary>Sends the request, following allowed redirects; the response headers must arrive within the timeout.</summary>
    private async Task<HttpResponseMessage> SendAsync(Uri address, HttpMethod method, ByteRange? range, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.Timeout);
        var current = address;
        for (var hop = 1; ; hop++)
        {
            using var request = new HttpRequestMessage(method, current);
            if (range is { } r) request.Headers.Range = new RangeHeaderValue(r.Offset, r.Offset + r.Length - 1);
            HttpResponseMessage response;
            try
            {
                response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new DataException(DataError.Upstream, $"{HttpAddressPolicy.Describe(current)} did not answer within {_options.Timeout.TotalSeconds:0} s", e);
            }
            catch (HttpRequestException e)
            {
                throw Unreachable(e, current);
            }
            if (!IsRedirect(response.StatusCode)) return response;
            var location = response.Headers.Location;
            response.Dispose();
            if (location is null)
                throw new DataException(DataError.Upstream, $"{HttpAddressPolicy.Describe(current)} answered a redirect with no Location");
            var next = location.IsAbsoluteUri ? location : new Uri(current, location);
            HttpAddressPolicy.CheckRedirect(current, next, hop, _options.MaxRedirects);
            current = next;
        }
    }

    private static bool IsRedirect(HttpStatusCode code) => code is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>A refused address (from the connect callback) as itself; any other failure as Upstream with a short reason.</summary>
    private static DataException Unreachable(HttpRequestException e, Uri address)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is DataException refused) return refused;
        var reason = e.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => "the host name does not resolve",
            HttpRequestError.ConnectionError => "the connection failed",
            HttpRequestError.SecureConnectionError => "the TLS handshake failed",
            HttpRequestError.ResponseEnded => "the server closed the connection",
            HttpRequestError.InvalidResponse => "the server's answer is not valid HTTP",
            _ => "the request failed",
        };
        return new DataException(DataError.Upstream, $"cannot fetch {HttpAddressPolicy.Describe(address)}: {reason}", e);
    }

    /// <summary>Maps an error status to its DataError; the body is never read into the message.</summary>
    private static void EnsureSuccess(HttpResponseMessage response, Uri address)
    {
        var code = (int)response.StatusCode;
        if (code is >= 200 and < 300) return;
        var where = HttpAddressPolicy.Describe(address);
        throw response.StatusCode switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new DataException(DataError.Forbidden, $"{where} refused access (HTTP {code})"),
            HttpStatusCode.NotFound or HttpStatusCode.Gone => new DataException(DataError.NotFound, $"{where} not found (HTTP {code})"),
            _ => new DataException(DataError.Upstream, $"{where} answered HTTP {code}"),
        };
    }

    private static ObjectInfo InfoOf(Uri address, HttpResponseMessage response, long? size)
    {
        var last = address.Segments[^1].TrimEnd('/');
        var name = last.Length > 0 ? Uri.UnescapeDataString(last) : address.Host;
        return new ObjectInfo(name, size ?? -1, response.Headers.ETag?.ToString(), response.Content.Headers.LastModified,
            response.Content.Headers.ContentType?.ToString());
    }

    public void Dispose() => _client.Dispose();
}
