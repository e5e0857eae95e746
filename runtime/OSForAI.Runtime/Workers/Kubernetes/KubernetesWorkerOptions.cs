namespace OSForAI.Runtime.Workers.Kubernetes;

/// <summary>
/// The Kubernetes worker host (OSForAI:Workers:Kubernetes): where the API is, which images run which runtime kind, the pools
/// (CPU, GPU) worker pods go to, and the address pods dial back to.
/// </summary>
public sealed class KubernetesWorkerOptions
{
    /// <summary>A kubeconfig file naming the cluster (e.g. the one `osai dev-cluster` writes).</summary>
    public string Kubeconfig { get; set; } = "";

    /// <summary>Use the in-cluster configuration (the pod's service-account token): a runtime that runs as a pod.</summary>
    public bool ServiceAccountInCluster { get; set; }

    /// <summary>The namespace worker pods are made in.</summary>
    public string Namespace { get; set; } = "default";

    /// <summary>Names this gateway's pods (label osforai.dev/server), so a restarted gateway finds, and adopts, its own.</summary>
    public string ServerId { get; set; } = "osforai";

    /// <summary>
    /// The gateway's own pod (downward API metadata.name and metadata.uid), when it runs in one: its worker pods name it as their
    /// owner, so Kubernetes deletes them when that gateway pod goes (a rollout, a scale-down, a replica that died for good), since
    /// pods dial back only to the gateway that made them. Both or neither.
    /// </summary>
    public string OwnerPodName { get; set; } = "";

    /// <inheritdoc cref="OwnerPodName"/>
    public string OwnerPodUid { get; set; } = "";

    /// <summary>What worker pods dial to reach this gateway: tcp:HOST:PORT (e.g. the runtime pod's IP). Empty: the listen address.</summary>
    public string GatewayAddress { get; set; } = "";

    /// <summary>Where this gateway listens for worker pods.</summary>
    public string ListenAddress { get; set; } = "0.0.0.0";
    public int ListenPort { get; set; } = 7071;

    /// <summary>The worker image per runtime kind (python3, onnx).</summary>
    public Dictionary<string, string> Images { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Pools by name ("cpu", "gpu"): where their pods are scheduled, and how many warm generic pods each keeps.</summary>
    public Dictionary<string, PodPoolOptions> Pools { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long a pod may take to start (pull, schedule, a node to come up) before its start fails with the reason.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>CPU and memory a generic pod requests before it knows its version (a version's own resources size a dedicated pod).</summary>
    public double DefaultCpu { get; set; } = 0.5;
    public int DefaultMemoryMb { get; set; } = 512;

    /// <summary>
    /// Fills what is not configured: the worker images by their repository names (osforai/worker-python, osforai/worker-onnx, as
    /// deploy/docker builds them and `osai dev-cluster` runs them) and the two pools the stacks make, labelled osforai.dev/pool, the
    /// GPU one tainted nvidia.com/gpu=true:NoSchedule; one warm generic CPU pod, none on GPU (the GPU pool scales from zero).
    /// </summary>
    public void ApplyDefaults()
    {
        if (Images.Count == 0)
        {
            Images["python3"] = "osforai/worker-python:latest";
            Images["onnx"] = "osforai/worker-onnx:latest";
        }
        if (Pools.Count == 0)
        {
            Pools["cpu"] = new PodPoolOptions { NodeSelector = { ["osforai.dev/pool"] = "cpu" }, WarmPods = 1 };
            Pools["gpu"] = new PodPoolOptions { NodeSelector = { ["osforai.dev/pool"] = "gpu" }, Tolerations = { "nvidia.com/gpu=true:NoSchedule" } };
        }
    }

    /// <summary>Every problem with these settings, for start-up validation.</summary>
    public IEnumerable<string> Errors(IEnumerable<string> runtimeKinds)
    {
        const string at = "OSForAI:Workers:Kubernetes";
        if (Kubeconfig.Length > 0 && !File.Exists(Kubeconfig)) yield return $"{at}:Kubeconfig names a file that does not exist: {Kubeconfig}";
        if ((Kubeconfig.Length > 0) == ServiceAccountInCluster)
            yield return $"{at}: set either Kubeconfig (a file) or ServiceAccountInCluster (true inside a pod), exactly one";
        if (!PodSpecs.IsDnsLabel(Namespace)) yield return $"{at}:Namespace must be a DNS label, not '{Namespace}'";
        if (!PodSpecs.IsLabelValue(ServerId) || ServerId.Length == 0) yield return $"{at}:ServerId must be a non-empty label value, not '{ServerId}'";
        if ((OwnerPodName.Length > 0) != (OwnerPodUid.Length > 0))
            yield return $"{at}: set both OwnerPodName and OwnerPodUid (the gateway's pod, from the downward API) or neither";
        else if (OwnerPodName.Length > 0 && (!PodSpecs.IsDnsSubdomain(OwnerPodName) || !Guid.TryParse(OwnerPodUid, out _)))
            yield return $"{at}:OwnerPodName must be a pod name and OwnerPodUid a uid, not '{OwnerPodName}' and '{OwnerPodUid}'";
        if (ListenPort is < 1 or > 65535) yield return $"{at}:ListenPort must be a TCP port, not {ListenPort}";
        if (GatewayAddress.Length > 0 && !GatewayAddress.StartsWith("tcp:", StringComparison.Ordinal))
            yield return $"{at}:GatewayAddress must be tcp:HOST:PORT, not '{GatewayAddress}'";
        foreach (var kind in runtimeKinds)
            if (!Images.TryGetValue(kind, out var image) || string.IsNullOrWhiteSpace(image))
                yield return $"{at}:Images:{kind} must name the worker image for runtime kind {kind}";
        if (!Pools.ContainsKey("cpu")) yield return $"{at}:Pools:cpu must be configured (its NodeSelector may be empty)";
        foreach (var (name, pool) in Pools)
        {
            if (!PodSpecs.IsDnsLabel(name)) yield return $"{at}:Pools: '{name}' is not a valid pool name";
            if (pool.WarmPods < 0) yield return $"{at}:Pools:{name}:WarmPods must be 0 or more, not {pool.WarmPods}";
            foreach (var (key, value) in pool.NodeSelector)
                if (!PodSpecs.IsLabelKey(key) || !PodSpecs.IsLabelValue(value)) yield return $"{at}:Pools:{name}:NodeSelector has an invalid label {key}={value}";
            foreach (var t in pool.Tolerations)
                if (PodSpecs.ParseToleration(t) is null) yield return $"{at}:Pools:{name}:Tolerations: '{t}' is not KEY[=VALUE]:EFFECT (NoSchedule, PreferNoSchedule or NoExecute)";
        }
        if (StartTimeout <= TimeSpan.Zero) yield return $"{at}:StartTimeout must be positive";
        if (DefaultCpu <= 0 || DefaultMemoryMb <= 0) yield return $"{at}:DefaultCpu and DefaultMemoryMb must be positive";
    }
}

/// <summary>One pool of nodes worker pods may run on.</summary>
public sealed class PodPoolOptions
{
    /// <summary>Labels a node must have (the stacks label their node pools osforai.dev/pool=cpu|gpu).</summary>
    public Dictionary<string, string> NodeSelector { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Taints pods of this pool tolerate, as KEY[=VALUE]:EFFECT (e.g. nvidia.com/gpu=true:NoSchedule).</summary>
    public List<string> Tolerations { get; set; } = [];

    /// <summary>Warm generic pods kept in this pool (0 allowed: the pool scales from zero).</summary>
    public int WarmPods { get; set; }
}
