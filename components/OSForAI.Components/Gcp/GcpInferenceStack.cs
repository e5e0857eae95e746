using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Gcp;

/// <summary>The cloud-agnostic args plus what only GCP needs.</summary>
public sealed record GcpInferenceStackArgs(InferenceStackArgs Stack)
{
    /// <summary>Primary range of the nodes' subnetwork.</summary>
    public string NodeCidr { get; init; } = "10.0.0.0/20";
    /// <summary>Secondary range for pods (VPC-native cluster).</summary>
    public string PodCidr { get; init; } = "10.4.0.0/14";
    /// <summary>Secondary range for services.</summary>
    public string ServiceCidr { get; init; } = "10.8.0.0/20";
    public int GpuNodeDiskGiB { get; init; } = 200;
    /// <summary>GKE release channel: RAPID, REGULAR, STABLE or EXTENDED.</summary>
    public string ReleaseChannel { get; init; } = "REGULAR";
    /// <summary>Off so that `pulumi destroy` works on development stacks; turn on for production clusters.</summary>
    public bool DeletionProtection { get; init; }
    /// <summary>
    /// The stack file's <c>controlPlaneAllowedCidrs</c>, read when the program is synthesized: GKE's authorized networks are a list of
    /// objects, which Pulumi YAML cannot build from a list key. Empty: the control plane's public endpoint stays open (IAM still
    /// authenticates every request).
    /// </summary>
    public IReadOnlyList<string> ControlPlaneAllowedCidrs { get; init; } = [];
}

/// <summary>
/// The OSForAI inference stack on GCP: a VPC network with one VPC-native subnetwork, a regional GKE cluster with a
/// system pool and a GPU pool that scales from zero (GKE's own cluster autoscaler, enabled per node pool), a GCS bucket
/// for data://, Cloud SQL for PostgreSQL on a private IP for the runtime's state (<see cref="CloudSqlPostgres"/>), and the
/// cloud-agnostic <see cref="RuntimeDeployment"/> on top.
/// <para>
/// GKE installs the NVIDIA driver (<c>gpuDriverInstallationConfig</c>) and manages the device plugin, so
/// <see cref="RuntimeDeployment"/> runs with <see cref="DevicePluginMode.Managed"/>; metrics-server is built in too.
/// </para>
/// <para>
/// Project: the GCP project is the provider's own setting, as GCP users expect: <c>pulumi config set gcp:project
/// &lt;id&gt;</c> (or GOOGLE_PROJECT). The program reads it once through the default provider
/// (<c>gcp:organizations/getClientConfig</c>) and passes it to the explicit provider and the workload identity pool.
/// </para>
/// <para>
/// Storage credentials: none that live long. GKE Workload Identity: the gateway's Kubernetes service account may act as a Google
/// service account limited to the bucket (<c>roles/iam.workloadIdentityUser</c> on that account for
/// <c>PROJECT.svc.id.goog[NAMESPACE/osforai-runtime]</c>, and the <c>iam.gke.io/gcp-service-account</c> annotation), and the
/// runtime's gs connector runs with <c>Credentials=WorkloadIdentity</c>: it takes that account's tokens from the GKE metadata server.
/// The nodes run as their own least-privilege account, and with <c>GKE_METADATA</c> pods never see the node's credentials. Worker
/// pods run under the namespace's default service account, which is bound to nothing, and their NetworkPolicy lets them reach only
/// the gateway.
/// </para>
/// </summary>
public sealed class GcpInferenceStack : InferenceStack
{
    public GcpInferenceStack(string name, GcpInferenceStackArgs gcpArgs) : base("osforai:gcp:InferenceStack", name)
    {
        var args = gcpArgs.Stack;

        // The project as the default provider resolves it (gcp:project config or GOOGLE_PROJECT).
        ClientConfig = new Variable($"{Name}-client-config", new Invoke("gcp:organizations/getClientConfig:getClientConfig", Expr.Object()));
        var project = ClientConfig.Output("project");

        Provider = new Resource("pulumi:providers:gcp", "gcp", Expr.Object(
            ("project", project),
            ("region", args.Region),
            ("defaultLabels", new Obj(args.Tags))), Child());
        var gcp = Provider;

        // The APIs the stack calls, enabled on the project; each resource below waits for the ones it needs.
        Apis = new ProjectApis("apis", gcp, this);

        // Names unique in the project whatever the stack is called: "osforai-<6 hex>-<role>" (at most 20 characters, within
        // GCP's limits: service account ids 6–30, cluster names 40). The project and stack are on every resource as labels.
        NameSuffix = new Resource("random:index/randomId:RandomId", "name-suffix", Expr.Object(("byteLength", NameSuffixBytes)), Child());
        var suffix = NameSuffix.Output("hex");
        Expr Named(string role) => Expr.Concat(NamePrefix, suffix, "-" + role);

        // The stack's own network, or the one networkId names with the subnetwork nodeSubnetIds names (secondary ranges 'pods' and
        // 'services'; its egress for private nodes, e.g. Cloud NAT, is the network owner's).
        Expr networkId, subnetworkId;
        if (args.Cluster.ExistingNetwork)
        {
            networkId = args.Network.NetworkId;
            subnetworkId = Expr.Select(0, args.Network.NodeSubnetIds);
        }
        else
        {
            // Network: a custom-mode VPC; nodes on the primary range, pods and services on secondary ranges.
            Network = new Resource("gcp:compute/network:Network", "network", Expr.Object(
                ("name", Named("vpc")),
                ("autoCreateSubnetworks", false),
                ("description", "OSForAI inference stack")), Child(gcp, Apis.For(ProjectApis.Compute)));
            Subnetwork = new Resource("gcp:compute/subnetwork:Subnetwork", "nodes", Expr.Object(
                ("name", Named("nodes")),
                ("network", Network.Output("id")),
                ("region", args.Region),
                ("ipCidrRange", gcpArgs.NodeCidr),
                ("privateIpGoogleAccess", true),
                ("secondaryIpRanges", Expr.List(
                    Expr.Object(("rangeName", "pods"), ("ipCidrRange", gcpArgs.PodCidr)),
                    Expr.Object(("rangeName", "services"), ("ipCidrRange", gcpArgs.ServiceCidr))))), Child(gcp));

            // Private nodes (no external addresses) reach the internet through Cloud NAT, and Google's APIs through Private Google Access.
            Router = new Resource("gcp:compute/router:Router", "router", Expr.Object(
                ("name", Named("router")),
                ("network", Network.Output("id")),
                ("region", args.Region)), Child(gcp, Apis.For(ProjectApis.Compute)));
            Nat = new Resource("gcp:compute/routerNat:RouterNat", "nat", Expr.Object(
                ("name", Named("nat")),
                ("router", Router.Output("name")),
                ("region", args.Region),
                ("natIpAllocateOption", "AUTO_ONLY"),
                ("sourceSubnetworkIpRangesToNat", "ALL_SUBNETWORKS_ALL_IP_RANGES"),
                ("logConfig", Expr.Object(("enable", true), ("filter", "ERRORS_ONLY")))), Child(gcp));

            networkId = Network.Output("id");
            subnetworkId = Subnetwork.Output("id");
        }

        var cluster = args.Cluster;
        // secretsEncryption: application-layer encryption of Secrets with a Cloud KMS key of the stack's own (rotated every 90 days),
        // which GKE's service agent may use. Key rings cannot be deleted in GCP: a destroyed stack leaves its (empty) ring behind.
        if (cluster.SecretsEncryption)
        {
            ProjectInfo = new Variable($"{Name}-project", new Invoke("gcp:organizations/getProject:getProject", Expr.Object(("projectId", project))));
            var ring = new Resource("gcp:kms/keyRing:KeyRing", "secrets-key-ring", Expr.Object(
                ("name", Named("secrets")),
                ("location", args.Region)), Child(gcp, Apis.For(ProjectApis.CloudKms)));
            SecretsKey = new Resource("gcp:kms/cryptoKey:CryptoKey", "secrets-key", Expr.Object(
                ("name", "kubernetes-secrets"),
                ("keyRing", ring.Output("id")),
                ("rotationPeriod", "7776000s")), Child(gcp));
            SecretsKeyGrant = new Resource("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "secrets-key-gke", Expr.Object(
                ("cryptoKeyId", SecretsKey.Output("id")),
                ("role", "roles/cloudkms.cryptoKeyEncrypterDecrypter"),
                ("member", Expr.Concat("serviceAccount:service-", ProjectInfo.Output("number"), "@container-engine-robot.iam.gserviceaccount.com"))),
                Child(gcp, Apis.For(ProjectApis.Container)));
        }

        // The nodes' own service account, with the least-privilege node role (logs, metrics) instead of the default compute
        // service account (Editor on the project); it pulls images through its reader grant on the repository.
        NodeAccount = new Resource("gcp:serviceaccount/account:Account", "node-account", Expr.Object(
            ("accountId", Named("nodes")),
            ("displayName", "OSForAI GKE nodes"),
            ("description", "nodes of the OSForAI inference stack: logging, monitoring, image pulls")), Child(gcp, Apis.For(ProjectApis.Iam)));
        NodeRole = new Resource("gcp:projects/iAMMember:IAMMember", "node-role", Expr.Object(
            ("project", project),
            ("role", NodeServiceAccountRole),
            ("member", NodeAccount.Output("member"))), Child(gcp, Apis.For(ProjectApis.ResourceManager)));
        Registry = new ArtifactRegistry("images", new ArtifactRegistryArgs(gcp, Expr.Concat(NamePrefix, suffix), args.Region, project,
            args.Registry, NodeAccount.Output("member"), new Obj(args.Tags), Apis.For(ProjectApis.ArtifactRegistry)), this);

        // The cluster. The default pool is removed at once; the pools below are managed separately.
        Cluster = new Resource("gcp:container/cluster:Cluster", "cluster", Expr.Object(
            ("name", Named("gke")),
            ("location", args.Region),
            ("network", networkId),
            ("subnetwork", subnetworkId),
            ("removeDefaultNodePool", true),
            ("initialNodeCount", 1),
            ("deletionProtection", gcpArgs.DeletionProtection),
            ("minMasterVersion", args.KubernetesVersion),
            ("releaseChannel", Expr.Object(("channel", gcpArgs.ReleaseChannel))),
            ("networkingMode", "VPC_NATIVE"),
            // GKE Dataplane V2 enforces NetworkPolicy (the worker pods' policy, RuntimeDeployment) without an add-on.
            ("datapathProvider", "ADVANCED_DATAPATH"),
            ("ipAllocationPolicy", Expr.Object(
                ("clusterSecondaryRangeName", "pods"),
                ("servicesSecondaryRangeName", "services"))),
            ("workloadIdentityConfig", Expr.Object(("workloadPool", Expr.Concat(project, ".svc.id.goog")))),
            // Private nodes always (Cloud NAT above); privateControlPlane: the API server's private endpoint only.
            ("privateClusterConfig", Expr.Object(
                ("enablePrivateNodes", true),
                ("enablePrivateEndpoint", cluster.PrivateControlPlane))),
            // controlPlaneLogs: the API server, scheduler and controller manager into Cloud Logging, beside GKE's default components.
            ("loggingConfig", Expr.Object(("enableComponents", Expr.List([.. (cluster.ControlPlaneLogs ? ControlPlaneLogComponents : DefaultLogComponents).Select(c => (Expr)c)])))),
            ("databaseEncryption", SecretsKey is null ? null : Expr.Object(("state", "ENCRYPTED"), ("keyName", SecretsKey.Output("id")))),
            ("masterAuthorizedNetworksConfig", gcpArgs.ControlPlaneAllowedCidrs.Count == 0 ? null : Expr.Object(
                ("cidrBlocks", Expr.List([.. gcpArgs.ControlPlaneAllowedCidrs.Select((cidr, i) =>
                    (Expr)Expr.Object(("cidrBlock", cidr), ("displayName", $"{StackConfig.ControlPlaneAllowedCidrs}-{i}")))])))),
            ("resourceLabels", new Obj(args.Tags))), Child(gcp, [.. Apis.For(ProjectApis.Container), .. Nat is null ? [] : new[] { Nat }, .. SecretsKeyGrant is null ? [] : new[] { SecretsKeyGrant }]));
        var clusterName = Cluster.Output("name");

        // Node pools. Autoscaling counts are totals over the region's zones (the total* pair), so the config keys
        // mean what they mean on the other clouds; GKE's autoscaler owns the node count.
        Obj NodeConfig(Expr machineType, Obj labels, params (string, Expr?)[] more) => Expr.Object([
            ("machineType", machineType),
            ("labels", labels),
            // Google's recommendation for a custom node service account: the cloud-platform scope, limited by the account's IAM roles.
            ("serviceAccount", NodeAccount.Output("email")),
            ("oauthScopes", Expr.List("https://www.googleapis.com/auth/cloud-platform")),
            ("workloadMetadataConfig", Expr.Object(("mode", "GKE_METADATA"))),
            ("resourceLabels", new Obj(args.Tags)),
            .. more]);
        SystemNodePool = new Resource("gcp:container/nodePool:NodePool", "system-nodes", Expr.Object(
            ("cluster", clusterName),
            ("location", args.Region),
            ("initialNodeCount", 1),
            ("autoscaling", Expr.Object(
                ("totalMinNodeCount", args.SystemPool.MinNodes),
                ("totalMaxNodeCount", args.SystemPool.MaxNodes),
                ("locationPolicy", "BALANCED"))),
            ("management", Expr.Object(("autoRepair", true), ("autoUpgrade", true))),
            ("nodeConfig", NodeConfig(args.SystemPool.InstanceType, Expr.Object((NodePools.PoolLabel, NodePools.System))))),
            new ResourceOptions { Parent = this, Provider = gcp, IgnoreChanges = ["initialNodeCount"], DependsOn = [NodeRole, Registry.ReaderGrant] });
        // The GPU pools: the main one (gpu* keys) and extraGpuPools, each with the shared label and taint.
        var gpuPools = new List<Resource>();
        foreach (var pool in args.GpuPools)
            gpuPools.Add(new Resource("gcp:container/nodePool:NodePool", pool.ResourceName("nodes"), Expr.Object(
                ("cluster", clusterName),
                ("location", args.Region),
                ("initialNodeCount", 0),
                // gpuZones (or the pool's zones): zones of the region that offer the accelerator (empty: the cluster's zones).
                ("nodeLocations", pool.Zones),
                ("autoscaling", Expr.Object(
                    ("totalMinNodeCount", pool.Args.MinNodes),
                    ("totalMaxNodeCount", pool.Args.MaxNodes),
                    // Any zone of the region with GPU capacity.
                    ("locationPolicy", "ANY"))),
                ("management", Expr.Object(("autoRepair", true), ("autoUpgrade", true))),
                ("nodeConfig", NodeConfig(pool.Args.InstanceType,
                    Expr.Object((NodePools.PoolLabel, NodePools.Gpu), (NodePools.GpuTypeLabel, pool.Args.GpuType)),
                    ("diskSizeGb", gcpArgs.GpuNodeDiskGiB),
                    // Spot (gpuSpot, or the pool's spot): Spot VMs, reclaimed at short notice; GKE labels them cloud.google.com/gke-spot.
                    ("spot", pool.Spot ? true : null),
                    ("taints", Expr.List(Expr.Object(("key", NodePools.GpuTaintKey), ("value", NodePools.GpuTaintValue), ("effect", "NO_SCHEDULE")))),
                    // gpuType is GKE's accelerator name (see GcpOffering); GKE installs the driver and the device plugin. The driver is
                    // pinned to LATEST, GKE's R580 branch that the CUDA 13 worker image needs (gpuDriverVersion, checked by GcpOffering).
                    ("guestAccelerators", Expr.List(Expr.Object(
                        ("type", pool.Args.GpuType),
                        ("count", pool.Args.GpusPerNode),
                        ("gpuDriverInstallationConfig", Expr.Object(("gpuDriverVersion", GkeGpuDriverVersion))))))))),
                new ResourceOptions { Parent = this, Provider = gcp, IgnoreChanges = ["initialNodeCount"], DependsOn = [NodeRole, Registry.ReaderGrant] }));
        GpuNodePools = gpuPools;
        GpuNodePool = gpuPools[0];

        // Storage: the bucket behind data://, private, and a service account limited to it that the gateway acts as (Workload Identity).
        Bucket = new Resource("gcp:storage/bucket:Bucket", "data", Expr.Object(
            ("location", args.Region),
            ("uniformBucketLevelAccess", true),
            ("publicAccessPrevention", "enforced"),
            ("forceDestroy", false)), Child(gcp, Apis.For(ProjectApis.Storage)));
        RuntimeAccount = new Resource("gcp:serviceaccount/account:Account", "runtime-account", Expr.Object(
            // 6–30 characters, unique in the project: one per stack, whatever its name's length.
            ("accountId", Named("data")),
            ("displayName", "OSForAI runtime data access"),
            ("description", "data:// bucket of the OSForAI inference stack, for the gateway through GKE Workload Identity")), Child(gcp, Apis.For(ProjectApis.Iam)));
        _ = new Resource("gcp:storage/bucketIAMMember:BucketIAMMember", "runtime-bucket-access", Expr.Object(
            ("bucket", Bucket.Output("name")),
            ("role", "roles/storage.objectAdmin"),
            ("member", RuntimeAccount.Output("member"))), Child(gcp));
        // Only the gateway's service account in the stack's namespace may act as it.
        RuntimeWorkloadIdentity = new Resource("gcp:serviceaccount/iAMMember:IAMMember", "runtime-workload-identity", Expr.Object(
            ("serviceAccountId", RuntimeAccount.Output("name")),
            ("role", "roles/iam.workloadIdentityUser"),
            ("member", Expr.Concat("serviceAccount:", project, ".svc.id.goog[", args.Namespace, "/", RuntimeDeployment.ServiceAccountName, "]"))),
            Child(gcp, Cluster));

        // State: Cloud SQL with a private IP on the cluster's network only.
        Database = new CloudSqlPostgres("database", new CloudSqlPostgresArgs(gcp, args.Database, args.Region, networkId, new Obj(args.Tags),
            Apis.Services[ProjectApis.ServiceNetworking], Apis.Services[ProjectApis.SqlAdmin]), this);

        // kubeconfig: the cluster's endpoint and CA, and a user that gets tokens from gcloud's auth plugin.
        Kubeconfig = new Variable($"{Name}-kubeconfig", Expr.ToJson(Expr.Object(
            ("apiVersion", "v1"),
            ("kind", "Config"),
            ("clusters", Expr.List(Expr.Object(("name", "osforai"), ("cluster", Expr.Object(
                ("server", Expr.Concat("https://", Cluster.Output("endpoint"))),
                ("certificate-authority-data", Cluster.Output("masterAuth.clusterCaCertificate"))))))),
            ("contexts", Expr.List(Expr.Object(("name", "osforai"), ("context", Expr.Object(("cluster", "osforai"), ("user", "osforai")))))),
            ("current-context", "osforai"),
            ("users", Expr.List(Expr.Object(("name", "osforai"), ("user", Expr.Object(("exec", Expr.Object(
                ("apiVersion", "client.authentication.k8s.io/v1beta1"),
                ("command", "gke-gcloud-auth-plugin"),
                ("installHint", "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin"),
                ("provideClusterInfo", true)))))))))));
        // Everything on the cluster waits for the system nodes through this provider.
        KubernetesProvider = new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(
            ("kubeconfig", Kubeconfig.Output())), Child(null, SystemNodePool));
        var k8s = KubernetesProvider;

        // adminPrincipals / ciPrincipal: cluster-admin inside this cluster (a binding to the identities' emails, as GKE signs them in),
        // and Kubernetes Engine Cluster Viewer on the project so they can fetch its endpoint — no project-wide admin role.
        var admins = new List<(string Name, Expr Member)>();
        for (var i = 0; i < args.Cluster.AdminPrincipalCount; i++) admins.Add(($"admin-{i}", Expr.Select(i, args.AdminPrincipals)));
        if (args.Cluster.HasCiPrincipal) admins.Add(("ci", args.CiPrincipal));
        foreach (var (who, member) in admins)
            _ = new Resource("gcp:projects/iAMMember:IAMMember", $"{who}-cluster-viewer", Expr.Object(
                ("project", project),
                ("role", "roles/container.clusterViewer"),
                ("member", member)), Child(gcp, Apis.For(ProjectApis.ResourceManager)));
        if (admins.Count > 0)
            AdminBinding = new Resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "cluster-admins", Expr.Object(
                ("metadata", Expr.Object(("name", "osforai-cluster-admins"))),
                ("roleRef", Expr.Object(("apiGroup", "rbac.authorization.k8s.io"), ("kind", "ClusterRole"), ("name", "cluster-admin"))),
                ("subjects", Expr.List([.. admins.Select(a => (Expr)Expr.Object(
                    ("apiGroup", "rbac.authorization.k8s.io"), ("kind", "User"), ("name", Expr.Select(1, Expr.Split(":", a.Member)))))]))), Child(k8s));

        Runtime = new RuntimeDeployment("runtime", new RuntimeDeploymentArgs
        {
            Provider = k8s,
            Namespace = args.Namespace,
            Image = Registry.Image(args.RuntimeImage),
            MinReplicas = args.GatewayMinReplicas,
            MaxReplicas = args.GatewayMaxReplicas,
            State = Database.ConnectionUri,
            WorkerPods = args.WorkerPods with { PythonImage = Registry.Image(args.WorkerPods.PythonImage), OnnxImage = Registry.Image(args.WorkerPods.OnnxImage) },
            // GKE runs the NVIDIA device plugin on GPU nodes itself.
            DevicePlugin = DevicePluginMode.Managed,
            // An external passthrough Network Load Balancer, GKE's default for a LoadBalancer Service.
            GatewayAddress = LoadBalancerAddress.Ip,
            Gateway = args.Gateway,
            DataStore = new DataStoreBinding("Gs", "platform", Expr.Concat("gs+platform://", Bucket.Output("name"), "/osforai"))
            {
                Settings = [DataStoreBinding.UseWorkloadIdentity],
            },
            ServiceAccountAnnotations = [new("iam.gke.io/gcp-service-account", RuntimeAccount.Output("email"))],
            DependsOn = [RuntimeWorkloadIdentity],
        }, this);

        GatewayUrl = Runtime.GatewayUrl;
        BucketUri = Expr.Concat("gs://", Bucket.Output("name"));
    }

    /// <summary>Program variables the stack needs (the client config invoke, the kubeconfig); add them with <see cref="PulumiProgram.AddVariable(Variable)"/>.</summary>
    public override IReadOnlyList<Variable> Variables => [ClientConfig, .. ProjectInfo is null ? [] : new[] { ProjectInfo }, Registry.ImagePrefix, Kubeconfig];

    /// <summary>Generated names start with this, then <see cref="NameSuffixBytes"/> random bytes in hex.</summary>
    public const string NamePrefix = "osforai-";
    public const int NameSuffixBytes = 3;
    /// <summary>GKE's predefined least-privilege role for a node service account (logging, monitoring, metadata).</summary>
    public const string NodeServiceAccountRole = "roles/container.defaultNodeServiceAccount";
    /// <summary>GKE's driver choice for the GPU pool: LATEST installs R580 (see <see cref="GcpOffering.LatestDriverBranch"/>).</summary>
    public const string GkeGpuDriverVersion = "LATEST";

    /// <summary>GKE's logging components by default, and with controlPlaneLogs.</summary>
    public static IReadOnlyList<string> DefaultLogComponents { get; } = ["SYSTEM_COMPONENTS", "WORKLOADS"];
    public static IReadOnlyList<string> ControlPlaneLogComponents { get; } = ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"];

    public Variable ClientConfig { get; }
    /// <summary>The project's number (GKE's service agent is named by it), read with secretsEncryption only.</summary>
    public Variable? ProjectInfo { get; }
    /// <summary>cluster-admin for adminPrincipals and ciPrincipal; null when none is named.</summary>
    public Resource? AdminBinding { get; }
    /// <summary>Cloud NAT for the private nodes of the stack's own network; null in an existing network (networkId).</summary>
    public Resource? Router { get; }
    public Resource? Nat { get; }
    public Resource? SecretsKey { get; }
    public Resource? SecretsKeyGrant { get; }
    public ProjectApis Apis { get; }
    public Resource NameSuffix { get; }
    public Resource NodeAccount { get; }
    public Resource NodeRole { get; }
    public ArtifactRegistry Registry { get; }
    public Resource Provider { get; }
    /// <summary>The stack's own network; null in an existing one (networkId).</summary>
    public Resource? Network { get; }
    public Resource? Subnetwork { get; }
    public override Resource Cluster { get; }
    public Resource SystemNodePool { get; }
    /// <summary>The main GPU pool (the gpu* keys).</summary>
    public Resource GpuNodePool { get; }
    /// <summary>Every GPU pool: the main one, then extraGpuPools.</summary>
    public IReadOnlyList<Resource> GpuNodePools { get; }
    public Resource Bucket { get; }
    public Resource RuntimeAccount { get; }
    /// <summary>roles/iam.workloadIdentityUser on <see cref="RuntimeAccount"/> for the gateway's Kubernetes service account.</summary>
    public Resource RuntimeWorkloadIdentity { get; }
    public CloudSqlPostgres Database { get; }
    public override Variable Kubeconfig { get; }
    public Resource KubernetesProvider { get; }
    public override RuntimeDeployment Runtime { get; }

    /// <summary>http://&lt;load balancer IP&gt;.</summary>
    public override Expr GatewayUrl { get; }
    /// <summary>&lt;region&gt;-docker.pkg.dev/&lt;project&gt;/&lt;repository&gt;: the <c>registry</c> output CI pushes to.</summary>
    public override Expr RegistryPath => Registry.RepositoryPath;
    /// <summary>gs://&lt;bucket&gt;.</summary>
    public override Expr BucketUri { get; }
}

/// <summary>The whole GCP program: config keys, the stack, and the parity outputs.</summary>
public static class GcpStackProgram
{
    public const string ProjectName = "osforai-gcp";

    public static PulumiProgram Build(string projectName = ProjectName, StackFile? stack = null) =>
        InferenceStack.Program(projectName, "OSForAI GPU inference stack on GCP (GKE, GCS, Cloud SQL for PostgreSQL, Artifact Registry), synthesized by OSForAI.Stacks", GcpOffering.Instance,
            args => new GcpInferenceStack("osforai", new GcpInferenceStackArgs(args)
            {
                ControlPlaneAllowedCidrs = stack?.Get(StackConfig.ControlPlaneAllowedCidrs) is StackValue.Items { Values: var cidrs } ? cidrs : [],
            }), stack);
}
