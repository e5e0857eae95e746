using System.Globalization;
using System.Text.RegularExpressions;
using OSForAI.Components.Synthesis;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Components.Stacks;

/// <summary>
/// One GPU node pool of a stack. The main pool comes from the <c>gpu*</c> keys (config references, so <c>pulumi config set</c> changes
/// it); the <c>extraGpuPools</c> key adds more, each with its own GPU type, machine, node range, zones and spot choice. Every pool
/// carries the shared GPU label and taint (<see cref="NodePools"/>), so GPU worker pods run on whichever pool the cloud's autoscaler
/// grows; the GPU type of each is in its <see cref="NodePools.GpuTypeLabel"/> label.
/// </summary>
/// <param name="Name">"" for the main pool (its resources keep their names); a short name for an extra one.</param>
/// <param name="Zones">The pool's zones (a list; empty: the cloud's default placement).</param>
public sealed record GpuPoolSpec(string Name, GpuPoolArgs Args, Expr Zones, bool Spot)
{
    public bool IsMain => Name.Length == 0;

    /// <summary>The resource name of this pool's <paramref name="what"/>: "gpu-nodes" for the main pool, "gpu-&lt;name&gt;-nodes" otherwise.</summary>
    public string ResourceName(string what) => IsMain ? $"gpu-{what}" : $"gpu-{Name}-{what}";
}

/// <summary>
/// The <c>extraGpuPools</c> key: a list of objects in the stack's settings file,
/// <code>
/// extraGpuPools:
///   - name: h100             # 1–7 lower-case letters and digits, starting with a letter
///     gpuType: nvidia-h100
///     instanceType: p5.48xlarge
///     gpusPerNode: 8         # default 1
///     minNodes: 0            # default 0
///     maxNodes: 2
///     spot: false            # default false
///     zones: []              # GCP: zones of the region; Azure: "1", "2", "3"; not on AWS
/// </code>
/// Which pools exist is a choice of resources, so the list is read when the program is synthesized and its values are written into the
/// program (Pulumi YAML config takes no lists of objects); changing it is editing the file and running <c>pulumi up</c>.
/// </summary>
public static partial class ExtraGpuPools
{
    public const string Key = "extraGpuPools";
    private static readonly string[] Fields = ["name", "gpuType", "instanceType", "gpusPerNode", "minNodes", "maxNodes", "spot", "zones"];

    /// <summary>The extra pools of <paramref name="stack"/> (validated before this runs); none without a stack.</summary>
    public static IReadOnlyList<GpuPoolSpec> Of(StackFile? stack)
    {
        if (stack?.Get(Key) is not StackValue.Structured { Node: YamlSequenceNode list }) return [];
        return [.. list.Children.OfType<YamlMappingNode>().Select(p => new GpuPoolSpec(
            Text(p, "name")!,
            new GpuPoolArgs(Text(p, "instanceType")!, Text(p, "gpuType")!, Int(p, "gpusPerNode", 1), Int(p, "minNodes", 0), Int(p, "maxNodes", 0)),
            Expr.List([.. Zones(p).Select(z => (Expr)z)]),
            Text(p, "spot") is { } spot && bool.Parse(spot)))];
    }

    /// <summary>Every problem with the key, each naming the pool and field.</summary>
    internal static void Validate(StackFile file, CloudOffering cloud, string? region, List<ConfigError> errors)
    {
        switch (file.Get(Key))
        {
            case null: return;
            case StackValue.Items { Values.Count: 0 }: return;
            case StackValue.Structured { Node: YamlSequenceNode list }:
                var names = new HashSet<string>(StringComparer.Ordinal);
                for (var i = 0; i < list.Children.Count; i++)
                {
                    if (list.Children[i] is not YamlMappingNode pool)
                    {
                        errors.Add(new(Key, $"[{i}] must be an object (name, gpuType, instanceType, maxNodes, ...)"));
                        continue;
                    }
                    ValidatePool(pool, i, cloud, region, names, errors);
                }
                return;
            default:
                errors.Add(new(Key, "must be a list of pools (objects with name, gpuType, instanceType, maxNodes, ...)"));
                return;
        }
    }

    private static void ValidatePool(YamlMappingNode pool, int index, CloudOffering cloud, string? region, HashSet<string> names, List<ConfigError> errors)
    {
        var name = Text(pool, "name");
        var at = $"[{index}]{(name is null ? "" : $" ({name})")}";
        void Error(string message) => errors.Add(new(Key, $"{at}: {message}"));
        foreach (var key in pool.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!).Where(k => !Fields.Contains(k, StringComparer.Ordinal)))
            Error($"unknown field '{key}' (fields: {string.Join(", ", Fields)})");
        if (name is null || !PoolName().IsMatch(name))
            Error("'name' must be 1–7 lower-case letters and digits, starting with a letter (it becomes part of node pool names)");
        else if (name is "gpu" or "sys" or "system") Error($"'name' '{name}' is taken by the stack's own pools");
        else if (!names.Add(name)) Error($"'name' '{name}' is used twice");
        var gpuType = Text(pool, "gpuType");
        var instanceType = Text(pool, "instanceType");
        if (gpuType is null) Error("'gpuType' is required");
        else if (!cloud.GpuFamilies.ContainsKey(gpuType)) Error($"'gpuType' '{gpuType}' is not offered on {cloud.Cloud}; choose one of {string.Join(", ", cloud.GpuFamilies.Keys)}");
        if (instanceType is null) Error("'instanceType' is required");
        else if (gpuType is not null && cloud.CheckGpuInstance(gpuType, instanceType) is { } mismatch) Error(mismatch);
        int? Number(string field, int fallback, int floor)
        {
            var text = Text(pool, field);
            if (text is null) return fallback;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= floor) return n;
            Error($"'{field}' must be an integer of at least {floor}, got '{text}'");
            return null;
        }
        Number("gpusPerNode", 1, 1);
        var min = Number("minNodes", 0, 0);
        if (Text(pool, "maxNodes") is null) Error("'maxNodes' is required");
        else if (Number("maxNodes", 0, 1) is { } max && min is { } lo && lo > max) Error($"'minNodes' {lo} is more than 'maxNodes' {max}");
        if (Text(pool, "spot") is { } spot && !bool.TryParse(spot, out _)) Error($"'spot' must be true or false, got '{spot}'");
        if (pool.Children.TryGetValue(new YamlScalarNode("zones"), out var zonesNode) && zonesNode is not YamlSequenceNode)
            Error("'zones' must be a list");
        foreach (var zone in Zones(pool))
            if (cloud.CheckZone(region ?? "", zone) is { } badZone) Error(badZone);
    }

    private static string? Text(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode { Value: { Length: > 0 } s } ? s : null;

    private static Expr Int(YamlMappingNode node, string key, int fallback) =>
        Text(node, key) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    private static IEnumerable<string> Zones(YamlMappingNode node) =>
        node.Children.TryGetValue(new YamlScalarNode("zones"), out var v) && v is YamlSequenceNode list
            ? list.Children.OfType<YamlScalarNode>().Select(z => z.Value ?? "")
            : [];

    [GeneratedRegex("^[a-z][a-z0-9]{0,6}$")]
    private static partial Regex PoolName();
}
