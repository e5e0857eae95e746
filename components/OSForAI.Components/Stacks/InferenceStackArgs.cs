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

    /// <summary>The tags every stack carries: which project and stack made the resource.</summary>
    public static IReadOnlyList<KeyValuePair<string, Expr>> DefaultTags { get; } =
    [
        new("project", PulumiRef.Project),
        new("stack", PulumiRef.Stack),
        new("managed-by", "pulumi"),
    ];
}

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
}
