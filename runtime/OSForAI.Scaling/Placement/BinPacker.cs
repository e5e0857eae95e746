namespace OSForAI.Scaling.Placement;

/// <summary>Resources of an instance (measured) or a node (declared): CPU cores, memory MB, GPU memory MB.</summary>
public readonly record struct ResourceProfile(double CpuCores, double MemoryMb, double GpuMemoryMb)
{
    public static ResourceProfile operator +(ResourceProfile a, ResourceProfile b) =>
        new(a.CpuCores + b.CpuCores, a.MemoryMb + b.MemoryMb, a.GpuMemoryMb + b.GpuMemoryMb);
    public static ResourceProfile operator -(ResourceProfile a, ResourceProfile b) =>
        new(a.CpuCores - b.CpuCores, a.MemoryMb - b.MemoryMb, a.GpuMemoryMb - b.GpuMemoryMb);

    /// <summary>True when every dimension of <paramref name="need"/> fits in this (with a small tolerance).</summary>
    public bool Fits(ResourceProfile need) =>
        need.CpuCores <= CpuCores + 1e-9 && need.MemoryMb <= MemoryMb + 1e-9 && need.GpuMemoryMb <= GpuMemoryMb + 1e-9;

    /// <summary>Largest share of <paramref name="capacity"/> this takes in any dimension the capacity has (0..).</summary>
    public double DominantShare(ResourceProfile capacity) => Math.Max(Share(CpuCores, capacity.CpuCores),
        Math.Max(Share(MemoryMb, capacity.MemoryMb), Share(GpuMemoryMb, capacity.GpuMemoryMb)));

    private static double Share(double used, double cap) => cap > 0 ? used / cap : used > 0 ? double.PositiveInfinity : 0;
}

/// <summary>An instance to place. <paramref name="Caller"/>: id of the instance that calls it; placed on the same node when it fits.</summary>
public sealed record InstanceRequest(string Id, ResourceProfile Need, string? Caller = null);

/// <summary>A node with declared capacity.</summary>
public sealed record NodeSpec(string Name, ResourceProfile Capacity);

/// <summary>What ended up on one node.</summary>
public sealed record NodeAssignment(NodeSpec Node, IReadOnlyList<string> InstanceIds, ResourceProfile Used);

/// <summary>The packing: nodes used (only those that got instances), the naive one-instance-per-node count, the instances no node could hold, and affinity statistics.</summary>
public sealed record PackingResult(IReadOnlyList<NodeAssignment> Nodes, int NaiveNodes, IReadOnlyList<string> Unplaced,
    int AffinityRequested, int AffinityHonoured)
{
    public int NodesUsed => Nodes.Count;
    public string? NodeOf(string instanceId) => Nodes.FirstOrDefault(n => n.InstanceIds.Contains(instanceId))?.Node.Name;
}

/// <summary>
/// Best-fit-decreasing packing of instances onto nodes over three dimensions (CPU, memory, GPU memory). Instances are placed
/// callers first (by call depth), then by decreasing dominant share; each goes to its caller's node when affinity is on and it
/// fits, else to the open node it leaves with the least slack, else to a new node (the first unused node in the given order that
/// fits). Pure and deterministic.
/// </summary>
public static class BinPacker
{
    public static PackingResult Pack(IReadOnlyList<InstanceRequest> instances, IReadOnlyList<NodeSpec> nodes, bool affinity = true)
    {
        var reference = nodes.Count == 0 ? new ResourceProfile(1, 1, 1) : nodes[0].Capacity;
        var byId = instances.ToDictionary(i => i.Id, StringComparer.Ordinal);
        var order = instances
            .OrderBy(i => Depth(i, byId))
            .ThenByDescending(i => i.Need.DominantShare(reference))
            .ThenBy(i => i.Id, StringComparer.Ordinal)
            .ToList();

        var open = new List<OpenNode>();
        var unused = new List<NodeSpec>(nodes);
        var where = new Dictionary<string, OpenNode>(StringComparer.Ordinal);
        var unplaced = new List<string>();
        int requested = 0, honoured = 0;

        foreach (var item in order)
        {
            OpenNode? target = null;
            if (affinity && item.Caller is not null)
            {
                requested++;
                if (where.TryGetValue(item.Caller, out var callerNode) && callerNode.Free.Fits(item.Need))
                {
                    target = callerNode;
                    honoured++;
                }
            }
            target ??= open.Where(n => n.Free.Fits(item.Need))
                .OrderBy(n => (n.Free - item.Need).DominantShare(n.Spec.Capacity))
                .FirstOrDefault();
            if (target is null)
            {
                var spec = unused.FirstOrDefault(s => s.Capacity.Fits(item.Need));
                if (spec is null) { unplaced.Add(item.Id); continue; }
                unused.Remove(spec);
                target = new OpenNode(spec);
                open.Add(target);
            }
            target.Add(item);
            where[item.Id] = target;
        }

        var naive = instances.Count(i => nodes.Any(n => n.Capacity.Fits(i.Need)));
        var result = open.Select(n => new NodeAssignment(n.Spec, n.Ids, n.Spec.Capacity - n.Free)).ToList();
        return new PackingResult(result, naive, unplaced, requested, honoured);
    }

    /// <summary>n identical nodes named node-0.. with the given capacity.</summary>
    public static IReadOnlyList<NodeSpec> Identical(int count, ResourceProfile capacity) =>
        Enumerable.Range(0, count).Select(i => new NodeSpec($"node-{i}", capacity)).ToList();

    private static int Depth(InstanceRequest item, Dictionary<string, InstanceRequest> byId)
    {
        var depth = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal) { item.Id };
        for (var c = item.Caller; c is not null && byId.TryGetValue(c, out var caller) && seen.Add(c); c = caller.Caller) depth++;
        return depth;
    }

    private sealed class OpenNode(NodeSpec spec)
    {
        public NodeSpec Spec { get; } = spec;
        public ResourceProfile Free { get; private set; } = spec.Capacity;
        public List<string> Ids { get; } = [];

        public void Add(InstanceRequest item)
        {
            Free -= item.Need;
            Ids.Add(item.Id);
        }
    }
}
