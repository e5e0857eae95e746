using System.Text.RegularExpressions;

namespace OSForAI.Components.Stacks;

/// <summary>
/// What one cloud offers, as far as stack validation needs it: how its regions are spelled and which machine
/// families carry each GPU type, and which managed PostgreSQL sizes it sells. Checked at synth time so a typo fails before anything is deployed.
/// </summary>
public abstract class CloudOffering
{
    /// <summary>"aws", "azure", "gcp".</summary>
    public abstract string Cloud { get; }
    public abstract Regex RegionFormat { get; }
    /// <summary>A valid region, for error messages.</summary>
    public abstract string RegionExample { get; }
    /// <summary>GPU type → the machine families (or sizes) that carry it.</summary>
    public abstract IReadOnlyDictionary<string, IReadOnlyList<string>> GpuFamilies { get; }

    /// <summary>The machine family of an instance type, matched against <see cref="GpuFamilies"/>.</summary>
    public abstract string InstanceFamily(string instanceType);

    /// <summary>The managed PostgreSQL size the stacks start with: small, for a first deployment (docs/deploy.md, "State database").</summary>
    public abstract string DefaultDatabaseInstanceType { get; }

    /// <summary>Null when <paramref name="instanceType"/> is a managed PostgreSQL size of this cloud as the stack spells it; otherwise why not.</summary>
    public abstract string? CheckDatabaseInstanceType(string instanceType);

    /// <summary>
    /// Null when the cloud's managed PostgreSQL takes <paramref name="gb"/> GB of storage; otherwise why not. The shared floor (32 GB,
    /// the smallest size Azure offers) is checked by <see cref="StackConfig"/>; this adds the cloud's own ceiling and steps.
    /// </summary>
    public virtual string? CheckDatabaseStorage(int gb) => null;

    /// <summary>Null when the instance type carries the GPU type; otherwise why not.</summary>
    public string? CheckGpuInstance(string gpuType, string instanceType)
    {
        if (!GpuFamilies.TryGetValue(gpuType, out var families)) return null; // reported on the GPU type key
        var family = InstanceFamily(instanceType);
        return families.Contains(family, StringComparer.Ordinal)
            ? null
            : $"'{instanceType}' does not carry {gpuType} GPUs on {Cloud}; use a {string.Join(" or ", families.Select(f => f + ".*"))} instance type";
    }

    /// <summary>
    /// The stack prefixes the image keys (<c>runtimeImage</c>, …) with its registry (the one it provisions, or <c>registry</c>), so
    /// they hold <c>&lt;image&gt;:&lt;tag&gt;</c> without a registry host.
    /// </summary>
    public virtual bool ImagesRelativeToRegistry => false;

    /// <summary>A registry/repository prefix as the <c>registry</c> key takes it, for error messages.</summary>
    public virtual string RegistryExample => "registry.example.com/osforai";

    /// <summary>Null when <paramref name="zone"/> is a zone of <paramref name="region"/> as this cloud spells it; otherwise why not.</summary>
    public virtual string? CheckZone(string region, string zone) => null;

    /// <summary>
    /// The problems with deploying into an existing network (<c>networkId</c>, <c>nodeSubnetIds</c>, <c>databaseSubnetId</c>): each cloud
    /// names its network and subnets its own way.
    /// </summary>
    public abstract IEnumerable<ConfigError> CheckExistingNetwork(string networkId, IReadOnlyList<string> nodeSubnetIds, string databaseSubnetId);

    /// <summary>Null when <paramref name="principal"/> is an identity the cloud's cluster access takes (adminPrincipals, ciPrincipal); otherwise why not.</summary>
    public virtual string? CheckPrincipal(string principal) => null;

    /// <summary>Null when the GPU nodes this cloud's stack creates get NVIDIA driver branch <paramref name="branch"/> or newer; otherwise why not.</summary>
    public virtual string? CheckGpuDriverVersion(int branch) => null;
}
