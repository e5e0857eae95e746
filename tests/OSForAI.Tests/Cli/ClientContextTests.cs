using OSForAI.Cli;

namespace OSForAI.Tests.Cli;

public sealed class ClientContextTests : IDisposable
{
    private readonly TempDir _home = new();
    private readonly TempDir _envHome = new();
    private readonly TempDir _userHome = new();

    public void Dispose()
    {
        _home.Dispose();
        _envHome.Dispose();
        _userHome.Dispose();
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    private static void WriteServerFiles(string home, string url, string key)
    {
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, "server.json"), $$"""{"url": "{{url}}", "pid": 1}""");
        File.WriteAllText(Path.Combine(home, "admin.key"), $"  {key}\n\n");
    }

    [Fact]
    public void Flags_win_over_environment_and_home_files()
    {
        WriteServerFiles(_home.Path, "http://home:1", "home-key");
        var env = Env(("OSFORAI_URL", "http://env:2"), ("OSFORAI_KEY", "env-key"));

        var settings = ClientContext.Resolve("http://flag:3/", "flag-key", _home.Path, env, _userHome.Path);

        Assert.Equal("http://flag:3", settings.Url);
        Assert.Equal("flag-key", settings.Key);
        Assert.Equal("--url", settings.UrlSource);
        Assert.Equal("--key", settings.KeySource);
    }

    [Fact]
    public void Environment_wins_over_home_files()
    {
        WriteServerFiles(_home.Path, "http://home:1", "home-key");
        var env = Env(("OSFORAI_URL", "http://env:2"), ("OSFORAI_KEY", "env-key"));

        var settings = ClientContext.Resolve(null, null, _home.Path, env, _userHome.Path);

        Assert.Equal("http://env:2", settings.Url);
        Assert.Equal("env-key", settings.Key);
    }

    [Fact]
    public void Home_files_are_used_last_and_the_key_is_trimmed()
    {
        WriteServerFiles(_home.Path, "http://home:1", "home-key");

        var settings = ClientContext.Resolve(null, null, _home.Path, Env(), _userHome.Path);

        Assert.Equal("http://home:1", settings.Url);
        Assert.Equal("home-key", settings.Key);
        Assert.Equal(Path.Combine(_home.Path, "admin.key"), settings.KeySource);
    }

    [Fact]
    public void Empty_environment_values_count_as_unset()
    {
        WriteServerFiles(_home.Path, "http://home:1", "home-key");
        var env = Env(("OSFORAI_URL", ""), ("OSFORAI_KEY", ""));

        var settings = ClientContext.Resolve(null, null, _home.Path, env, _userHome.Path);

        Assert.Equal("http://home:1", settings.Url);
        Assert.Equal("home-key", settings.Key);
    }

    [Fact]
    public void Home_comes_from_flag_then_environment_then_user_folder()
    {
        Assert.Equal(Path.GetFullPath(_home.Path),
            ClientContext.ResolveHome(_home.Path, Env(("OSFORAI_HOME", _envHome.Path)), _userHome.Path));
        Assert.Equal(Path.GetFullPath(_envHome.Path),
            ClientContext.ResolveHome(null, Env(("OSFORAI_HOME", _envHome.Path)), _userHome.Path));
        Assert.Equal(Path.Combine(_userHome.Path, ".osforai"),
            ClientContext.ResolveHome(null, Env(), _userHome.Path));
    }

    [Fact]
    public void Home_from_environment_is_where_server_files_are_read()
    {
        WriteServerFiles(_envHome.Path, "http://envhome:4", "envhome-key");

        var settings = ClientContext.Resolve(null, null, null, Env(("OSFORAI_HOME", _envHome.Path)), _userHome.Path);

        Assert.Equal("http://envhome:4", settings.Url);
        Assert.Equal("envhome-key", settings.Key);
    }

    [Fact]
    public void Default_home_under_the_user_folder_is_read()
    {
        WriteServerFiles(Path.Combine(_userHome.Path, ".osforai"), "http://userhome:5", "user-key");

        var settings = ClientContext.Resolve(null, null, null, Env(), _userHome.Path);

        Assert.Equal("http://userhome:5", settings.Url);
        Assert.Equal("user-key", settings.Key);
    }

    [Fact]
    public void Missing_key_is_allowed()
    {
        var settings = ClientContext.Resolve("http://x:1", null, _home.Path, Env(), _userHome.Path);

        Assert.Null(settings.Key);
        Assert.Null(settings.KeySource);
    }

    [Fact]
    public void No_url_anywhere_is_exit_2_with_a_clear_message()
    {
        var e = Assert.Throws<CliException>(() => ClientContext.Resolve(null, "k", _home.Path, Env(), _userHome.Path));

        Assert.Equal(2, e.ExitCode);
        Assert.Equal("no server URL: pass --url, set OSFORAI_URL or start `osai serve`", e.Message);
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("ftp://host/")]
    [InlineData("not a url")]
    public void Invalid_url_is_exit_2(string url)
    {
        var e = Assert.Throws<CliException>(() => ClientContext.Resolve(url, null, _home.Path, Env(), _userHome.Path));

        Assert.Equal(2, e.ExitCode);
        Assert.Contains("invalid server URL", e.Message);
    }

    [Fact]
    public void Corrupt_server_json_is_reported()
    {
        File.WriteAllText(Path.Combine(_home.Path, "server.json"), "{not json");

        var e = Assert.Throws<CliException>(() => ClientContext.Resolve(null, null, _home.Path, Env(), _userHome.Path));

        Assert.Equal(2, e.ExitCode);
        Assert.Contains("server.json", e.Message);
    }

    [Fact]
    public async Task Client_command_without_url_exits_2()
    {
        var run = await CliRunner.RunAsync(["algo", "list", "--home", _home.Path], userHome: _userHome.Path);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: no server URL: pass --url, set OSFORAI_URL or start `osai serve`", run.Error);
    }

    [Fact]
    public async Task Requests_carry_the_resolved_url_and_simple_authorization()
    {
        WriteServerFiles(_home.Path, "http://home.example:1234", "home-key");
        var server = new FakeServer(_ => FakeServer.Json(System.Net.HttpStatusCode.OK, """{"keys":[]}"""));

        var run = await CliRunner.RunAsync(["keys", "list"], env: new Dictionary<string, string> { ["OSFORAI_HOME"] = _home.Path },
            server: server, userHome: _userHome.Path);

        Assert.Equal(0, run.ExitCode);
        var request = Assert.Single(server.Requests);
        Assert.Equal("http://home.example:1234/v1/keys", request.Uri.ToString());
        Assert.Equal("Simple home-key", request.Authorization);
    }

    [Fact]
    public async Task Connection_refused_is_exit_2()
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var url = $"http://127.0.0.1:{port}";

        var run = await CliRunner.RunAsync(["algo", "list", "--url", url, "--key", "k"], userHome: _userHome.Path);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"cannot reach OSForAI at {url}:", run.Error);
    }
}
