using OSForAI.Scaling.Placement;

namespace OSForAI.Tests.Scaling;

public sealed class BinPackerTests
{
    private static readonly ResourceProfile Node = new(CpuCores: 16, MemoryMb: 65_536, GpuMemoryMb: 81_920);

    private static InstanceRequest Cpu(string id, double cores, string? caller = null) => new(id, new ResourceProfile(cores, 1024, 0), caller);

    [Fact]
    public void PacksBestFitDecreasing_AndBeatsOnePerNode()
    {
        // Cores 11, 8, 5, 5, 3 on 16-core nodes: 11+5, 8+5+3 → 2 nodes instead of 5.
        var items = new[] { Cpu("a", 5), Cpu("b", 11), Cpu("c", 3), Cpu("d", 8), Cpu("e", 5) };
        var r = BinPacker.Pack(items, BinPacker.Identical(10, Node));
        Assert.Equal(2, r.NodesUsed);
        Assert.Equal(5, r.NaiveNodes);
        Assert.Empty(r.Unplaced);
        Assert.All(r.Nodes, n => Assert.True(n.Used.CpuCores <= 16));
        Assert.Equal(r.NodeOf("b"), r.NodeOf("a"));
        Assert.Equal(r.NodeOf("d"), r.NodeOf("c"));
    }

    [Fact]
    public void GpuMemory_IsTheBindingDimension()
    {
        var items = Enumerable.Range(0, 5).Select(i => new InstanceRequest($"llm{i}", new ResourceProfile(2, 8_000, 40_000))).ToList();
        var r = BinPacker.Pack(items, BinPacker.Identical(5, Node));
        Assert.Equal(3, r.NodesUsed); // two 40-GB models per 80-GB GPU
        Assert.All(r.Nodes, n => Assert.True(n.Used.GpuMemoryMb <= Node.GpuMemoryMb));
    }

    [Fact]
    public void Affinity_PutsCalleeOnCallersNodeWhenItFits()
    {
        // Without affinity best fit would put the 2-core callee next to the 14-core filler; with it, it joins its caller.
        var items = new[] { Cpu("filler", 14), Cpu("caller", 8), Cpu("callee", 2, caller: "caller") };
        var on = BinPacker.Pack(items, BinPacker.Identical(4, Node), affinity: true);
        Assert.Equal(on.NodeOf("caller"), on.NodeOf("callee"));
        Assert.Equal(1, on.AffinityRequested);
        Assert.Equal(1, on.AffinityHonoured);

        var off = BinPacker.Pack(items, BinPacker.Identical(4, Node), affinity: false);
        Assert.Equal(off.NodeOf("filler"), off.NodeOf("callee"));
        Assert.Equal(0, off.AffinityHonoured);
    }

    [Fact]
    public void Affinity_FallsBackWhenCallersNodeIsFull()
    {
        var items = new[] { Cpu("caller", 15), Cpu("callee", 4, caller: "caller") };
        var r = BinPacker.Pack(items, BinPacker.Identical(4, Node));
        Assert.NotEqual(r.NodeOf("caller"), r.NodeOf("callee"));
        Assert.Equal(1, r.AffinityRequested);
        Assert.Equal(0, r.AffinityHonoured);
    }

    [Fact]
    public void ReportsInstancesNoNodeCanHold()
    {
        var items = new[] { Cpu("huge", 64), Cpu("ok", 4) };
        var r = BinPacker.Pack(items, BinPacker.Identical(2, Node));
        Assert.Equal(["huge"], r.Unplaced);
        Assert.Equal(1, r.NaiveNodes);
        Assert.Equal(1, r.NodesUsed);
    }

    [Fact]
    public void ReportsInstancesLeftOverWhenNodesRunOut()
    {
        var items = Enumerable.Range(0, 4).Select(i => Cpu($"i{i}", 10)).ToList();
        var r = BinPacker.Pack(items, BinPacker.Identical(2, Node));
        Assert.Equal(2, r.NodesUsed);
        Assert.Equal(2, r.Unplaced.Count);
    }

    [Fact]
    public void IsDeterministic()
    {
        var items = Enumerable.Range(0, 30).Select(i => Cpu($"i{i}", 1 + (i * 7 % 9))).ToList();
        var a = BinPacker.Pack(items, BinPacker.Identical(30, Node));
        var b = BinPacker.Pack(items, BinPacker.Identical(30, Node));
        Assert.Equal(a.Nodes.Select(n => string.Join(",", n.InstanceIds)), b.Nodes.Select(n => string.Join(",", n.InstanceIds)));
        Assert.True(a.NodesUsed >= Math.Ceiling(items.Sum(i => i.Need.CpuCores) / 16));
    }
}
