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
