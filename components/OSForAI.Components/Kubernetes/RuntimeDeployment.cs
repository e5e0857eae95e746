using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Kubernetes;

/// <summary>Whether the stack installs the NVIDIA device plugin or the cloud manages it (GKE does).</summary>
public enum DevicePluginMode { Helm, Managed }

/// <summary>Which field of a LoadBalancer Service's ingress the cloud fills in: AWS gives a hostname, Azure and GCP an IP.</summary>
public enum LoadBalancerAddress { Hostname, Ip }

/// <summary>
/// Where data:// lives and how the runtime reaches it, in the shape the data connectors read:
/// <c>OSForAI__DataStore=&lt;Uri&gt;</c> and <c>OSForAI__Data__&lt;Scheme&gt;__&lt;Label&gt;__&lt;Setting&gt;</c>. Plain settings become
/// environment variables; secret settings go into a Kubernetes Secret mounted as files and are passed as
/// <c>&lt;Setting&gt;File</c>, which the connectors read instead of the value (docs/data.md, "Configuration").
/// </summary>
/// <param name="Scheme">Connector scheme as configured: "S3", "Azure", "Gs".</param>
/// <param name="Label">The connector label in the URI (<c>s3+platform://</c> → "platform").</param>
/// <param name="Uri">The OSForAI:DataStore value, e.g. <c>s3+platform://bucket/osforai</c>.</param>
public sealed record DataStoreBinding(string Scheme, string Label, Expr Uri)
{
    public IReadOnlyList<KeyValuePair<string, Expr>> Settings { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, Expr>> Secrets { get; init; } = [];
    /// <summary>
    /// Settings known only when the stack is deployed (bring your own cluster): an object of setting name → string,
    /// written as the data Secret's content and given to the container as environment variables named
    /// <see cref="DeployTimeSettings.EnvPrefix"/> + name (Kubernetes <c>envFrom</c> with a prefix). Not combined with
    /// <see cref="Secrets"/>.
    /// </summary>
    public DeployTimeSettings? DeployTime { get; init; }

    /// <summary>
    /// The connector setting that makes it take the pod's cloud identity instead of keys (<c>Credentials=WorkloadIdentity</c>, the
    /// runtime's <c>OSForAI.Data.CredentialSource</c>): EKS Pod Identity, Azure workload identity, GKE Workload Identity.
    /// </summary>
    public static KeyValuePair<string, Expr> UseWorkloadIdentity { get; } = new("Credentials", "WorkloadIdentity");
}

/// <param name="EnvPrefix">e.g. <c>OSForAI__Data__s3__platform__</c>, computed from the store URI when deployed.</param>
/// <param name="Values">An object of setting name → string value (a secret).</param>
public sealed record DeployTimeSettings(Expr EnvPrefix, Expr Values);

/// <summary>The gateway's certificate and private key (PEM, secrets): the pods serve HTTPS with them.</summary>
public sealed record GatewayTls(Expr Certificate, Expr PrivateKey);

/// <summary>How the gateway is exposed: HTTPS with <see cref="Tls"/> (plain HTTP without), and extra Service annotations (an internal load balancer).</summary>
public sealed record GatewayArgs
{
    public GatewayTls? Tls { get; init; }
    public IReadOnlyList<KeyValuePair<string, Expr>> ServiceAnnotations { get; init; } = [];
    /// <summary>Plain HTTP on the cloud's default (public) load balancer.</summary>
    public static GatewayArgs PlainHttp { get; } = new();
}

public sealed record RuntimeDeploymentArgs
{
    /// <summary>The <c>pulumi:providers:kubernetes</c> of the cluster.</summary>
    public required Resource Provider { get; init; }
    public required Expr Namespace { get; init; }
    public required Expr Image { get; init; }
    public required Expr MinReplicas { get; init; }
    public required Expr MaxReplicas { get; init; }
    public required DataStoreBinding DataStore { get; init; }
    /// <summary>
    /// Where the runtime keeps its state (catalog, versions, keys, async jobs): a PostgreSQL connection URI
    /// (<c>postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=require</c>), a secret. It reaches the container as <c>OSForAI__State</c>
    /// from a Kubernetes Secret, never as a plain value. An empty string means SQLite in the pod's home folder: state that dies with
    /// the pod and cannot be shared, so only a single replica may run (bring your own cluster without a database).
    /// </summary>
    public required Expr State { get; init; }
    public DevicePluginMode DevicePlugin { get; init; } = DevicePluginMode.Helm;
    /// <summary>Pins the nvidia-device-plugin chart (the stacks' devicePluginChartVersion); null takes the repository's latest.</summary>
    public Expr? DevicePluginVersion { get; init; }
    public LoadBalancerAddress GatewayAddress { get; init; } = LoadBalancerAddress.Hostname;
    /// <summary>
    /// The cluster's nodes carry the <see cref="NodePools.PoolLabel"/> labels the cloud stacks give them, so the gateway
    /// is pinned to the system pool and the device plugin to the GPU pool. False (someone else's cluster): no node
    /// selectors; the device plugin runs wherever its chart's defaults place it.
    /// </summary>
    public bool NodePoolLabels { get; init; } = true;
    /// <summary>Cloud-specific annotations of the gateway Service (load balancer type, scheme).</summary>
    public IReadOnlyList<KeyValuePair<string, Expr>> ServiceAnnotations { get; init; } = [];
    /// <summary>TLS and the internal load balancer's annotations (added to <see cref="ServiceAnnotations"/>); plain HTTP by default.</summary>
    public GatewayArgs Gateway { get; init; } = GatewayArgs.PlainHttp;
    /// <summary>
    /// The Kubernetes worker host: workers run as pods on the node pools (<see cref="NodePools.WorkerPools"/>), with these images and
    /// warm pods. Null: the process host (workers are child processes in the gateway pod), for clusters whose nodes do not carry the
    /// stacks' pool labels (bring your own cluster).
    /// </summary>
    public WorkerPodArgs? WorkerPods { get; init; }
    /// <summary>
    /// Annotations of the gateway's service account that bind it to a cloud identity (Azure workload identity's client id, GKE
    /// Workload Identity's service account). Worker pods run under the namespace's default service account, which has none.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, Expr>> ServiceAccountAnnotations { get; init; } = [];
    /// <summary>Extra labels of the gateway pods (Azure workload identity's <c>azure.workload.identity/use</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, Expr>> PodLabels { get; init; } = [];
    /// <summary>
    /// What must exist before the gateway pods are created: the cloud's binding of the service account to its identity (an EKS
    /// Pod Identity association), because the identity's variables are injected when a pod is created.
    /// </summary>
    public IReadOnlyList<Resource> DependsOn { get; init; } = [];
    public string CpuRequest { get; init; } = "500m";
    public string MemoryRequest { get; init; } = "1Gi";
    public string MemoryLimit { get; init; } = "4Gi";
}

/// <summary>
/// The OSForAI runtime on any Kubernetes cluster: namespace, service account with the pod permissions the scheduler
/// needs, connector settings (ConfigMap + Secret files), the state connection URI (a Secret read as OSForAI__State), the
/// gateway Deployment with its autoscaler and disruption budget, a public LoadBalancer Service, and the NVIDIA device plugin unless the cloud manages it. Nothing here is
/// cloud-specific: the cloud component passes the provider, the data-store binding and the load-balancer details.
/// </summary>
public sealed class RuntimeDeployment : ComponentResource
{
    public const string ServiceAccountName = "osforai-runtime";
    public const string AppName = "osforai-gateway";
    public const int ContainerPort = 8080;
    public const string HomePath = "/var/lib/osforai";
    public const string SecretsPath = "/var/run/secrets/osforai/data";
    /// <summary>Where the gateway's certificate Secret (kubernetes.io/tls: tls.crt, tls.key) is mounted when it serves HTTPS.</summary>
    public const string TlsPath = "/var/run/secrets/osforai/tls";
    /// <summary>
    /// The mode of the Secret volumes' files: owner and group may read (0440). The kubelet gives the files the pod's fsGroup
    /// (<see cref="ImageUid"/>) as their group, so the runtime user reads them through its group whatever uid a platform runs it as.
    /// </summary>
    public const int SecretFileMode = 0b100_100_000; // 0440
    /// <summary>The Kestrel endpoint the gateway serves HTTPS on (ASP.NET Core configuration from environment variables).</summary>
    public const string HttpsEndpointPrefix = "Kestrel__Endpoints__Https__";
    /// <summary>The port the Kubernetes worker host listens on for worker pods dialling back (container port named <see cref="WorkersPortName"/>).</summary>
    public const int WorkersPort = 7071;
    public const string WorkersPortName = "workers";
    /// <summary>The environment variable the pod's own IP arrives in (downward API), expanded in the worker host's GatewayAddress.</summary>
    public const string PodIpVariable = "OSAI_POD_IP";
    /// <summary>The runtime's state setting (OSForAI:State): a PostgreSQL connection URI, or empty for SQLite in the home folder.</summary>
    public const string StateVariable = "OSForAI__State";
    /// <summary>The key of the state Secret that holds the connection URI.</summary>
    public const string StateSecretKey = "uri";
    /// <summary>The runtime's admin key setting (OSForAI:AdminKey), the same on every replica.</summary>
    public const string AdminKeyVariable = "OSForAI__AdminKey";
    /// <summary>The key of the admin-key Secret that holds the key.</summary>
    public const string AdminKeySecretKey = "key";
    /// <summary>Where the worker host's settings live (ASP.NET Core configuration from environment variables).</summary>
    public const string KubernetesHostPrefix = "OSForAI__Workers__Kubernetes__";

    public RuntimeDeployment(string name, RuntimeDeploymentArgs args, ComponentResource? parent = null)
        : base("osforai:kubernetes:RuntimeDeployment", name, parent)
    {
        var provider = args.Provider;
        var labels = Expr.Object(("app.kubernetes.io/name", AppName), ("app.kubernetes.io/part-of", "osforai"));

        Namespace = new Resource("kubernetes:core/v1:Namespace", "namespace", Expr.Object(
            ("metadata", Expr.Object(("name", args.Namespace), ("labels", Expr.Object(("app.kubernetes.io/part-of", "osforai")))))), Child(provider));
        var ns = Namespace.Output("metadata.name");
        Obj Meta(string? name) => Expr.Object(("name", name is null ? null : (Expr)name), ("namespace", ns), ("labels", labels));

        ServiceAccount = new Resource("kubernetes:core/v1:ServiceAccount", "service-account", Expr.Object(
            ("metadata", Expr.Object(("name", ServiceAccountName), ("namespace", ns), ("labels", labels),
                ("annotations", args.ServiceAccountAnnotations.Count == 0 ? null : new Obj(args.ServiceAccountAnnotations))))), Child(provider));

        // The worker host starts, watches, relabels (patch) and removes the pods that run algorithms in its own namespace, and reads
        // their logs when one fails to start; nothing more: no cluster-wide rule, no secrets (each pod's secret travels in its own env).
        Role = new Resource("kubernetes:rbac.authorization.k8s.io/v1:Role", "pod-manager", Expr.Object(
            ("metadata", Meta("osforai-pod-manager")),
            ("rules", Expr.List(
                Expr.Object(("apiGroups", Expr.List("")), ("resources", Expr.List("pods")), ("verbs", Expr.List(PodVerbs.Select(v => (Expr)v).ToArray()))),
                Expr.Object(("apiGroups", Expr.List("")), ("resources", Expr.List("pods/log")), ("verbs", Expr.List("get")))))), Child(provider));
        RoleBinding = new Resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "pod-manager-binding", Expr.Object(
            ("metadata", Meta("osforai-pod-manager")),
            ("roleRef", Expr.Object(("apiGroup", "rbac.authorization.k8s.io"), ("kind", "Role"), ("name", Role.Output("metadata.name")))),
            ("subjects", Expr.List(Expr.Object(("kind", "ServiceAccount"), ("name", ServiceAccount.Output("metadata.name")), ("namespace", ns))))), Child(provider));

        // Connector settings. The ConfigMap and Secret are auto-named, so a changed value gives a new object
        // and the Deployment rolls to pick it up.
        var store = args.DataStore;
        if (store.DeployTime is not null && store.Secrets.Count > 0)
            throw new ArgumentException("a data-store binding has either deploy-time settings or secrets, not both", nameof(args));
        var prefix = $"OSForAI__Data__{store.Scheme}__{store.Label}__";
        var settings = new List<(string, Expr?)> { ("OSForAI__DataStore", store.Uri) };
        settings.AddRange(store.Settings.Select(s => (prefix + s.Key, (Expr?)s.Value)));
        settings.AddRange(store.Secrets.Select(s => (prefix + s.Key + "File", (Expr?)$"{SecretsPath}/{SecretFileName(store, s.Key)}")));
        Settings = new Resource("kubernetes:core/v1:ConfigMap", "settings", Expr.Object(
            ("metadata", Meta(null)),
            ("data", Expr.Object([.. settings]))), Child(provider));
        // Credentials in a Secret only where the store needs any: with the cloud's workload identity there are none to keep.
        if (store.DeployTime is not null || store.Secrets.Count > 0)
            DataSecret = new Resource("kubernetes:core/v1:Secret", "data-credentials", Expr.Object(
                ("metadata", Meta(null)),
                ("type", "Opaque"),
                ("stringData", store.DeployTime is { } deployTime
                    ? Expr.Secret(deployTime.Values)
                    : Expr.Object([.. store.Secrets.Select(s => (SecretFileName(store, s.Key), (Expr?)Expr.Secret(s.Value)))]))), Child(provider));
        var envFrom = new List<Expr> { Expr.Object(("configMapRef", Expr.Object(("name", Settings.Output("metadata.name"))))) };
        // The state connection URI (with the database password) in a Secret of its own, read through a secretKeyRef: it appears in no
        // ConfigMap, no pod spec and no plain program value. Auto-named, so a new URI (a new password) rolls the Deployment.
        StateSecret = new Resource("kubernetes:core/v1:Secret", "state", Expr.Object(
            ("metadata", Meta(null)),
            ("type", "Opaque"),
            ("stringData", Expr.Object((StateSecretKey, Expr.Secret(args.State))))), Child(provider));
        // One admin key for every replica (OSForAI:AdminKey), generated once and kept as a secret in the stack's state: osai_<16 hex>_<43
        // letters and digits, about 256 bits>. Read from its own Secret, and a secret stack output (adminKey) for the operators.
        var adminKeyId = new Resource("random:index/randomId:RandomId", "admin-key-id", Expr.Object(("byteLength", 8)), Child());
        var adminKeySecret = new Resource("random:index/randomPassword:RandomPassword", "admin-key-secret", Expr.Object(
            ("length", 43),
            ("special", false)), Child());
        AdminKey = Expr.Secret(Expr.Concat("osai_", adminKeyId.Output("hex"), "_", adminKeySecret.Output("result")));
        AdminKeySecret = new Resource("kubernetes:core/v1:Secret", "admin-key", Expr.Object(
            ("metadata", Meta(null)),
            ("type", "Opaque"),
            ("stringData", Expr.Object((AdminKeySecretKey, AdminKey)))), Child(provider));
        var env = new List<Expr> { SecretEnv(StateVariable, StateSecret, StateSecretKey), SecretEnv(AdminKeyVariable, AdminKeySecret, AdminKeySecretKey) };
        // HTTPS: the certificate in a kubernetes.io/tls Secret (auto-named: a new certificate rolls the Deployment), mounted as files that
        // Kestrel's HTTPS endpoint reads (PEM certificate and key), on the same container port; the endpoint replaces --port's HTTP one.
        var tls = args.Gateway.Tls;
        if (tls is not null)
        {
            TlsSecret = new Resource("kubernetes:core/v1:Secret", "gateway-tls", Expr.Object(
                ("metadata", Meta(null)),
                ("type", "kubernetes.io/tls"),
                ("stringData", Expr.Object(("tls.crt", Expr.Secret(tls.Certificate)), ("tls.key", Expr.Secret(tls.PrivateKey))))), Child(provider));
            env.Add(Expr.Object(("name", HttpsEndpointPrefix + "Url"), ("value", $"https://0.0.0.0:{ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}")));
            env.Add(Expr.Object(("name", HttpsEndpointPrefix + "Certificate__Path"), ("value", $"{TlsPath}/tls.crt")));
            env.Add(Expr.Object(("name", HttpsEndpointPrefix + "Certificate__KeyPath"), ("value", $"{TlsPath}/tls.key")));
        }
        var portName = tls is null ? "http" : "https";
        var scheme = tls is null ? "HTTP" : "HTTPS";
        if (args.WorkerPods is { } workerArgs) env.AddRange(WorkerHostEnv(workerArgs));
        if (store.DeployTime is { } dt)
            envFrom.Add(Expr.Object(("prefix", dt.EnvPrefix), ("secretRef", Expr.Object(("name", DataSecret!.Output("metadata.name"))))));

        // The root file system is read-only: the home folder and /tmp (ASP.NET Core's request buffering, .NET's temp files) are the
        // only places the gateway writes.
        var volumeMounts = new List<Expr> { Expr.Object(("name", "home"), ("mountPath", HomePath)), Expr.Object(("name", "tmp"), ("mountPath", "/tmp")) };
        // The home folder is a cache only (extracted builds, archives, temporary files): builds live in the data store
        // and state in the database (OSForAI__State), so an emptyDir that dies with the pod loses nothing. Only with an
        // empty State (SQLite, bring your own cluster without a database) does it hold state, and then one replica runs.
        var volumes = new List<Expr> { Expr.Object(("name", "home"), ("emptyDir", Expr.Object())), Expr.Object(("name", "tmp"), ("emptyDir", Expr.Object())) };
        if (DataSecret is not null)
        {
            volumeMounts.Add(Expr.Object(("name", "data-credentials"), ("mountPath", SecretsPath), ("readOnly", true)));
            volumes.Add(Expr.Object(("name", "data-credentials"), ("secret", Expr.Object(("secretName", DataSecret.Output("metadata.name")), ("defaultMode", SecretFileMode)))));
        }
        if (TlsSecret is not null)
        {
            volumeMounts.Add(Expr.Object(("name", "tls"), ("mountPath", TlsPath), ("readOnly", true)));
            volumes.Add(Expr.Object(("name", "tls"), ("secret", Expr.Object(("secretName", TlsSecret.Output("metadata.name")), ("defaultMode", SecretFileMode)))));
        }

        var probe = Expr.Object(("httpGet", Expr.Object(("path", "/health"), ("port", portName), ("scheme", scheme))), ("periodSeconds", 10), ("timeoutSeconds", 3));
        Deployment = new Resource("kubernetes:apps/v1:Deployment", "gateway", Expr.Object(
            ("metadata", Meta(AppName)),
            ("spec", Expr.Object(
                // No replicas: the HorizontalPodAutoscaler owns the count.
                ("selector", Expr.Object(("matchLabels", labels))),
                ("template", Expr.Object(
                    ("metadata", Expr.Object(("labels", args.PodLabels.Count == 0 ? labels : new Obj([.. labels.Entries, .. args.PodLabels])))),
                    ("spec", Expr.Object(
                        ("serviceAccountName", ServiceAccount.Output("metadata.name")),
                        // The API token only where the gateway uses it: the Kubernetes worker host manages pods with it; the process
                        // host never calls the API. (Cloud identities come in tokens of their own, projected by their webhooks.)
                        ("automountServiceAccountToken", args.WorkerPods is not null),
                        // The images' non-root user; the home volume is group-writable for it.
                        ("securityContext", Expr.Object(
                            ("runAsNonRoot", true), ("runAsUser", ImageUid), ("runAsGroup", ImageUid), ("fsGroup", ImageUid))),
                        ("nodeSelector", args.NodePoolLabels ? Expr.Object((NodePools.PoolLabel, NodePools.System)) : null),
                        // Replicas on different nodes and zones where there is room, so one node or zone going away leaves one serving.
                        ("topologySpreadConstraints", Expr.List(
                            SpreadOver("kubernetes.io/hostname", labels),
                            SpreadOver("topology.kubernetes.io/zone", labels))),
                        ("containers", Expr.List(Expr.Object(
                            ("name", "server"),
                            ("image", args.Image),
                            ("args", Expr.List("serve", "--host", "0.0.0.0", "--port", ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--home", HomePath)),
                            ("ports", args.WorkerPods is null
                                ? Expr.List(Expr.Object(("name", portName), ("containerPort", ContainerPort), ("protocol", "TCP")))
                                : Expr.List(
                                    Expr.Object(("name", portName), ("containerPort", ContainerPort), ("protocol", "TCP")),
                                    Expr.Object(("name", WorkersPortName), ("containerPort", WorkersPort), ("protocol", "TCP")))),
                            ("env", Expr.List(env)),
                            ("envFrom", Expr.List(envFrom)),
                            ("securityContext", SandboxSecurityContext()),
                            ("readinessProbe", probe),
                            ("livenessProbe", Expr.Object(("httpGet", Expr.Object(("path", "/health"), ("port", portName), ("scheme", scheme))), ("initialDelaySeconds", 15), ("periodSeconds", 20), ("failureThreshold", 3))),
                            ("resources", Expr.Object(
                                ("requests", Expr.Object(("cpu", args.CpuRequest), ("memory", args.MemoryRequest))),
                                ("limits", Expr.Object(("memory", args.MemoryLimit))))),
                            ("volumeMounts", Expr.List(volumeMounts))))),
                        ("volumes", Expr.List(volumes))))))))),
            Child(provider, [RoleBinding, .. args.DependsOn]));

        var annotations = args.ServiceAnnotations.Concat(args.Gateway.ServiceAnnotations).ToList();
        Service = new Resource("kubernetes:core/v1:Service", "gateway-service", Expr.Object(
            ("metadata", Expr.Object(("name", AppName), ("namespace", ns), ("labels", labels),
                ("annotations", annotations.Count == 0 ? null : new Obj(annotations)))),
            ("spec", Expr.Object(
                ("type", "LoadBalancer"),
                ("selector", labels),
                ("ports", Expr.List(Expr.Object(("name", portName), ("port", tls is null ? 80 : 443), ("targetPort", portName), ("protocol", "TCP"))))))), Child(provider));

        Autoscaler = new Resource("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "gateway-autoscaler", Expr.Object(
            ("metadata", Meta(AppName)),
            ("spec", Expr.Object(
                ("scaleTargetRef", Expr.Object(("apiVersion", "apps/v1"), ("kind", "Deployment"), ("name", Deployment.Output("metadata.name")))),
                ("minReplicas", args.MinReplicas),
                ("maxReplicas", args.MaxReplicas),
                ("metrics", Expr.List(Expr.Object(
                    ("type", "Resource"),
                    ("resource", Expr.Object(("name", "cpu"), ("target", Expr.Object(("type", "Utilization"), ("averageUtilization", 70))))))))))), Child(provider));

        // At most one gateway pod down for voluntary disruptions (node drains, upgrades, scale-down): with two or more replicas at
        // least one keeps serving (for two, the same as minAvailable 1). maxUnavailable rather than minAvailable: with a single replica
        // (gatewayMinReplicas 1, or bring your own cluster on SQLite) minAvailable 1 would block every drain of its node for good.
        DisruptionBudget = new Resource("kubernetes:policy/v1:PodDisruptionBudget", "gateway-disruption-budget", Expr.Object(
            ("metadata", Meta(AppName)),
            ("spec", Expr.Object(("maxUnavailable", 1), ("selector", Expr.Object(("matchLabels", labels)))))), Child(provider));

        if (args.DevicePlugin == DevicePluginMode.Helm)
        {
            // Runs only on the GPU pool (which it tolerates); advertises nvidia.com/gpu to the scheduler.
            DevicePlugin = new Resource("kubernetes:helm.sh/v3:Release", "nvidia-device-plugin", Expr.Object(
                ("name", "nvidia-device-plugin"),
                ("chart", "nvidia-device-plugin"),
                ("version", args.DevicePluginVersion),
                ("namespace", "kube-system"),
                ("repositoryOpts", Expr.Object(("repo", "https://nvidia.github.io/k8s-device-plugin"))),
                ("values", Expr.Object(
                    ("nodeSelector", args.NodePoolLabels ? Expr.Object((NodePools.PoolLabel, NodePools.Gpu)) : null),
                    ("tolerations", Expr.List(
                        Expr.Object(("key", NodePools.GpuTaintKey), ("operator", "Exists"), ("effect", "NoSchedule")),
                        Expr.Object(("key", NodePools.SpotTaintKey), ("operator", "Exists"), ("effect", "NoSchedule"))))))), Child(provider));
        }

        if (args.WorkerPods is not null)
        {
            // Worker pods are every pod in the namespace but the gateway's: whatever labels the host gives them, they are
            // selected. They receive nothing (they dial out) and may reach only the gateway's workers port and DNS.
            var workerPods = Expr.Object(("matchExpressions", Expr.List(Expr.Object(
                ("key", "app.kubernetes.io/name"), ("operator", "NotIn"), ("values", Expr.List(AppName))))));
            var gatewayPods = Expr.Object(("matchLabels", labels));
            WorkerNetworkPolicy = new Resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "worker-network-policy", Expr.Object(
                ("metadata", Meta("osforai-workers")),
                ("spec", Expr.Object(
                    ("podSelector", workerPods),
                    ("policyTypes", Expr.List("Ingress", "Egress")),
                    // No ingress rules: nothing may connect to a worker pod.
                    ("egress", Expr.List(
                        Expr.Object(
                            ("to", Expr.List(Expr.Object(("podSelector", gatewayPods)))),
                            ("ports", Expr.List(Expr.Object(("protocol", "TCP"), ("port", WorkersPort))))),
                        Expr.Object(
                            ("to", Expr.List(Expr.Object(("namespaceSelector", Expr.Object(("matchLabels", Expr.Object(("kubernetes.io/metadata.name", "kube-system")))))))),
                            ("ports", Expr.List(Expr.Object(("protocol", "UDP"), ("port", 53)), Expr.Object(("protocol", "TCP"), ("port", 53)))))))))), Child(provider));
            // The gateway: its HTTP port from anywhere (the load balancer, probes), its workers port only from the worker pods.
            GatewayNetworkPolicy = new Resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gateway-network-policy", Expr.Object(
                ("metadata", Meta("osforai-gateway")),
                ("spec", Expr.Object(
                    ("podSelector", gatewayPods),
                    ("policyTypes", Expr.List("Ingress")),
                    ("ingress", Expr.List(
                        Expr.Object(("ports", Expr.List(Expr.Object(("protocol", "TCP"), ("port", ContainerPort))))),
                        Expr.Object(
                            ("from", Expr.List(Expr.Object(("podSelector", workerPods)))),
                            ("ports", Expr.List(Expr.Object(("protocol", "TCP"), ("port", WorkersPort)))))))))), Child(provider));
        }

        var field = args.GatewayAddress == LoadBalancerAddress.Hostname ? "hostname" : "ip";
        GatewayUrl = Expr.Concat(tls is null ? "http://" : "https://", Service.Output($"status.loadBalancer.ingress[0].{field}"));
    }

    /// <summary>The environment variable <paramref name="name"/> from <paramref name="key"/> of <paramref name="secret"/>.</summary>
    private static Obj SecretEnv(string name, Resource secret, string key) => Expr.Object(
        ("name", name),
        ("valueFrom", Expr.Object(("secretKeyRef", Expr.Object(("name", secret.Output("metadata.name")), ("key", key))))));

    /// <summary>Spread the pods <paramref name="labels"/> selects over <paramref name="topologyKey"/>, as evenly as the nodes allow (never unschedulable).</summary>
    private static Obj SpreadOver(string topologyKey, Obj labels) => Expr.Object(
        ("maxSkew", 1),
        ("topologyKey", topologyKey),
        ("whenUnsatisfiable", "ScheduleAnyway"),
        ("labelSelector", Expr.Object(("matchLabels", labels))));

    /// <summary>What the worker host may do with pods in its namespace (the Role's only rule on pods; pods/log: get).</summary>
    public static IReadOnlyList<string> PodVerbs { get; } = ["create", "get", "list", "watch", "delete", "patch"];

    /// <summary>
    /// The environment that selects and configures the Kubernetes worker host (OSForAI:Workers:Host = Kubernetes). The namespace,
    /// the pod's IP and the pod's own name and uid come from the downward API. Each gateway replica is its own worker host: its
    /// ServerId (the label its worker pods carry, the pods it adopts and removes) is its pod name, so replicas never take each other's
    /// pods, and OwnerPodName/OwnerPodUid let it make its worker pods dependents of its own pod (ownerReferences), so Kubernetes
    /// removes them when the replica's pod goes away; Kubernetes expands <c>$(OSAI_POD_IP)</c> in GatewayAddress because OSAI_POD_IP is
    /// defined before it. Worker pods dial that address (the pod IP: no Service in between, see docs/deploy.md). Each pool's node
    /// selector and tolerations come from <see cref="NodePools.WorkerPools"/>, the values the node pools are labelled and tainted with.
    /// </summary>
    public static IEnumerable<Expr> WorkerHostEnv(WorkerPodArgs workers)
    {
        static Obj Value(string name, Expr value) => Expr.Object(("name", name), ("value", value));
        static Obj Field(string name, string path) => Expr.Object(("name", name), ("valueFrom", Expr.Object(("fieldRef", Expr.Object(("fieldPath", path))))));
        const string k = KubernetesHostPrefix;
        yield return Field(PodIpVariable, "status.podIP");
        yield return Value("OSForAI__Workers__Host", "Kubernetes");
        yield return Field(k + "Namespace", "metadata.namespace");
        yield return Field(k + "ServerId", "metadata.name");
        yield return Field(k + "OwnerPodName", "metadata.name");
        yield return Field(k + "OwnerPodUid", "metadata.uid");
        yield return Value(k + "ServiceAccountInCluster", "true");
        yield return Value(k + "GatewayAddress", $"tcp:$({PodIpVariable}):{WorkersPort}");
        yield return Value(k + "ListenPort", WorkersPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return Value(k + "Images__python3", workers.PythonImage);
        yield return Value(k + "Images__onnx", workers.OnnxImage);
        foreach (var pool in NodePools.WorkerPools)
        {
            var p = $"{k}Pools__{pool.Name}__";
            yield return Value($"{p}NodeSelector__{pool.LabelKey}", pool.LabelValue);
            for (var i = 0; i < pool.Tolerations.Count; i++)
                yield return Value($"{p}Tolerations__{i}", pool.Tolerations[i]);
            var warm = pool.Name switch
            {
                "cpu" => workers.CpuWarmPods,
                "gpu" => workers.GpuWarmPods,
                _ => throw new InvalidOperationException($"no warm-pod setting for pool '{pool.Name}'"),
            };
            // Environment values are strings; toJSON turns the integer config value into one.
            yield return Value($"{p}WarmPods", warm is Lit { Value: int n } ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : Expr.ToJson(warm));
        }
    }

    /// <summary>The non-root uid/gid of the runtime images (deploy/docker).</summary>
    public const int ImageUid = 10001;

    /// <summary>
    /// The server container runs every worker in a bubblewrap sandbox (the images set OSForAI__Workers__Sandbox=bubblewrap and
    /// the server refuses to start if bubblewrap cannot work). Bubblewrap creates an unprivileged user namespace and mounts
    /// inside it; the container runtime's default seccomp profile refuses unshare(CLONE_NEWUSER) to a process without
    /// CAP_SYS_ADMIN, and the default AppArmor profile (Ubuntu and COS nodes) refuses the mounts. So this one container is
    /// seccomp- and AppArmor-Unconfined, and nothing else is relaxed: no capabilities at all, no privilege escalation
    /// (setuid binaries such as a setuid bwrap cannot gain anything), non-root. A Localhost seccomp profile would be
    /// tighter but must be installed on every node first, which the stacks do not manage (docs/deploy.md, "Worker sandbox").
    /// The root file system is read-only (bubblewrap builds each sandbox in its own mount namespace, from read-only binds).
    /// </summary>
    private static Obj SandboxSecurityContext() => Expr.Object(
        ("allowPrivilegeEscalation", false),
        ("privileged", false),
        ("readOnlyRootFilesystem", true),
        ("runAsNonRoot", true),
        ("capabilities", Expr.Object(("drop", Expr.List("ALL")))),
        ("seccompProfile", Expr.Object(("type", "Unconfined"))),
        ("appArmorProfile", Expr.Object(("type", "Unconfined"))));

    private static string SecretFileName(DataStoreBinding store, string setting) => $"{store.Scheme}.{store.Label}.{setting}";

    public Resource Namespace { get; }
    public Resource ServiceAccount { get; }
    public Resource Role { get; }
    public Resource RoleBinding { get; }
    public Resource Settings { get; }
    /// <summary>The data store's credentials, mounted as files; null when the store needs none (the cloud's workload identity).</summary>
    public Resource? DataSecret { get; }
    /// <summary>The gateway's certificate (kubernetes.io/tls), mounted at <see cref="TlsPath"/>; null when it serves plain HTTP.</summary>
    public Resource? TlsSecret { get; }
    /// <summary>The state connection URI (key <see cref="StateSecretKey"/>), given to the container as <see cref="StateVariable"/>.</summary>
    public Resource StateSecret { get; }
    /// <summary>The cluster's admin key (key <see cref="AdminKeySecretKey"/>), given to the container as <see cref="AdminKeyVariable"/>.</summary>
    public Resource AdminKeySecret { get; }
    /// <summary>The generated admin key, a secret (the stacks' <c>adminKey</c> output).</summary>
    public Expr AdminKey { get; }
    public Resource Deployment { get; }
    /// <summary>Worker pods: no ingress; egress only to the gateway's workers port and DNS. Null with the process host.</summary>
    public Resource? WorkerNetworkPolicy { get; }
    /// <summary>The gateway: HTTP from anywhere, the workers port only from worker pods. Null with the process host.</summary>
    public Resource? GatewayNetworkPolicy { get; }
    public Resource Service { get; }
    public Resource Autoscaler { get; }
    public Resource DisruptionBudget { get; }
    /// <summary>Null when the cloud manages the device plugin.</summary>
    public Resource? DevicePlugin { get; }
    /// <summary>The gateway: https://&lt;load balancer address&gt; with TLS, http:// without.</summary>
    public Expr GatewayUrl { get; }
}
