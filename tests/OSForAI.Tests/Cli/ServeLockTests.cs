using System.Text.Json;
using OSForAI.Cli;
using OSForAI.Server;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Cli;

/// <summary><c>osai serve</c> holds its home: a second server there is refused by name, and server.json goes with the server.</summary>
public sealed class ServeLockTests
{
    private static (CliHost Host, ConcurrentStringWriter Out, ConcurrentStringWriter Error) Host(CancellationToken stop)
    {
        var output = new ConcurrentStringWriter();
        var error = new ConcurrentStringWriter();
        return (new CliHost { Out = output, Error = error, GetEnvironmentVariable = _ => null, ShutdownToken = stop, HandleSignals = false },
            output, error);
    }

    [Fact]
    public async Task A_second_server_on_one_home_is_refused_and_server_json_is_removed_at_stop()
    {
        using var home = new TempDir();
        using var stop = new CancellationTokenSource();
        var first = Host(stop.Token);
        var serve = OSForAI.Cli.Cli.RunAsync(["serve", "--port", "0", "--home", home.Path], first.Host);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!first.Out.ToString().Contains("Admin key:") && !serve.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(serve.IsCompleted, $"serve ended early: {first.Error}");
        var info = Path.Combine(home.Path, OsaiServer.ServerInfoFile);
        using (var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(info)))
        {
            var url = doc.RootElement.GetProperty("url").GetString()!;
            Assert.Contains(url, first.Out.ToString());

            // The lock is an open file description: a second open in this same process conflicts as another process's would.
            using var stop2 = new CancellationTokenSource();
            var second = Host(stop2.Token);
            var refused = await OSForAI.Cli.Cli.RunAsync(["serve", "--port", "0", "--home", home.Path], second.Host).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(1, refused);
            Assert.Contains($"another OSForAI server is already using {home.Path} (pid {Environment.ProcessId}, {url})", second.Error.ToString());
            Assert.Contains(url, await File.ReadAllTextAsync(info));      // the running server's file is left alone
        }

        stop.Cancel();
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.False(File.Exists(info), "server.json is removed when the server stops");

        // Released at stop: the home takes a new server.
        using var stop3 = new CancellationTokenSource();
        var third = Host(stop3.Token);
        var again = OSForAI.Cli.Cli.RunAsync(["serve", "--port", "0", "--home", home.Path], third.Host);
        deadline = DateTime.UtcNow.AddSeconds(60);
        while (!third.Out.ToString().Contains("Admin key:") && !again.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(again.IsCompleted, $"a server on the released home failed: {third.Error}");
        stop3.Cancel();
        Assert.Equal(0, await again.WaitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task A_killed_servers_lock_is_free_and_its_stale_server_json_is_not_used()
    {
        using var home = new TempDir();
        await using var server = await ServeProcess.StartAsync(home.Path, new Dictionary<string, string>());
        var held = await CliRunner.RunAsync(["serve", "--port", "0", "--home", home.Path]);
        Assert.Equal(1, held.ExitCode);
        Assert.Contains($"another OSForAI server is already using {home.Path} (pid ", held.Error);

        // SIGKILL: no clean-up runs. The OS drops the lock; server.json stays behind, naming a dead process.
        server.Kill();
        var info = Path.Combine(home.Path, OsaiServer.ServerInfoFile);
        Assert.True(File.Exists(info));
        var list = await CliRunner.RunAsync(["algo", "list", "--home", home.Path]);
        Assert.Equal(2, list.ExitCode);
        Assert.Contains($"{info} is left from a server that is no longer running (pid ", list.Error);

        using var stop = new CancellationTokenSource();
        var next = Host(stop.Token);
        var serve = OSForAI.Cli.Cli.RunAsync(["serve", "--port", "0", "--home", home.Path], next.Host);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!next.Out.ToString().Contains("Admin key:") && !serve.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(serve.IsCompleted, $"a server on a killed server's home failed: {next.Error}");
        var again = await CliRunner.RunAsync(["algo", "list", "--home", home.Path]);
        Assert.True(again.ExitCode == 0, again.Error);
        stop.Cancel();
        Assert.Equal(0, await serve.WaitAsync(TimeSpan.FromSeconds(60)));
    }
}
