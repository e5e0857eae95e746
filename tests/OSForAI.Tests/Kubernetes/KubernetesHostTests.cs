using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using k8s;
using k8s.Models;
using OSForAI.DevCluster;
using OSForAI.Runtime.Workers;
using OSForAI.Runtime.Workers.Kubernetes;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Kubernetes;

/// <summary>
/// The Kubernetes worker host end to end: a real OSForAI server runs every worker as a pod of the dev cluster (the in-process
/// stand-in for a Kubernetes API server, because none can run on these machines; its pods are real local processes running the
/// real Python runner), through the real KubernetesClient; pods dial back and pass the mutual handshake.
/// </summary>
public sealed class KubernetesHostTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("osai-k8s-").FullName;
    private DevCluster.DevCluster? _cluster;
    private string _kubeconfig = "";

    public async Task InitializeAsync()
    {
        var options = new DevClusterOptions { GpuNodes = 0, InitialRestartBackoff = TimeSpan.FromMilliseconds(200), MaxRestartBackoff = TimeSpan.FromSeconds(1) };
        options.Images["osforai/worker-python"] = new DevImage(["/usr/bin/python3", "-u", "-S", "-B", ProcessWorkerHost.PythonRunnerPath]);
        _cluster = await DevCluster.DevCluster.StartAsync(options);
        _kubeconfig = Path.Combine(_folder, "kubeconfig");
        _cluster.WriteKubeconfig(_kubeconfig);
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private Dictionary<string, string?> Settings(int port, Dictionary<string, string?>? extra = null)
    {
        var d = new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Host"] = "Kubernetes",
            ["OSForAI:Workers:Kubernetes:Kubeconfig"] = _kubeconfig,
            ["OSForAI:Workers:Kubernetes:ServerId"] = "test",
            ["OSForAI:Workers:Kubernetes:ListenAddress"] = "127.0.0.1",
            ["OSForAI:Workers:Kubernetes:ListenPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OSForAI:Workers:Kubernetes:Images:python3"] = "osforai/worker-python:dev",
            ["OSForAI:Workers:Kubernetes:Images:onnx"] = "osforai/worker-onnx:dev",
            ["OSForAI:Workers:Kubernetes:Pools:cpu:NodeSelector:osforai.dev/pool"] = "cpu",
            ["OSForAI:Workers:Kubernetes:Pools:cpu:WarmPods"] = "1",
            ["OSForAI:Workers:Kubernetes:Pools:gpu:NodeSelector:osforai.dev/pool"] = "gpu",
            ["OSForAI:Workers:Kubernetes:Pools:gpu:Tolerations:0"] = "nvidia.com/gpu=true:NoSchedule",
            ["OSForAI:Workers:Kubernetes:StartTimeout"] = "00:00:30",
        };
        foreach (var (k, v) in extra ?? []) d[k] = v;
        return d;
    }

    private k8s.Kubernetes Client() => new(KubernetesClientConfiguration.BuildConfigFromConfigFile(_kubeconfig));

    /// <summary>This server's Python worker pods (the model workers, runtime onnx, have pods of their own).</summary>
    private async Task<IList<V1Pod>> WorkerPodsAsync() =>
        (await Client().CoreV1.ListNamespacedPodAsync("default", labelSelector: PodSpecs.SelectorFor("test") + $",{PodSpecs.RuntimeLabel}=python3")).Items;

    [Fact]
    public async Task A_call_runs_in_a_worker_pod_that_dialled_back_and_the_pool_scales_it_back()
    {
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort(), new() { ["OSForAI:Workers:KeepAlive"] = "Fixed", ["OSForAI:Workers:IdleKeepAlive"] = "00:00:02" }));
        await s.PublishAsync("k8s/echo", "1.0.0", Python("def apply(x):\n    return {'got': x}\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/echo/1.0.0", Json("41"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(41, body.GetProperty("result").GetProperty("got").GetInt32());
        var pods = await WorkerPodsAsync();
        Assert.NotEmpty(pods);
        Assert.All(pods, p => Assert.False(p.Spec.AutomountServiceAccountToken));
        var before = pods.Count;
        // The keep-alive stops the instance: its pod is deleted; the warm generic pod stays.
        var until = DateTime.UtcNow.AddSeconds(20);
        while ((await WorkerPodsAsync()).Count >= before && DateTime.UtcNow < until) await Task.Delay(200);
        Assert.True((await WorkerPodsAsync()).Count < before, "the idle instance's pod was not deleted");
    }

    [Fact]
    public async Task A_version_with_requirements_runs_in_a_pod_that_is_sent_its_environment()
    {
        // pip runs beside the gateway (its sandbox); a pod sees none of the gateway's files, so the environment, stored beside
        // the builds in data://, is staged into the pod (a stage message) before the load, like a model worker's build.
        var wheels = Path.Combine(_folder, "wheels");
        OSForAI.Testing.Wheels.Module(wheels, "podpkg", "3.1", "WHERE = __file__\n");
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort(), new()
        {
            ["OSForAI:Build:Python:NoIndex"] = "true",
            ["OSForAI:Build:Python:FindLinks:0"] = wheels,
        }));
        var files = Python("import podpkg\n\ndef apply(x):\n    return podpkg.WHERE\n");
        files[OSForAI.Runtime.Building.PythonEnvironments.RequirementsFile] = "podpkg==3.1\n";
        var version = await s.PublishAsync("k8s/withdeps", "1.0.0", files);
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/withdeps/1.0.0", Json("1"));
        Assert.True(status == 200, body.ToString());
        var where = body.GetProperty("result").GetString()!;
        Assert.Contains("osai-env-", where);                               // unpacked in the pod's own scratch folder
        Assert.DoesNotContain(s.Get<OSForAI.Runtime.Building.PythonEnvironments>().Root, where);
    }

    [Fact]
    public async Task A_gpu_version_waits_for_a_gpu_node_and_its_callers_learn_why()
    {
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort()));
        await s.PublishAsync("k8s/gpu", "1.0.0", Python("def apply(x):\n    return x\n", "timeout: 4\nresources:\n  gpu_memory_mb: 1000\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/gpu/1.0.0?timeout=4", Json("1"));
        Assert.True(status is 504 or 408 or 503, $"{status} {body}");
        Assert.Contains("Unschedulable", body.ToString());
        var gpuPods = (await WorkerPodsAsync()).Where(p => p.Metadata.Labels[PodSpecs.PoolLabel] == "gpu").ToList();
        Assert.NotEmpty(gpuPods);
        Assert.All(gpuPods, p => Assert.Equal("1", p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"].ToString()));
        Assert.All(gpuPods, p => Assert.Equal("Pending", p.Status.Phase));   // not reaped while they wait for a node
        var first = gpuPods.Select(p => p.Metadata.Name).ToHashSet();
        await Task.Delay(2000);
        Assert.Superset(first, (await WorkerPodsAsync()).Where(p => p.Metadata.Labels[PodSpecs.PoolLabel] == "gpu").Select(p => p.Metadata.Name).ToHashSet());
    }

    [Fact]
    public async Task An_image_that_cannot_be_pulled_fails_the_build_with_the_reason()
    {
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort(), new()
        {
            ["OSForAI:Workers:Kubernetes:Images:python3"] = "registry.example/nothing-here:1",
            ["OSForAI:Workers:Kubernetes:Pools:cpu:WarmPods"] = "0",
        }));
        // The build's load check is the first thing that needs a worker pod: no pod, no verdict on the code, nothing recorded.
        await s.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "k8s", name = "nopull" });
        var content = new ByteArrayContent(TarGz(Python("def apply(x):\n    return x\n")));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/gzip");
        var r = await s.Admin.PostAsync("/v1/algorithms/k8s/nopull/builds", content);
        var body = await r.Content.ReadAsStringAsync();
        Assert.Equal(503, (int)r.StatusCode);
        Assert.Contains("registry.example/nothing-here:1", body);
        Assert.Matches("ErrImagePull|ImagePullBackOff", body);
        var until = DateTime.UtcNow.AddSeconds(10);
        while ((await WorkerPodsAsync()).Count > 0 && DateTime.UtcNow < until) await Task.Delay(200);
        Assert.Empty(await WorkerPodsAsync());                 // the failed pod is not left behind
    }

    [Fact]
    public async Task A_restarted_gateway_adopts_its_warm_pods_instead_of_leaking_or_duplicating_them()
    {
        var port = OSForAI.Testing.EmulatorProcess.FreePort();
        var s = await TestServer.StartAsync(Settings(port));
        try
        {
            var until = DateTime.UtcNow.AddSeconds(20);
            while (s.Get<WorkerPool>().Stats.GenericIdle < 1 && DateTime.UtcNow < until) await Task.Delay(100);
            var before = (await WorkerPodsAsync()).Select(p => p.Metadata.Name).ToHashSet();
            Assert.Single(before);
            await s.RestartAsync(Settings(port));
            until = DateTime.UtcNow.AddSeconds(30);
            while (s.Get<WorkerPool>().Stats.GenericIdle < 1 && DateTime.UtcNow < until) await Task.Delay(100);
            Assert.Equal(1, s.Get<WorkerPool>().Stats.GenericIdle);
            var after = (await WorkerPodsAsync()).Select(p => p.Metadata.Name).ToHashSet();
            Assert.Equal(before, after);                       // the same pod, taken over: none new, none leaked
            await s.PublishAsync("k8s/adopted", "1.0.0", Python("def apply(x):\n    return x + 1\n"));
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/adopted/1.0.0", Json("1"));
            Assert.True(status == 200, body.ToString());
        }
        finally { await s.DisposeAsync(); }
    }

    [Fact]
    public async Task A_worker_pod_that_crashes_is_replaced_and_two_versions_share_the_warm_pod_pool()
    {
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort(), new() { ["OSForAI:Workers:Kubernetes:Pools:cpu:WarmPods"] = "2" }));
        await s.PublishAsync("k8s/one", "1.0.0", Python("def apply(x):\n    return 'one'\n"));
        await s.PublishAsync("k8s/two", "1.0.0", Python("import os\n\ndef apply(x):\n    if x == 'die':\n        os._exit(9)\n    return 'two'\n"));
        var pool = s.Get<WorkerPool>();
        var until = DateTime.UtcNow.AddSeconds(20);
        // The builds' load checks took warm pods and deleted them after: wait for the pool to be back to two.
        while ((pool.Stats.GenericIdle < 2 || (await WorkerPodsAsync()).Count != 2) && DateTime.UtcNow < until) await Task.Delay(100);
        var warm = (await WorkerPodsAsync()).Select(p => p.Metadata.Name).ToHashSet();
        Assert.Equal(2, warm.Count);
        Assert.Equal("one", (await CallAsync(s.Admin, "/v1/algo/k8s/one/1.0.0", Json("1"))).Body.GetProperty("result").GetString());
        Assert.Equal("two", (await CallAsync(s.Admin, "/v1/algo/k8s/two/1.0.0", Json("1"))).Body.GetProperty("result").GetString());
        // Both first calls specialized warm pods (no new pod had to start for them).
        var served = (await WorkerPodsAsync()).Select(p => p.Metadata.Name).ToHashSet();
        Assert.True(warm.IsSubsetOf(served), "the warm pods were not the ones that served");
        Assert.Equal(2, pool.Stats.ColdStarts);

        var (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/two/1.0.0", Json("\"die\""));
        Assert.Equal(500, status);
        Assert.Contains("AlgorithmCrashed", body.ToString());
        (status, body) = await CallAsync(s.Admin, "/v1/algo/k8s/two/1.0.0", Json("1"));
        Assert.True(status == 200, body.ToString());                 // a replacement serves the next call
        Assert.Equal("two", body.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Algorithms_in_pods_call_each_other_and_reach_data_through_their_gateway_channels()
    {
        await using var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort()));
        await Isolation.AttackTests.Composition_and_data_keep_working_without_a_networkAsync(Isolation.AttackTests.Target.Of(s));
        // Both versions ran in pods (the process host runs no code workers here).
        Assert.True((await WorkerPodsAsync()).Count >= 2);
    }

    [Fact]
    public async Task Worker_pods_go_with_the_gateway_pod_that_made_them()
    {
        // Stands in for the gateway's own pod (its container is irrelevant here: it only has to exist and go).
        var gateway = await Client().CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "osforai-runtime-0" },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "runtime", Image = "registry.example/osforai-runtime:1" }] },
        }, "default");
        var s = await TestServer.StartAsync(Settings(OSForAI.Testing.EmulatorProcess.FreePort(), new()
        {
            ["OSForAI:Workers:Kubernetes:OwnerPodName"] = gateway.Metadata.Name,
            ["OSForAI:Workers:Kubernetes:OwnerPodUid"] = gateway.Metadata.Uid,
        }));
        // Its warm pod has dialled back (a pod still starting would be deleted, not left, when the gateway stops).
        var until = DateTime.UtcNow.AddSeconds(20);
        while (s.Get<WorkerPool>().Stats.GenericIdle < 1 && DateTime.UtcNow < until) await Task.Delay(100);
        var pods = await WorkerPodsAsync();
        Assert.NotEmpty(pods);
        Assert.All(pods, p => Assert.Equal(gateway.Metadata.Uid, Assert.Single(p.Metadata.OwnerReferences).Uid));

        // The gateway is gone for good (a rollout replaced it: its process ends, then its pod is deleted): the cluster collects its
        // workers, which nobody else can reach. (A stopping gateway leaves its idle pods for adoption by its own restart.)
        await s.DisposeAsync();
        Assert.NotEmpty(await WorkerPodsAsync());
        await Client().CoreV1.DeleteNamespacedPodAsync(gateway.Metadata.Name, "default", new V1DeleteOptions { GracePeriodSeconds = 0 });
        until = DateTime.UtcNow.AddSeconds(20);
        while ((await WorkerPodsAsync()).Count > 0 && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Empty(await WorkerPodsAsync());
    }

    [Fact]
    public async Task A_connection_without_the_pods_secret_is_refused()
    {
        var port = OSForAI.Testing.EmulatorProcess.FreePort();
        await using var s = await TestServer.StartAsync(Settings(port));
        using var rogue = new TcpClient();
        await rogue.ConnectAsync(IPAddress.Loopback, port);
        var stream = rogue.GetStream();
        var hello = OSForAI.WorkerProtocol.Frame.Encode(w =>
        {
            w.WriteString("type", "hello");
            w.WriteNumber("protocol", 1);
            w.WriteString("runtime", "python3");
            w.WriteString("worker_id", "w1-000000");
            w.WriteString("nonce", new string('a', 64));
        }, []);
        await stream.WriteAsync(hello);
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            // Whatever the gateway answers, it never accepts: the connection ends without a load or invoke being possible.
            while (await stream.ReadAsync(buffer, cts.Token) > 0) { }
        }
        catch (IOException) { }
        Assert.Equal(0, s.Get<WorkerPool>().Stats.Instances);
    }
}
