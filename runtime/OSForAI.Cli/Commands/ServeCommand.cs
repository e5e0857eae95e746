using System.Globalization;
using System.Runtime.InteropServices;
using OSForAI.Runtime;
using OSForAI.Runtime.Storage;
using OSForAI.Server;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai serve</c>: runs an embedded server in the foreground until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    public const int DefaultPort = 8080;
    public const string DefaultHost = "127.0.0.1";
    private const string StateSetting = $"{OsaiOptions.Section}:{nameof(OsaiOptions.State)}";

    public static async Task<int> RunAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        var options = BuildOptions(args, host);
        // One server per home: they would share its SQLite state, data folder and server.json. Held until this process ends.
        using var homeLock = HomeLock.Acquire(options.Home);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(host.ShutdownToken);
        var signals = host.HandleSignals ? RegisterSignals(stop, host.Error) : [];
        try
        {
            RunningServer server;
            try
            {
                server = await OsaiServer.StartAsync(options, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 0;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new CliException($"cannot start OSForAI on {options.Host}:{options.Port}: {e.Message}", 1);
            }

            await using (server)
            {
                var output = host.Out;
                await output.WriteLineAsync($"OSForAI is running at {server.Url}");
                await output.WriteLineAsync($"Admin key: {server.AdminKeyPath}");
                await output.WriteLineAsync(Hint(server, options.Home, args.Get("home") is not null));
                if (!OnPath("osai", host))
                    await output.WriteLineAsync("(osai is not on your PATH yet: runtime/OSForAI.Cli/install.sh installs it; see README.md)");
                await output.WriteLineAsync("Press Ctrl+C to stop.");
                await output.FlushAsync();

                try
                {
                    await server.WaitForShutdownAsync(stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                await host.Error.WriteLineAsync("Stopping OSForAI...");
            }
            await host.Error.WriteLineAsync("Stopped.");
            return 0;
        }
        finally
        {
            foreach (var registration in signals)
                registration.Dispose();
        }
    }

    /// <summary>The server options for the command line: port, host and home folder (created if missing).</summary>
    internal static ServerStartOptions BuildOptions(Arguments args, CliHost host)
    {
        var port = DefaultPort;
        if (args.Get("port") is { } portText
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
            throw new UsageException($"--port must be a number from 0 to 65535, not '{portText}'");
        var address = args.Get("host") is { Length: > 0 } h ? h : DefaultHost;
        var home = ClientContext.ResolveHome(args.Get("home"), host.Env, host.UserHome);
        try
        {
            Directory.CreateDirectory(home);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot create home folder {home}: {e.Message}", 2);
        }
        var settings = new Dictionary<string, string?>();
        switch (args.Get("worker-host"))
        {
            case null or "process": break;
            case "kubernetes": settings["OSForAI:Workers:Host"] = "Kubernetes"; break;
            case var other: throw new UsageException($"--worker-host must be process or kubernetes, not '{other}'");
        }
        if (args.Get("kubeconfig") is { } kubeconfig)
        {
            if (!settings.ContainsKey("OSForAI:Workers:Host")) throw new UsageException("--kubeconfig goes with --worker-host kubernetes");
            if (!File.Exists(kubeconfig)) throw new UsageException($"--kubeconfig: no such file: {kubeconfig}");
            settings["OSForAI:Workers:Kubernetes:Kubeconfig"] = Path.GetFullPath(kubeconfig);
        }
        if (args.Get("state") is { } state)
        {
            if (!Database.IsPostgres(state)) throw new UsageException("--state must be a postgres:// or postgresql:// URI (leave it out for SQLite in the home folder)");
            settings[StateSetting] = state;
        }
        return new ServerStartOptions { Home = home, Host = address, Port = port, Settings = settings };
    }

    private static string Hint(RunningServer server, string home, bool explicitHome)
    {
        var homeArg = explicitHome ? $" --home {Quote(home)}" : "";
        return $"Try: osai algo list{homeArg}   or   curl -H \"Authorization: Simple $(cat {Quote(server.AdminKeyPath)})\" {server.Url}/v1/algorithms";
    }

    /// <summary>Whether an executable file named <paramref name="command"/> is in one of $PATH's folders.</summary>
    internal static bool OnPath(string command, CliHost host) =>
        (host.Env("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, command)));

    private static string Quote(string path) => path.Contains(' ') ? $"'{path}'" : path;

    /// <summary>The first Ctrl+C/SIGTERM stops the server gracefully; a second one ends the process.</summary>
    private static List<PosixSignalRegistration> RegisterSignals(CancellationTokenSource stop, TextWriter error)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    if (stop.IsCancellationRequested)
                        return; // second signal: default handling terminates the process
                    context.Cancel = true;
                    error.WriteLine();
                    stop.Cancel();
                }));
            }
            catch (PlatformNotSupportedException)
            {
            }
        }
        return registrations;
    }
}

/// <summary>
/// The lock that makes a home folder one server's: <c>server.lock</c> opened exclusively (FileShare.None, an flock on Linux and
/// macOS), which the operating system drops when the process ends however it ends, so a crashed server never leaves it held.
/// </summary>
internal sealed class HomeLock : IDisposable
{
    public const string FileName = "server.lock";
    private readonly FileStream _file;

    private HomeLock(FileStream file) => _file = file;

    /// <summary>Takes the lock of <paramref name="home"/>; a <see cref="CliException"/> naming the holder when another server has it.</summary>
    public static HomeLock Acquire(string home)
    {
        var path = Path.Combine(home, FileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new CliException($"another OSForAI server is already using {home}{Holder(home)}: stop it first, or give this one a home of its own with --home DIR", 1,
                $"({path} is locked: {e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot create {path}: {e.Message}", 2);
        }
        // The pid is for people looking at the folder; the lock itself is the open file.
        file.SetLength(0);
        var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        file.Write(pid);
        file.Flush();
        return new HomeLock(file);
    }

    /// <summary>" (pid N, URL)" from the holder's server.json, or "" while it is still starting.</summary>
    private static string Holder(string home)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(home, OsaiServer.ServerInfoFile)));
            var root = doc.RootElement;
            var url = root.Str("url");
            var pid = root.Str("pid");
            return url is null ? "" : $" (pid {pid ?? "?"}, {url})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return "";
        }
    }

    public void Dispose() => _file.Dispose();
}
