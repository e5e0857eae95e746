using OSForAI.Server;

namespace OSForAI.Tests.Cli;

/// <summary>
/// <c>osai algo build</c> and <c>osai algo publish</c> against a real embedded server: the build's log is shown as the server
/// writes it, a failed build prints it and exits 1 without publishing, a good build prints its hash, which its owner can call.
/// </summary>
public sealed class CliBuildTests : IAsyncLifetime
{
    private readonly TempDir _home = new();
    private readonly TempDir _good = new();
    private readonly TempDir _broken = new();
    private RunningServer _server = null!;
    private string _adminKey = "";

    public async Task InitializeAsync()
    {
        _server = await OsaiServer.StartAsync(new ServerStartOptions { Home = _home.Path, Port = 0 });
        _adminKey = (await File.ReadAllTextAsync(_server.AdminKeyPath)).Trim();
        _good.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:apply\n");
        _good.Write("main.py", "def apply(x):\n    return \"Hi \" + x\n");
        _broken.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:run\n");
        _broken.Write("main.py", "def apply(x):\n    return x\n");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _good.Dispose();
        _broken.Dispose();
        _home.Dispose();
    }

    private async Task<CliRun> Osai(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await OSForAI.Cli.Cli.RunAsync([.. args, "--url", _server.Url, "--key", _adminKey, "--home", _home.Path], output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Build_prints_the_hash_of_a_good_build_which_can_be_called_and_shows_the_log_as_it_runs()
    {
        var built = await Osai("algo", "build", _good.Path, "--name", "cli/greeter");
        Assert.True(built.ExitCode == 0, built.Error);
        var hash = built.Out.Trim();
        Assert.Matches("^[0-9a-f]{64}$", hash);
        Assert.Contains("  checking that main:apply loads", built.Error);       // the log, streamed
        Assert.Contains("build succeeded", built.Error);
        Assert.Contains($"Built cli/greeter build {hash[..12]}", built.Error);

        var call = await Osai("call", $"cli/greeter/{hash}", "you");
        Assert.True(call.ExitCode == 0, call.Error);
        Assert.Equal("Hi you", call.Out.TrimEnd());

        var info = await Osai("algo", "info", "cli/greeter");
        Assert.Contains("No published versions.", info.Out);                     // build stops before publishing
    }

    [Fact]
    public async Task A_failed_build_prints_its_log_and_exits_1_and_publish_publishes_nothing()
    {
        foreach (var args in new[]
        {
            new[] { "algo", "build", _broken.Path, "--name", "cli/broken" },
            new[] { "algo", "publish", _broken.Path, "--name", "cli/broken", "--version", "1.0.0" },
        })
        {
            var run = await Osai(args);
            Assert.Equal(1, run.ExitCode);
            Assert.Equal("", run.Out);
            Assert.Contains("entrypoint main:run not found in main.py (it defines apply)", run.Error);
            Assert.Contains("  build FAILED", run.Error);                          // the whole log was shown
            Assert.Contains("error: the build of cli/broken failed", run.Error);
        }
        var info = await Osai("algo", "info", "cli/broken");
        Assert.Contains("No published versions.", info.Out);
    }

    [Fact]
    public async Task Publish_builds_then_publishes()
    {
        var run = await Osai("algo", "publish", _good.Path, "--name", "cli/published", "--version", "2.0.0");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.StartsWith("Published cli/published 2.0.0 (build ", run.Out);
        Assert.Contains("build succeeded", run.Error);
        var call = await Osai("call", "cli/published/2.0.0", "there");
        Assert.Equal("Hi there", call.Out.TrimEnd());
    }
}
