using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OSForAI.DevCluster;
using OSForAI.Runtime.Workers;

namespace OSForAI.Benchmarks;

/// <summary>
/// `pods`: the Kubernetes worker host against the process host in one run. Both servers run the same no-op Python algorithm;
/// the pod server's workers are pods of the in-process dev cluster (local processes behind the Kubernetes API, the real
/// KubernetesClient, TCP dial-back and the mutual handshake), so what differs is the pod path, not the machine.
/// Measures: warm call latency (sequential, one connection) and a first call that specializes a warm generic worker.
/// </summary>
internal static class PodBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int requests = 2000, cold = 10;
        string? output = null;
        for (var i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--requests": requests = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--cold": cold = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = args[++i]; break;
                default: Console.Error.WriteLine("usage: pods [--requests N] [--cold K] [--out FILE]"); return 2;
            }
        var folder = Directory.CreateTempSubdirectory("osai-bench-pods-").FullName;
        var options = new DevClusterOptions();
        options.Images["osforai/worker-python"] = new DevImage(["/usr/bin/python3", "-u", "-S", "-B", ProcessWorkerHost.PythonRunnerPath]);
        await using var cluster = await DevCluster.DevCluster.StartAsync(options);
        var kubeconfig = Path.Combine(folder, "kubeconfig");
        cluster.WriteKubeconfig(kubeconfig);
        var hosts = new (string Name, Dictionary<string, string?> Settings)[]
        {
            ("process host", new() { ["OSForAI:Workers:WarmGenericWorkers"] = "2", ["OSForAI:Workers:Sandbox"] = "auto" }),
            ("Kubernetes host (dev cluster pods)", new()
            {
                ["OSForAI:Workers:Host"] = "Kubernetes",
                ["OSForAI:Workers:Kubernetes:Kubeconfig"] = kubeconfig,
                ["OSForAI:Workers:Kubernetes:ListenAddress"] = "127.0.0.1",
                ["OSForAI:Workers:Kubernetes:ListenPort"] = OSForAI.Testing.EmulatorProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                ["OSForAI:Workers:Kubernetes:Images:python3"] = "osforai/worker-python:bench",
                ["OSForAI:Workers:Kubernetes:Pools:cpu:NodeSelector:osforai.dev/pool"] = "cpu",
                ["OSForAI:Workers:Kubernetes:Pools:cpu:WarmPods"] = "2",
            }),
        };
        var md = new StringBuilder();
        md.Append("| host | warm p50 ms | warm p90 ms | warm p99 ms | first call p50 ms | first call p90 ms | first − warm p50 ms |\n|---|---:|---:|---:|---:|---:|---:|\n");
        foreach (var (name, settings) in hosts)
        {
            Program.Log($"pods: {name}");
            await using var server = await BenchServer.StartAsync(settings);
            var pool = server.Services.GetRequiredService<WorkerPool>();
            await WaitIdleAsync(pool, 2);
            await server.PublishAsync("bench", "noop", "1.0.0", BenchServer.Python("def apply(x):\n    return x\n"));
            using var client = Http.Client(server.Url, server.Key);
            await Measure.CallOk(client, "/v1/algo/bench/noop/1.0.0");
            for (var i = 0; i < 200; i++) await Measure.CallOk(client, "/v1/algo/bench/noop/1.0.0");
            var warm = new List<double>();
            for (var i = 0; i < requests; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                await Measure.CallOk(client, "/v1/algo/bench/noop/1.0.0");
                warm.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
            }
            for (var i = 0; i < cold; i++)
                await server.PublishAsync("bench", "cold", $"1.0.{i}", BenchServer.Python($"# variant {i}\ndef apply(x):\n    return x\n"));
            var first = new List<double>();
            for (var i = 0; i < cold; i++)
            {
                await WaitIdleAsync(pool, 2);
                await Task.Delay(100);
                var t0 = Stopwatch.GetTimestamp();
                await Measure.CallOk(client, $"/v1/algo/bench/cold/1.0.{i}");
                first.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
            }
            var w = Summary.Of(warm);
            var f = Summary.Of(first);
            md.Append(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {w.P50:0.000} | {w.P90:0.000} | {w.P99:0.000} | {f.P50:0.0} | {f.P90:0.0} | {f.P50 - w.P50:0.0} |\n"));
        }
        Console.Out.Write(md);
        if (output is not null) await File.WriteAllTextAsync(output, md.ToString());
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    private static async Task WaitIdleAsync(WorkerPool pool, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (pool.Stats.GenericIdle < count && DateTime.UtcNow < until) await Task.Delay(50);
    }
}
