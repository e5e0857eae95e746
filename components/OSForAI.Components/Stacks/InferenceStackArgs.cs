using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Stacks;

/// <summary>A CPU node pool (the system pool: cluster add-ons and the gateway).</summary>
/// <param name="InstanceType">The cloud's machine type, e.g. "m6i.large" on AWS.</param>
public sealed record NodePoolArgs(Expr InstanceType, Expr MinNodes, Expr MaxNodes);

/// <summary>
/// The GPU node pool. Every cloud gives its nodes the label <c>osforai.dev/pool=gpu</c> and the taint
/// <c>nvidia.com/gpu=true:NoSchedule</c>, and lets the pool scale from <see cref="MinNodes"/> (0 by default) on demand.
/// </summary>
/// <param name="GpuType">The accelerator, named as GKE names it: "nvidia-l4", "nvidia-a10g", "nvidia-t4", "nvidia-a100", "nvidia-h100".</param>
public sealed record GpuPoolArgs(Expr InstanceType, Expr GpuType, Expr GpusPerNode, Expr MinNodes, Expr MaxNodes);

/// <summary>
/// Cluster choices that decide which resources exist, read from the stack file when the program is synthesized
/// (<see cref="StackConfig.SynthTimeFlags"/>); all off without a stack (Pulumi asking for plugins: the same providers).
/// </summary>
/// <param name="PrivateControlPlane">The API server on the cluster's private network only.</param>
/// <param name="ControlPlaneLogs">API server, audit and authenticator logs in the cloud's log service.</param>
/// <param name="SecretsEncryption">Kubernetes Secrets encrypted with a key of the stack's own in the cloud's key service.</param>
/// <param name="GpuSpot">GPU nodes from spot capacity.</param>
/// <param name="AdminPrincipalCount">How many <c>adminPrincipals</c> the stack lists (grants are unrolled: Pulumi YAML has no loops).</param>
/// <param name="HasCiPrincipal">Whether <c>ciPrincipal</c> is set.</param>
/// <param name="ExistingNetwork">The stack deploys into <c>networkId</c> instead of making a network of its own.</param>
public sealed record ClusterOptions(bool PrivateControlPlane = false, bool ControlPlaneLogs = false, bool SecretsEncryption = false, bool GpuSpot = false,
    int AdminPrincipalCount = 0, bool HasCiPrincipal = false, bool ExistingNetwork = false)
{
    public static ClusterOptions Default { get; } = new();

    /// <summary>Whether anyone is named to administer the cluster (clouds with identity-based cluster access then turn local accounts off).</summary>
    public bool NamesAdmins => AdminPrincipalCount > 0 || HasCiPrincipal;

    public static ClusterOptions Of(StackFile? stack)
    {
        bool On(string key) => stack?.Get(key) is StackValue.Plain { Text: var text } && bool.TryParse(text, out var on) && on;
        return new(On(StackConfig.PrivateControlPlane), On(StackConfig.ControlPlaneLogs), On(StackConfig.SecretsEncryption), On(StackConfig.GpuSpot),
            stack?.Get(StackConfig.AdminPrincipals) is StackValue.Items { Values.Count: var n } ? n : 0,
            stack?.Get(StackConfig.CiPrincipal) is StackValue.Plain { Text.Length: > 0 },
            stack?.Get(StackConfig.NetworkId) is StackValue.Plain { Text.Length: > 0 });
    }
}

/// <summary>
/// An existing network to deploy into (<c>networkId</c>, <c>nodeSubnetIds</c>, <c>databaseSubnetId</c>: config references); the stack makes
/// its own network when <c>networkId</c> is empty, which is read from the stack file when the program is synthesized (<see cref="ClusterOptions.ExistingNetwork"/>).
/// </summary>
public sealed record NetworkArgs(Expr NetworkId, Expr NodeSubnetIds, Expr DatabaseSubnetId)
{
    public static NetworkArgs None { get; } = new("", Expr.List(), "");
}

/// <summary>
/// What every cloud's inference stack is built from, whatever the cloud. The values are expressions: on a real stack
/// they are references to the program's <c>config:</c> keys (see <see cref="StackConfig.Declare"/>), so
/// <c>pulumi config set</c> changes them without touching code; tests may pass literals.
/// </summary>
public sealed record InferenceStackArgs
{
    /// <summary>The cloud region (AWS "us-east-1", Azure "westeurope", GCP "europe-west4").</summary>
    public required Expr Region { get; init; }
    public required NodePoolArgs SystemPool { get; init; }
    public required GpuPoolArgs GpuPool { get; init; }
    /// <summary>Kubernetes minor version, e.g. "1.33".</summary>
    public required Expr KubernetesVersion { get; init; }
    /// <summary>Tags (labels) put on every cloud resource that takes them.</summary>
    public IReadOnlyList<KeyValuePair<string, Expr>> Tags { get; init; } = [];
    /// <summary>The OSForAI runtime image (the same image on every cloud).</summary>
    public required Expr RuntimeImage { get; init; }
    public required Expr GatewayMinReplicas { get; init; }
    public required Expr GatewayMaxReplicas { get; init; }
    /// <summary>The Kubernetes namespace the runtime is deployed into.</summary>
    public required Expr Namespace { get; init; }
    /// <summary>The images and warm pods of the Kubernetes worker host (workers run as pods on the node pools).</summary>
    public required WorkerPodArgs WorkerPods { get; init; }

    /// <summary>The managed PostgreSQL server that holds the runtime's state (catalog, keys, jobs), shared by every gateway replica.</summary>
    public required DatabaseArgs Database { get; init; }

    /// <summary>The <c>registry</c> key: an existing registry (host and optional path) images are pulled from; "" for the one the stack provisions.</summary>
    public Expr Registry { get; init; } = "";
    /// <summary>The <c>controlPlaneAllowedCidrs</c> key: the ranges allowed to reach the Kubernetes API (an empty list: open).</summary>
    public Expr ControlPlaneAllowedCidrs { get; init; } = Expr.List();
    /// <summary>The GPU pool's zones (a list); empty: the cloud's default placement in the region.</summary>
    public Expr GpuZones { get; init; } = Expr.List();
    /// <summary>Identities given cluster-admin (a list; the cloud's own identity format).</summary>
    public Expr AdminPrincipals { get; init; } = Expr.List();
    /// <summary>The identity CI deploys with, given cluster-admin; "" (the default): none.</summary>
    public Expr CiPrincipal { get; init; } = "";
    /// <summary>The NVIDIA driver branch the GPU worker image needs, e.g. "580".</summary>
    public Expr GpuDriverVersion { get; init; } = StackConfig.DefaultGpuDriverVersion;
    /// <summary>The cluster-autoscaler Helm chart version (clouds that install it: EKS).</summary>
    public Expr? ClusterAutoscalerChartVersion { get; init; }
    /// <summary>The nvidia-device-plugin Helm chart version (clouds that install it: EKS).</summary>
    public Expr? DevicePluginChartVersion { get; init; }
    /// <summary>NVIDIA's GPU operator Helm chart version (clouds that install it: AKS).</summary>
    public Expr? GpuOperatorChartVersion { get; init; }
    /// <summary>Private API server, control-plane logs, secrets encryption, spot GPU nodes (<see cref="ClusterOptions"/>); all off by default.</summary>
    public ClusterOptions Cluster { get; init; } = ClusterOptions.Default;
    /// <summary>GPU pools besides the main one (<see cref="Stacks.ExtraGpuPools"/>); none by default.</summary>
    public IReadOnlyList<GpuPoolSpec> ExtraGpuPools { get; init; } = [];
    /// <summary>An existing network (used when <see cref="ClusterOptions.ExistingNetwork"/>); the stack's own otherwise.</summary>
    public NetworkArgs Network { get; init; } = NetworkArgs.None;
    /// <summary>The main GPU pool (the <c>gpu*</c> keys) and the extra ones.</summary>
    public IEnumerable<GpuPoolSpec> GpuPools => [new GpuPoolSpec("", GpuPool, GpuZones, Cluster.GpuSpot), .. ExtraGpuPools];
    /// <summary>TLS or plain HTTP, public or internal load balancer (<see cref="GatewayExposure"/>); plain HTTP on a public one by default.</summary>
    public Kubernetes.GatewayArgs Gateway { get; init; } = Kubernetes.GatewayArgs.PlainHttp;

    /// <summary>The tags every stack carries: which project and stack made the resource.</summary>
    public static IReadOnlyList<KeyValuePair<string, Expr>> DefaultTags { get; } =
    [
        new("project", PulumiRef.Project),
        new("stack", PulumiRef.Stack),
        new("managed-by", "pulumi"),
    ];
}

/// <summary>
/// The managed PostgreSQL server of a cloud stack (RDS, Azure Database for PostgreSQL flexible server, Cloud SQL). Every cloud
/// reaches it only from the cluster's network, requires TLS, encrypts its storage and keeps automated backups.
/// </summary>
/// <param name="InstanceType">The cloud's size: an RDS instance class, a flexible server size, a Cloud SQL tier.</param>
/// <param name="StorageGb">Storage in GB.</param>
/// <param name="Version">PostgreSQL major version, e.g. "17".</param>
/// <param name="BackupDays">Days of automated backups.</param>
/// <param name="DeletionProtection">Whether the cloud refuses to delete the server.</param>
public sealed record DatabaseArgs(Expr InstanceType, Expr StorageGb, Expr Version, Expr BackupDays, Expr DeletionProtection);

/// <summary>The node labels and taint every cloud puts on its pools (the parity contract).</summary>
public static class NodePools
{
    public const string PoolLabel = "osforai.dev/pool";
    public const string GpuTypeLabel = "osforai.dev/gpu-type";
    public const string System = "system";
    public const string Gpu = "gpu";
    public const string GpuTaintKey = "nvidia.com/gpu";
    public const string GpuTaintValue = "true";
    /// <summary>The extended resource the NVIDIA device plugin advertises.</summary>
    public const string GpuResource = "nvidia.com/gpu";
    /// <summary>The GPU taint's effect as Kubernetes spells it (EKS and GKE APIs spell it NO_SCHEDULE).</summary>
    public const string GpuTaintEffect = "NoSchedule";
    /// <summary>The GPU taint as <c>key=value:Effect</c>: AKS's nodeTaints, and the worker host's toleration of it.</summary>
    public const string GpuTaint = GpuTaintKey + "=" + GpuTaintValue + ":" + GpuTaintEffect;
    /// <summary>
    /// The taint AKS puts on Spot node pools (<c>gpuSpot</c>); GPU worker pods and the device plugin tolerate it on every cloud (a
    /// toleration without its taint changes nothing), so spot and on-demand GPU nodes serve alike.
    /// </summary>
    public const string SpotTaintKey = "kubernetes.azure.com/scalesetpriority";
    public const string SpotTaint = SpotTaintKey + "=spot:NoSchedule";

    /// <summary>
    /// The worker host's pools, keyed by the name the runtime knows them by (<c>OSForAI:Workers:Kubernetes:Pools:&lt;name&gt;</c>):
    /// the node selector and tolerations its pods carry. This is the one source of truth for both sides: the cloud stacks
    /// label and taint their node pools with <see cref="PoolLabel"/>, <see cref="System"/>, <see cref="Gpu"/> and
    /// <see cref="GpuTaint"/>, and the runtime's pods select and tolerate exactly these values. CPU worker pods run on
    /// the system pool (its nodes carry <c>osforai.dev/pool=system</c>; the stacks have no separate CPU worker pool).
    /// </summary>
    public static IReadOnlyList<WorkerPool> WorkerPools { get; } =
    [
        new("cpu", PoolLabel, System, []),
        new("gpu", PoolLabel, Gpu, [GpuTaint, SpotTaint]),
    ];
}

/// <summary>One pool of the Kubernetes worker host: its pods select <c>LabelKey=LabelValue</c> and tolerate <see cref="Tolerations"/> (<c>key=value:Effect</c>).</summary>
public sealed record WorkerPool(string Name, string LabelKey, string LabelValue, IReadOnlyList<string> Tolerations);

/// <summary>
/// What the stacks tell the runtime's Kubernetes worker host: the worker image per runtime kind and how many generic
/// pods each pool keeps warm.
/// </summary>
/// <param name="PythonImage">The Python runner image (deploy/docker/worker-python.Dockerfile), runtime kind <c>python3</c>.</param>
/// <param name="OnnxImage">The .NET ONNX worker with CUDA (deploy/docker/worker-gpu.Dockerfile), runtime kind <c>onnx</c>.</param>
/// <param name="CpuWarmPods">Generic pods kept warm on the CPU (system) pool.</param>
/// <param name="GpuWarmPods">Generic pods kept warm on the GPU pool (0: the GPU pool scales to zero when idle).</param>
public sealed record WorkerPodArgs(Expr PythonImage, Expr OnnxImage, Expr CpuWarmPods, Expr GpuWarmPods);
