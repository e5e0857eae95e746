using System.Text.RegularExpressions;

namespace OSForAI.Components.Stacks;

/// <summary>
/// What one cloud offers, as far as stack validation needs it: how its regions are spelled and which machine
/// families carry each GPU type. Checked at synth time so a typo fails before anything is deployed.
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

    /// <summary>Null when the instance type carries the GPU type; otherwise why not.</summary>
    public string? CheckGpuInstance(string gpuType, string instanceType)
    {
        if (!GpuFamilies.TryGetValue(gpuType, out var families)) return null; // reported on the GPU type key
        var family = InstanceFamily(instanceType);
        return families.Contains(family, StringComparer.Ordinal)
            ? null
            : $"'{instanceType}' does not carry {gpuType} GPUs on {Cloud}; use a {string.Join(" or ", families.Select(f => f + ".*"))} instance type";
    }
}
