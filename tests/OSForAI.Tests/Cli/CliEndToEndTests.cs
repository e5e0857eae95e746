using OSForAI.Cli;
using OSForAI.Server;

namespace OSForAI.Tests.Cli;

/// <summary>
/// <c>osai</c> against a real embedded server: create a key, publish an algorithm, list, inspect and call it.
/// Needs the server (and python3 for the worker).
/// </summary>
public sealed class CliEndToEndTests : IAsyncLifetime
{
    private readonly TempDir _home = new();
    private readonly TempDir _code = new();
    private RunningServer _server = null!;
    private string _adminKey = "";

    public async Task InitializeAsync()
    {
        _server = await OsaiServer.StartAsync(new ServerStartOptions { Home = _home.Path, Port = 0 });
        _adminKey = (await File.ReadAllTextAsync(_server.AdminKeyPath)).Trim();
        _code.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:apply\n");
        _code.Write("main.py", "def apply(x):\n    return \"Hello \" + x\n");
        _code.Write("__pycache__/main.cpython-312.pyc", "stale");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _code.Dispose();
        _home.Dispose();
    }

    private async Task<CliRun> Osai(string key, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OSForAI.Cli.Cli.RunAsync([.. args, "--url", _server.Url, "--key", key, "--home", _home.Path], output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Create_key_publish_list_info_and_call()
    {
        var created = await Osai(_adminKey, "keys", "create", "--owner", "alice", "--scopes", "call,publish", "--name", "e2e");
        Assert.True(created.ExitCode == 0, created.Error);
        var aliceKey = created.Out.Trim();
        Assert.NotEmpty(aliceKey);
        Assert.DoesNotContain('\n', aliceKey);

        var keys = await Osai(_adminKey, "keys", "list");
        Assert.True(keys.ExitCode == 0, keys.Error);
        Assert.Contains("alice", keys.Out);
        Assert.Contains("e2e", keys.Out);

        var published = await Osai(aliceKey, "algo", "publish", _code.Path, "--name", "alice/hello", "--version", "1.0.0",
            "--description", "Says hello");
        Assert.True(published.ExitCode == 0, published.Error);
        Assert.StartsWith("Published alice/hello 1.0.0 (build ", published.Out);

        var list = await Osai(aliceKey, "algo", "list");
        Assert.True(list.ExitCode == 0, list.Error);
        Assert.Contains("alice/hello", list.Out);
        Assert.Contains("1.0.0", list.Out);

        var info = await Osai(aliceKey, "algo", "info", "alice/hello");
        Assert.True(info.ExitCode == 0, info.Error);
        Assert.StartsWith("alice/hello", info.Out);
        Assert.Contains("Says hello", info.Out);
        Assert.Contains("1.0.0", info.Out);
        Assert.Contains("python3", info.Out);
        Assert.Contains("main:apply", info.Out);

        var call = await Osai(aliceKey, "call", "alice/hello", "World");
        Assert.True(call.ExitCode == 0, call.Error);
        Assert.Equal("Hello World", call.Out.TrimEnd());

        var exact = await Osai(aliceKey, "call", "alice/hello/1.0.0", "\"Versions\"");
        Assert.True(exact.ExitCode == 0, exact.Error);
        Assert.Equal("Hello Versions", exact.Out.TrimEnd());

        var unknown = await Osai(aliceKey, "call", "alice/nope", "World");
        Assert.Equal(1, unknown.ExitCode);
        Assert.StartsWith("error: ", unknown.Error);
        Assert.True(unknown.Error.Contains("nope", StringComparison.OrdinalIgnoreCase)
                    || unknown.Error.Contains("not found", StringComparison.OrdinalIgnoreCase), unknown.Error);
        Assert.Equal("", unknown.Out);
    }

    [Fact]
    public async Task Publishing_different_code_under_an_existing_version_fails()
    {
        var created = await Osai(_adminKey, "keys", "create", "--owner", "carol", "--scopes", "call,publish");
        Assert.True(created.ExitCode == 0, created.Error);
        var carolKey = created.Out.Trim();
        var first = await Osai(carolKey, "algo", "publish", _code.Path, "--name", "carol/again", "--version", "0.1.0");
        Assert.True(first.ExitCode == 0, first.Error);

        _code.Write("main.py", "def apply(x):\n    return \"Bye \" + x\n");
        var second = await Osai(carolKey, "algo", "publish", _code.Path, "--name", "carol/again", "--version", "0.1.0");

        Assert.Equal(1, second.ExitCode);
        Assert.Contains("error: ", second.Error);
        Assert.Equal("", second.Out);
    }

    [Fact]
    public async Task Serve_runs_until_stopped_and_clients_find_it_through_the_home_folder()
    {
        using var home = new TempDir();
        using var stop = new CancellationTokenSource();
        var output = new ConcurrentStringWriter();
        var error = new ConcurrentStringWriter();
        var host = new CliHost
        {
            Out = output,
            Error = error,
            GetEnvironmentVariable = _ => null,
            ShutdownToken = stop.Token,
            HandleSignals = false,
        };
        var serve = OSForAI.Cli.Cli.RunAsync(["serve", "--port", "0", "--home", home.Path], host);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!output.ToString().Contains("Admin key:") && !serve.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(serve.IsCompleted, $"serve ended early: {error}");
        Assert.Contains("OSForAI is running at http://127.0.0.1:", output.ToString());
        Assert.Contains("Admin key: ", output.ToString());
        Assert.Contains(OsaiServer.AdminKeyFile, output.ToString());

        // No --url/--key: both come from the home folder the server wrote.
        var list = await CliRunner.RunAsync(["algo", "list", "--home", home.Path]);
        Assert.True(list.ExitCode == 0, list.Error);
        Assert.StartsWith("NAME", list.Out);

        stop.Cancel();
        var exitCode = await serve.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, exitCode);
    }
}
