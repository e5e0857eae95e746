using System.Diagnostics;
using k8s;
using k8s.Autorest;
using k8s.Models;
using OSForAI.DevCluster;

namespace OSForAI.Tests.Kubernetes;

/// <summary>
/// The dev cluster (runtime/OSForAI.DevCluster) is an in-process stand-in for a Kubernetes API server and
/// its kubelets, because no real API server (kube-apiserver, kind, k3s) can run on these machines. These
/// tests drive it with the real KubernetesClient and the real kubectl, and its pods are real local processes.
/// </summary>
public sealed class DevClusterTests : IAsyncLifetime
{
    private const string Sleeper = "import os, time\nprint('hello from', os.environ.get('POD_IP'), os.environ.get('POD_NAME'), os.environ.get('GREETING'), flush=True)\ntime.sleep(120)";
    private readonly string _folder = Directory.CreateTempSubdirectory("osai-devcluster-").FullName;
    private readonly List<DevCluster.DevCluster> _clusters = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var c in _clusters) await c.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<(DevCluster.DevCluster Cluster, k8s.Kubernetes Client, string Kubeconfig)> StartAsync(int gpuNodes = 0)
    {
        var options = new DevClusterOptions { GpuNodes = gpuNodes, InitialRestartBackoff = TimeSpan.FromMilliseconds(200), MaxRestartBackoff = TimeSpan.FromSeconds(1) };
        options.Images["test/sleeper"] = new DevImage(["/usr/bin/python3", "-c", Sleeper]);
        options.Images["test/crasher"] = new DevImage(["/usr/bin/python3", "-c", "print('boom', flush=True)\nraise SystemExit(3)"]);
        var cluster = await DevCluster.DevCluster.StartAsync(options);
        _clusters.Add(cluster);
        var kubeconfig = Path.Combine(_folder, $"kubeconfig-{_clusters.Count}");
        cluster.WriteKubeconfig(kubeconfig);
        var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        return (cluster, client, kubeconfig);
    }

    private static V1Pod Pod(string name, string image, bool gpu = false, Dictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels ?? new Dictionary<string, string> { ["app"] = "test" } },
        Spec = new V1PodSpec
        {
            Containers =
            [
                new V1Container
                {
                    Name = "main",
                    Image = image,
                    Env =
                    [
                        new V1EnvVar { Name = "GREETING", Value = "hi" },
                        new V1EnvVar { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } },
                        new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
                    ],
                    Resources = gpu
                        ? new V1ResourceRequirements { Limits = new Dictionary<string, ResourceQuantity> { ["nvidia.com/gpu"] = new("1") } }
                        : new V1ResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("100m"), ["memory"] = new("64Mi") } },
                },
            ],
            NodeSelector = gpu ? new Dictionary<string, string> { ["osforai.dev/pool"] = "gpu" } : null,
            Tolerations = gpu ? [new V1Toleration { Key = "nvidia.com/gpu", OperatorProperty = "Exists", Effect = "NoSchedule" }] : null,
            TerminationGracePeriodSeconds = 1,
        },
    };

    private static async Task<V1Pod> WaitForAsync(k8s.Kubernetes client, string ns, string name, Func<V1Pod, bool> condition, double seconds = 8)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var pod = await client.CoreV1.ReadNamespacedPodAsync(name, ns);
            if (condition(pod)) return pod;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"pod {name}: condition not met; status {KubernetesJson.Serialize(pod.Status)}");
            await Task.Delay(50);
        }
    }

    /// <summary>The process group of a live process, from /proc/PID/stat (the field after state and ppid).</summary>
    private static int ProcessGroupOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[2]);
    }

    private static async Task WaitGoneAsync(k8s.Kubernetes client, string ns, string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(8);
        while ((await client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: $"metadata.name={name}")).Items.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"pod {name} not gone");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Real_client_creates_lists_watches_logs_patches_and_deletes_a_pod_process()
    {
        var (cluster, client, _) = await StartAsync();
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "team" } });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(8));
#pragma warning disable CS0618 // the watch helper KubernetesClient 21 documents; its replacement is not in this version's CoreV1 API
        var watch = client.CoreV1.ListNamespacedPodWithHttpMessagesAsync("team", watch: true, labelSelector: "app in (test,other)", cancellationToken: cts.Token)
            .WatchAsync<V1Pod, V1PodList>(cancellationToken: cts.Token);
#pragma warning restore CS0618

        var created = await client.CoreV1.CreateNamespacedPodAsync(Pod("sleeper-1", "test/sleeper:1"), "team");
        Assert.Equal("Pending", created.Status.Phase);
        Assert.NotNull(created.Metadata.Uid);

        var seen = new List<(WatchEventType, string)>();
        V1Pod running = null!;
        await foreach (var (type, pod) in watch)
        {
            seen.Add((type, pod.Status?.Phase ?? ""));
            if (pod.Status?.Phase == "Running") { running = pod; break; }
        }
        Assert.Equal(WatchEventType.Added, seen[0].Item1);
        Assert.StartsWith("127.0.1.", running.Status.PodIP);
        Assert.Equal("dev-cpu-0", running.Spec.NodeName);
        Assert.Contains(running.Status.Conditions, c => c.Type == "Ready" && c.Status == "True");
        Assert.NotNull(running.Status.ContainerStatuses[0].State.Running.StartedAt);
        Assert.True(long.Parse(running.Metadata.ResourceVersion) > long.Parse(created.Metadata.ResourceVersion));

        var listed = await client.CoreV1.ListNamespacedPodAsync("team", labelSelector: "app=test");
        Assert.Equal(["sleeper-1"], listed.Items.Select(p => p.Metadata.Name));
        Assert.Empty((await client.CoreV1.ListNamespacedPodAsync("team", labelSelector: "app notin (test)")).Items);

        var log = "";
        for (var i = 0; i < 100 && !log.Contains("hello"); i++, await Task.Delay(50))
            log = await new StreamReader(await client.CoreV1.ReadNamespacedPodLogAsync("sleeper-1", "team")).ReadToEndAsync();
        Assert.Equal($"hello from {running.Status.PodIP} sleeper-1 hi\n", log);

        var patched = await client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"metadata":{"labels":{"osforai.dev/instance":"i-1","app":null}}}""", V1Patch.PatchType.MergePatch), "sleeper-1", "team");
        Assert.Equal("i-1", patched.Metadata.Labels["osforai.dev/instance"]);
        Assert.False(patched.Metadata.Labels.ContainsKey("app"));

        var pid = cluster.PodProcessId("team", "sleeper-1")!.Value;
        Assert.True(DevCluster.DevCluster.IsProcessAlive(pid));
        await client.CoreV1.DeleteNamespacedPodAsync("sleeper-1", "team");
        await WaitGoneAsync(client, "team", "sleeper-1");
        Assert.False(DevCluster.DevCluster.IsProcessAlive(pid));
    }

    [Fact]
    public async Task Gpu_pods_wait_for_a_free_gpu_node_and_are_unschedulable_without_one()
    {
        var (_, client, _) = await StartAsync(gpuNodes: 1);
        await client.CoreV1.CreateNamespacedPodAsync(Pod("gpu-1", "test/sleeper", gpu: true), "default");
        var first = await WaitForAsync(client, "default", "gpu-1", p => p.Status.Phase == "Running");
        Assert.Equal("dev-gpu-0", first.Spec.NodeName);

        await client.CoreV1.CreateNamespacedPodAsync(Pod("gpu-2", "test/sleeper", gpu: true), "default");
        var pending = await WaitForAsync(client, "default", "gpu-2", p => p.Status.Conditions?.Any(c => c.Type == "PodScheduled") == true);
        var scheduled = pending.Status.Conditions.Single(c => c.Type == "PodScheduled");
        Assert.Equal(("False", "Unschedulable", "Pending"), (scheduled.Status, scheduled.Reason, pending.Status.Phase));
        Assert.Equal("0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector.", scheduled.Message);

        // Without the toleration the GPU node's taint is named, as Kubernetes does.
        var untolerated = Pod("gpu-3", "test/sleeper", gpu: true);
        untolerated.Spec.Tolerations = null;
        untolerated.Spec.NodeSelector = null;
        await client.CoreV1.CreateNamespacedPodAsync(untolerated, "default");
        var p3 = await WaitForAsync(client, "default", "gpu-3", p => p.Status.Conditions?.Any(c => c.Type == "PodScheduled") == true);
        Assert.Equal("0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {nvidia.com/gpu: true}.",
            p3.Status.Conditions.Single(c => c.Type == "PodScheduled").Message);
        await client.CoreV1.DeleteNamespacedPodAsync("gpu-3", "default");

        await client.CoreV1.DeleteNamespacedPodAsync("gpu-1", "default");
        var second = await WaitForAsync(client, "default", "gpu-2", p => p.Status.Phase == "Running");
        Assert.Equal("dev-gpu-0", second.Spec.NodeName);

        var (_, cpuOnly, _) = await StartAsync(gpuNodes: 0);
        await cpuOnly.CoreV1.CreateNamespacedPodAsync(Pod("gpu-1", "test/sleeper", gpu: true), "default");
        var none = await WaitForAsync(cpuOnly, "default", "gpu-1", p => p.Status.Conditions?.Any(c => c.Type == "PodScheduled") == true);
        Assert.Equal("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", none.Status.Conditions.Single().Message);
        await Task.Delay(300);
        Assert.Equal("Pending", (await cpuOnly.CoreV1.ReadNamespacedPodAsync("gpu-1", "default")).Status.Phase);
    }

    [Fact]
    public async Task Unknown_image_waits_in_image_pull_back_off_naming_the_image()
    {
        var (_, client, _) = await StartAsync();
        await client.CoreV1.CreateNamespacedPodAsync(Pod("nope", "registry.example/missing:7"), "default");
        var err = await WaitForAsync(client, "default", "nope", p => p.Status.ContainerStatuses?[0].State.Waiting?.Reason == "ErrImagePull");
        Assert.Contains("\"registry.example/missing:7\"", err.Status.ContainerStatuses[0].State.Waiting.Message);
        var backoff = await WaitForAsync(client, "default", "nope", p => p.Status.ContainerStatuses[0].State.Waiting?.Reason == "ImagePullBackOff");
        Assert.Equal("Back-off pulling image \"registry.example/missing:7\"", backoff.Status.ContainerStatuses[0].State.Waiting.Message);
        Assert.Equal("Pending", backoff.Status.Phase);
    }

    [Fact]
    public async Task Crashing_container_restarts_with_back_off_and_never_policy_fails()
    {
        var (cluster, client, _) = await StartAsync();
        await client.CoreV1.CreateNamespacedPodAsync(Pod("crash", "test/crasher"), "default");
        var looping = await WaitForAsync(client, "default", "crash", p => p.Status.ContainerStatuses?[0].State.Waiting?.Reason == "CrashLoopBackOff");
        Assert.Equal(3, looping.Status.ContainerStatuses[0].LastState.Terminated.ExitCode);
        var restarted = await WaitForAsync(client, "default", "crash", p => p.Status.ContainerStatuses[0].RestartCount >= 2);
        Assert.Equal("Running", restarted.Status.Phase);
        var previous = await new StreamReader(await client.CoreV1.ReadNamespacedPodLogAsync("crash", "default", previous: true)).ReadToEndAsync();
        Assert.Equal("boom\n", previous);

        var once = Pod("once", "test/crasher");
        once.Spec.RestartPolicy = "Never";
        await client.CoreV1.CreateNamespacedPodAsync(once, "default");
        var failed = await WaitForAsync(client, "default", "once", p => p.Status.Phase == "Failed");
        Assert.Equal(3, failed.Status.ContainerStatuses[0].State.Terminated.ExitCode);

        // A sleeper killed from outside is restarted too.
        await client.CoreV1.CreateNamespacedPodAsync(Pod("victim", "test/sleeper"), "default");
        await WaitForAsync(client, "default", "victim", p => p.Status.Phase == "Running");
        var pid = cluster.PodProcessId("default", "victim")!.Value;
        // Running means setsid has already made the container its own process group, so a group kill reaches it
        // (it once did not on a loaded machine: Running was reported between Process.Start and the child's setsid).
        Assert.Equal(pid, ProcessGroupOf(pid));
        Assert.True(cluster.KillPodProcess("default", "victim"));
        var again = await WaitForAsync(client, "default", "victim", p => p.Status.ContainerStatuses[0].RestartCount == 1 && p.Status.ContainerStatuses[0].Ready == true);
        Assert.Equal(137, again.Status.ContainerStatuses[0].LastState.Terminated.ExitCode);
        Assert.NotEqual(pid, cluster.PodProcessId("default", "victim"));
    }

    [Fact]
    public async Task Invalid_pods_are_refused_with_422_naming_the_field()
    {
        var (_, client, kubeconfig) = await StartAsync();
        async Task<string> Refused(V1Pod pod)
        {
            var e = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedPodAsync(pod, "default"));
            Assert.Equal(422, (int)e.Response.StatusCode);
            Assert.Contains("\"reason\":\"Invalid\"", e.Response.Content);
            return e.Response.Content;
        }
        Assert.Contains("metadata.name: Invalid value: \\u0022Bad_Name\\u0022", (await Refused(Pod("Bad_Name", "test/sleeper"))).Replace("\\\"", "\\u0022"));
        var noImage = Pod("ok", "test/sleeper");
        noImage.Spec.Containers[0].Image = null;
        Assert.Contains("\"field\":\"spec.containers[0].image\"", await Refused(noImage));
        var secret = Pod("ok", "test/sleeper");
        secret.Spec.Containers[0].Env.Add(new V1EnvVar { Name = "S", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "s", Key = "k" } } });
        Assert.Contains("\"field\":\"spec.containers[0].env[3].valueFrom.secretKeyRef\"", await Refused(secret));
        var label = Pod("ok", "test/sleeper", labels: new() { ["bad key!"] = "x" });
        Assert.Contains("\"field\":\"metadata.labels\"", await Refused(label));

        // An unknown field, sent raw as kubectl would.
        using var http = new HttpClient();
        var url = File.ReadAllLines(kubeconfig).Single(l => l.Contains("server:")).Split("server:")[1].Trim();
        var response = await http.PostAsync($"{url}/api/v1/namespaces/default/pods", new StringContent(
            """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"test/sleeper"}]}}""",
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(422, (int)response.StatusCode);
        Assert.Contains("\"field\":\"spec.hostNetwork\"", await response.Content.ReadAsStringAsync());
        response = await http.PostAsync($"{url}/api/v1/namespaces/default/pods", new StringContent(
            """{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"test/sleeper","resources":{"requests":{"cpu":"lots"}}}]}}""",
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(422, (int)response.StatusCode);
        Assert.Contains("\"field\":\"spec.containers[0].resources.requests[cpu]\"", await response.Content.ReadAsStringAsync());
        var missing = await http.GetAsync($"{url}/apis/apps/v1/deployments");
        Assert.Equal(404, (int)missing.StatusCode);
        Assert.Contains("\"kind\":\"Status\"", await missing.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Pods_owned_by_a_pod_are_collected_when_their_owner_goes()
    {
        var (_, client, _) = await StartAsync();
        var owner = await client.CoreV1.CreateNamespacedPodAsync(Pod("gateway", "test/sleeper"), "default");
        V1Pod Owned(string name, string uid)
        {
            var pod = Pod(name, "test/sleeper");
            pod.Metadata.OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "gateway", Uid = uid }];
            return pod;
        }
        var other = await client.CoreV1.CreateNamespacedPodAsync(Pod("other", "test/sleeper"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(Owned("worker-1", owner.Metadata.Uid), "default");
        await client.CoreV1.CreateNamespacedPodAsync(Owned("stranger", other.Metadata.Uid), "default");
        // A pod whose owner does not exist is collected as well.
        await client.CoreV1.CreateNamespacedPodAsync(Owned("orphan", Guid.NewGuid().ToString()), "default");
        await WaitGoneAsync(client, "default", "orphan");
        var incomplete = Owned("bad-ref", "");
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedPodAsync(incomplete, "default"));
        Assert.Equal(422, (int)e.Response.StatusCode);
        Assert.Contains("metadata.ownerReferences[0].uid", e.Response.Content);

        await client.CoreV1.DeleteNamespacedPodAsync("gateway", "default", new V1DeleteOptions { GracePeriodSeconds = 0 });
        await WaitGoneAsync(client, "default", "gateway");
        await WaitGoneAsync(client, "default", "worker-1");
        // A pod owned by another pod is left alone.
        Assert.Single((await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "metadata.name=stranger")).Items);
    }

    [Fact]
    public async Task Real_kubectl_gets_describes_and_deletes_pods()
    {
        const string kubectl = "/usr/bin/kubectl";
        Skip.IfNot(File.Exists(kubectl), "kubectl is not installed");
        var (cluster, client, kubeconfig) = await StartAsync(gpuNodes: 1);
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "ops" } });
        await client.CoreV1.CreateNamespacedPodAsync(Pod("web-1", "test/sleeper"), "ops");
        var running = await WaitForAsync(client, "ops", "web-1", p => p.Status.Phase == "Running");

        async Task<(int Code, string Out)> Kubectl(params string[] args)
        {
            var info = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])["--kubeconfig", kubeconfig, .. args]) info.ArgumentList.Add(a);
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout + await stderr);
        }

        var (code, output) = await Kubectl("get", "pods", "-n", "ops", "-o", "wide");
        Assert.True(code == 0, output);
        Assert.Matches(@"NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE", output);
        Assert.Matches($@"web-1\s+1/1\s+Running\s+0\s+\S+\s+{running.Status.PodIP.Replace(".", "\\.")}\s+dev-cpu-0", output);

        (code, output) = await Kubectl("get", "pod", "web-1", "-n", "ops", "-o", "json");
        Assert.True(code == 0, output);
        var json = KubernetesJson.Deserialize<V1Pod>(output);
        Assert.Equal(("web-1", "Running", "ops"), (json.Metadata.Name, json.Status.Phase, json.Metadata.NamespaceProperty));

        (code, output) = await Kubectl("describe", "pod", "web-1", "-n", "ops");
        Assert.True(code == 0, output);
        Assert.Matches(@"\nStatus:\s+Running", output);
        Assert.Matches(@"Node:\s+dev-cpu-0/127\.0\.0\.1", output);
        Assert.Matches($@"IP:\s+{running.Status.PodIP.Replace(".", "\\.")}", output);
        Assert.Matches(@"POD_IP:\s+\(v1:status.podIP\)", output);

        (code, output) = await Kubectl("get", "nodes", "-l", "osforai.dev/pool=gpu");
        Assert.True(code == 0, output);
        Assert.Matches(@"dev-gpu-0\s+Ready", output);

        var pid = cluster.PodProcessId("ops", "web-1")!.Value;
        (code, output) = await Kubectl("delete", "pod", "web-1", "-n", "ops", "--timeout=10s");
        Assert.True(code == 0, output);
        Assert.Contains("pod \"web-1\" deleted", output);
        Assert.False(DevCluster.DevCluster.IsProcessAlive(pid));

        (code, output) = await Kubectl("get", "pod", "web-1", "-n", "ops");
        Assert.Equal(1, code);
        Assert.Contains("pods \"web-1\" not found", output);
    }
}
