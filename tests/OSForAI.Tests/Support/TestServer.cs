using Microsoft.Extensions.Logging;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OSForAI.Server;
using OSForAI.Testing;

namespace OSForAI.Tests.Support;

/// <summary>A real OSForAI server on loopback (Kestrel, SQLite, real Python workers) in a temporary home.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(RunningServer server, string home, string adminKey)
    {
        Server = server;
        Home = home;
        AdminKey = adminKey;
        Admin = ClientFor(adminKey);
    }

    public RunningServer Server { get; private set; }
    public string Home { get; }
    public string AdminKey { get; }
    public HttpClient Admin { get; private set; }
    public string Url => Server.Url;

    public static async Task<TestServer> StartAsync(IDictionary<string, string?>? settings = null, string? home = null,
        CapturedLogs? logs = null)
    {
        home ??= Path.Combine(Path.GetTempPath(), "osai-test-" + Guid.NewGuid().ToString("N")[..12]);
        var merged = new Dictionary<string, string?>
        {
            ["OSForAI:Workers:WarmGenericWorkers"] = "2",
            ["OSForAI:Workers:MaxWorkers"] = "12",
        };
        foreach (var kv in settings ?? new Dictionary<string, string?>()) merged[kv.Key] = kv.Value;
        var server = await OsaiServer.StartAsync(new ServerStartOptions { Home = home, Port = 0, Settings = merged,
            ConfigureLogging = logs is null ? null : b => b.AddProvider(logs) });
        var key = (await File.ReadAllTextAsync(server.AdminKeyPath)).Trim();
        return new TestServer(server, home, key);
    }

    /// <summary>Stops the server and starts a new one on the same home folder.</summary>
    public async Task RestartAsync(IDictionary<string, string?>? settings = null)
    {
        await Server.DisposeAsync();
        Admin.Dispose();
        var fresh = await StartAsync(settings, Home);
        Server = fresh.Server;
        Admin = fresh.Admin;
    }

    /// <summary>
    /// Sends a request line exactly as given over a raw socket (HttpClient would normalise "..", "%2e%2e" and the like),
    /// with the client's Authorization header. Returns the status and the whole response text.
    /// </summary>
    public async Task<(int Status, string Body)> RawRequestAsync(HttpClient client, string method, string target, string? body)
    {
        var uri = new Uri(Url);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        await using var stream = tcp.GetStream();
        var auth = client.DefaultRequestHeaders.Authorization!.ToString();
        var payload = body ?? "";
        var request = $"{method} {target} HTTP/1.1\r\nHost: {uri.Authority}\r\nAuthorization: {auth}\r\nContent-Length: {Encoding.UTF8.GetByteCount(payload)}\r\nConnection: close\r\n\r\n{payload}";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync();
        return (int.Parse(response.Split(' ')[1]), response);
    }

    /// <summary>A service of the running server (pool, profiles) for white-box assertions.</summary>
    public T Get<T>() where T : notnull => (T)Server.Services.GetService(typeof(T))!;

    public HttpClient ClientFor(string? key)
    {
        var c = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Simple", key);
        return c;
    }

    public Task<string> CreateKeyAsync(string owner, params string[] scopes) => CreateKeyAsync(owner, scopes, []);

    /// <summary>A key with data grants ("r:file://shared/public/" and the like).</summary>
    public async Task<string> CreateKeyAsync(string owner, string[] scopes, string[] dataGrants)
    {
        var r = await Admin.PostAsJsonAsync("/v1/keys", new { owner, scopes, data_grants = dataGrants });
        r.EnsureSuccessStatusCode();
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }

    /// <summary>Creates (if needed), uploads and publishes an algorithm whose files are given inline.</summary>
    public Task<JsonElement> PublishAsync(string fullName, string version, IDictionary<string, string> files,
        string visibility = "public", HttpClient? client = null) => PublishArchiveAsync(fullName, version, TarGz(files), visibility, client);

    /// <summary>Publishes a model: the .onnx file plus an optional manifest and other files (labels).</summary>
    public Task<JsonElement> PublishModelAsync(string fullName, string version, byte[] onnx, string? manifest = null,
        IDictionary<string, string>? extraFiles = null, string visibility = "public") =>
        PublishArchiveAsync(fullName, version, AlgorithmFiles.Model(onnx, manifest, extraFiles), visibility, null);

    /// <summary>Creates (if needed), uploads a .tar.gz and publishes it.</summary>
    public Task<JsonElement> PublishArchiveAsync(string fullName, string version, byte[] tarGz, string visibility = "public", HttpClient? client = null) =>
        PublishArchiveWithAsync(client ?? Admin, fullName, version, tarGz, visibility);

    /// <summary>Creates (if needed), uploads a .tar.gz and publishes it with <paramref name="client"/> (on any server).</summary>
    public static async Task<JsonElement> PublishArchiveWithAsync(HttpClient client, string fullName, string version, byte[] tarGz, string visibility = "public")
    {
        var (owner, name) = (fullName.Split('/')[0], fullName.Split('/')[1]);
        var created = await client.PostAsJsonAsync("/v1/algorithms", new { owner, name });
        if (created.StatusCode != System.Net.HttpStatusCode.Conflict) created.EnsureSuccessStatusCode();
        var build = await BuildWithAsync(client, fullName, tarGz);
        Assert.True(build.GetProperty("status").GetString() == "succeeded", "the build failed: " + build);
        var hash = build.GetProperty("build").GetString();
        var pub = await client.PostAsJsonAsync($"/v1/algorithms/{owner}/{name}/versions", new { build = hash, version, visibility });
        Assert.True(pub.IsSuccessStatusCode, await pub.Content.ReadAsStringAsync());
        return await pub.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Uploads a .tar.gz as a build of an existing algorithm and returns the build (succeeded or failed); fails the test on a refusal.</summary>
    public static async Task<JsonElement> BuildWithAsync(HttpClient client, string fullName, byte[] tarGz)
    {
        var content = new ByteArrayContent(tarGz);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        var build = await client.PostAsync($"/v1/algorithms/{fullName}/builds", content);
        Assert.True(build.StatusCode == System.Net.HttpStatusCode.Created, await build.Content.ReadAsStringAsync());
        return await build.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static Dictionary<string, string> Python(string mainPy, string manifestExtra = "") => AlgorithmFiles.Python(mainPy, manifestExtra);
    public static byte[] TarGz(IDictionary<string, string> files) => AlgorithmFiles.TarGz(files);

    public static async Task<(int Status, JsonElement Body)> CallAsync(HttpClient client, string path, HttpContent content)
    {
        var r = await client.PostAsync(path, content);
        var text = await r.Content.ReadAsStringAsync();
        var json = text.Length > 0 && r.Content.Headers.ContentType?.MediaType == "application/json"
            ? JsonSerializer.Deserialize<JsonElement>(text) : default;
        return ((int)r.StatusCode, json);
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
    public static StringContent Text(string text) => new(text, Encoding.UTF8, "text/plain");

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Server.DisposeAsync();
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Log records of a test server, kept in memory so tests can assert what was logged.</summary>
public sealed class CapturedLogs : Microsoft.Extensions.Logging.ILoggerProvider
{
    public sealed record Entry(string Category, Microsoft.Extensions.Logging.LogLevel Level, string Message, Exception? Exception);

    private readonly System.Collections.Concurrent.ConcurrentQueue<Entry> _entries = new();
    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(CapturedLogs owner, string category) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(category, logLevel, formatter(state, exception), exception));
    }
}

/// <summary>One server shared by the tests of a class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await TestServer.StartAsync(new Dictionary<string, string?>
    {
        ["OSForAI:Workers:StdoutLimitBytes"] = "65536",
        ["OSForAI:MaxRequestBodyBytes"] = (1024 * 1024).ToString(),
    });
    public async Task DisposeAsync() => await Server.DisposeAsync();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Task>> _published = new();

    /// <summary>Publishes once per fixture, however many tests ask for it.</summary>
    public Task EnsurePublishedAsync(string fullName, string version, IDictionary<string, string> files, string visibility = "public") =>
        _published.GetOrAdd($"{fullName}@{version}", _ => new Lazy<Task>(() => Server.PublishAsync(fullName, version, files, visibility))).Value;
}
