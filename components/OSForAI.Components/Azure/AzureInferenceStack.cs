using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Azure;

/// <summary>The cloud-agnostic args plus what only Azure needs.</summary>
public sealed record AzureInferenceStackArgs(InferenceStackArgs Stack)
{
    public int GpuNodeDiskGiB { get; init; } = 200;
    /// <summary>Redundancy of the storage account behind data://.</summary>
    public string StorageSku { get; init; } = "Standard_LRS";
    /// <summary>The blob container behind data://.</summary>
    public string ContainerName { get; init; } = "osforai";
    /// <summary>Pins the nvidia-device-plugin chart; null takes the repository's latest.</summary>
    public string? DevicePluginChartVersion { get; init; }
}

/// <summary>
/// The OSForAI inference stack on Azure: a resource group, an AKS cluster (Azure CNI overlay networking, built-in
/// cluster autoscaler and metrics server) with a system pool and a separate GPU pool that scales from zero, a storage
/// account and blob container for data://, and the cloud-agnostic <see cref="RuntimeDeployment"/> on top.
/// <para>
/// GPU nodes: AKS installs the NVIDIA driver on GPU sizes (<c>gpuProfile.driver: Install</c>), but not the device
/// plugin, so RuntimeDeployment deploys it (as on AWS). The pool carries the same label and taint as every cloud
/// (<see cref="NodePools"/>); AKS's own autoscaler knows a pool's labels and taints, so scaling from zero needs
/// nothing more.
/// </para>
/// <para>
/// Storage credentials: the runtime's Azure connector takes <c>AccountName</c> + <c>AccountKey</c>. The key is read
/// with <c>listStorageAccountKeys</c>, kept in a Kubernetes Secret mounted as a file and passed as
/// <c>OSForAI__Data__Azure__platform__AccountKeyFile</c> — the same shape as the S3 keys on AWS.
/// </para>
/// </summary>
public sealed class AzureInferenceStack : InferenceStack
{
    public const string SystemPoolName = "system";
    public const string GpuPoolName = "gpu";

    public AzureInferenceStack(string name, AzureInferenceStackArgs azureArgs) : base("osforai:azure:InferenceStack", name)
    {
        var args = azureArgs.Stack;
        var tags = new Obj(args.Tags);

        Provider = new Resource("pulumi:providers:azure-native", "azure-native", Expr.Object(("location", args.Region)), Child());
        var azure = Provider;

        ResourceGroup = new Resource("azure-native:resources:ResourceGroup", "resource-group", Expr.Object(
            ("location", args.Region),
            ("tags", tags)), Child(azure));
        var resourceGroupName = ResourceGroup.Output("name");

        // The cluster with its system pool. The built-in autoscaler owns the pools' node counts once they exist.
        Cluster = new Resource("azure-native:containerservice:ManagedCluster", "cluster", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("location", args.Region),
            ("kubernetesVersion", args.KubernetesVersion),
            ("dnsPrefix", Expr.Concat(PulumiRef.Project, "-", PulumiRef.Stack)),
            ("identity", Expr.Object(("type", "SystemAssigned"))),
            ("enableRBAC", true),
            ("networkProfile", Expr.Object(
                ("networkPlugin", "azure"),
                ("networkPluginMode", "overlay"),
                // Azure CNI powered by Cilium enforces NetworkPolicy (the worker pods' policy, RuntimeDeployment).
                ("networkDataplane", "cilium"),
                ("networkPolicy", "cilium"),
                ("loadBalancerSku", "standard"))),
            ("agentPoolProfiles", Expr.List(Expr.Object(
                ("name", SystemPoolName),
                ("mode", "System"),
                ("osType", "Linux"),
                ("vmSize", args.SystemPool.InstanceType),
                ("count", args.SystemPool.MinNodes),
                ("enableAutoScaling", true),
                ("minCount", args.SystemPool.MinNodes),
                ("maxCount", args.SystemPool.MaxNodes),
                ("nodeLabels", Expr.Object((NodePools.PoolLabel, NodePools.System)))))),
            // The same choices as the cluster-autoscaler on AWS.
            ("autoScalerProfile", Expr.Object(
                ("expander", "least-waste"),
                ("balanceSimilarNodeGroups", "true"),
                ("skipNodesWithSystemPods", "false"))),
            ("tags", tags)),
            new ResourceOptions { Parent = this, Provider = azure, IgnoreChanges = ["agentPoolProfiles[0].count"] });
        var clusterName = Cluster.Output("name");

        GpuPool = new Resource("azure-native:containerservice:AgentPool", "gpu-pool", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("resourceName", clusterName),
            ("agentPoolName", GpuPoolName),
            ("mode", "User"),
            ("osType", "Linux"),
            ("vmSize", args.GpuPool.InstanceType),
            ("osDiskSizeGB", azureArgs.GpuNodeDiskGiB),
            ("count", args.GpuPool.MinNodes),
            ("enableAutoScaling", true),
            ("minCount", args.GpuPool.MinNodes),
            ("maxCount", args.GpuPool.MaxNodes),
            // NVIDIA driver by AKS; the device plugin comes from RuntimeDeployment.
            ("gpuProfile", Expr.Object(("driver", "Install"))),
            ("nodeLabels", Expr.Object((NodePools.PoolLabel, NodePools.Gpu), (NodePools.GpuTypeLabel, args.GpuPool.GpuType))),
            ("nodeTaints", Expr.List(NodePools.GpuTaint)),
            ("tags", tags)),
            new ResourceOptions { Parent = this, Provider = azure, IgnoreChanges = ["count"] });

        // kubeconfig: the cluster's user credentials (Entra ID or local accounts, as the cluster is set up).
        Credentials = new Variable($"{Name}-credentials", new Invoke("azure-native:containerservice:listManagedClusterUserCredentials", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("resourceName", clusterName)), "kubeconfigs", azure));
        Kubeconfig = new Variable($"{Name}-kubeconfig", Expr.FromBase64(Credentials.Output("[0].value")));
        // Everything on the cluster waits for the GPU pool too, so the device plugin has a pool to land on.
        KubernetesProvider = new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(
            ("kubeconfig", Kubeconfig.Output())), Child(null, Cluster, GpuPool));
        var k8s = KubernetesProvider;

        // Storage: a private account (names are global: 3–24 lower-case letters and digits) and the container behind data://.
        AccountSuffix = new Resource("random:index/randomString:RandomString", "storage-suffix", Expr.Object(
            ("length", 10), ("special", false), ("upper", false)), Child());
        StorageAccount = new Resource("azure-native:storage:StorageAccount", "storage", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("accountName", Expr.Concat("osforai", AccountSuffix.Output("result"))),
            ("location", args.Region),
            ("kind", "StorageV2"),
            ("sku", Expr.Object(("name", azureArgs.StorageSku))),
            ("allowBlobPublicAccess", false),
            ("enableHttpsTrafficOnly", true),
            ("minimumTlsVersion", "TLS1_2"),
            ("tags", tags)), Child(azure));
        var accountName = StorageAccount.Output("name");
        Container = new Resource("azure-native:storage:BlobContainer", "data", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("accountName", accountName),
            ("containerName", azureArgs.ContainerName),
            ("publicAccess", "None")), Child(azure));
        StorageKeys = new Variable($"{Name}-storage-keys", new Invoke("azure-native:storage:listStorageAccountKeys", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("accountName", accountName)), "keys", azure));

        Runtime = new RuntimeDeployment("runtime", new RuntimeDeploymentArgs
        {
            Provider = k8s,
            Namespace = args.Namespace,
            Image = args.RuntimeImage,
            MinReplicas = args.GatewayMinReplicas,
            MaxReplicas = args.GatewayMaxReplicas,
            WorkerPods = args.WorkerPods,
            DevicePlugin = DevicePluginMode.Helm,
            DevicePluginVersion = azureArgs.DevicePluginChartVersion,
            // Azure's load balancer gives the Service a public IP.
            GatewayAddress = LoadBalancerAddress.Ip,
            DataStore = new DataStoreBinding("Azure", "platform", Expr.Concat("azure+platform://", Container.Output("name"), "/osforai"))
            {
                Settings = [new("AccountName", accountName)],
                Secrets = [new("AccountKey", StorageKeys.Output("[0].value"))],
            },
        }, this);

        GatewayUrl = Runtime.GatewayUrl;
        BucketUri = Expr.Concat("azure://", Container.Output("name"));
    }

    /// <summary>Program variables the stack needs (invokes, the kubeconfig); add them with <see cref="PulumiProgram.AddVariable(Variable)"/>.</summary>
    public override IReadOnlyList<Variable> Variables => [Credentials, Kubeconfig, StorageKeys];

    public Resource Provider { get; }
    public Resource ResourceGroup { get; }
    public override Resource Cluster { get; }
    public Resource GpuPool { get; }
    public Variable Credentials { get; }
    public override Variable Kubeconfig { get; }
    public Resource KubernetesProvider { get; }
    public Resource AccountSuffix { get; }
    public Resource StorageAccount { get; }
    public Resource Container { get; }
    public Variable StorageKeys { get; }
    public RuntimeDeployment Runtime { get; }

    /// <summary>http://&lt;load balancer IP&gt;.</summary>
    public override Expr GatewayUrl { get; }
    /// <summary>azure://&lt;container&gt;.</summary>
    public override Expr BucketUri { get; }
}

/// <summary>The whole Azure program: config keys, the stack, and the parity outputs.</summary>
public static class AzureStackProgram
{
    public const string ProjectName = "osforai-azure";

    public static PulumiProgram Build(string projectName = ProjectName) =>
        InferenceStack.Program(projectName, "OSForAI GPU inference stack on Azure (AKS, Blob Storage), synthesized by OSForAI.Stacks",
            args => new AzureInferenceStack("osforai", new AzureInferenceStackArgs(args)));
}
