using OSForAI.Simulation;
using OSForAI.Simulation.Report;

namespace OSForAI.Tests.Scaling;

/// <summary>The GPU-node timeline study (issue 13): KServe pod-per-model against warm generic GPU pods, on a simulated clock.</summary>
public sealed class GpuTimelineStudyTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "osai-gpu-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
    }

    private static GpuPolicy Kserve => GpuTimelineStudy.Policies()[0];
    private static GpuPolicy Shared(int warm) => GpuTimelineStudy.Policies()[1] with { WarmPods = warm };

    [Fact]
    public async Task QuickRun_HasEveryPolicyRowWithItsFiguresAndTheSensitivityRows()
    {
        var r = await new GpuTimelineStudy().RunAsync(new SimulationContext(null, _out, Quick: true, Progress: _ => { }), CancellationToken.None);
        Assert.Null(r.SkippedBecause);
        Assert.StartsWith("## ", r.Markdown);
        Assert.Contains("Sensitivity", r.Markdown);
        var byPolicy = r.AllRows.ToDictionary(x => x.Policy);
        Assert.Equal(r.AllRows.Count, byPolicy.Count); // (study, trace, policy) unique
        foreach (var id in new[] { "kserve", "osforai", "osforai-w0" })
        {
            var row = byPolicy[id];
            Assert.Equal("gpu", row.Study);
            Assert.Equal("synthetic-gpu-day", row.Trace);
            Assert.NotNull(row.Calls);
            Assert.True(row.Calls > 1000);
            Assert.NotNull(row.ColdStarts);
            Assert.NotNull(row.ColdPct);
            Assert.NotNull(row.AppColdP75Pct);
            Assert.NotNull(row.P50AddedMs);
            Assert.NotNull(row.P99AddedMs);
            Assert.Equal(0, row.Rejected);
            Assert.Null(row.WastedGbS);
            Assert.Equal(row.InstanceS!.Value - row.IdealInstanceS!.Value, row.WastedInstanceS!.Value, 6);
            Assert.True(row.InstanceS >= row.IdealInstanceS);
            foreach (var prov in new[] { 60, 180, 300 }) Assert.True(byPolicy.ContainsKey($"{id}@node={prov}s"));
        }
        // Same calls under every policy; the 180-s sensitivity rows are the main rows.
        Assert.Single(r.AllRows.Select(x => x.Calls).Distinct());
        Assert.Equal(byPolicy["kserve"].InstanceS, byPolicy["kserve@node=180s"].InstanceS);
        Assert.Contains("\"app_cold_p75_pct\"", ResultJson.Write(r.AllRows));
    }

    [Fact]
    public void OneModel_NoNodeProvisioningOrPull_PodPerModelAndSharedPodsWithoutWarmPodsAgree()
    {
        // With a single model, pods shared across models are pods of that model: the two policies must take the same decisions.
        var workload = new GpuWorkload { Models = 1, MinGapSeconds = 120, DurationSeconds = 6 * 3600, Seed = 5 };
        var tl = new GpuTimeline { NodeProvisionSeconds = 0, ImagePullSeconds = 0 };
        var k = GpuTimelineSimulator.Run(workload, tl, Kserve);
        var o = GpuTimelineSimulator.Run(workload, tl, Shared(0));
        Assert.True(k.ColdStarts > 10); // 120-s mean gaps against a 90-s pod idle window: many cold starts
        Assert.Equal(k.ColdStarts, o.ColdStarts);
        // Node-seconds may differ: a shared pod lets a call wait for the busy pod holding its model (cache affinity) where KServe's
        // start-on-queue starts a pod; that only saves pods.
        Assert.True(o.NodeSeconds <= k.NodeSeconds);
    }

    [Fact]
    public void WarmPodsAtLeastModels_ColdStartsAreOnlyModelLoads()
    {
        // As long as no burst needs more pods at once than there are warm ones (here: the busiest model every 20 s), a call never
        // waits for a node or a pod. (With the study's 2-s busiest model, a rare burst still outgrows the warm pods.)
        var workload = new GpuWorkload { MinGapSeconds = 20, DurationSeconds = 7200 };
        var tl = new GpuTimeline();
        var r = GpuTimelineSimulator.Run(workload, tl, Shared(workload.Models));
        Assert.True(r.ColdStarts > 0);
        Assert.Equal(0, r.ColdNode);
        Assert.Equal(0, r.ColdPod);
        Assert.Equal(r.ColdStarts, r.ColdLoadOnly);
        Assert.Equal(0, r.NodesProvisioned);
        Assert.True(r.P99AddedMs <= tl.ModelLoadSeconds * 1000 + 1e-6);
    }

    [Fact]
    public void WarmPods_CostAtLeastTheirNodeSecondsAndSaveNodeWaits()
    {
        var workload = new GpuWorkload { DurationSeconds = 7200 };
        var tl = new GpuTimeline();
        var w = GpuTimelineStudy.DefaultWarmPods;
        var o = GpuTimelineSimulator.Run(workload, tl, Shared(w));
        var k = GpuTimelineSimulator.Run(workload, tl, Kserve);
        Assert.True(o.NodeSeconds >= w * workload.DurationSeconds);
        Assert.True(o.ColdNode < k.ColdNode);
        Assert.True(k.NodeSeconds >= k.BusyGpuSeconds);
    }

    [Fact]
    public void SameSeed_SameNumbers_OtherSeed_OtherCalls()
    {
        var workload = new GpuWorkload { DurationSeconds = 7200, Seed = 21 };
        var tl = new GpuTimeline();
        foreach (var p in GpuTimelineStudy.Policies())
            Assert.Equal(GpuTimelineSimulator.Run(workload, tl, p), GpuTimelineSimulator.Run(workload, tl, p));
        Assert.NotEqual(workload.Calls().Count, (workload with { Seed = 22 }).Calls().Count);
    }
}
