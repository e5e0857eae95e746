using System.Globalization;
using System.Text.RegularExpressions;
using OSForAI.Components.Synthesis;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Components.Stacks;

/// <summary>One key of the stack's Pulumi config: its YAML type and default (none: the key is required).</summary>
public sealed record ConfigSetting(string Key, string Type, object? Default, string Description)
{
    public bool Required => Default is null;
}

/// <summary>A problem with one config key of one stack.</summary>
public sealed record ConfigError(string Key, string Message);

/// <summary>Thrown when a stack's config cannot be used; the message names every bad key.</summary>
public sealed class StackConfigException(string message, IReadOnlyList<ConfigError> errors) : Exception(message)
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

/// <summary>
/// The config keys every cloud's inference stack reads, and their validation.
/// <para>
/// The program always declares these keys in its <c>config:</c> section and refers to them (<see cref="Declare"/>),
/// so the values live in Pulumi.&lt;stack&gt;.yaml and <c>pulumi config set</c> works as usual. The concrete values
/// are read from that file only to validate them at synth time (<see cref="StackFile"/>, <see cref="Validate"/>):
/// when Pulumi runs the compiler for a stack it sets PULUMI_STACK; when it runs it only to learn the required
/// plugins it sets no stack, and then nothing is validated and the same program (same providers) is printed.
/// </para>
/// </summary>
public static partial class StackConfig
{
    public const string Region = "region";
    public const string KubernetesVersion = "kubernetesVersion";
    public const string SystemInstanceType = "systemInstanceType";
    public const string SystemMinNodes = "systemMinNodes";
    public const string SystemMaxNodes = "systemMaxNodes";
    public const string GpuType = "gpuType";
    public const string GpuInstanceType = "gpuInstanceType";
    public const string GpusPerNode = "gpusPerNode";
    public const string GpuMinNodes = "gpuMinNodes";
    public const string GpuMaxNodes = "gpuMaxNodes";
    public const string RuntimeImage = "runtimeImage";
    public const string GatewayMinReplicas = "gatewayMinReplicas";
    public const string GatewayMaxReplicas = "gatewayMaxReplicas";
    public const string Namespace = "namespace";
    public const string WorkerPythonImage = "workerPythonImage";
    public const string WorkerGpuImage = "workerGpuImage";
    public const string CpuWarmPods = "cpuWarmPods";
    public const string GpuWarmPods = "gpuWarmPods";
    public const string DatabaseInstanceType = "databaseInstanceType";
    public const string DatabaseStorageGb = "databaseStorageGb";
    public const string DatabaseVersion = "databaseVersion";
    public const string DatabaseBackupDays = "databaseBackupDays";
    public const string DatabaseDeletionProtection = "databaseDeletionProtection";
    public const string Registry = "registry";
    public const string ControlPlaneAllowedCidrs = "controlPlaneAllowedCidrs";
    public const string GpuZones = "gpuZones";
    public const string GpuDriverVersion = "gpuDriverVersion";
    public const string AdminPrincipals = "adminPrincipals";
    public const string CiPrincipal = "ciPrincipal";

    /// <summary>
    /// The NVIDIA driver branch the GPU worker image needs (deploy/docker/worker-gpu.Dockerfile: CUDA 13 needs driver R580 or
    /// newer), chosen 2026-12-05.
    /// </summary>
    public const string DefaultGpuDriverVersion = "580";
    public const string ClusterAutoscalerChartVersion = "clusterAutoscalerChartVersion";
    public const string DevicePluginChartVersion = "devicePluginChartVersion";
    public const string GpuOperatorChartVersion = "gpuOperatorChartVersion";
    public const string TlsCertificate = "tlsCertificate";
    public const string TlsPrivateKey = "tlsPrivateKey";
    public const string AllowPlainHttp = "allowPlainHttp";
    public const string InternalLoadBalancer = "internalLoadBalancer";
    public const string PrivateControlPlane = "privateControlPlane";
    public const string ControlPlaneLogs = "controlPlaneLogs";
    public const string SecretsEncryption = "secretsEncryption";
    public const string GpuSpot = "gpuSpot";
    public const string NetworkId = "networkId";
    public const string NodeSubnetIds = "nodeSubnetIds";
    public const string DatabaseSubnetId = "databaseSubnetId";

    /// <summary>
    /// The keys that decide which resources exist (Pulumi YAML has no conditionals), so the program reads them from the stack file when
    /// it is synthesized (<see cref="ClusterOptions.Of"/>); they are declared like every key so <c>pulumi config set</c> works, and a
    /// changed value shows in the next preview.
    /// </summary>
    public static IReadOnlyList<string> SynthTimeFlags { get; } = [PrivateControlPlane, ControlPlaneLogs, SecretsEncryption, GpuSpot];

    /// <summary>
    /// The Kubernetes minor version the stacks deploy unless <c>kubernetesVersion</c> says otherwise: chosen on 2026-12-05 as the
    /// newest minor in standard support on all three clouds that day (EKS until 2027-03-27, GKE until 2027-02-28, AKS 12 months
    /// from its GA in early 2026; upstream end of life 2027-02-28). docs/deploy.md, "Kubernetes version", says when to move it on.
    /// </summary>
    public const string DefaultKubernetesVersion = "1.35";

    /// <summary>
    /// The Helm chart versions the stacks pin (checked on 2026-12-05): cluster-autoscaler (kubernetes/autoscaler, EKS only: AKS and
    /// GKE scale their pools themselves) whose image follows the chart's appVersion, and NVIDIA's device plugin (EKS and AKS; GKE
    /// runs its own). A pinned chart is what the tests and a preview saw; a newer one is a config change that shows in the preview.
    /// </summary>
    public const string DefaultClusterAutoscalerChartVersion = "9.56.0", DefaultDevicePluginChartVersion = "0.18.2";

    /// <summary>
    /// NVIDIA's GPU operator chart (AKS only: it installs the pinned driver that AKS's own install cannot pin, the container toolkit
    /// and the device plugin), chosen 2026-12-05: the release whose default driver is on the R580 branch.
    /// </summary>
    public const string DefaultGpuOperatorChartVersion = "v25.10.0";

    /// <summary>The config keys whose values are secrets (declared <c>secret: true</c>; set with <c>pulumi config set --secret</c>).</summary>
    public static IReadOnlySet<string> SecretKeys { get; } = new HashSet<string>(StringComparer.Ordinal) { TlsCertificate, TlsPrivateKey };

    /// <summary>
    /// The PostgreSQL major versions every cloud's managed service offers (RDS, Azure flexible server, Cloud SQL), checked on
    /// 2026-12-05; the newest is the default. Another version needs all three clouds to offer it first (the stacks are identical).
    /// </summary>
    public static IReadOnlyList<string> DatabaseVersions { get; } = ["16", "17"];

    /// <summary>The smallest storage every cloud's managed PostgreSQL takes (Azure's smallest size), in GB.</summary>
    public const int MinDatabaseStorageGb = 32;

    /// <summary>Days of automated backups (point-in-time recovery) every cloud offers: Azure keeps 7 to 35, RDS 1 to 35.</summary>
    public const int MinDatabaseBackupDays = 7, MaxDatabaseBackupDays = 35;

    /// <summary>
    /// The oldest Kubernetes minor version the stacks deploy: the worker host's pool settings are environment variables
    /// whose names hold the node label key (<c>...__NodeSelector__osforai.dev/pool</c>), and a '/' in an environment
    /// variable name needs the RelaxedEnvironmentVariableValidation feature (beta and on by default from 1.32, GA in 1.34).
    /// </summary>
    public static readonly Version MinKubernetesVersion = new(1, 32);

    /// <summary>
    /// The keys every cloud declares, with the same names and types everywhere; only the default database size is the cloud's own
    /// (<see cref="CloudOffering.DefaultDatabaseInstanceType"/>).
    /// </summary>
    public static IReadOnlyList<ConfigSetting> SettingsFor(CloudOffering cloud) =>
    [
        new(Region, "string", null, "cloud region"),
        new(KubernetesVersion, "string", DefaultKubernetesVersion, "Kubernetes minor version"),
        new(SystemInstanceType, "string", null, "machine type of the system pool"),
        new(SystemMinNodes, "integer", 2, "fewest system nodes"),
        new(SystemMaxNodes, "integer", null, "most system nodes"),
        new(GpuType, "string", null, "GPU type, e.g. nvidia-l4"),
        new(GpuInstanceType, "string", null, "machine type of the GPU pool"),
        new(GpusPerNode, "integer", 1, "GPUs on one GPU node"),
        new(GpuMinNodes, "integer", 0, "fewest GPU nodes (0: scale from zero)"),
        new(GpuMaxNodes, "integer", null, "most GPU nodes"),
        new(RuntimeImage, "string", null, "OSForAI runtime image"),
        // Two replicas at least: the state is in the managed PostgreSQL database, so any replica serves any call, and one pod's
        // restart (a rollout, a node drain) is no outage.
        new(GatewayMinReplicas, "integer", 2, "fewest gateway replicas"),
        new(GatewayMaxReplicas, "integer", 4, "most gateway replicas"),
        new(Namespace, "string", "osforai", "Kubernetes namespace of the runtime"),
        new(WorkerPythonImage, "string", null, "Python worker image (deploy/docker/worker-python.Dockerfile)"),
        new(WorkerGpuImage, "string", null, "ONNX worker image with CUDA (deploy/docker/worker-gpu.Dockerfile)"),
        new(CpuWarmPods, "integer", 1, "generic worker pods kept warm on the CPU (system) pool"),
        new(GpuWarmPods, "integer", 0, "generic worker pods kept warm on the GPU pool (0: the pool scales to zero when idle)"),
        new(DatabaseInstanceType, "string", cloud.DefaultDatabaseInstanceType, "size of the managed PostgreSQL server holding the runtime's state"),
        new(DatabaseStorageGb, "integer", MinDatabaseStorageGb, "storage of the managed PostgreSQL server, in GB"),
        new(DatabaseVersion, "string", DatabaseVersions[^1], "PostgreSQL major version"),
        new(DatabaseBackupDays, "integer", MinDatabaseBackupDays, "days of automated backups (point-in-time recovery)"),
        new(DatabaseDeletionProtection, "boolean", true, "refuse to delete the database (turn off on throw-away stacks so `pulumi destroy` works)"),
        new(Registry, "string", "", "an existing registry (host and optional path) to pull images from instead of the one the stack provisions"),
        new(ControlPlaneAllowedCidrs, "array", Expr.List(), "CIDRs allowed to reach the Kubernetes API (empty: open)"),
        new(GpuZones, "array", Expr.List(), "zones of the GPU pool (empty: the cloud's default for the region)"),
        new(AdminPrincipals, "array", Expr.List(), "identities given cluster-admin (IAM role/user ARNs on AWS, Entra object IDs on Azure, IAM members on GCP)"),
        new(CiPrincipal, "string", "", "the identity CI deploys with (given cluster-admin; empty: none)"),
        new(GpuDriverVersion, "string", DefaultGpuDriverVersion, "NVIDIA driver branch the GPU worker image needs (R580: CUDA 13)"),
        new(ClusterAutoscalerChartVersion, "string", DefaultClusterAutoscalerChartVersion, "cluster-autoscaler Helm chart version (EKS)"),
        new(DevicePluginChartVersion, "string", DefaultDevicePluginChartVersion, "nvidia-device-plugin Helm chart version (EKS)"),
        new(GpuOperatorChartVersion, "string", DefaultGpuOperatorChartVersion, "NVIDIA GPU operator Helm chart version (AKS: pinned driver, toolkit, device plugin)"),
        new(TlsCertificate, "string", "", "PEM certificate (chain) the gateway serves HTTPS with, a secret"),
        new(TlsPrivateKey, "string", "", "PEM private key of tlsCertificate, a secret"),
        new(AllowPlainHttp, "boolean", false, "serve the gateway over plain HTTP when no certificate is set"),
        new(InternalLoadBalancer, "boolean", false, "give the gateway an internal (private network) load balancer"),
        new(PrivateControlPlane, "boolean", false, "serve the Kubernetes API on the cluster's private network only (pulumi up must then run from inside it)"),
        new(ControlPlaneLogs, "boolean", false, "send the control plane's API server, audit and authenticator logs to the cloud's log service"),
        new(SecretsEncryption, "boolean", false, "encrypt Kubernetes Secrets with a key the stack creates in the cloud's key service (cannot be turned off again)"),
        new(GpuSpot, "boolean", false, "GPU nodes from spot (preemptible) capacity: cheaper, and taken back at short notice"),
        new(NetworkId, "string", "", "an existing network to deploy into instead of one of the stack's own (AWS VPC id, Azure VNet resource id, GCP network id)"),
        new(NodeSubnetIds, "array", Expr.List(), "with networkId: the subnets of the nodes (AWS: private subnets in two zones or more; Azure and GCP: one)"),
        new(DatabaseSubnetId, "string", "", "Azure with networkId: the subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers for the state database"),
    ];

    /// <summary>The element type of each <c>array</c> key.</summary>
    public static IReadOnlyDictionary<string, string> ArrayItems { get; } = new Dictionary<string, string>
    {
        [ControlPlaneAllowedCidrs] = "string",
        [GpuZones] = "string",
        [AdminPrincipals] = "string",
        [NodeSubnetIds] = "string",
    };

    /// <summary>Declares every key in the program's config section and returns args that refer to them.</summary>
    /// <param name="stack">
    /// The stack's settings file, for the gateway's exposure (TLS or plain HTTP, internal or public load balancer), which decides which
    /// resources exist and so cannot come from config in Pulumi YAML; null (Pulumi asking for plugins, tests) takes plain HTTP and a public
    /// load balancer. The provider set is the same either way.
    /// </param>
    public static InferenceStackArgs Declare(PulumiProgram program, CloudOffering cloud, StackFile? stack = null)
    {
        var keys = DeclareAll(program, SettingsFor(cloud), SecretKeys.ToHashSet());
        return new InferenceStackArgs
        {
            Region = keys[Region],
            KubernetesVersion = keys[KubernetesVersion],
            SystemPool = new NodePoolArgs(keys[SystemInstanceType], keys[SystemMinNodes], keys[SystemMaxNodes]),
            GpuPool = new GpuPoolArgs(keys[GpuInstanceType], keys[GpuType], keys[GpusPerNode], keys[GpuMinNodes], keys[GpuMaxNodes]),
            RuntimeImage = keys[RuntimeImage],
            GatewayMinReplicas = keys[GatewayMinReplicas],
            GatewayMaxReplicas = keys[GatewayMaxReplicas],
            Namespace = keys[Namespace],
            WorkerPods = new WorkerPodArgs(keys[WorkerPythonImage], keys[WorkerGpuImage], keys[CpuWarmPods], keys[GpuWarmPods]),
            Database = new DatabaseArgs(keys[DatabaseInstanceType], keys[DatabaseStorageGb], keys[DatabaseVersion], keys[DatabaseBackupDays], keys[DatabaseDeletionProtection]),
            ClusterAutoscalerChartVersion = keys[ClusterAutoscalerChartVersion],
            DevicePluginChartVersion = keys[DevicePluginChartVersion],
            GpuOperatorChartVersion = keys[GpuOperatorChartVersion],
            Gateway = GatewayExposure.Of(stack, cloud, keys[TlsCertificate], keys[TlsPrivateKey]),
            Tags = InferenceStackArgs.DefaultTags,
            Registry = keys[Registry],
            ControlPlaneAllowedCidrs = keys[ControlPlaneAllowedCidrs],
            GpuZones = keys[GpuZones],
            AdminPrincipals = keys[AdminPrincipals],
            CiPrincipal = keys[CiPrincipal],
            GpuDriverVersion = keys[GpuDriverVersion],
            Cluster = ClusterOptions.Of(stack),
            ExtraGpuPools = ExtraGpuPools.Of(stack),
            Network = new NetworkArgs(keys[NetworkId], keys[NodeSubnetIds], keys[DatabaseSubnetId]),
        };
    }

    /// <summary>Checks a stack's values against the rules every cloud shares and what <paramref name="cloud"/> offers.</summary>
    public static IReadOnlyList<ConfigError> Validate(StackFile file, CloudOffering cloud)
    {
        var errors = new List<ConfigError>();
        var values = new Values(file, errors, SettingsFor(cloud));

        if (values.String(Region) is { } region && !cloud.RegionFormat.IsMatch(region))
            errors.Add(new(Region, $"'{region}' is not an {cloud.Cloud} region (expected something like '{cloud.RegionExample}')"));
        if (values.String(KubernetesVersion) is { } version)
        {
            if (!KubernetesVersionFormat().IsMatch(version))
                errors.Add(new(KubernetesVersion, $"'{version}' is not a Kubernetes minor version such as '{DefaultKubernetesVersion}'"));
            else if (Version.Parse(version) < MinKubernetesVersion)
                errors.Add(new(KubernetesVersion, $"'{version}' is too old: the worker host's settings need Kubernetes {MinKubernetesVersion} or newer (environment variable names with '/', RelaxedEnvironmentVariableValidation)"));
        }
        foreach (var key in new[] { RuntimeImage, WorkerPythonImage, WorkerGpuImage })
            if (values.String(key) is { } image && !IsImageReference(image))
                errors.Add(new(key, $"'{image}' is not a container image reference"));
        if (values.String(Namespace) is { } ns && !DnsLabel().IsMatch(ns))
            errors.Add(new(Namespace, $"'{ns}' is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"));
        values.String(SystemInstanceType);

        Range(values, errors, SystemMinNodes, SystemMaxNodes, minFloor: 0);
        Range(values, errors, GpuMinNodes, GpuMaxNodes, minFloor: 0);
        Range(values, errors, GatewayMinReplicas, GatewayMaxReplicas, minFloor: 1);
        if (values.Integer(GpusPerNode) is { } gpus && gpus < 1)
            errors.Add(new(GpusPerNode, $"must be at least 1, got {gpus}"));
        if (values.Integer(CpuWarmPods) is { } cpuWarm && cpuWarm < 0)
            errors.Add(new(CpuWarmPods, $"must be 0 or more, got {cpuWarm}"));
        if (values.Integer(GpuWarmPods) is { } gpuWarm)
        {
            // Each warm GPU pod holds one GPU: more than the pool can ever hold would stay Pending for good.
            if (gpuWarm < 0)
                errors.Add(new(GpuWarmPods, $"must be 0 or more, got {gpuWarm}"));
            else if (values.Integer(GpuMaxNodes) is { } maxNodes && maxNodes > 0 && values.Integer(GpusPerNode) is { } perNode && perNode > 0
                     && gpuWarm > maxNodes * perNode)
                errors.Add(new(GpuWarmPods, $"{gpuWarm} warm GPU pods need {gpuWarm} GPUs, more than the GPU pool's {maxNodes * perNode} ({GpuMaxNodes} {maxNodes} × {GpusPerNode} {perNode})"));
        }

        var gpuType = values.String(GpuType);
        if (gpuType is not null && !cloud.GpuFamilies.ContainsKey(gpuType))
            errors.Add(new(GpuType, $"'{gpuType}' is not offered on {cloud.Cloud}; choose one of {string.Join(", ", cloud.GpuFamilies.Keys)}"));
        if (values.String(GpuInstanceType) is { } instanceType && gpuType is not null && cloud.CheckGpuInstance(gpuType, instanceType) is { } mismatch)
            errors.Add(new(GpuInstanceType, mismatch));
        ValidateDatabase(values, errors, cloud);
        ValidateAccess(values, errors);
        ValidateImagesAndGpuPlacement(values, errors, cloud);
        ValidatePrincipals(values, errors, cloud);
        foreach (var key in new[] { ClusterAutoscalerChartVersion, DevicePluginChartVersion })
            if (values.String(key) is { } chart && !IsSemVer(chart))
                errors.Add(new(key, $"'{chart}' is not a Helm chart version (semantic version such as '1.2.3')"));
        // NVIDIA publishes the GPU operator's chart versions with a leading 'v'.
        if (values.String(GpuOperatorChartVersion) is { } operatorChart && !(operatorChart.StartsWith('v') && IsSemVer(operatorChart[1..])))
            errors.Add(new(GpuOperatorChartVersion, $"'{operatorChart}' is not a GPU operator chart version such as '{DefaultGpuOperatorChartVersion}'"));
        GatewayExposure.Validate(file, values, errors);
        foreach (var flag in SynthTimeFlags) values.Boolean(flag);
        ExtraGpuPools.Validate(file, cloud, values.String(Region), errors);
        ValidateNetwork(values, errors, cloud);
        if (values.Boolean(PrivateControlPlane) == true && values.List(ControlPlaneAllowedCidrs) is { Count: > 0 })
            errors.Add(new(ControlPlaneAllowedCidrs, $"restricts the public API endpoint, which {PrivateControlPlane} removes: set one or the other"));
        return errors;
    }

    /// <summary>An existing network: its id and the nodes' subnets come together, in the cloud's own form.</summary>
    private static void ValidateNetwork(Values values, List<ConfigError> errors, CloudOffering cloud)
    {
        var network = values.String(NetworkId) ?? "";
        var subnets = values.List(NodeSubnetIds);
        var database = values.String(DatabaseSubnetId) ?? "";
        if (network.Length == 0)
        {
            if (subnets is { Count: > 0 }) errors.Add(new(NodeSubnetIds, $"is for an existing network: set {NetworkId} too, or leave both empty for the stack's own network"));
            if (database.Length > 0) errors.Add(new(DatabaseSubnetId, $"is for an existing network: set {NetworkId} too, or leave it empty"));
            return;
        }
        foreach (var error in cloud.CheckExistingNetwork(network, subnets ?? [], database)) errors.Add(error);
    }

    /// <summary>Who is given cluster-admin: identities the cloud takes, no blank or repeated one, and the CI identity not listed twice.</summary>
    private static void ValidatePrincipals(Values values, List<ConfigError> errors, CloudOffering cloud)
    {
        if (values.String(CiPrincipal) is { Length: > 0 } ciPrincipal && cloud.CheckPrincipal(ciPrincipal) is { } badCi)
            errors.Add(new(CiPrincipal, badCi));
        if (values.List(AdminPrincipals) is not { } admins) return;
        foreach (var admin in admins.Where(a => a.Trim().Length > 0))
            if (cloud.CheckPrincipal(admin) is { } badAdmin) errors.Add(new(AdminPrincipals, badAdmin));
        if (admins.FirstOrDefault(a => a.Trim().Length == 0 || a.Trim() != a) is { } blank)
            errors.Add(new(AdminPrincipals, $"'{blank}' is not an identity (empty, or blanks around it)"));
        if (admins.GroupBy(a => a, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            errors.Add(new(AdminPrincipals, $"'{twice.Key}' is listed twice"));
        else if (values.String(CiPrincipal) is { Length: > 0 } ci && admins.Contains(ci, StringComparer.Ordinal))
            errors.Add(new(AdminPrincipals, $"'{ci}' is the {CiPrincipal} too; list it once"));
    }


    private static void ValidateDatabase(Values values, List<ConfigError> errors, CloudOffering cloud)
    {
        if (values.String(DatabaseInstanceType) is { } size && cloud.CheckDatabaseInstanceType(size) is { } badSize)
            errors.Add(new(DatabaseInstanceType, badSize));
        if (values.Integer(DatabaseStorageGb) is { } gb)
        {
            if (gb < MinDatabaseStorageGb) errors.Add(new(DatabaseStorageGb, $"must be at least {MinDatabaseStorageGb} (GB), got {gb}"));
            else if (cloud.CheckDatabaseStorage(gb) is { } badStorage) errors.Add(new(DatabaseStorageGb, badStorage));
        }
        if (values.String(DatabaseVersion) is { } version && !DatabaseVersions.Contains(version))
            errors.Add(new(DatabaseVersion, $"'{version}' is not a PostgreSQL major version all three clouds offer; choose one of {string.Join(", ", DatabaseVersions)}"));
        if (values.Integer(DatabaseBackupDays) is { } days && days is < MinDatabaseBackupDays or > MaxDatabaseBackupDays)
            errors.Add(new(DatabaseBackupDays, $"must be {MinDatabaseBackupDays} to {MaxDatabaseBackupDays} (days), got {days}"));
        values.Boolean(DatabaseDeletionProtection);
    }

    private static void ValidateAccess(Values values, List<ConfigError> errors)
    {
        if (values.String(Registry) is { Length: > 0 } registry && !RegistryPrefix().IsMatch(registry))
            errors.Add(new(Registry, $"'{registry}' is not a registry host with an optional path, such as 'myregistry.azurecr.io' or 'ghcr.io/my-org'"));
        if (values.List(ControlPlaneAllowedCidrs) is { } cidrs)
        {
            var bad = cidrs.Where(c => !IsCidr(c)).ToList();
            if (bad.Count > 0) errors.Add(new(ControlPlaneAllowedCidrs, $"not CIDR ranges such as '203.0.113.0/24': {string.Join(", ", bad.Select(b => $"'{b}'"))}"));
        }
    }

    /// <summary>An IPv4 or IPv6 range, address/prefix length, e.g. 203.0.113.0/24.</summary>
    internal static bool IsCidr(string text)
    {
        var slash = text.IndexOf('/');
        if (slash <= 0 || !System.Net.IPAddress.TryParse(text[..slash], out var address)) return false;
        var max = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32;
        return int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var bits) && bits <= max;
    }

    /// <summary>The host of an image reference's registry (Docker's rule: a first path part with a '.' or ':', or 'localhost'); null when it names none.</summary>
    public static string? RegistryHostOf(string image)
    {
        var slash = image.IndexOf('/');
        if (slash < 0) return null;
        var first = image[..slash];
        return first.Contains('.') || first.Contains(':') || first == "localhost" ? first : null;
    }

    /// <summary>Images named relative to the registry where the cloud wants that, the GPU pool's zones and the driver branch.</summary>
    private static void ValidateImagesAndGpuPlacement(Values values, List<ConfigError> errors, CloudOffering cloud)
    {
        // The images are named relative to the registry (the stack's own or 'registry'): a host in them would be prefixed twice.
        foreach (var key in new[] { RuntimeImage, WorkerPythonImage, WorkerGpuImage })
            if (cloud.ImagesRelativeToRegistry && values.String(key) is { } image && RegistryHostOf(image) is not null)
                errors.Add(new(key, $"'{image}' names a registry host: give the image relative to the registry (e.g. 'osforai-runtime:0.1.0') and set '{Registry}' to pull from another registry"));
        if (values.List(GpuZones) is { } zones && values.String(Region) is { } region)
            foreach (var zone in zones)
                if (cloud.CheckZone(region, zone) is { } badZone)
                    errors.Add(new(GpuZones, badZone));
        if (values.String(GpuDriverVersion) is { } driver)
        {
            if (!DriverBranch().IsMatch(driver))
                errors.Add(new(GpuDriverVersion, $"'{driver}' is not an NVIDIA driver branch such as '{DefaultGpuDriverVersion}'"));
            else if (cloud.CheckGpuDriverVersion(int.Parse(driver, CultureInfo.InvariantCulture)) is { } badDriver)
                errors.Add(new(GpuDriverVersion, badDriver));
        }
    }

    [GeneratedRegex(@"^\d{3}$")]
    private static partial Regex DriverBranch();

    /// <summary>Validates and throws one exception naming every bad key, as "project:key: problem (in file)".</summary>
    public static void ValidateOrThrow(StackFile file, CloudOffering cloud)
    {
        Throw(file, Validate(file, cloud));
    }

    /// <summary>Throws one exception naming every error as "project:key: problem (in file)"; nothing when there are none.</summary>
    internal static void Throw(StackFile file, IReadOnlyList<ConfigError> errors)
    {
        if (errors.Count == 0) return;
        var lines = errors.Select(e => $"{file.Project}:{e.Key}: {e.Message} (in {Path.GetFileName(file.Path)})");
        throw new StackConfigException(string.Join(Environment.NewLine, lines), errors);
    }

    internal static void Range(Values values, List<ConfigError> errors, string minKey, string maxKey, int minFloor)
    {
        var min = values.Integer(minKey);
        var max = values.Integer(maxKey);
        if (min is { } lo && lo < minFloor) errors.Add(new(minKey, $"must be at least {minFloor}, got {lo}"));
        if (max is { } hi && hi <= 0) errors.Add(new(maxKey, $"must be at least 1, got {hi}"));
        else if (min is { } a && max is { } b && a > b) errors.Add(new(minKey, $"{a} is more than {maxKey} ({b})"));
    }

    /// <summary>Reads typed values (or defaults) once, recording missing and mistyped keys.</summary>
    internal sealed class Values(StackFile file, List<ConfigError> errors, IReadOnlyList<ConfigSetting> settings)
    {
        private readonly HashSet<string> _reported = [];

        public string? String(string key) => Raw(key) is { } raw ? raw : null;

        /// <summary>An <c>array</c> key's strings (its default when unset); null when it is a secret or not a list of strings.</summary>
        public IReadOnlyList<string>? List(string key)
        {
            switch (file.Get(key))
            {
                case StackValue.Items items: return items.Values;
                case null: return [];
                case StackValue.Secret: return null; // encrypted: cannot be checked here
                default:
                    Report(key, "must be a list of strings");
                    return null;
            }
        }

        public int? Integer(string key)
        {
            var raw = Raw(key);
            if (raw is null) return null;
            if (int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) return n;
            Report(key, $"must be an integer, got '{raw}'");
            return null;
        }

        private string? Raw(string key)
        {
            var setting = settings.Single(s => s.Key == key);
            switch (file.Get(key))
            {
                case StackValue.Plain plain: return plain.Text;
                case StackValue.Secret: return null; // encrypted: cannot be checked here
                case StackValue.Structured or StackValue.Items:
                    Report(key, $"must be a single {setting.Type} value, not a list or object");
                    return null;
            }
            if (setting.Default is { } d) return Convert.ToString(d, CultureInfo.InvariantCulture);
            // A stack that imports a Pulumi ESC environment may get the value from there.
            if (!file.ImportsEnvironment) Report(key, $"is required ({setting.Description}); set it with 'pulumi config set {key} <value>'");
            return null;
        }

        /// <summary>A list of strings (<c>List&lt;String&gt;</c> keys); empty when the key is not set; null when it cannot be read.</summary>
        public bool? Boolean(string key)
        {
            var raw = Raw(key);
            if (raw is null) return null;
            if (bool.TryParse(raw, out var b)) return b;
            Report(key, $"must be true or false, got '{raw}'");
            return null;
        }

        public void Report(string key, string message)
        {
            if (_reported.Add(key)) errors.Add(new(key, message));
        }
    }

    /// <summary>Something a container runtime can pull: no whitespace, no scheme, no upper-case repository.</summary>
    internal static bool IsImageReference(string image) => ImageReference().IsMatch(image);

    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")]
    private static partial Regex ImageReference();

    [GeneratedRegex(@"^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")]
    private static partial Regex RegistryPrefix();
    /// <summary>A semantic version (2.0.0) as Helm chart versions are written: no leading 'v', no ranges.</summary>
    internal static bool IsSemVer(string version) => SemVer().IsMatch(version);

    [GeneratedRegex(@"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")]
    private static partial Regex SemVer();

    [GeneratedRegex(@"^1\.\d{1,2}$")]
    private static partial Regex KubernetesVersionFormat();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    internal static partial Regex DnsLabel();

    /// <summary>Declares <paramref name="settings"/> in the program's config section; returns each key's reference.</summary>
    internal static Dictionary<string, Expr> DeclareAll(PulumiProgram program, IEnumerable<ConfigSetting> settings, ISet<string>? secrets = null) =>
        settings.ToDictionary(s => s.Key, s => (Expr)program.AddConfig(new ConfigKey(s.Key, s.Type, s.Default switch
        {
            null => null,
            int i => i,
            bool b => b,
            string str => str,
            Expr e => e,
            var other => throw new InvalidOperationException($"unsupported default {other}"),
        }, Secret: secrets?.Contains(s.Key) == true, Items: ArrayItems.GetValueOrDefault(s.Key))).Ref);
}

/// <summary>A config value as a stack file holds it.</summary>
public abstract record StackValue
{
    public sealed record Plain(string Text) : StackValue;
    /// <summary><c>{secure: ...}</c>: encrypted by Pulumi.</summary>
    public sealed record Secret : StackValue;
    /// <summary>A list or an object (other than a list of plain values), as the file has it.</summary>
    public sealed record Structured(YamlNode? Node = null) : StackValue;
    /// <summary>A list of plain values.</summary>
    public sealed record Items(IReadOnlyList<string> Values) : StackValue;
}

/// <summary>
/// A stack's settings file, Pulumi.&lt;stack&gt;.yaml: the <c>config:</c> entries of this project
/// (<c>&lt;project&gt;:&lt;key&gt;</c>; other namespaces, such as <c>aws:</c>, belong to providers).
/// </summary>
public sealed class StackFile
{
    private readonly Dictionary<string, StackValue> _values;

    private StackFile(string project, string stack, string path, Dictionary<string, StackValue> values, bool importsEnvironment)
    {
        Project = project;
        Stack = stack;
        Path = path;
        _values = values;
        ImportsEnvironment = importsEnvironment;
    }

    public string Project { get; }
    public string Stack { get; }
    public string Path { get; }
    /// <summary>The file imports a Pulumi ESC environment (<c>environment:</c>), which may supply config.</summary>
    public bool ImportsEnvironment { get; }

    public StackValue? Get(string key) => _values.GetValueOrDefault(key);

    /// <summary>A copy of this file with <paramref name="changes"/> set (the file on disk is not touched).</summary>
    public StackFile With(IEnumerable<KeyValuePair<string, StackValue>> changes)
    {
        var values = new Dictionary<string, StackValue>(_values, StringComparer.Ordinal);
        foreach (var (key, value) in changes) values[key] = value;
        return new StackFile(Project, Stack, Path, values, ImportsEnvironment);
    }

    /// <summary>
    /// Every synth-time choice that adds resources turned on (the flags, an admin and a CI principal): with the plain stack, the
    /// programs whose resource types the schema fixture must cover (<c>trim-schemas</c>).
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, StackValue>> EveryOptionOn { get; } =
    [
        .. StackConfig.SynthTimeFlags.Select(f => new KeyValuePair<string, StackValue>(f, new StackValue.Plain("true"))),
        new(StackConfig.AdminPrincipals, new StackValue.Items(["admin"])),
        new(StackConfig.CiPrincipal, new StackValue.Plain("ci")),
        new(ExtraGpuPools.Key, new StackValue.Structured(new YamlSequenceNode(new YamlMappingNode(
            "name", "extra", "gpuType", "x", "instanceType", "x", "maxNodes", "1", "zones", new YamlSequenceNode())))),
    ];

    /// <summary>The project's name, from Pulumi.yaml in <paramref name="projectDir"/>.</summary>
    public static string ProjectName(string projectDir)
    {
        var path = System.IO.Path.Combine(projectDir, "Pulumi.yaml");
        if (!File.Exists(path)) throw new StackConfigException($"no Pulumi.yaml in {projectDir}", []);
        var root = LoadMapping(path);
        return root.Children.TryGetValue(new YamlScalarNode("name"), out var name) && name is YamlScalarNode { Value: { Length: > 0 } n }
            ? n
            : throw new StackConfigException($"{path} has no project name", []);
    }

    /// <summary>Reads Pulumi.&lt;stack&gt;.yaml of the project in <paramref name="projectDir"/>.</summary>
    public static StackFile Load(string projectDir, string stack)
    {
        var project = ProjectName(projectDir);
        // PULUMI_STACK may be fully qualified ("org/project/stack"); the file is named after the stack alone.
        var shortName = stack[(stack.LastIndexOf('/') + 1)..];
        var path = System.IO.Path.Combine(projectDir, $"Pulumi.{shortName}.yaml");
        if (!File.Exists(path))
            throw new StackConfigException($"stack '{shortName}' has no settings file: {path} does not exist (create it with 'pulumi stack init {shortName}' and 'pulumi config set')", []);
        var root = LoadMapping(path);
        var values = new Dictionary<string, StackValue>(StringComparer.Ordinal);
        if (root.Children.TryGetValue(new YamlScalarNode("config"), out var configNode) && configNode is YamlMappingNode config)
        {
            var prefix = project + ":";
            foreach (var (k, v) in config.Children)
            {
                var key = ((YamlScalarNode)k).Value ?? "";
                if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
                values[key[prefix.Length..]] = v switch
                {
                    YamlScalarNode s => new StackValue.Plain(s.Value ?? ""),
                    YamlMappingNode m when m.Children.ContainsKey(new YamlScalarNode("secure")) => new StackValue.Secret(),
                    YamlSequenceNode list when list.Children.All(i => i is YamlScalarNode) => new StackValue.Items([.. list.Children.Select(i => ((YamlScalarNode)i).Value ?? "")]),
                    _ => new StackValue.Structured(v),
                };
            }
        }
        var importsEnvironment = root.Children.ContainsKey(new YamlScalarNode("environment"));
        return new StackFile(project, shortName, path, values, importsEnvironment);
    }

    private static YamlMappingNode LoadMapping(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = File.OpenText(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new StackConfigException($"{path} is not valid YAML: {e.Message}", []);
        }
        if (stream.Documents.Count == 0) return new YamlMappingNode();
        return stream.Documents[0].RootNode as YamlMappingNode ?? throw new StackConfigException($"{path} is not a YAML mapping", []);
    }
}
