using k8s.Models;
using OSForAI.Runtime;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers.Kubernetes;

namespace OSForAI.Tests.Kubernetes;

/// <summary>Worker pods as objects, and what a pod's status says about its start (pure; the cluster tests run them).</summary>
public sealed class PodSpecTests
{
    private static KubernetesWorkerOptions Options() => new()
    {
        Namespace = "osforai",
        ServerId = "gw1",
        Images = { ["python3"] = "registry.example/osforai/worker-python:1.0", ["onnx"] = "registry.example/osforai/worker-onnx:1.0" },
        Pools =
        {
            ["cpu"] = new PodPoolOptions { NodeSelector = { ["osforai.dev/pool"] = "cpu" }, WarmPods = 1 },
            ["gpu"] = new PodPoolOptions { NodeSelector = { ["osforai.dev/pool"] = "gpu" }, Tolerations = { "nvidia.com/gpu=true:NoSchedule" } },
        },
    };

    private static V1Pod Pod(ResourceRequest? resources)
    {
        var o = Options();
        var (pool, gpus) = PodSpecs.Placement(resources, o);
        return PodSpecs.WorkerPod(new PodRequest("w7-abc", "onnx", pool, o.Images["onnx"], "s3cret", "tcp:10.0.0.5:7071", o.ServerId,
            resources?.Cpu ?? 0.5, resources?.MemoryMb ?? 512, gpus, o.Pools[pool]));
    }

    [Fact]
    public void A_gpu_version_gets_a_pod_that_requests_a_gpu_tolerates_the_taint_and_selects_the_gpu_pool()
    {
        var pod = Pod(new ResourceRequest(Cpu: 2, MemoryMb: 4096, GpuMemoryMb: 8000));
        var c = Assert.Single(pod.Spec.Containers);
        Assert.Equal("1", c.Resources.Requests["nvidia.com/gpu"].ToString());
        Assert.Equal("1", c.Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.Equal("2", c.Resources.Requests["cpu"].ToString());
        Assert.Equal("4Gi", c.Resources.Requests["memory"].ToString());
        Assert.Equal("gpu", pod.Spec.NodeSelector["osforai.dev/pool"]);
        var t = Assert.Single(pod.Spec.Tolerations);
        Assert.Equal(("nvidia.com/gpu", "Equal", "true", "NoSchedule"), (t.Key, t.OperatorProperty, t.Value, t.Effect));
        Assert.Equal("gpu", pod.Metadata.Labels[PodSpecs.PoolLabel]);
    }

    [Fact]
    public void A_cpu_version_requests_no_gpu_and_selects_the_cpu_pool()
    {
        var pod = Pod(new ResourceRequest(Cpu: 1, MemoryMb: 256));
        var c = Assert.Single(pod.Spec.Containers);
        Assert.False(c.Resources.Requests.ContainsKey("nvidia.com/gpu"));
        Assert.Equal("cpu", pod.Spec.NodeSelector["osforai.dev/pool"]);
        Assert.Null(pod.Spec.Tolerations);
    }

    [Fact]
    public void Worker_pods_are_locked_down()
    {
        var pod = Pod(null);
        Assert.False(pod.Spec.AutomountServiceAccountToken);
        Assert.True(pod.Spec.SecurityContext.RunAsNonRoot);
        Assert.Equal(PodSpecs.WorkerUid, pod.Spec.SecurityContext.RunAsUser);
        Assert.Equal("RuntimeDefault", pod.Spec.SecurityContext.SeccompProfile.Type);
        var sc = pod.Spec.Containers[0].SecurityContext;
        Assert.True(sc.ReadOnlyRootFilesystem);
        Assert.False(sc.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], sc.Capabilities.Drop);
        Assert.Equal("Always", pod.Spec.RestartPolicy);
        var env = pod.Spec.Containers[0].Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal("tcp:10.0.0.5:7071", env["OSAI_WORKER_ADDRESS"]);
        Assert.Equal("w7-abc", env["OSAI_WORKER_ID"]);
        Assert.Equal("app.kubernetes.io/managed-by=osforai,osforai.dev/server=gw1", PodSpecs.SelectorFor("gw1"));
        foreach (var (k, v) in pod.Metadata.Labels) Assert.True(PodSpecs.IsLabelKey(k) && PodSpecs.IsLabelValue(v), $"{k}={v}");
        Assert.True(pod.Metadata.Name.Length <= 63 && PodSpecs.IsDnsLabel(pod.Metadata.Name), pod.Metadata.Name);
    }

    [Fact]
    public void Pending_and_failure_reasons_come_from_the_pod_status()
    {
        var unschedulable = new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Status = new V1PodStatus { Phase = "Pending", Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." }] },
        };
        Assert.Equal("Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", PodSpecs.PendingReason(unschedulable));
        Assert.Null(PodSpecs.FailureReason(unschedulable));

        var pull = new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Status = new V1PodStatus { Phase = "Pending", ContainerStatuses = [new V1ContainerStatus { Name = "worker", Image = "x", ImageID = "", Ready = false, RestartCount = 0,
                State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "Back-off pulling image \"x\"" } } }] },
        };
        Assert.Contains("cannot start: ImagePullBackOff: Back-off pulling image \"x\"", PodSpecs.FailureReason(pull));

        var crash = new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Status = new V1PodStatus { Phase = "Running", ContainerStatuses = [new V1ContainerStatus { Name = "worker", Image = "x", ImageID = "", Ready = false, RestartCount = 3,
                State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CrashLoopBackOff" } },
                LastState = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 2, Reason = "Error" } } }] },
        };
        Assert.Contains("keeps crashing before it connects (exit code 2, Error)", PodSpecs.FailureReason(crash));
    }

    [Fact]
    public void A_worker_pod_is_owned_by_its_gateways_pod_when_the_gateway_runs_in_one()
    {
        var o = Options();
        var uid = Guid.NewGuid().ToString();
        var owned = PodSpecs.WorkerPod(new PodRequest("w1-a", "python3", "cpu", o.Images["python3"], "s", "tcp:10.0.0.5:7071", o.ServerId,
            0.5, 512, 0, o.Pools["cpu"], OwnerPod: ("osforai-runtime-7d9f-x2k4", uid)));
        var reference = Assert.Single(owned.Metadata.OwnerReferences);
        Assert.Equal(("v1", "Pod", "osforai-runtime-7d9f-x2k4", uid), (reference.ApiVersion, reference.Kind, reference.Name, reference.Uid));
        Assert.False(reference.Controller);
        Assert.Null(Pod(null).Metadata.OwnerReferences);

        var half = Options();
        half.ServiceAccountInCluster = true;
        half.OwnerPodName = "osforai-runtime-7d9f-x2k4";
        Assert.Contains(half.Errors(["python3"]), e => e.Contains("set both OwnerPodName and OwnerPodUid"));
        half.OwnerPodUid = "not-a-uid";
        Assert.Contains(half.Errors(["python3"]), e => e.Contains("OwnerPodUid a uid"));
        half.OwnerPodUid = uid;
        Assert.Empty(half.Errors(["python3"]));
    }

    [Fact]
    public void Pod_names_keep_the_worker_id_whole_however_long_the_server_id()
    {
        Assert.Equal("osai-gw1-w7-abc", PodSpecs.PodName("gw1", "w7-abc"));
        // Gateway pods of one Deployment share a long prefix; their workers' pods must not collide.
        var a = PodSpecs.PodName("osforai-production-runtime-gateway-7d9f8c6b5d-x2k4z", "w12-0a1b2c");
        var b = PodSpecs.PodName("osforai-production-runtime-gateway-7d9f8c6b5d-q8m3n", "w12-0a1b2c");
        Assert.NotEqual(a, b);
        foreach (var name in new[] { a, b })
        {
            Assert.True(name.Length <= 63, name);
            Assert.EndsWith("-w12-0a1b2c", name);
            Assert.True(PodSpecs.IsDnsLabel(name), name);
        }
    }

    [Fact]
    public void Settings_are_validated_with_every_error_at_once()
    {
        var o = new KubernetesWorkerOptions { Namespace = "Bad_NS", ListenPort = 0, GatewayAddress = "10.0.0.1:7071",
            Pools = { ["gpu"] = new PodPoolOptions { Tolerations = { "nvidia.com/gpu=true" }, WarmPods = -1 } } };
        var errors = o.Errors(["python3"]).ToList();
        Assert.Contains(errors, e => e.Contains("Namespace must be a DNS label"));
        Assert.Contains(errors, e => e.Contains("ListenPort"));
        Assert.Contains(errors, e => e.Contains("GatewayAddress must be tcp:HOST:PORT"));
        Assert.Contains(errors, e => e.Contains("Images:python3"));
        Assert.Contains(errors, e => e.Contains("Pools:cpu must be configured"));
        Assert.Contains(errors, e => e.Contains("Pools:gpu:WarmPods"));
        Assert.Contains(errors, e => e.Contains("'nvidia.com/gpu=true' is not KEY[=VALUE]:EFFECT"));
        Assert.Contains(errors, e => e.Contains("set either Kubeconfig (a file) or ServiceAccountInCluster"));
        var good = Options();
        good.ServiceAccountInCluster = true;
        Assert.Empty(good.Errors(["python3", "onnx"]));
    }

    [Fact]
    public void Only_versions_bigger_than_a_generic_pod_or_needing_a_gpu_get_a_pod_of_their_own()
    {
        var o = Options();
        Assert.Equal(("cpu", 0), PodSpecs.Placement(new ResourceRequest(1, 512), o));
        Assert.Equal(("gpu", 1), PodSpecs.Placement(new ResourceRequest(1, 512, 1000), o));
        o.Pools.Remove("gpu");
        Assert.Equal(("cpu", 0), PodSpecs.Placement(new ResourceRequest(1, 512, 1000), o));   // no GPU pool configured
    }
}
