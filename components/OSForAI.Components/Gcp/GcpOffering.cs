using System.Text.RegularExpressions;
using OSForAI.Components.Stacks;

namespace OSForAI.Components.Gcp;

/// <summary>
/// GCP regions ("us-central1", "europe-west4") and the Compute Engine machine families of each NVIDIA GPU.
/// <para>
/// The stack passes <c>gpuType</c> to GKE unchanged as the node pool's accelerator type (a Pulumi YAML program
/// cannot map a config value through a table), so on GCP the GPU type is GKE's accelerator name. The name the AWS
/// stacks use for L4 ("nvidia-l4") is GKE's own; the others differ ("nvidia-t4" is "nvidia-tesla-t4" on GKE, and so
/// on): <see cref="SharedNames"/> lists them, and validation lists the GKE spellings when a stack uses another.
/// </para>
/// </summary>
public sealed partial class GcpOffering : CloudOffering
{
    public static GcpOffering Instance { get; } = new();

    public override string Cloud => "gcp";
    public override Regex RegionFormat => Region();
    public override string RegionExample => "us-central1";

    /// <summary>GKE accelerator type → machine families that attach it (T4 attaches to N1 machines).</summary>
    public override IReadOnlyDictionary<string, IReadOnlyList<string>> GpuFamilies { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["nvidia-l4"] = ["g2"],
        ["nvidia-tesla-t4"] = ["n1"],
        ["nvidia-tesla-a100"] = ["a2"],
        ["nvidia-a100-80gb"] = ["a2"],
        ["nvidia-h100-80gb"] = ["a3"],
        ["nvidia-h100-mega-80gb"] = ["a3"],
    };

    /// <summary>The cloud-neutral GPU names (as on the AWS stacks) → GKE's accelerator type.</summary>
    public static IReadOnlyDictionary<string, string> SharedNames { get; } = new Dictionary<string, string>
    {
        ["nvidia-l4"] = "nvidia-l4",
        ["nvidia-t4"] = "nvidia-tesla-t4",
        ["nvidia-a100"] = "nvidia-tesla-a100",
        ["nvidia-h100"] = "nvidia-h100-80gb",
    };

    /// <summary>GKE's accelerator type for a cloud-neutral or GKE GPU name; null when GKE has no such GPU.</summary>
    public static string? AcceleratorType(string gpuType) =>
        Instance.GpuFamilies.ContainsKey(gpuType) ? gpuType : SharedNames.GetValueOrDefault(gpuType);

    /// <summary>A custom machine with two vCPUs and 7.5 GiB (Enterprise edition): enough for the catalog and job state of a first deployment.</summary>
    public override string DefaultDatabaseInstanceType => "db-custom-2-7680";

    /// <summary>
    /// Cloud SQL Enterprise edition tiers: db-custom-&lt;vCPUs&gt;-&lt;MiB&gt; (the stack pins the edition, so the Enterprise Plus
    /// db-perf-optimized-* tiers do not apply) and the shared-core db-f1-micro and db-g1-small (no SLA: tests only).
    /// </summary>
    public override string? CheckDatabaseInstanceType(string instanceType) => DatabaseTier().IsMatch(instanceType)
        ? null
        : $"'{instanceType}' is not a Cloud SQL Enterprise edition tier: use db-custom-<vCPUs>-<MiB> such as '{DefaultDatabaseInstanceType}'";

    public override string? CheckDatabaseStorage(int gb) => gb > 65536 ? $"Cloud SQL storage is at most 65536 GB, got {gb}" : null;

    /// <summary>"g2-standard-8" → "g2".</summary>
    /// <summary>
    /// An IAM member for a person or a service account (<c>user:EMAIL</c>, <c>serviceAccount:EMAIL</c>): GKE signs both in under their
    /// email, which the cluster-admin binding names. Groups need Google Groups for RBAC, which the stack does not set up.
    /// </summary>
    public override string? CheckPrincipal(string principal) => GkePrincipal().IsMatch(principal)
        ? null
        : $"'{principal}' is not 'user:EMAIL' or 'serviceAccount:EMAIL' (groups need Google Groups for RBAC, which the stack does not set up)";

    [GeneratedRegex(@"^(user|serviceAccount):[^@\s:]+@[^@\s:]+\.[^@\s:]+$")]
    private static partial Regex GkePrincipal();

    /// <summary>A VPC network and one subnetwork of the stack's region with secondary ranges named <c>pods</c> and <c>services</c>.</summary>
    public override IEnumerable<ConfigError> CheckExistingNetwork(string networkId, IReadOnlyList<string> nodeSubnetIds, string databaseSubnetId)
    {
        if (!NetworkPath().IsMatch(networkId))
            yield return new(StackConfig.NetworkId, $"'{networkId}' is not a network id (projects/<project>/global/networks/<name>)");
        if (nodeSubnetIds.Count != 1)
            yield return new(StackConfig.NodeSubnetIds, "takes one subnetwork on GCP (projects/<project>/regions/<region>/subnetworks/<name>, with secondary ranges 'pods' and 'services')");
        foreach (var subnet in nodeSubnetIds.Where(s => !SubnetworkPath().IsMatch(s)))
            yield return new(StackConfig.NodeSubnetIds, $"'{subnet}' is not a subnetwork id (projects/<project>/regions/<region>/subnetworks/<name>)");
        if (databaseSubnetId.Length > 0)
            yield return new(StackConfig.DatabaseSubnetId, "is for Azure: on GCP the state database takes a private IP through the network's private services access");
    }

    [GeneratedRegex("^projects/[^/]+/global/networks/[^/]+$")]
    private static partial Regex NetworkPath();
    [GeneratedRegex("^projects/[^/]+/regions/[^/]+/subnetworks/[^/]+$")]
    private static partial Regex SubnetworkPath();

    public override string InstanceFamily(string instanceType)
    {
        var dash = instanceType.IndexOf('-', StringComparison.Ordinal);
        return dash < 0 ? instanceType : instanceType[..dash];
    }

    public override bool ImagesRelativeToRegistry => true;

    public override string RegistryExample => "us-central1-docker.pkg.dev/my-project/osforai";

    /// <summary>A GKE zone is the region and a letter: "us-central1-a" in "us-central1".</summary>
    public override string? CheckZone(string region, string zone) =>
        zone.StartsWith(region + "-", StringComparison.Ordinal) && zone.Length == region.Length + 2 && zone[^1] is >= 'a' and <= 'z'
            ? null
            : $"'{zone}' is not a zone of region '{region}' (expected something like '{region}-a')";

    /// <summary>
    /// The driver branch GKE installs with <c>gpuDriverInstallationConfig.gpuDriverVersion: LATEST</c>, which the GPU pool pins:
    /// R580 (CUDA 13) on the GKE versions in the REGULAR channel, checked 2026-12-05; <c>DEFAULT</c> installs an older branch
    /// (R535/R570) that the CUDA 13 worker image cannot use. GKE offers no finer pin than DEFAULT or LATEST.
    /// </summary>
    public const int LatestDriverBranch = 580;

    public override string? CheckGpuDriverVersion(int branch) => branch > LatestDriverBranch
        ? $"GKE's LATEST GPU driver is R{LatestDriverBranch}; R{branch} is not installable through gpuDriverInstallationConfig (install it yourself with INSTALLATION_DISABLED)"
        : null;

    [GeneratedRegex(@"^(db-custom-\d{1,2}-\d{4,6}|db-f1-micro|db-g1-small)$")]
    private static partial Regex DatabaseTier();

    [GeneratedRegex(@"^[a-z]+-[a-z]+\d+$")]
    private static partial Regex Region();
}
