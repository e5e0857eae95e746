using System.Globalization;
using k8s;
using k8s.Models;
using OSForAI.Cli.Commands;
using OSForAI.DevCluster;
using OSForAI.Runtime.Workers;
using OSForAI.Runtime.Workers.Kubernetes;
using OSForAI.Testing;
using OSForAI.Tests.Onnx;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Kubernetes;

/// <summary>
/// ONNX model workers as pods, end to end: a real OSForAI server on the Kubernetes worker host, talking through the real
/// KubernetesClient to the dev cluster (an in-process stand-in for a Kubernetes API server, because none can run on these
/// machines), whose pods are real local processes: here the real .NET model worker, which is sent each build (it cannot see the
/// gateway's files), loads the real ONNX model and answers. The dev cluster has no GPU: a GPU pod's worker falls back to the CPU.
/// </summary>
public sealed class ModelPodTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("osai-k8s-models-").FullName;
    private DevCluster.DevCluster? _cluster;
    private string _kubeconfig = "";

    private async Task<TestServer> StartAsync(int gpuNodes, Dictionary<string, string?>? extra = null)
    {
        var options = new DevClusterOptions { GpuNodes = gpuNodes, InitialRestartBackoff = TimeSpan.FromMilliseconds(200), MaxRestartBackoff = TimeSpan.FromSeconds(1) };
        // The images as `osai dev-cluster` runs them: osforai/worker-onnx is the .NET model worker beside this assembly.
        foreach (var (prefix, image) in DevClusterCommand.DefaultImages()) options.Images[prefix] = image;
        _cluster = await DevCluster.DevCluster.StartAsync(options);
        _kubeconfig = Path.Combine(_folder, "kubeconfig");
        _cluster.WriteKubeconfig(_kubeconfig);
        var settings = new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Host"] = "Kubernetes",
            ["OSForAI:Workers:Kubernetes:Kubeconfig"] = _kubeconfig,
            ["OSForAI:Workers:Kubernetes:ServerId"] = "models",
            ["OSForAI:Workers:Kubernetes:ListenAddress"] = "127.0.0.1",
            ["OSForAI:Workers:Kubernetes:ListenPort"] = EmulatorProcess.FreePort().ToString(CultureInfo.InvariantCulture),
            ["OSForAI:Workers:Kubernetes:Images:python3"] = "osforai/worker-python:dev",
            ["OSForAI:Workers:Kubernetes:Images:onnx"] = "osforai/worker-onnx:dev",
            ["OSForAI:Workers:Kubernetes:Pools:cpu:NodeSelector:osforai.dev/pool"] = "cpu",
            ["OSForAI:Workers:Kubernetes:Pools:cpu:WarmPods"] = "0",
            ["OSForAI:Workers:Kubernetes:Pools:gpu:NodeSelector:osforai.dev/pool"] = "gpu",
            ["OSForAI:Workers:Kubernetes:Pools:gpu:Tolerations:0"] = "nvidia.com/gpu=true:NoSchedule",
            ["OSForAI:Workers:Kubernetes:StartTimeout"] = "00:00:30",
            ["OSForAI:Models:MemoryBudgetBytes"] = (256L * 1024 * 1024).ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return await TestServer.StartAsync(settings);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>This server's model worker pods.</summary>
    private async Task<IList<V1Pod>> ModelPodsAsync()
    {
        using var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_kubeconfig));
        return (await client.CoreV1.ListNamespacedPodAsync("default",
            labelSelector: PodSpecs.SelectorFor("models") + $",{PodSpecs.RuntimeLabel}={ModelWorkerPool.Runtime}")).Items;
    }

    private static async Task<(int Status, string Body)> InferLinearAsync(TestServer s, string model, int seed)
    {
        var x = OnnxModels.TestData(8, seed: 5);
        var (status, body) = await Oip.InferAsync(s.Admin, model, Oip.Fp32Request("x", [1, 8], x));
        if (status == 200) Oip.AssertClose(OnnxModels.LinearReference(x, 8, 4, seed), Oip.Floats(Oip.Output(body, "y")));
        return (status, body.ToString());
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > until) return false;
            await Task.Delay(200);
        }
        return true;
    }

    [Fact]
    public async Task Onnx_versions_are_answered_by_one_model_pod_that_each_build_is_staged_into_once()
    {
        await using var s = await StartAsync(gpuNodes: 0);
        await s.PublishModelAsync("models/a", "1.0.0", OnnxModels.Linear(8, 4, seed: 1));
        await s.PublishModelAsync("models/b", "1.0.0", OnnxModels.Linear(8, 4, seed: 2));

        var (status, body) = await InferLinearAsync(s, "models.a", seed: 1);
        Assert.True(status == 200, body);
        var pod = Assert.Single(await ModelPodsAsync());
        Assert.Equal("cpu", pod.Metadata.Labels[PodSpecs.PoolLabel]);
        Assert.False(pod.Spec.Containers[0].Resources.Limits.ContainsKey(PodSpecs.GpuResource));
        var env = pod.Spec.Containers[0].Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal((256L * 1024 * 1024).ToString(CultureInfo.InvariantCulture), env["OSAI_MODEL_MEMORY_BUDGET"]);
        Assert.Equal("auto", env["OSAI_DEVICE"]);

        Assert.True((await InferLinearAsync(s, "models.b", seed: 2)) is (200, _));
        Assert.True((await InferLinearAsync(s, "models.a", seed: 1)) is (200, _));
        Assert.Equal(pod.Metadata.Name, Assert.Single(await ModelPodsAsync()).Metadata.Name);   // one pod serves both versions
        var models = s.Get<ModelWorkerPool>();
        Assert.Equal(2, models.Stagings);                            // each build sent once, not once per call
        Assert.Equal(1, models.Lifecycle.Starts);
        // The worker that answered is the pod (a process worker beside the gateway would have an id of its own, onnx-N-…).
        var worker = Assert.Single(await models.StatsAsync(default));
        Assert.Equal(pod.Metadata.Labels[PodSpecs.WorkerLabel], worker.WorkerId);
        Assert.Equal(["models/a@1.0.0", "models/b@1.0.0"], worker.Models.Order());
    }

    [Fact]
    public async Task A_gpu_model_version_runs_in_a_gpu_pool_pod_and_a_cpu_version_beside_it_in_a_cpu_pod()
    {
        await using var s = await StartAsync(gpuNodes: 1);
        await s.PublishModelAsync("models/gpu", "1.0.0", OnnxModels.Linear(8, 4, seed: 3), "resources:\n  gpu_memory_mb: 100\n");
        await s.PublishModelAsync("models/cpu", "1.0.0", OnnxModels.Linear(8, 4, seed: 4));

        var (status, body) = await InferLinearAsync(s, "models.gpu", seed: 3);
        Assert.True(status == 200, body);
        var gpu = Assert.Single(await ModelPodsAsync());
        Assert.Equal("gpu", gpu.Metadata.Labels[PodSpecs.PoolLabel]);
        Assert.Equal("1", gpu.Spec.Containers[0].Resources.Limits[PodSpecs.GpuResource].ToString());
        Assert.Equal("1", gpu.Spec.Containers[0].Resources.Requests[PodSpecs.GpuResource].ToString());
        Assert.Contains(gpu.Spec.Tolerations, t => t.Key == "nvidia.com/gpu" && t.Effect == "NoSchedule");
        Assert.Equal("gpu", gpu.Spec.NodeSelector["osforai.dev/pool"]);
        Assert.StartsWith("dev-gpu", gpu.Spec.NodeName);
        // Its worker uses its GPU whatever the gateway's node device says (here it has none, and falls back to the CPU).
        Assert.Contains(gpu.Spec.Containers[0].Env, e => e.Name == "OSAI_DEVICE" && e.Value == "gpu");

        (status, body) = await InferLinearAsync(s, "models.cpu", seed: 4);
        Assert.True(status == 200, body);
        var pods = await ModelPodsAsync();
        Assert.Equal(2, pods.Count);                                  // the CPU version did not take the GPU pod
        Assert.Equal(["cpu", "gpu"], pods.Select(p => p.Metadata.Labels[PodSpecs.PoolLabel]).Order());
    }

    [Fact]
    public async Task A_gpu_model_version_with_no_gpu_node_fails_after_its_timeout_naming_the_reason_and_its_pod_is_not_churned()
    {
        await using var s = await StartAsync(gpuNodes: 0);
        await s.PublishModelAsync("models/nogpu", "1.0.0", OnnxModels.Linear(8, 4, seed: 5), "timeout: 2\nresources:\n  gpu_memory_mb: 100\n");

        var started = DateTime.UtcNow;
        var (status, body) = await InferLinearAsync(s, "models.nogpu", seed: 5);
        Assert.Equal(504, status);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1.9), "the call did not wait for its timeout");
        Assert.Contains("Unschedulable", body);
        var pod = Assert.Single(await ModelPodsAsync());
        Assert.Equal("gpu", pod.Metadata.Labels[PodSpecs.PoolLabel]);
        Assert.Equal("Pending", pod.Status.Phase);

        // The next caller waits for the same pending pod: it is neither deleted nor made again.
        (status, body) = await InferLinearAsync(s, "models.nogpu", seed: 5);
        Assert.Equal(504, status);
        Assert.Contains("Unschedulable", body);
        Assert.Equal(pod.Metadata.Name, Assert.Single(await ModelPodsAsync()).Metadata.Name);
        Assert.Equal(1, s.Get<ModelWorkerPool>().Lifecycle.Starts);
    }

    [Fact]
    public async Task An_idle_model_pod_is_deleted_and_the_next_call_brings_one_back()
    {
        await using var s = await StartAsync(gpuNodes: 0, new() { ["OSForAI:Models:IdleShutdown"] = "00:00:01" });
        await s.PublishModelAsync("models/idle", "1.0.0", OnnxModels.Linear(8, 4, seed: 6));

        Assert.True((await InferLinearAsync(s, "models.idle", seed: 6)) is (200, _));
        var first = Assert.Single(await ModelPodsAsync()).Metadata.Name;
        Assert.True(await EventuallyAsync(async () => (await ModelPodsAsync()).Count == 0, TimeSpan.FromSeconds(20)), "the idle model pod was not deleted");
        var models = s.Get<ModelWorkerPool>();
        Assert.Equal(1, models.Lifecycle.IdleStops);

        var (status, body) = await InferLinearAsync(s, "models.idle", seed: 6);
        Assert.True(status == 200, body);
        var second = Assert.Single(await ModelPodsAsync()).Metadata.Name;
        Assert.NotEqual(first, second);
        Assert.Equal(2, models.Lifecycle.Starts);
        Assert.Equal(2, models.Stagings);                             // the new pod was sent the build again
    }

    [Fact]
    public void Model_serving_settings_are_validated_with_every_error_at_once()
    {
        var o = new OSForAI.Runtime.OsaiOptions();
        o.Models.IdleShutdown = TimeSpan.FromSeconds(-1);
        o.Models.Workers = 1;
        o.Workers.Host = OSForAI.Runtime.WorkerHostKind.Kubernetes;
        o.Workers.Kubernetes.ApplyDefaults();
        o.Workers.Kubernetes.Pools["gpu"].WarmPods = 2;
        var errors = OSForAI.Runtime.OsaiOptionsValidation.Errors(o);
        Assert.Contains(errors, e => e.StartsWith("OSForAI:Models:IdleShutdown", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("OSForAI:Workers:Kubernetes:Pools:gpu:WarmPods (2)", StringComparison.Ordinal));
        o.Models.IdleShutdown = TimeSpan.Zero;                        // never: allowed
        o.Models.Workers = 2;
        Assert.DoesNotContain(OSForAI.Runtime.OsaiOptionsValidation.Errors(o), e => e.Contains("Models", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Warm_gpu_model_pods_start_with_the_server_and_are_not_stopped_for_being_idle()
    {
        await using var s = await StartAsync(gpuNodes: 1, new()
        {
            ["OSForAI:Workers:Kubernetes:Pools:gpu:WarmPods"] = "1",
            ["OSForAI:Models:IdleShutdown"] = "00:00:01",
        });
        var models = s.Get<ModelWorkerPool>();
        Assert.True(await EventuallyAsync(async () => (await models.StatsAsync(default)).Count == 1, TimeSpan.FromSeconds(30)), "no warm GPU model pod");
        var warm = Assert.Single(await ModelPodsAsync());
        Assert.Equal("gpu", warm.Metadata.Labels[PodSpecs.PoolLabel]);
        await Task.Delay(TimeSpan.FromSeconds(3));                    // three idle periods
        Assert.Equal(warm.Metadata.Name, Assert.Single(await ModelPodsAsync()).Metadata.Name);
        Assert.Equal(0, models.Lifecycle.IdleStops);

        await s.PublishModelAsync("models/warm", "1.0.0", OnnxModels.Linear(8, 4, seed: 7), "resources:\n  gpu_memory_mb: 100\n");
        var (status, body) = await InferLinearAsync(s, "models.warm", seed: 7);
        Assert.True(status == 200, body);
        Assert.Equal(1, models.Lifecycle.Starts);                     // served by the warm pod: none started for it
        Assert.Equal(warm.Metadata.Labels[PodSpecs.WorkerLabel], Assert.Single(await models.StatsAsync(default)).WorkerId);
    }
}
