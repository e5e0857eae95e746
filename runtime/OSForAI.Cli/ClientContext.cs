using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OSForAI.Server;

namespace OSForAI.Cli;

/// <summary>Where the server is and which key to use, with where each came from.</summary>
internal sealed record ClientSettings(string Url, string? Key, string UrlSource, string? KeySource);

/// <summary>A response read whole: status, body bytes and (when the body is JSON) the parsed body.</summary>
internal sealed class ApiResponse(HttpStatusCode status, byte[] body, JsonElement? json)
{
    public HttpStatusCode Status { get; } = status;
    public byte[] Body { get; } = body;
    public JsonElement? Json { get; } = json;
    public bool IsSuccess => (int)Status is >= 200 and < 300;

    /// <summary>The JSON body of a success; a <see cref="CliException"/> for an error response.</summary>
    public JsonElement EnsureSuccess()
    {
        if (!IsSuccess)
            throw ToError();
        return Json ?? throw new CliException($"unexpected response from the server (HTTP {(int)Status}, not JSON)");
    }

    /// <summary>The error this response stands for: the envelope's message, else the HTTP status.</summary>
    public CliException ToError()
    {
        if (Json is { ValueKind: JsonValueKind.Object } obj && obj.TryGetProperty("error", out var error))
        {
            if (error.ValueKind == JsonValueKind.String)
                return new CliException(error.GetString() ?? $"HTTP {(int)Status}", 1);
            if (error.ValueKind == JsonValueKind.Object)
            {
                var message = error.Str("message") ?? $"HTTP {(int)Status}";
                var details = new StringBuilder();
                if (error.Str("error_type") is { Length: > 0 } type)
                    details.Append("error type: ").AppendLine(type);
                if (error.Str("stacktrace") is { Length: > 0 } stack)
                    details.AppendLine(stack.TrimEnd());
                return new CliException(message, 1, details.Length > 0 ? details.ToString() : null);
            }
        }
        var reason = string.IsNullOrEmpty(ReasonPhrase(Status)) ? "" : $" {ReasonPhrase(Status)}";
        return new CliException($"HTTP {(int)Status}{reason}", 1);
    }

    private static string ReasonPhrase(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "Bad Request",
        HttpStatusCode.Unauthorized => "Unauthorized",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.Conflict => "Conflict",
        HttpStatusCode.RequestEntityTooLarge => "Payload Too Large",
        HttpStatusCode.InternalServerError => "Internal Server Error",
        HttpStatusCode.BadGateway => "Bad Gateway",
        HttpStatusCode.ServiceUnavailable => "Service Unavailable",
        HttpStatusCode.GatewayTimeout => "Gateway Timeout",
        _ => "",
    };
}

/// <summary>
/// Resolves the server URL, API key and home folder of client commands, and talks HTTP to the server.
/// </summary>
internal sealed class ClientContext : IDisposable
{
    public const string UrlVariable = "OSFORAI_URL";
    public const string KeyVariable = "OSFORAI_KEY";
    public const string HomeVariable = "OSFORAI_HOME";
    public const string NoUrlMessage = "no server URL: pass --url, set OSFORAI_URL or start `osai serve`";

    private readonly HttpClient _http;

    private ClientContext(ClientSettings settings, HttpClient http)
    {
        Settings = settings;
        _http = http;
    }

    public ClientSettings Settings { get; }
    public string Url => Settings.Url;

    /// <summary>Resolves settings from the command's options and the host, and prepares an HTTP client.</summary>
    /// <param name="timeout">Request timeout; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    public static ClientContext Create(Arguments args, CliHost host, TimeSpan? timeout = null)
    {
        var settings = Resolve(args.Get("url"), args.Get("key"), args.Get("home"), host.Env, host.UserHome);
        // A local server is reached directly, whatever HTTP(S)_PROXY says.
        var handler = host.CreateHttpHandler?.Invoke() ?? new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            UseProxy = !IsLocal(new Uri(settings.Url)),
        };
        var http = new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = new Uri(settings.Url.TrimEnd('/') + "/"),
            Timeout = timeout ?? TimeSpan.FromSeconds(100),
        };
        if (settings.Key is not null)
            http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", $"Simple {settings.Key}");
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("osai", "1.0"));
        return new ClientContext(settings, http);
    }

    private static bool IsLocal(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    /// <summary>The home folder: <paramref name="homeOption"/>, else $OSFORAI_HOME, else <c>~/.osforai</c>.</summary>
    public static string ResolveHome(string? homeOption, Func<string, string?> env, string userHome)
    {
        if (!string.IsNullOrEmpty(homeOption))
            return Path.GetFullPath(homeOption);
        if (env(HomeVariable) is { Length: > 0 } fromEnv)
            return Path.GetFullPath(fromEnv);
        return Path.Combine(userHome, ".osforai");
    }

    /// <summary>
    /// URL: <paramref name="urlOption"/>, else $OSFORAI_URL, else the <c>url</c> of <c>&lt;home&gt;/server.json</c>.
    /// Key: <paramref name="keyOption"/>, else $OSFORAI_KEY, else the trimmed contents of <c>&lt;home&gt;/admin.key</c>
    /// (none when that file does not exist). Throws a <see cref="CliException"/> with exit code 2 when no
    /// URL can be found or the URL is not an absolute http(s) URL.
    /// </summary>
    public static ClientSettings Resolve(
        string? urlOption, string? keyOption, string? homeOption, Func<string, string?> env, string userHome)
    {
        string? Env(string name) => env(name) is { Length: > 0 } value ? value : null;
        var home = ResolveHome(homeOption, Env, userHome);

        string? url;
        string urlSource;
        if (!string.IsNullOrEmpty(urlOption)) (url, urlSource) = (urlOption, "--url");
        else if (Env(UrlVariable) is { } envUrl) (url, urlSource) = (envUrl, UrlVariable);
        else
        {
            var infoPath = Path.Combine(home, OsaiServer.ServerInfoFile);
            url = ReadServerInfoUrl(infoPath);
            urlSource = infoPath;
        }
        if (url is null)
            throw new CliException(NoUrlMessage, 2);
        url = url.Trim();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new CliException($"invalid server URL '{url}' (from {urlSource}): expected http://HOST:PORT", 2);

        string? key = null;
        string? keySource = null;
        if (!string.IsNullOrEmpty(keyOption)) (key, keySource) = (keyOption.Trim(), "--key");
        else if (Env(KeyVariable) is { } envKey) (key, keySource) = (envKey.Trim(), KeyVariable);
        else
        {
            var keyPath = Path.Combine(home, OsaiServer.AdminKeyFile);
            if (File.Exists(keyPath))
            {
                try
                {
                    var text = File.ReadAllText(keyPath).Trim();
                    if (text.Length > 0) (key, keySource) = (text, keyPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new CliException($"cannot read {keyPath}: {e.Message}", 2);
                }
            }
        }
        return new ClientSettings(url.TrimEnd('/'), key, urlSource, keySource);
    }

    /// <summary>
    /// The URL in <c>server.json</c>, or null when there is none. A file naming a process that no longer runs, at an address where
    /// nothing answers, is left from a server that died without cleaning up: an error that says so, rather than a URL that
    /// fails later with "connection refused". (A live process, or an address that answers, is trusted: the server may run in a
    /// container, under another pid namespace.)
    /// </summary>
    private static string? ReadServerInfoUrl(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || doc.RootElement.Str("url") is not { Length: > 0 } url)
                return null;
            if (doc.RootElement.Prop("pid") is { ValueKind: JsonValueKind.Number } pidValue && pidValue.TryGetInt32(out var pid)
                && !ProcessIsRunning(pid) && !Answers(url))
                throw new CliException(
                    $"{path} is left from a server that is no longer running (pid {pid}, {url}): start one with `osai serve`, or pass --url", 2);
            return url;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {path}: {e.Message}", 2);
        }
        catch (JsonException e)
        {
            throw new CliException($"{path} is not valid JSON: {e.Message}", 2);
        }
    }

    private static bool ProcessIsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Whether something accepts TCP connections at <paramref name="url"/>'s host and port (within half a second).</summary>
    private static bool Answers(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return false;
        try
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            return tcp.ConnectAsync(uri.Host, uri.Port).Wait(TimeSpan.FromMilliseconds(500)) && tcp.Connected;
        }
        catch (Exception e) when (e is AggregateException or System.Net.Sockets.SocketException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Sends a request with an optional JSON body.</summary>
    public Task<ApiResponse> SendJsonAsync(HttpMethod method, string path, object? body = null, CancellationToken ct = default)
    {
        HttpContent? content = null;
        if (body is not null)
            content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body))
            {
                Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
            };
        return SendAsync(method, path, content, ct);
    }

    /// <summary>
    /// Sends a request and reads the whole response. Connection failures become "cannot reach OSForAI"
    /// (exit 2); timeouts and other transport failures become errors with exit code 1.
    /// </summary>
    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/')) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return await Transport(async () =>
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            return new ApiResponse(response.StatusCode, bytes, TryParseJson(bytes));
        }, ct);
    }

    /// <summary>
    /// Sends a request and returns as soon as a successful response's headers have arrived, its body left to stream (the caller
    /// disposes the response). An error status becomes its <see cref="CliException"/>; transport failures as in
    /// <see cref="SendAsync"/>.
    /// </summary>
    public async Task<HttpResponseMessage> SendForStreamAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct = default)
    {
        var response = await SendUncheckedAsync(method, path, content, ct);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
            throw (await ReadErrorAsync(response, ct)).ToError();
    }

    /// <summary>Like <see cref="SendForStreamAsync"/>, but returns error responses too (the caller disposes the response).</summary>
    public Task<HttpResponseMessage> SendUncheckedAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct = default) =>
        Transport(async () =>
        {
            using var request = new HttpRequestMessage(method, path.TrimStart('/')) { Content = content };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream"));
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }, ct);

    /// <summary>Reads an error response's body (the error envelope, if any).</summary>
    public static async Task<ApiResponse> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct = default)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        return new ApiResponse(response.StatusCode, bytes, TryParseJson(bytes));
    }

    private async Task<T> Transport<T>(Func<Task<T>> send, CancellationToken ct)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                                             || (e.HttpRequestError == HttpRequestError.Unknown && e.InnerException is System.Net.Sockets.SocketException))
        {
            throw new CliException($"cannot reach OSForAI at {Url}: {e.Message}", 2);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"request to {Url} failed: {e.Message}", 1);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException($"request to {Url} timed out after {_http.Timeout.TotalSeconds:0} s", 1);
        }
    }

    /// <summary>
    /// Sends a request that asks for a streamed answer of JSON lines (<paramref name="streamMediaType"/>, e.g. a build's log as it
    /// is written): each line of such an answer goes to <paramref name="onLine"/> as it arrives and null is returned; any other
    /// answer (an error, or a server that does not stream) is read whole and returned. Failures map as in <see cref="SendAsync"/>.
    /// </summary>
    public async Task<ApiResponse?> SendStreamingAsync(HttpMethod method, string path, HttpContent? content, string streamMediaType,
        Func<JsonElement, Task> onLine, Action? onHeaders = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/')) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(streamMediaType));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json", 0.5));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            onHeaders?.Invoke();
            if (!string.Equals(response.Content.Headers.ContentType?.MediaType, streamMediaType, StringComparison.OrdinalIgnoreCase))
            {
                var bytes = await response.Content.ReadAsByteArrayAsync(ct);
                return new ApiResponse(response.StatusCode, bytes, TryParseJson(bytes));
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct), Encoding.UTF8);
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.Length == 0)
                    continue;
                if (TryParseJson(Encoding.UTF8.GetBytes(line)) is not { } json)
                    throw new CliException($"unexpected line in the server's answer: {line}", 1);
                await onLine(json);
            }
            return null;
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                                             || (e.HttpRequestError == HttpRequestError.Unknown && e.InnerException is System.Net.Sockets.SocketException))
        {
            throw new CliException($"cannot reach OSForAI at {Url}: {e.Message}", 2);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new CliException($"request to {Url} failed: {e.Message}", 1);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException($"request to {Url} timed out after {_http.Timeout.TotalSeconds:0} s", 1);
        }
    }

    private static JsonElement? TryParseJson(byte[] bytes)
    {
        if (bytes.Length == 0)
            return null;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Lenient readers of JSON fields (missing and null read as null).</summary>
internal static class JsonFields
{
    public static string? Str(this JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var value))
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            JsonValueKind.Array => string.Join(",", value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())),
            _ => value.GetRawText(),
        };
    }

    public static JsonElement? Prop(this JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : null;

    public static IEnumerable<JsonElement> Items(this JsonElement obj, string name) =>
        obj.Prop(name) is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : [];
}
