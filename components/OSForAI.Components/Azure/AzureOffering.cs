using System.Text.RegularExpressions;
using OSForAI.Components.Stacks;

namespace OSForAI.Components.Azure;

/// <summary>
/// Azure regions ("eastus", "westeurope", "eastus2") and the VM size families of each NVIDIA GPU.
/// <para>
/// A family is the size's series letters and its accelerator/version suffix, with the vCPU count and the feature
/// letters dropped (see <see cref="InstanceFamily"/>): Standard_NC4as_T4_v3 and Standard_NC64as_T4_v3 are both
/// "NC_T4_v3"; Standard_ND96isr_H100_v5 is "ND_H100_v5". Sizes that do not name their GPU (Standard_ND96asr_v4, A100
/// 40 GB) map to their plain series ("ND_v4").
/// </para>
/// </summary>
public sealed partial class AzureOffering : CloudOffering
{
    public static AzureOffering Instance { get; } = new();

    public override string Cloud => "azure";
    public override Regex RegionFormat => Region();
    public override string RegionExample => "eastus";

    public override IReadOnlyDictionary<string, IReadOnlyList<string>> GpuFamilies { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["nvidia-t4"] = ["NC_T4_v3"],
        ["nvidia-a10"] = ["NV_A10_v5"],
        ["nvidia-a100"] = ["NC_A100_v4", "ND_A100_v4", "ND_v4"],
        ["nvidia-h100"] = ["NC_H100_v5", "ND_H100_v5"],
        ["nvidia-h200"] = ["ND_H200_v5"],
    };

    /// <summary>Burstable, two vCPUs and 4 GiB: enough for the catalog and job state of a first deployment.</summary>
    public override string DefaultDatabaseInstanceType => "Standard_B2s";

    /// <summary>The flexible server's compute tier of each size series: B burstable, D general purpose, E memory optimised.</summary>
    public static IReadOnlyDictionary<char, string> DatabaseTiers { get; } = new Dictionary<char, string>
    {
        ['B'] = "Burstable",
        ['D'] = "GeneralPurpose",
        ['E'] = "MemoryOptimized",
    };

    /// <summary>
    /// The compute tier the flexible server API wants next to the size ("Standard_D2ds_v5" → "GeneralPurpose"); null when the size
    /// belongs to no tier. The stack derives it when the program is synthesized: Pulumi YAML cannot map a config value through a table.
    /// </summary>
    public static string? DatabaseTier(string instanceType) =>
        DatabaseSize().Match(instanceType) is { Success: true } m ? DatabaseTiers.GetValueOrDefault(m.Groups["series"].Value[0]) : null;

    public override string? CheckDatabaseInstanceType(string instanceType) => DatabaseTier(instanceType) is null
        ? $"'{instanceType}' is not an Azure Database for PostgreSQL flexible server size: use a Standard_B* (Burstable), Standard_D* (GeneralPurpose) or Standard_E* (MemoryOptimized) size such as '{DefaultDatabaseInstanceType}'"
        : null;

    /// <summary>The storage sizes a flexible server offers (Premium SSD), in GiB.</summary>
    public static IReadOnlyList<int> DatabaseStorageSizes { get; } = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767];

    public override string? CheckDatabaseStorage(int gb) => DatabaseStorageSizes.Contains(gb)
        ? null
        : $"a flexible server's storage is one of {string.Join(", ", DatabaseStorageSizes)} GiB, got {gb}";

    /// <summary>
    /// "Standard_NC4as_T4_v3" → "NC_T4_v3", "Standard_NC24ads_A100_v4" → "NC_A100_v4", "Standard_NV36ads_A10_v5" →
    /// "NV_A10_v5", "Standard_D4s_v5" → "D_v5": drop the "Standard_" prefix, keep the upper-case series letters of the
    /// first part (dropping the vCPU count and the lower-case feature letters) and the remaining parts as they are.
    /// </summary>
    /// <summary>Availability zones are numbered within a region: "1", "2", "3" (where the region has zones and the VM size is offered in them).</summary>
    public override string? CheckZone(string region, string zone) => zone is "1" or "2" or "3"
        ? null
        : $"'{zone}' is not an Azure availability zone; zones are \"1\", \"2\" and \"3\"";

    /// <summary>
    /// The driver release the GPU operator installs for each branch <c>gpuDriverVersion</c> may name (AKS's own install cannot be pinned,
    /// so the stack skips it and lets NVIDIA's GPU operator install this one); chosen 2026-12-05, the R580 release the default operator
    /// chart ships.
    /// </summary>
    public static IReadOnlyDictionary<int, string> DriverReleases { get; } = new Dictionary<int, string> { [580] = "580.95.05" };

    public override string? CheckGpuDriverVersion(int branch) => DriverReleases.ContainsKey(branch)
        ? null
        : $"the stack pins NVIDIA driver branch {string.Join(", ", DriverReleases.Keys)} on AKS (AzureOffering.DriverReleases), not {branch}";

    /// <summary>Azure RBAC role assignments take an Entra ID object ID (of a user, group or service principal).</summary>
    public override string? CheckPrincipal(string principal) => Guid.TryParse(principal, out _) && principal.Length == 36
        ? null
        : $"'{principal}' is not an Entra ID object ID (a GUID such as '00000000-0000-0000-0000-000000000000') of a user, group or service principal";

    /// <summary>
    /// A virtual network's resource id, one subnet of it for the nodes and one delegated to PostgreSQL flexible servers for the state
    /// database (the stack creates neither in a network it does not own).
    /// </summary>
    public override IEnumerable<ConfigError> CheckExistingNetwork(string networkId, IReadOnlyList<string> nodeSubnetIds, string databaseSubnetId)
    {
        if (!VnetId().IsMatch(networkId))
        {
            yield return new(StackConfig.NetworkId, $"'{networkId}' is not a virtual network's resource id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>)");
            yield break;
        }
        bool InNetwork(string subnet) => subnet.StartsWith(networkId + "/subnets/", StringComparison.OrdinalIgnoreCase) && subnet.Length > networkId.Length + 9
            && !subnet[(networkId.Length + 9)..].Contains('/');
        if (nodeSubnetIds.Count != 1)
            yield return new(StackConfig.NodeSubnetIds, "takes one subnet on Azure (the nodes' subnet of networkId)");
        foreach (var subnet in nodeSubnetIds.Where(s => !InNetwork(s)))
            yield return new(StackConfig.NodeSubnetIds, $"'{subnet}' is not a subnet of {networkId} (<network id>/subnets/<name>)");
        if (databaseSubnetId.Length == 0)
            yield return new(StackConfig.DatabaseSubnetId, "is required with networkId on Azure: a subnet of it delegated to Microsoft.DBforPostgreSQL/flexibleServers (at least /28)");
        else if (!InNetwork(databaseSubnetId))
            yield return new(StackConfig.DatabaseSubnetId, $"'{databaseSubnetId}' is not a subnet of {networkId}");
        else if (nodeSubnetIds.Contains(databaseSubnetId, StringComparer.OrdinalIgnoreCase))
            yield return new(StackConfig.DatabaseSubnetId, "must be a subnet of its own: a delegated subnet holds nothing but flexible servers");
    }

    [GeneratedRegex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+$", RegexOptions.IgnoreCase)]
    private static partial Regex VnetId();

    public override string InstanceFamily(string instanceType)
    {
        var size = instanceType.StartsWith("Standard_", StringComparison.Ordinal) ? instanceType["Standard_".Length..] : instanceType;
        var parts = size.Split('_');
        var series = SeriesLetters().Match(parts[0]).Value;
        return string.Join("_", [series, .. parts.Skip(1)]);
    }

    /// <summary>Lower-case letters then optional digits: "eastus", "westeurope", "eastus2", "southcentralus".</summary>
    [GeneratedRegex(@"^[a-z]{4,}\d?$")]
    private static partial Regex Region();

    [GeneratedRegex(@"^Standard_(?<series>[BDE])\d+[a-z]*(_v\d+)?$")]
    private static partial Regex DatabaseSize();

    [GeneratedRegex(@"^[A-Z]+")]
    private static partial Regex SeriesLetters();
}
