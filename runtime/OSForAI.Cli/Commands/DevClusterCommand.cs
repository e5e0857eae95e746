using System.Globalization;
using System.Runtime.InteropServices;
using OSForAI.DevCluster;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai dev-cluster</c>: runs the in-process Kubernetes API (OSForAI.DevCluster) until Ctrl+C,
/// with the worker images mapped to this installation's Python runner and .NET model worker.</summary>
internal static class DevClusterCommand
{
    public static readonly string[] Options = ["kubeconfig", "gpu-nodes", "port"];

    public static async Task<int> RunAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        var kubeconfig = args.Get("kubeconfig") is { Length: > 0 } k ? Path.GetFullPath(k) : throw new UsageException("--kubeconfig FILE is required");
        var options = new DevClusterOptions { GpuNodes = Number(args, "gpu-nodes", 0, 64), Port = Number(args, "port", 0, 65535) };
        foreach (var (prefix, image) in DefaultImages()) options.Images[prefix] = image;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(host.ShutdownToken);
        var signals = host.HandleSignals ? RegisterSignals(stop) : [];
        try
        {
            DevCluster.DevCluster cluster;
            try
            {
                cluster = await DevCluster.DevCluster.StartAsync(options, stop.Token);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                throw new CliException($"cannot start the dev cluster on 127.0.0.1:{options.Port}: {e.Message}", 1);
            }
            await using (cluster)
            {
                cluster.WriteKubeconfig(kubeconfig);
                var output = host.Out;
                await output.WriteLineAsync($"OSForAI dev cluster (in-process Kubernetes API) is running at {cluster.Url}");
                await output.WriteLineAsync($"Nodes: {string.Join(", ", cluster.NodeNames)}");
                await output.WriteLineAsync($"Kubeconfig: {kubeconfig}");
                await output.WriteLineAsync($"Try: kubectl --kubeconfig {kubeconfig} get nodes,pods");
                await output.WriteLineAsync($"Run OSForAI on it: osai serve --worker-host kubernetes --kubeconfig {kubeconfig}");
                await output.WriteLineAsync("Press Ctrl+C to stop (every pod's process is killed).");
                await output.FlushAsync();
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
                await host.Error.WriteLineAsync("Stopping the dev cluster...");
            }
            return 0;
        }
        finally
        {
            foreach (var registration in signals)
                registration.Dispose();
        }
    }

    /// <summary>The worker images, as this installation runs them: the Python runner beside the <c>osai</c>
    /// binary (as ProcessWorkerHost finds it) and the .NET model worker.</summary>
    internal static Dictionary<string, DevImage> DefaultImages()
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var runner = Path.Combine(AppContext.BaseDirectory, "runners", "python", "osai_runner.py");
        var worker = Path.Combine(AppContext.BaseDirectory, "OSForAI.Worker.dll");
        var dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        return new()
        {
            ["osforai/worker-python"] = new DevImage([python, "-u", "-S", "-B", runner], AppContext.BaseDirectory),
            ["osforai/worker-onnx"] = new DevImage([dotnet, "exec", worker], AppContext.BaseDirectory),
        };
    }

    private static int Number(Arguments args, string name, int min, int max)
    {
        if (args.Get(name) is not { } text) return 0;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new UsageException($"--{name} must be a number from {min} to {max}, not '{text}'");
        return n;
    }

    private static List<PosixSignalRegistration> RegisterSignals(CancellationTokenSource stop)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    if (stop.IsCancellationRequested) return;
                    context.Cancel = true;
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
