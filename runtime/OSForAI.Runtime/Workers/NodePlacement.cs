using OSForAI.Runtime.Catalog;
using OSForAI.Scaling.Placement;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Placement on this node: the instances running and starting (the new one included), each with its version's measured need
/// (declared until it is measured), must pack into the node's memory and GPU memory (BinPacker). When they do not, idle instances
/// of other versions are evicted (the caller's callback; only idle ones, least recently used first); when that is not enough the
/// start fails with a clear error. CPU is packed but not enforced (it is shared, not exhausted).
/// </summary>
internal sealed class NodePlacement(NodeSpec node, ResourceProfiles profiles)
{
    public NodeSpec Node => node;

    /// <param name="counts">Instances per version (all phases), the starting one included.</param>
    /// <param name="evictIdle">Stops one idle instance of another version; false when there is none.</param>
    public void EnsureRoom(VersionRecord starting, Func<IEnumerable<(VersionRecord Version, int Count)>> counts, Func<bool> evictIdle)
    {
        var noGpu = node.Capacity.GpuMemoryMb <= 0;
        var packed = node with { Capacity = node.Capacity with { CpuCores = double.MaxValue, GpuMemoryMb = noGpu ? 0 : node.Capacity.GpuMemoryMb } };
        while (true)
        {
            var requests = new List<InstanceRequest>();
            foreach (var (version, count) in counts())
            {
                var need = profiles.NeedOf(version);
                if (noGpu) need = need with { GpuMemoryMb = 0 };
                for (var i = 0; i < count; i++) requests.Add(new InstanceRequest($"{version.InstanceKey}#{i}", need));
            }
            if (BinPacker.Pack(requests, [packed], affinity: false).Unplaced.Count == 0) return;
            if (evictIdle()) continue;
            var used = requests.Sum(r => r.Need.MemoryMb);
            throw new AlgorithmCallException(ErrorTypes.Unavailable,
                $"not enough memory on this node to start {starting.FullName}: running and starting instances need {used:0} MB " +
                $"of {node.Capacity.MemoryMb:0} MB and none of the others is idle; retry shortly");
        }
    }
}
