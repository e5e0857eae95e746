using System.Net;
using System.Text;
using OSForAI.Cli;

namespace OSForAI.Tests.Cli;

/// <summary>Output of one in-process run of <c>osai</c>.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error);

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "osai-cli-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Write(string relative, string content)
    {
        var full = Combine(relative.Split('/'));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A text writer safe to read while another thread writes (for <c>osai serve</c> in the background).</summary>
internal sealed class ConcurrentStringWriter : TextWriter
{
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_lock) _text.Append(value);
    }

    public override void Write(string? value)
    {
        lock (_lock) _text.Append(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (_lock) _text.Append(buffer, index, count);
    }

    public override string ToString()
    {
        lock (_lock) return _text.ToString();
    }
}

/// <summary>One request as the fake server saw it.</summary>
internal sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? ContentType, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
    public string PathAndQuery => Uri.PathAndQuery;
}

/// <summary>Answers requests with a function and records them; stands in for the server in unit tests.</summary>
internal sealed class FakeServer
{
    private readonly Func<RecordedRequest, HttpResponseMessage> _respond;

    public FakeServer(Func<RecordedRequest, HttpResponseMessage> respond) => _respond = respond;

    public List<RecordedRequest> Requests { get; } = [];

    public HttpMessageHandler CreateHandler() => new Handler(this);

    public static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private sealed class Handler(FakeServer server) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
            var recorded = new RecordedRequest(
                request.Method,
                request.RequestUri!,
                request.Headers.TryGetValues("Authorization", out var auth) ? auth.Single() : null,
                request.Content?.Headers.ContentType?.ToString(),
                body);
            lock (server.Requests) server.Requests.Add(recorded);
            return server._respond(recorded);
        }
    }
}

/// <summary>Runs <c>osai</c> in-process with an isolated environment.</summary>
internal static class CliRunner
{
    public static async Task<CliRun> RunAsync(
        string[] args,
        IReadOnlyDictionary<string, string>? env = null,
        FakeServer? server = null,
        string? userHome = null,
        byte[]? stdin = null,
        bool errorIsTerminal = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var host = new CliHost
        {
            Out = output,
            Error = error,
            GetEnvironmentVariable = name => env is not null && env.TryGetValue(name, out var value) ? value : null,
            UserHome = userHome ?? System.IO.Path.Combine(System.IO.Path.GetTempPath(), "osai-cli-test-no-home"),
            OpenStandardInput = () => new MemoryStream(stdin ?? []),
            ErrorIsTerminal = errorIsTerminal,
            CreateHttpHandler = server is null ? null : server.CreateHandler,
        };
        var code = await OSForAI.Cli.Cli.RunAsync(args, host);
        return new CliRun(code, output.ToString(), error.ToString());
    }
}
