using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace OSForAI.Testing;

/// <summary>
/// The npm storage emulators pinned in tests/emulators (s3rver for S3, azurite for Azure Blob),
/// installed there on first use. Shared by the connector tests (whose xunit fixtures are in
/// OSForAI.Tests/Support/Emulators.cs) and the data benchmark. Node.js and npm are required:
/// without them the tests fail, they do not skip.
/// </summary>
internal static class EmulatorPackages
{
    private static readonly Lock Gate = new();
    private static string? _dir;

    /// <summary>tests/emulators with its pinned packages installed.</summary>
    public static string EnsureInstalled()
    {
        lock (Gate)
        {
            if (_dir is not null) return _dir;
            var dir = Path.Combine(Repository.Root, "tests", "emulators");
            var manifest = Path.Combine(dir, "package.json");
            if (!File.Exists(manifest)) throw new InvalidOperationException($"{manifest} is missing");
            var wanted = Pins(manifest);
            if (wanted.Any(p => InstalledVersion(dir, p.Key) != p.Value))
            {
                var npm = Tool("npm");
                var psi = new ProcessStartInfo(npm) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in new[] { "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error" }) psi.ArgumentList.Add(a);
                psi.Environment["npm_config_update_notifier"] = "false";
                using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start npm");
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
                {
                    p.Kill(entireProcessTree: true);
                    throw new InvalidOperationException($"npm install in {dir} took longer than 10 minutes");
                }
                if (p.ExitCode != 0)
                    throw new InvalidOperationException($"npm install in {dir} exited {p.ExitCode}\nstderr:\n{stderr.Result}\nstdout:\n{stdout.Result}");
                foreach (var (name, version) in wanted)
                    if (InstalledVersion(dir, name) is var got && got != version)
                        throw new InvalidOperationException($"npm install left {name} {got ?? "(missing)"} in {dir}/node_modules, expected {version}");
            }
            return _dir = dir;
        }
    }

    public static string Node => Tool("node");

    private static Dictionary<string, string> Pins(string manifest)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        return doc.RootElement.GetProperty("dependencies").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    private static string? InstalledVersion(string dir, string package)
    {
        var manifest = Path.Combine(dir, "node_modules", package, "package.json");
        if (!File.Exists(manifest)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        return doc.RootElement.TryGetProperty("version", out var v) ? v.GetString() : null;
    }


    private static string Tool(string name)
    {
        var extensions = OperatingSystem.IsWindows() ? new[] { ".cmd", ".exe", "" } : [""];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var ext in extensions)
                if (File.Exists(Path.Combine(dir, name + ext))) return Path.Combine(dir, name + ext);
        throw new InvalidOperationException(
            $"'{name}' is not on PATH. The storage connector tests and the data benchmark run the S3 and Azure emulators from npm and need Node.js 18+ and npm " +
            "(CI installs them).");
    }
}

/// <summary>One emulator process (tests/emulators/run.js), which exits when we close its stdin.</summary>
internal sealed class EmulatorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _log = new();
    public string DataDir { get; }
    public int Port { get; }

    private EmulatorProcess(Process process, string dataDir, int port)
    {
        _process = process;
        DataDir = dataDir;
        Port = port;
    }

    /// <summary>Starts <paramref name="name"/> with the arguments for (port, data folder) and waits until it accepts connections.</summary>
    public static async Task<EmulatorProcess> StartAsync(string name, Func<int, string, string[]> args, TimeSpan startTimeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var dir = EmulatorPackages.EnsureInstalled();
        var dataDir = Path.Combine(Path.GetTempPath(), $"osai-{name}-{Guid.NewGuid():N}"[..32]);
        Directory.CreateDirectory(dataDir);
        var port = FreePort();
        var psi = new ProcessStartInfo(EmulatorPackages.Node)
        {
            WorkingDirectory = dir, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(dir, "run.js"), name }.Concat(args(port, dataDir))) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        var emulator = new EmulatorProcess(process, dataDir, port);
        process.OutputDataReceived += (_, e) => emulator.Log(e.Data);
        process.ErrorDataReceived += (_, e) => emulator.Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await emulator.WaitUntilListeningAsync(name, startTimeout);
            return emulator;
        }
        catch
        {
            await emulator.DisposeAsync();
            throw;
        }
    }

    private async Task WaitUntilListeningAsync(string name, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{name} exited ({_process.ExitCode}) while starting:\n{Output}");
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
            catch (SocketException)
            {
                throw new TimeoutException($"{name} did not accept connections on port {Port} within {timeout.TotalSeconds:0} s:\n{Output}");
            }
        }
    }

    private void Log(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            _log.Enqueue(line);
            while (_log.Count > 200) _log.Dequeue();
        }
    }

    public string Output { get { lock (_log) return string.Join('\n', _log); } }

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try { await _process.WaitForExitAsync(grace.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); await _process.WaitForExitAsync(); }
            }
        }
        catch (InvalidOperationException) { /* already gone */ }
        finally
        {
            _process.Dispose();
            try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
