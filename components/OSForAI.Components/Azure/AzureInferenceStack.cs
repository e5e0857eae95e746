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
    /// <summary>
    /// The stack's virtual network. Clear of AKS's default service range (10.0.0.0/16) and overlay pod range (10.244.0.0/16); the
    /// same range AKS gives the virtual networks it creates itself.
    /// </summary>
    public string VnetCidr { get; init; } = "10.224.0.0/12";
    /// <summary>The AKS nodes' subnet (Azure CNI overlay: pods take overlay addresses, so only nodes use it).</summary>
    public string NodeSubnetCidr { get; init; } = "10.224.0.0/16";
    /// <summary>The subnet delegated to the PostgreSQL flexible server.</summary>
    public string DatabaseSubnetCidr { get; init; } = "10.225.0.0/24";
    /// <summary>The flexible server's compute tier, which must match the databaseInstanceType size (<see cref="AzureOffering.DatabaseTier"/>).</summary>
    public string DatabaseTier { get; init; } = "Burstable";
    /// <summary>A CanNotDelete lock on the flexible server (databaseDeletionProtection).</summary>
    public bool DatabaseDeletionLock { get; init; } = true;
    /// <summary>
    /// Whether the stack provisions its own container registry (ACR): true unless the stack's <c>registry</c> names an existing one. A
    /// resource, not a value, so it is chosen when the program is synthesized, as the database tier is.
    /// </summary>
    public bool ProvisionRegistry { get; init; } = true;
    /// <summary>
    /// The image keys (<see cref="StackConfig.RuntimeImage"/>, …) whose value names a registry host and is pulled as it is; the others
    /// are repository:tag inside the stack's registry and get its host in front.
    /// </summary>
    public IReadOnlySet<string> ImagesWithRegistryHost { get; init; } = new HashSet<string>();
    /// <summary>The SKU of the provisioned registry.</summary>
    public string RegistrySku { get; init; } = "Standard";
    /// <summary>Nodes of the cluster's required default pool, which keeps AKS's own add-ons (tainted CriticalAddonsOnly).</summary>
    public int DefaultPoolNodes { get; init; } = 1;
}

/// <summary>
/// The OSForAI inference stack on Azure: a resource group, an AKS cluster (Azure CNI overlay networking, built-in
/// cluster autoscaler and metrics server) with a system pool and a separate GPU pool that scales from zero, a storage
/// account and blob container for data://, Azure Database for PostgreSQL flexible server for the runtime's state
/// (<see cref="FlexiblePostgres"/>), and the cloud-agnostic <see cref="RuntimeDeployment"/> on top.
/// <para>
/// Network: the cluster's nodes sit in a subnet of the stack's own virtual network, next to the subnet delegated to the database,
/// so the database is reachable from the cluster and from nowhere else. AKS needs its control-plane identity to hold Network
/// Contributor on a network it did not create; a system-assigned identity exists only once the cluster does, so the cluster has a
/// user-assigned identity that is granted the role first.
/// </para>
/// <para>
/// GPU nodes: AKS's own driver install cannot be pinned to a branch, so the pools skip it (<c>gpuProfile.driver: None</c>) and NVIDIA's
/// GPU operator installs the R580 release the CUDA 13 worker image needs, the container toolkit and the device plugin. The pools carry
/// the same label and taint as every cloud (<see cref="NodePools"/>) and <c>nvidia.com/gpu.present=true</c>, which the operator's
/// daemonsets select (AKS sets no NFD labels);
/// requires; AKS's own autoscaler knows a pool's labels and taints, so scaling from zero needs nothing more.
/// </para>
/// <para>
/// Images: the image keys are <c>repository:tag</c> inside the stack's registry, an Azure Container Registry the stack provisions (or the
/// <c>registry</c> key's existing one), and get its host in front; a value that names a registry host of its own is pulled as it is.
/// The kubelet identity holds AcrPull on the provisioned registry, and the <c>registry</c> output tells CI where to push.
/// </para>
/// <para>
/// Node pools (day 2): AKS cannot change a pool's VM size, and adds or removes no pool through the cluster resource. So the cluster's
/// inline pool is only the required default System pool (one node, tainted <c>CriticalAddonsOnly</c>, for AKS's add-ons; its profile
/// is read at creation only), and the system and GPU pools are AgentPool resources whose names carry a random suffix kept per VM
/// size: changing <c>systemInstanceType</c> or <c>gpuInstanceType</c> creates a pool with a new name before the old one is deleted.
/// </para>
/// <para>
/// Storage credentials: none that live long, and the account takes no shared keys at all (<c>allowSharedKeyAccess: false</c>). Azure
/// workload identity: the cluster's OIDC issuer signs the gateway's projected service-account token, a federated credential of a
/// user-assigned identity trusts exactly <c>system:serviceaccount:NAMESPACE:osforai-runtime</c>, that identity holds Storage Blob Data
/// Contributor on the data container only, and the runtime's azure connector runs with <c>Credentials=WorkloadIdentity</c>: it exchanges
/// the token for an Entra ID token of the identity. Worker pods run under the namespace's default service account, which nothing trusts.
/// </para>
/// </summary>
public sealed class AzureInferenceStack : InferenceStack
{
    /// <summary>The cluster's required default pool (created with the cluster, its profile never changed afterwards).</summary>
    public const string DefaultPoolName = "system";
    /// <summary>The system pool's name prefix (its name is this and <see cref="SystemPoolSuffix"/>).</summary>
    public const string SystemPoolName = "sys";
    /// <summary>The GPU pool's name prefix (its name is this and <see cref="GpuPoolSuffix"/>).</summary>
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
        ClientConfig = new Variable($"{Name}-client-config", new Invoke("azure-native:authorization:getClientConfig", Expr.Object(), null, azure));

        // Network: the stack's own (the nodes' subnet here, the database's in FlexiblePostgres), or the virtual network networkId names
        // with its nodes' subnet (nodeSubnetIds) and a subnet delegated to flexible servers (databaseSubnetId).
        Expr vnetId, nodeSubnetId;
        if (args.Cluster.ExistingNetwork)
        {
            vnetId = args.Network.NetworkId;
            nodeSubnetId = Expr.Select(0, args.Network.NodeSubnetIds);
        }
        else
        {
            VirtualNetwork = new Resource("azure-native:network:VirtualNetwork", "network", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("location", args.Region),
                ("addressSpace", Expr.Object(("addressPrefixes", Expr.List(azureArgs.VnetCidr)))),
                ("tags", tags)),
                // Subnets are resources of their own (below, and the database's); the network must not remove them.
                new ResourceOptions { Parent = this, Provider = azure, IgnoreChanges = ["subnets"] });
            NodeSubnet = new Resource("azure-native:network:Subnet", "nodes", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("virtualNetworkName", VirtualNetwork.Output("name")),
                ("addressPrefix", azureArgs.NodeSubnetCidr)), Child(azure));
            vnetId = VirtualNetwork.Output("id");
            nodeSubnetId = NodeSubnet.Output("id");
        }
        ClusterIdentity = new Resource("azure-native:managedidentity:UserAssignedIdentity", "cluster-identity", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("location", args.Region),
            ("tags", tags)), Child(azure));
        ClusterNetworkRole = Grant("cluster-network-contributor", ClusterIdentity.Output("principalId"), NetworkContributorRole, vnetId, servicePrincipal: true);

        // Names that are the stack's own: the storage account, the registry and the database's private DNS zone.
        AccountSuffix = new Resource("random:index/randomString:RandomString", "storage-suffix", Expr.Object(
            ("length", 10), ("special", false), ("upper", false)), Child());

        var options = args.Cluster;
        // secretsEncryption: KMS etcd encryption with a key in a vault of the stack's own (RBAC-authorized, purge-protected), which the
        // cluster's identity may use. AKS pins the key version: rotating the key means setting the new version on the cluster.
        if (options.SecretsEncryption)
        {
            SecretsVault = new Resource("azure-native:keyvault:Vault", "secrets-vault", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("vaultName", Expr.Concat("osforai", AccountSuffix.Output("result"))),
                ("location", args.Region),
                ("properties", Expr.Object(
                    ("tenantId", ClientConfig.Output("tenantId")),
                    ("sku", Expr.Object(("family", "A"), ("name", "standard"))),
                    ("enableRbacAuthorization", true),
                    ("enableSoftDelete", true),
                    ("enablePurgeProtection", true),
                    ("softDeleteRetentionInDays", 90))),
                ("tags", tags)), Child(azure));
            SecretsKey = new Resource("azure-native:keyvault:Key", "secrets-key", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("vaultName", SecretsVault.Output("name")),
                ("keyName", "kubernetes-secrets"),
                ("properties", Expr.Object(("kty", "RSA"), ("keySize", 2048), ("keyOps", Expr.List("encrypt", "decrypt", "wrapKey", "unwrapKey"))))), Child(azure));
            SecretsKeyGrant = Grant("cluster-secrets-key", ClusterIdentity.Output("principalId"), KeyVaultCryptoUserRole, SecretsVault.Output("id"), servicePrincipal: true);
        }

        // The cluster with its required default pool; the system and GPU pools are AgentPools below. The profile is read at creation
        // only (AKS adds or removes no pool through the cluster), and the built-in autoscaler owns the node counts.
        Cluster = new Resource("azure-native:containerservice:ManagedCluster", "cluster", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("location", args.Region),
            ("kubernetesVersion", args.KubernetesVersion),
            ("dnsPrefix", Expr.Concat(PulumiRef.Project, "-", PulumiRef.Stack)),
            ("identity", Expr.Object(("type", "UserAssigned"), ("userAssignedIdentities", Expr.List(ClusterIdentity.Output("id"))))),
            ("enableRBAC", true),
            ("networkProfile", Expr.Object(
                ("networkPlugin", "azure"),
                ("networkPluginMode", "overlay"),
                // Azure CNI powered by Cilium enforces NetworkPolicy (the worker pods' policy, RuntimeDeployment).
                ("networkDataplane", "cilium"),
                ("networkPolicy", "cilium"),
                ("loadBalancerSku", "standard"))),
            ("agentPoolProfiles", Expr.List(Expr.Object(
                ("name", DefaultPoolName),
                ("mode", "System"),
                ("osType", "Linux"),
                ("vmSize", args.SystemPool.InstanceType),
                ("vnetSubnetID", nodeSubnetId),
                ("count", azureArgs.DefaultPoolNodes),
                ("enableAutoScaling", false),
                ("nodeTaints", Expr.List(CriticalAddonsOnlyTaint))))),
            // Workload identity: the OIDC issuer that signs service-account tokens, and the webhook that projects them (the data store).
            ("oidcIssuerProfile", Expr.Object(("enabled", true))),
            ("securityProfile", Expr.Object(
                ("workloadIdentity", Expr.Object(("enabled", true))),
                ("azureKeyVaultKms", SecretsKey is null ? null : Expr.Object(
                    ("enabled", true), ("keyId", SecretsKey.Output("keyUriWithVersion")), ("keyVaultNetworkAccess", "Public"))))),
            // adminPrincipals / ciPrincipal: Entra ID sign-in with Azure RBAC for Kubernetes (grants below), and no local accounts, so
            // the cluster has no certificate credential that bypasses Entra ID. Without anyone named, AKS's local accounts stay.
            ("aadProfile", options.NamesAdmins ? Expr.Object(("managed", true), ("enableAzureRBAC", true), ("tenantID", ClientConfig.Output("tenantId"))) : null),
            ("disableLocalAccounts", options.NamesAdmins ? true : null),
            // privateControlPlane: the API server on a private endpoint in the cluster's network; else authorized ranges (empty: open,
            // as AKS makes it).
            ("apiServerAccessProfile", options.PrivateControlPlane
                ? Expr.Object(("enablePrivateCluster", true))
                : Expr.Object(("authorizedIPRanges", args.ControlPlaneAllowedCidrs))),
            // The same choices as the cluster-autoscaler on AWS.
            ("autoScalerProfile", Expr.Object(
                ("expander", "least-waste"),
                ("balanceSimilarNodeGroups", "true"),
                ("skipNodesWithSystemPods", "false"))),
            ("tags", tags)),
            new ResourceOptions { Parent = this, Provider = azure, DependsOn = [ClusterNetworkRole, .. SecretsKeyGrant is null ? [] : new[] { SecretsKeyGrant }],
                IgnoreChanges = ["agentPoolProfiles"] });
        var clusterName = Cluster.Output("name");

        // Cluster admins: Azure Kubernetes Service RBAC Cluster Admin on this cluster, and Cluster User to fetch its kubeconfig.
        var admins = new List<(string Name, Expr Principal)>();
        for (var i = 0; i < options.AdminPrincipalCount; i++) admins.Add(($"admin-{i}", Expr.Select(i, args.AdminPrincipals)));
        if (options.HasCiPrincipal) admins.Add(("ci", args.CiPrincipal));
        var adminGrants = new List<Resource>();
        foreach (var (who, principal) in admins)
            foreach (var (role, id) in new[] { ("rbac-admin", AksRbacClusterAdminRole), ("user", AksClusterUserRole) })
                adminGrants.Add(Grant($"{who}-{role}", principal, id, Cluster.Output("id")));
        AdminGrants = adminGrants;

        // controlPlaneLogs: the API server, audit (admin) and Entra sign-in (guard) logs into a Log Analytics workspace of the stack.
        if (options.ControlPlaneLogs)
        {
            LogWorkspace = new Resource("azure-native:operationalinsights:Workspace", "logs", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("location", args.Region),
                ("sku", Expr.Object(("name", "PerGB2018"))),
                ("retentionInDays", 30),
                ("tags", tags)), Child(azure));
            _ = new Resource("azure-native:monitor:DiagnosticSetting", "control-plane-logs", Expr.Object(
                ("resourceUri", Cluster.Output("id")),
                ("name", "osforai-control-plane"),
                ("workspaceId", LogWorkspace.Output("id")),
                ("logAnalyticsDestinationType", "Dedicated"),
                ("logs", Expr.List([.. ControlPlaneLogCategories.Select(c => (Expr)Expr.Object(("category", c), ("enabled", true)))]))), Child(azure));
        }

        SystemPoolSuffix = PoolSuffix("system-pool-suffix", args.SystemPool.InstanceType);
        SystemPool = new Resource("azure-native:containerservice:AgentPool", "system-pool", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("resourceName", clusterName),
            ("agentPoolName", Expr.Concat(SystemPoolName, SystemPoolSuffix.Output("result"))),
            ("mode", "System"),
            ("osType", "Linux"),
            ("vmSize", args.SystemPool.InstanceType),
            ("vnetSubnetID", nodeSubnetId),
            ("count", args.SystemPool.MinNodes),
            ("enableAutoScaling", true),
            ("minCount", args.SystemPool.MinNodes),
            ("maxCount", args.SystemPool.MaxNodes),
            ("nodeLabels", Expr.Object((NodePools.PoolLabel, NodePools.System))),
            ("tags", tags)),
            new ResourceOptions { Parent = this, Provider = azure, IgnoreChanges = ["count"] });

        // The GPU pools: the main one (gpu* keys, named gpu<suffix>) and extraGpuPools (<name><suffix>), each with the shared label
        // and taint. A pool's name suffix is kept per VM size and zones, which AKS cannot change on a pool: a change replaces the pool.
        var gpuPools = new List<Resource>();
        var gpuSuffixes = new List<Resource>();
        foreach (var pool in args.GpuPools)
        {
            var suffix = PoolSuffix(pool.ResourceName("pool-suffix"), pool.Args.InstanceType, pool.Zones);
            gpuSuffixes.Add(suffix);
            gpuPools.Add(new Resource("azure-native:containerservice:AgentPool", pool.ResourceName("pool"), Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("resourceName", clusterName),
                ("agentPoolName", Expr.Concat(pool.IsMain ? GpuPoolName : pool.Name, suffix.Output("result"))),
                ("mode", "User"),
                ("osType", "Linux"),
                ("vmSize", pool.Args.InstanceType),
                ("vnetSubnetID", nodeSubnetId),
                ("osDiskSizeGB", azureArgs.GpuNodeDiskGiB),
                // gpuZones (or the pool's zones): "1", "2", "3"; empty: no zone pinning.
                ("availabilityZones", pool.Zones),
                // Spot (gpuSpot, or the pool's spot): Spot VMs at up to the on-demand price, deleted on eviction; AKS taints them
                // (the worker pods tolerate it).
                ("scaleSetPriority", pool.Spot ? (Expr)"Spot" : null),
                ("scaleSetEvictionPolicy", pool.Spot ? (Expr)"Delete" : null),
                ("spotMaxPrice", pool.Spot ? -1 : null),
                ("count", pool.Args.MinNodes),
                ("enableAutoScaling", true),
                ("minCount", pool.Args.MinNodes),
                ("maxCount", pool.Args.MaxNodes),
                // No driver from AKS (its version cannot be pinned): the GPU operator below installs the pinned one.
                ("gpuProfile", Expr.Object(("driver", "None"))),
                // nvidia.com/gpu.present: the device plugin chart's default node affinity (AKS sets no NFD labels).
                ("nodeLabels", Expr.Object((NodePools.PoolLabel, NodePools.Gpu), (NodePools.GpuTypeLabel, pool.Args.GpuType), (GpuPresentLabel, "true"))),
                ("nodeTaints", Expr.List(NodePools.GpuTaint)),
                ("tags", tags)),
                new ResourceOptions { Parent = this, Provider = azure, IgnoreChanges = ["count"] }));
        }
        GpuPools = gpuPools;
        GpuPool = gpuPools[0];
        GpuPoolSuffix = gpuSuffixes[0];

        // kubeconfig: the cluster's user credentials (Entra ID or local accounts, as the cluster is set up).
        Credentials = new Variable($"{Name}-credentials", new Invoke("azure-native:containerservice:listManagedClusterUserCredentials", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("resourceName", clusterName),
            // With Entra ID sign-in: the exec form (kubelogin), not the legacy azure auth provider that kubectl no longer has.
            ("format", options.NamesAdmins ? (Expr)"exec" : null)), "kubeconfigs", azure));
        // The credentials are a secret: mark the kubeconfig so wherever it goes (the provider's inputs, the output) it stays encrypted.
        // With Entra ID sign-in the kubeconfig runs kubelogin; its default device-code login cannot work unattended, so the Azure CLI's
        // sign-in is used instead (az login locally, azure/login in CI).
        Expr kubeconfig = Expr.FromBase64(Credentials.Output("[0].value"));
        Kubeconfig = new Variable($"{Name}-kubeconfig", Expr.Secret(options.NamesAdmins ? Expr.Replace(kubeconfig, "devicecode", "azurecli") : kubeconfig));

        // Images: the provisioned registry with the kubelet allowed to pull, or the registry key's.
        if (azureArgs.ProvisionRegistry)
        {
            ContainerRegistry = new Resource("azure-native:containerregistry:Registry", "registry", Expr.Object(
                ("resourceGroupName", resourceGroupName),
                ("registryName", Expr.Concat("osforai", AccountSuffix.Output("result"))),
                ("location", args.Region),
                ("sku", Expr.Object(("name", azureArgs.RegistrySku))),
                ("adminUserEnabled", false),
                ("anonymousPullEnabled", false),
                ("tags", tags)), Child(azure));
            RegistryPull = Grant("kubelet-acr-pull", Cluster.Output("identityProfile.kubeletidentity.objectId"), AcrPullRole, ContainerRegistry.Output("id"), servicePrincipal: true);
            RegistryLoginServer = ContainerRegistry.Output("loginServer");
        }
        else RegistryLoginServer = args.Registry;
        Expr Image(string key, Expr image) => azureArgs.ImagesWithRegistryHost.Contains(key) ? image : Expr.Concat(RegistryLoginServer, "/", image);

        // Everything on the cluster waits for the pools (the device plugin needs the GPU pool) and the pull grant.
        KubernetesProvider = new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(
            ("kubeconfig", Kubeconfig.Output())), Child(null, [Cluster, SystemPool, .. GpuPools, .. RegistryPull is null ? [] : new[] { RegistryPull }]));
        var k8s = KubernetesProvider;

        // NVIDIA's GPU operator on the GPU pools: the driver release of gpuDriverVersion's branch (R580 for the CUDA 13 worker image),
        // the container toolkit and the device plugin. Its daemonsets tolerate the GPU and spot taints and find the nodes by their
        // nvidia.com/gpu.present label; the operator itself runs on the system pool.
        GpuOperatorNamespace = new Resource("kubernetes:core/v1:Namespace", "gpu-operator-namespace", Expr.Object(
            ("metadata", Expr.Object(("name", "gpu-operator")))), Child(k8s));
        GpuOperator = new Resource("kubernetes:helm.sh/v3:Release", "gpu-operator", Expr.Object(
            ("name", "gpu-operator"),
            ("chart", "gpu-operator"),
            ("version", args.GpuOperatorChartVersion),
            ("namespace", GpuOperatorNamespace.Output("metadata.name")),
            ("repositoryOpts", Expr.Object(("repo", "https://helm.ngc.nvidia.com/nvidia"))),
            ("values", Expr.Object(
                ("operator", Expr.Object(("nodeSelector", Expr.Object((NodePools.PoolLabel, NodePools.System))))),
                ("driver", Expr.Object(("enabled", true), ("version", DriverRelease(args.GpuDriverVersion)))),
                ("toolkit", Expr.Object(("enabled", true))),
                ("devicePlugin", Expr.Object(("enabled", true))),
                ("daemonsets", Expr.Object(("tolerations", Expr.List(
                    Expr.Object(("key", NodePools.GpuTaintKey), ("operator", "Exists"), ("effect", "NoSchedule")),
                    Expr.Object(("key", NodePools.SpotTaintKey), ("operator", "Exists"), ("effect", "NoSchedule")))))),
                ("node-feature-discovery", Expr.Object(("worker", Expr.Object(("tolerations", Expr.List(
                    Expr.Object(("key", NodePools.GpuTaintKey), ("operator", "Exists"), ("effect", "NoSchedule")),
                    Expr.Object(("key", NodePools.SpotTaintKey), ("operator", "Exists"), ("effect", "NoSchedule"))))))))))), Child(k8s));

        // Storage: a private account (names are global: 3–24 lower-case letters and digits) and the container behind data://.
        StorageAccount = new Resource("azure-native:storage:StorageAccount", "storage", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("accountName", Expr.Concat("osforai", AccountSuffix.Output("result"))),
            ("location", args.Region),
            ("kind", "StorageV2"),
            ("sku", Expr.Object(("name", azureArgs.StorageSku))),
            ("allowBlobPublicAccess", false),
            ("enableHttpsTrafficOnly", true),
            ("minimumTlsVersion", "TLS1_2"),
            // Entra ID only: no account key can read or write (the gateway uses its workload identity).
            ("allowSharedKeyAccess", false),
            ("tags", tags)), Child(azure));
        var accountName = StorageAccount.Output("name");
        Container = new Resource("azure-native:storage:BlobContainer", "data", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("accountName", accountName),
            ("containerName", azureArgs.ContainerName),
            ("publicAccess", "None")), Child(azure));
        // The gateway's identity: trusted for the gateway's service account only, allowed the data container only.
        RuntimeIdentity = new Resource("azure-native:managedidentity:UserAssignedIdentity", "runtime-identity", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("location", args.Region),
            ("tags", tags)), Child(azure));
        RuntimeFederation = new Resource("azure-native:managedidentity:FederatedIdentityCredential", "runtime-federation", Expr.Object(
            ("resourceGroupName", resourceGroupName),
            ("resourceName", RuntimeIdentity.Output("name")),
            ("federatedIdentityCredentialResourceName", "osforai-gateway"),
            ("issuer", Cluster.Output("oidcIssuerProfile.issuerURL")),
            ("subject", Expr.Concat("system:serviceaccount:", args.Namespace, ":", RuntimeDeployment.ServiceAccountName)),
            ("audiences", Expr.List(WorkloadIdentityAudience))), Child(azure));
        RuntimeDataRole = Grant("runtime-blob-data", RuntimeIdentity.Output("principalId"), StorageBlobDataContributorRole, Container.Output("id"), servicePrincipal: true);

        // State: a flexible server in a delegated subnet of the cluster's network, no public access.
        Database = new FlexiblePostgres("database", new FlexiblePostgresArgs(azure, args.Database, args.Region, resourceGroupName,
            VirtualNetwork is null ? "" : VirtualNetwork.Output("name"), vnetId, azureArgs.DatabaseSubnetCidr, azureArgs.DatabaseTier,
            azureArgs.DatabaseDeletionLock, AccountSuffix.Output("result"), tags)
        {
            ExistingSubnetId = args.Cluster.ExistingNetwork ? args.Network.DatabaseSubnetId : null,
        }, this);

        Runtime = new RuntimeDeployment("runtime", new RuntimeDeploymentArgs
        {
            Provider = k8s,
            Namespace = args.Namespace,
            Image = Image(StackConfig.RuntimeImage, args.RuntimeImage),
            MinReplicas = args.GatewayMinReplicas,
            MaxReplicas = args.GatewayMaxReplicas,
            State = Database.ConnectionUri,
            WorkerPods = args.WorkerPods with
            {
                PythonImage = Image(StackConfig.WorkerPythonImage, args.WorkerPods.PythonImage),
                OnnxImage = Image(StackConfig.WorkerGpuImage, args.WorkerPods.OnnxImage),
            },
            // The GPU operator runs the device plugin.
            DevicePlugin = DevicePluginMode.Managed,
            Gateway = args.Gateway,
            // Azure's load balancer gives the Service a public IP.
            GatewayAddress = LoadBalancerAddress.Ip,
            DataStore = new DataStoreBinding("Azure", "platform", Expr.Concat("azure+platform://", Container.Output("name"), "/osforai"))
            {
                Settings = [new("AccountName", accountName), DataStoreBinding.UseWorkloadIdentity],
            },
            ServiceAccountAnnotations = [new(WorkloadIdentityClientIdAnnotation, RuntimeIdentity.Output("clientId"))],
            PodLabels = [new(WorkloadIdentityUseLabel, "true")],
            DependsOn = [RuntimeFederation, RuntimeDataRole],
        }, this);

        GatewayUrl = Runtime.GatewayUrl;
        BucketUri = Expr.Concat("azure://", Container.Output("name"));
    }

    /// <summary>Program variables the stack needs (invokes, the kubeconfig); add them with <see cref="PulumiProgram.AddVariable(Variable)"/>.</summary>
    public override IReadOnlyList<Variable> Variables => [ClientConfig, Credentials, Kubeconfig];

    /// <summary>
    /// A role assignment of the built-in role <paramref name="roleId"/> on <paramref name="scope"/>; <paramref name="servicePrincipal"/>
    /// says the principal is a managed identity (Azure then need not look it up, which a new identity may not yet allow).
    /// </summary>
    private Resource Grant(string name, Expr principalId, string roleId, Expr scope, bool servicePrincipal = false) =>
        new("azure-native:authorization:RoleAssignment", name, Expr.Object(
            ("principalId", principalId),
            ("principalType", servicePrincipal ? (Expr)"ServicePrincipal" : null),
            ("roleDefinitionId", Expr.Concat("/subscriptions/", ClientConfig.Output("subscriptionId"), "/providers/Microsoft.Authorization/roleDefinitions/", roleId)),
            ("scope", scope)), Child(Provider));

    /// <summary>Built-in roles: Azure Kubernetes Service RBAC Cluster Admin, Azure Kubernetes Service Cluster User Role, Key Vault Crypto User.</summary>
    public const string AksRbacClusterAdminRole = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", AksClusterUserRole = "4abbcc35-e782-43d8-92c5-2d3473bd45fd",
        KeyVaultCryptoUserRole = "12338af0-0e69-4776-bea7-57ae8d297424";
    /// <summary>The AKS diagnostic categories sent to the workspace with controlPlaneLogs.</summary>
    public static IReadOnlyList<string> ControlPlaneLogCategories { get; } = ["kube-apiserver", "kube-audit-admin", "guard"];

    /// <summary>Built-in role: read, write and delete blobs (data plane), assigned on the data container.</summary>
    public const string StorageBlobDataContributorRole = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    /// <summary>The audience of the tokens the workload identity webhook projects, as federated credentials expect it.</summary>
    public const string WorkloadIdentityAudience = "api://AzureADTokenExchange";
    public const string WorkloadIdentityClientIdAnnotation = "azure.workload.identity/client-id";
    public const string WorkloadIdentityUseLabel = "azure.workload.identity/use";

    /// <summary>
    /// A random suffix of a pool's name, replaced when the pool's VM size changes: AKS cannot resize a pool, so the pool is replaced by
    /// one with a new name (created before the old one is deleted). Letters and digits, so "gpu" + suffix is a valid Linux pool name
    /// (lower-case letters and digits, at most 12).
    /// </summary>
    private Resource PoolSuffix(string name, Expr vmSize, Expr? zones = null) => new("random:index/randomString:RandomString", name, Expr.Object(
        ("length", PoolSuffixLength), ("special", false), ("upper", false),
        ("keepers", Expr.Object(("vmSize", vmSize), ("zones", zones is null ? null : Expr.ToJson(zones))))), Child());

    public const int PoolSuffixLength = 5;

    /// <summary>The built-in Network Contributor role.</summary>
    public const string NetworkContributorRole = "4d97b98b-1d4f-4787-a291-c67834d212e7";
    /// <summary>The built-in AcrPull role.</summary>
    public const string AcrPullRole = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    /// <summary>The label the NVIDIA device plugin chart's default affinity selects (set by NFD or GPU Feature Discovery elsewhere).</summary>
    public const string GpuPresentLabel = "nvidia.com/gpu.present";
    /// <summary>Keeps everything but AKS's critical add-ons off the default pool.</summary>
    public const string CriticalAddonsOnlyTaint = "CriticalAddonsOnly=true:NoSchedule";

    public Resource Provider { get; }
    public Resource ResourceGroup { get; }
    /// <summary>The deploying identity's subscription (for role definition ids).</summary>
    public Variable ClientConfig { get; }
    /// <summary>The stack's own network and nodes' subnet; null in an existing network (networkId).</summary>
    public Resource? VirtualNetwork { get; }
    public Resource? NodeSubnet { get; }
    public Resource ClusterIdentity { get; }
    public Resource ClusterNetworkRole { get; }
    public override Resource Cluster { get; }
    public Resource SystemPoolSuffix { get; }
    public Resource SystemPool { get; }
    public Resource GpuPoolSuffix { get; }
    /// <summary>The main GPU pool (the gpu* keys).</summary>
    public Resource GpuPool { get; }
    /// <summary>NVIDIA's GPU operator (pinned driver, toolkit, device plugin) and its namespace.</summary>
    public Resource GpuOperatorNamespace { get; }
    public Resource GpuOperator { get; }

    /// <summary>
    /// The full driver release for the <c>gpuDriverVersion</c> branch (<see cref="AzureOffering.DriverReleases"/>): a literal branch maps at
    /// synth time; the default config reference maps to the default branch's release (another branch is refused when validated).
    /// </summary>
    private static Expr DriverRelease(Expr branch) => branch is Lit { Value: string b } && int.TryParse(b, out var n) && AzureOffering.DriverReleases.TryGetValue(n, out var release)
        ? release
        : AzureOffering.DriverReleases[int.Parse(StackConfig.DefaultGpuDriverVersion, System.Globalization.CultureInfo.InvariantCulture)];
    /// <summary>Every GPU pool: the main one, then extraGpuPools.</summary>
    public IReadOnlyList<Resource> GpuPools { get; }
    /// <summary>Null when the stack's registry key names an existing registry.</summary>
    public Resource? ContainerRegistry { get; }
    /// <summary>AcrPull for the kubelet identity on <see cref="ContainerRegistry"/>; null without it.</summary>
    public Resource? RegistryPull { get; }
    /// <summary>The registry the images are pulled from: the provisioned registry's login server, or the registry key.</summary>
    public Expr RegistryLoginServer { get; }
    public Variable Credentials { get; }
    public override Variable Kubeconfig { get; }
    public Resource KubernetesProvider { get; }
    public Resource AccountSuffix { get; }
    public Resource StorageAccount { get; }
    public Resource Container { get; }
    /// <summary>The gateway's user-assigned identity (workload identity), its federated credential and its role on the data container.</summary>
    public Resource RuntimeIdentity { get; }
    /// <summary>secretsEncryption's vault, key and the cluster identity's grant on the vault; null when off.</summary>
    public Resource? SecretsVault { get; }
    public Resource? SecretsKey { get; }
    public Resource? SecretsKeyGrant { get; }
    /// <summary>controlPlaneLogs' workspace; null when off.</summary>
    public Resource? LogWorkspace { get; }
    /// <summary>The role assignments of adminPrincipals and ciPrincipal on the cluster.</summary>
    public IReadOnlyList<Resource> AdminGrants { get; }
    public Resource RuntimeFederation { get; }
    public Resource RuntimeDataRole { get; }
    public FlexiblePostgres Database { get; }
    public override RuntimeDeployment Runtime { get; }

    /// <summary>http://&lt;load balancer IP&gt;.</summary>
    public override Expr GatewayUrl { get; }
    /// <summary>azure://&lt;container&gt;.</summary>
    public override Expr BucketUri { get; }
}

/// <summary>The whole Azure program: config keys, the stack, and the parity outputs.</summary>
public static class AzureStackProgram
{
    public const string ProjectName = "osforai-azure";

    /// <param name="stack">
    /// The stack's settings file, for the two database choices Pulumi YAML cannot make from config (the compute tier of the size and
    /// the deletion lock, a resource); null (Pulumi asking for plugins) takes the defaults.
    /// </param>
    public static PulumiProgram Build(string projectName = ProjectName, StackFile? stack = null)
    {
        AzureInferenceStack? azure = null;
        var program = InferenceStack.Program(projectName, "OSForAI GPU inference stack on Azure (AKS, Container Registry, Blob Storage, PostgreSQL flexible server), synthesized by OSForAI.Stacks", AzureOffering.Instance,
            args => azure = new AzureInferenceStack("osforai", new AzureInferenceStackArgs(args)
            {
                DatabaseTier = DatabaseTierOf(stack),
                DatabaseDeletionLock = DatabaseDeletionLockOf(stack),
                ProvisionRegistry = ProvisionRegistryOf(stack),
                ImagesWithRegistryHost = ImagesWithRegistryHostOf(stack),
            }), stack);
        // Where CI pushes the images (docs/deploy.md).
        program.AddOutput("registry", azure!.RegistryLoginServer);
        return program;
    }

    /// <summary>The image keys, each holding repository:tag in the stack's registry or a whole reference with a registry host.</summary>
    public static IReadOnlyList<string> ImageKeys { get; } = [StackConfig.RuntimeImage, StackConfig.WorkerPythonImage, StackConfig.WorkerGpuImage];

    /// <summary>Whether the stack provisions a registry: unless its registry key names one (without a stack, it does).</summary>
    public static bool ProvisionRegistryOf(StackFile? stack) =>
        stack?.Get(StackConfig.Registry) is not StackValue.Plain { Text.Length: > 0 };

    /// <summary>The stack's image keys whose value names a registry host (<see cref="StackConfig.RegistryHostOf"/>): pulled as they are.</summary>
    public static IReadOnlySet<string> ImagesWithRegistryHostOf(StackFile? stack) =>
        ImageKeys.Where(k => stack?.Get(k) is StackValue.Plain { Text: var image } && StackConfig.RegistryHostOf(image) is not null).ToHashSet();

    /// <summary>The tier of the stack's databaseInstanceType (validated before this runs); the default size's without one.</summary>
    public static string DatabaseTierOf(StackFile? stack) =>
        (stack?.Get(StackConfig.DatabaseInstanceType) is StackValue.Plain { Text: var size } ? AzureOffering.DatabaseTier(size) : null)
        ?? AzureOffering.DatabaseTier(AzureOffering.Instance.DefaultDatabaseInstanceType)!;

    /// <summary>The stack's databaseDeletionProtection; on without one.</summary>
    public static bool DatabaseDeletionLockOf(StackFile? stack) =>
        stack?.Get(StackConfig.DatabaseDeletionProtection) is not StackValue.Plain { Text: var text } || !bool.TryParse(text, out var on) || on;
}
