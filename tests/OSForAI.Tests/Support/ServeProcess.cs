using System.Diagnostics;

namespace OSForAI.Tests.Support;

/// <summary>
/// <c>osai serve</c> as its own process (the CLI as people run it), with its own home and port, started once it answers
/// /health and has written its admin key. The home is deleted when it is disposed.
/// </summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output;

    private ServeProcess(Process process, System.Text.StringBuilder output, string home, string url, HttpClient admin)
    {
        _process = process;
        _output = output;
        Home = home;
        Url = url;
        Admin = admin;
    }

    public string Home { get; }
    public string Url { get; }
    public string AdminKeyPath => Path.Combine(Home, "admin.key");
    /// <summary>A client with the server's admin key.</summary>
    public HttpClient Admin { get; }
    /// <summary>What the server printed so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <param name="home">Its home folder (made by the caller, owned by whoever the server runs as).</param>
    /// <param name="env">Environment variables on top of the test's.</param>
    /// <param name="cliFolder">Where osai.dll is: the test's own binaries unless another user needs a copy it can reach.</param>
    /// <param name="prefix">A command the server runs under, e.g. setpriv to drop to another user.</param>
    public static async Task<ServeProcess> StartAsync(string home, IReadOnlyDictionary<string, string> env, string? cliFolder = null,
        IReadOnlyList<string>? prefix = null)
    {
        var port = OSForAI.Testing.EmulatorProcess.FreePort();
        var command = new List<string>(prefix ?? []);
        command.AddRange([Environment.ProcessPath ?? "dotnet", Path.Combine(cliFolder ?? AppContext.BaseDirectory, "osai.dll"),
            "serve", "--home", home, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command.Skip(1)) psi.ArgumentList.Add(arg);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var url = $"http://127.0.0.1:{port}";
        var keyPath = Path.Combine(home, "admin.key");
        string Printed() { lock (output) return output.ToString(); }
        using var probe = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(2) };
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException("osai serve exited: " + Printed());
            if (DateTime.UtcNow > until) throw new TimeoutException("osai serve did not start in 60 s: " + Printed());
            try
            {
                using var health = await probe.GetAsync("/health");
                if (health.IsSuccessStatusCode && File.Exists(keyPath)) break;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(100);
        }
        var admin = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Simple", (await File.ReadAllTextAsync(keyPath)).Trim());
        return new ServeProcess(process, output, home, url, admin);
    }

    /// <summary>SIGKILL to the server alone (not its workers), as the kernel's OOM killer or a failing node would.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit();
    }

    /// <summary>Stops the server (SIGTERM, then SIGKILL to all it started after 15 s) and deletes its home.</summary>
    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        if (!_process.HasExited)
        {
            using (var term = Process.Start("/bin/kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
                await term.WaitForExitAsync();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(15))) _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
