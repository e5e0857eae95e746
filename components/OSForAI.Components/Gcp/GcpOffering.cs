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
    public override string InstanceFamily(string instanceType)
    {
        var dash = instanceType.IndexOf('-', StringComparison.Ordinal);
        return dash < 0 ? instanceType : instanceType[..dash];
    }

    [GeneratedRegex(@"^(db-custom-\d{1,2}-\d{4,6}|db-f1-micro|db-g1-small)$")]
    private static partial Regex DatabaseTier();

    [GeneratedRegex(@"^[a-z]+-[a-z]+\d+$")]
    private static partial Regex Region();
}
