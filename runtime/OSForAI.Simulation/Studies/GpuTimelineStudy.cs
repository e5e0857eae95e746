using System.Globalization;
using System.Text;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;

namespace OSForAI.Simulation;

/// <summary>
/// The GPU-node timeline (all durations in seconds). Defaults: a cluster-autoscaler GPU node scale-up of 180 s, a 60-s pull of a
/// CUDA serving image on a fresh node (0 once the node has it), a 5-s pod start on a ready node with the image, a model load of
/// <see cref="ModelSizeGb"/> ÷ <see cref="LoadGbPerSecond"/> (16 GB at 2 GB/s = 8 s), node scale-down after 10 min without a pod
/// (cluster-autoscaler's scale-down-unneeded-time), and a pod removed after <see cref="PodIdleSeconds"/> without a call (KPA's
/// stable window plus scale-to-zero grace: 60 + 30 s with Knative's defaults). A GPU of <see cref="GpuMemoryGb"/> holds
/// ⌊GPU memory ÷ model size⌋ models at once (shared pods only; a KServe pod holds its one model).
/// </summary>
public sealed record GpuTimeline
{
    public double NodeProvisionSeconds { get; init; } = 180;
    public double ImagePullSeconds { get; init; } = 60;
    public double PodStartSeconds { get; init; } = 5;
    public double ModelSizeGb { get; init; } = 16;
    public double LoadGbPerSecond { get; init; } = 2;
    public double GpuMemoryGb { get; init; } = 80;
    public double NodeIdleSeconds { get; init; } = 600;
    public double PodIdleSeconds { get; init; } = new AutoscalerOptions().StableWindowSeconds + new AutoscalerOptions().ScaleToZeroGraceSeconds;

    public double ModelLoadSeconds => ModelSizeGb / LoadGbPerSecond;
    public int ModelsPerGpu => Math.Max(1, (int)Math.Floor(GpuMemoryGb / ModelSizeGb));
}

/// <summary>
/// The synthetic workload: <see cref="Models"/> models, each a Poisson process whose mean gap is spaced geometrically from
/// <see cref="MinGapSeconds"/> (the busiest) to <see cref="MaxGapSeconds"/> (the rarest); every call holds one GPU for
/// <see cref="ServiceSeconds"/>. Seeded: the same record gives the same calls.
/// </summary>
public sealed record GpuWorkload
{
    public int Models { get; init; } = 12;
    public double MinGapSeconds { get; init; } = 2;
    public double MaxGapSeconds { get; init; } = 1800;
    public double ServiceSeconds { get; init; } = 1;
    public double DurationSeconds { get; init; } = 86_400;
    public int Seed { get; init; } = 13;

    public double MeanGapSeconds(int model) =>
        Models == 1 ? MinGapSeconds : MinGapSeconds * Math.Pow(MaxGapSeconds / MinGapSeconds, (double)model / (Models - 1));

    /// <summary>Every call as (arrival, model), sorted by arrival.</summary>
    public IReadOnlyList<(double Arrival, int Model)> Calls()
    {
        var calls = new List<(double, int)>();
        for (var m = 0; m < Models; m++)
        {
            var rng = new Random(Seed * 1000 + m);
            var gap = MeanGapSeconds(m);
            for (var t = -gap * Math.Log(1 - rng.NextDouble()); t < DurationSeconds; t += -gap * Math.Log(1 - rng.NextDouble()))
                calls.Add((t, m));
        }
        calls.Sort((a, b) => a.Item1 != b.Item1 ? a.Item1.CompareTo(b.Item1) : a.Item2.CompareTo(b.Item2));
        return calls;
    }
}

/// <summary>A serving policy: <paramref name="PodPerModel"/> (KServe: each model its own pods, scaled from zero on their own) or
/// shared generic pods (OSForAI: any pod loads any model, LRU under the GPU memory budget); <paramref name="WarmPods"/> generic pods
/// kept on their own nodes with the image pulled for the whole run (never scaled down).</summary>
public sealed record GpuPolicy(string Id, bool PodPerModel, int WarmPods, string Note);

/// <summary>What a run produced. Cold starts are calls that waited for any of node, image pull, pod start or model load;
/// <see cref="ColdNode"/> those whose pod needed a new node, <see cref="ColdPod"/> those whose pod started on an existing node,
/// <see cref="ColdLoadOnly"/> those that waited only for a model load on a running pod.</summary>
public sealed record GpuRunResult(
    long Calls, long ColdStarts, long ColdNode, long ColdPod, long ColdLoadOnly, double NodeSeconds, double BusyGpuSeconds,
    double P50AddedMs, double P99AddedMs, double ModelColdP75Pct, long NodesProvisioned, long PodStarts, long Loads, int PeakNodes,
    double DurationSeconds)
{
    public double ColdPct => Calls == 0 ? 0 : 100.0 * ColdStarts / Calls;
}

/// <summary>
/// Event-driven GPU-node timeline, modelled explicitly (the live <c>VersionScheduler</c> has no notion of nodes shared across
/// models, so <see cref="Regimes.ServiceSimulator"/> cannot carry this): one GPU per node and one pod per node, a pod runs one call
/// at a time. Pods start on the start-on-queue rule (a call that finds no free pod queues; a pod is started while the queued calls
/// outnumber the pods starting) and are removed after <see cref="GpuTimeline.PodIdleSeconds"/> idle (warm pods never); a pod goes on
/// an empty node when there is one (the image is cached there), else on a new node (provisioning + image pull first). Node-seconds
/// run from the scale-up request to the scale-down (clipped at the end of the day). Calls still queued at the end are served
/// (their latency counts). Deterministic.
/// </summary>
public static class GpuTimelineSimulator
{
    private sealed class Node
    {
        public double Since;
        public Pod? Pod;
        public int Token;
        public bool Removed;
        public double RemovedAt;
    }

    private sealed class Pod
    {
        public required Node Node;
        public int? Bound;
        public bool Warm, Starting, Busy, NewNode, Removed;
        public double BusyUntil;
        public readonly List<int> Resident = [];
        public int Token;
    }

    private enum Kind { PodReady, CallDone, PodIdle, NodeIdle }

    public static GpuRunResult Run(GpuWorkload workload, GpuTimeline timeline, GpuPolicy policy)
    {
        var calls = workload.Calls();
        var end = workload.DurationSeconds;
        var capacity = policy.PodPerModel ? 1 : timeline.ModelsPerGpu;
        var nodes = new List<Node>();
        var pods = new List<Pod>();
        var events = new PriorityQueue<(Kind Kind, Pod? Pod, Node? Node, int Token), (double, long)>();
        long seq = 0;
        var queues = new Dictionary<int, List<(double Arrival, int Model, bool Affinity)>>(); // key: model (pod-per-model) or -1 (shared)
        var affinityWaiting = 0;
        var starting = new Dictionary<int, int>();
        var added = new List<double>(calls.Count);
        var perModelCalls = new long[workload.Models];
        var perModelCold = new long[workload.Models];
        long cold = 0, coldNode = 0, coldPod = 0, coldLoad = 0, provisioned = 0, podStarts = 0, loads = 0;
        var peak = 0;

        for (var w = 0; w < policy.WarmPods; w++)
        {
            var node = new Node { Since = 0 };
            nodes.Add(node);
            var pod = new Pod { Node = node, Warm = true };
            node.Pod = pod;
            pods.Add(pod);
        }
        peak = nodes.Count;

        double t = 0;
        var idx = 0;
        while (true)
        {
            var tArr = idx < calls.Count ? calls[idx].Arrival : double.PositiveInfinity;
            var tEv = events.TryPeek(out _, out var pr) ? pr.Item1 : double.PositiveInfinity;
            if (double.IsPositiveInfinity(tArr) && double.IsPositiveInfinity(tEv)) break;
            if (idx >= calls.Count && tEv > end && queues.Values.All(q => q.Count == 0) && !pods.Any(p => p.Busy)) break;
            if (tEv <= tArr)
            {
                var (kind, pod, node, token) = events.Dequeue();
                t = pr.Item1;
                switch (kind)
                {
                    case Kind.PodReady:
                        pod!.Starting = false;
                        starting[Key(pod.Bound)]--;
                        TakeWork(pod, fresh: true);
                        break;
                    case Kind.CallDone:
                        pod!.Busy = false;
                        TakeWork(pod, fresh: false);
                        break;
                    case Kind.PodIdle:
                        if (pod!.Removed || pod.Busy || pod.Starting || pod.Token != token) break;
                        pod.Removed = true;
                        pods.Remove(pod);
                        pod.Node.Pod = null;
                        pod.Node.Token++;
                        events.Enqueue((Kind.NodeIdle, null, pod.Node, pod.Node.Token), (t + timeline.NodeIdleSeconds, seq++));
                        break;
                    case Kind.NodeIdle:
                        if (node!.Removed || node.Pod != null || node.Token != token) break;
                        node.Removed = true;
                        node.RemovedAt = t;
                        break;
                }
            }
            else
            {
                var call = calls[idx++];
                t = call.Arrival;
                perModelCalls[call.Model]++;
                Arrive(call);
            }
            var live = nodes.Count(n => !n.Removed);
            if (live > peak) peak = live;
        }

        var nodeSeconds = nodes.Sum(n => Math.Max(0, Math.Min(n.Removed ? n.RemovedAt : end, end) - Math.Min(n.Since, end)));
        added.Sort();
        var shares = Enumerable.Range(0, workload.Models).Where(m => perModelCalls[m] > 0)
            .Select(m => 100.0 * perModelCold[m] / perModelCalls[m]).OrderBy(x => x).ToList();
        return new GpuRunResult(calls.Count, cold, coldNode, coldPod, coldLoad, nodeSeconds, calls.Count * workload.ServiceSeconds,
            Percentile(added, 0.50) * 1000, Percentile(added, 0.99) * 1000, Percentile(shares, 0.75), provisioned, podStarts, loads, peak, end);

        int Key(int? model) => model ?? -1;

        List<(double Arrival, int Model, bool Affinity)> QueueOf(int key) => queues.TryGetValue(key, out var q) ? q : queues[key] = [];

        void Arrive((double Arrival, int Model) call)
        {
            Pod? free;
            if (policy.PodPerModel)
                free = pods.FirstOrDefault(p => !p.Busy && !p.Starting && p.Bound == call.Model);
            else
            {
                var idle = pods.Where(p => !p.Busy && !p.Starting).ToList();
                free = idle.FirstOrDefault(p => p.Resident.Contains(call.Model))
                       ?? idle.FirstOrDefault(p => p.Resident.Count < capacity)
                       ?? idle.FirstOrDefault();
            }
            if (free != null)
            {
                Dispatch(call, free, fresh: false);
                return;
            }
            var key = policy.PodPerModel ? call.Model : -1;
            var q = QueueOf(key);
            // Shared pods: when every pod is busy and one with the model resident frees up sooner than a load would take, wait for it
            // (cache affinity) rather than start a pod for it.
            var affinity = !policy.PodPerModel && pods.Any(p => p.Busy && p.Resident.Contains(call.Model) && p.BusyUntil - t <= timeline.ModelLoadSeconds);
            q.Add((call.Arrival, call.Model, affinity));
            if (affinity) affinityWaiting++;
            else if (q.Count - (policy.PodPerModel ? 0 : affinityWaiting) > starting.GetValueOrDefault(key))
                StartPod(policy.PodPerModel ? call.Model : null, call.Model);
        }

        void StartPod(int? bound, int model)
        {
            podStarts++;
            var node = nodes.FirstOrDefault(n => !n.Removed && n.Pod == null);
            var pod = new Pod { Node = node ?? new Node { Since = t }, Bound = bound, Starting = true };
            double ready;
            if (node != null)
            {
                node.Token++; // cancels its pending scale-down
                ready = t + timeline.PodStartSeconds; // the image is cached on every node that ran a pod
            }
            else
            {
                nodes.Add(pod.Node);
                provisioned++;
                pod.NewNode = true;
                ready = t + timeline.NodeProvisionSeconds + timeline.ImagePullSeconds + timeline.PodStartSeconds;
            }
            pod.Node.Pod = pod;
            // The pod is ready once the model of the call that started it is loaded (KServe: storage initializer + load before the
            // readiness probe passes; shared pods: the same path, the model of the queued call).
            ready += timeline.ModelLoadSeconds;
            pod.Resident.Add(model);
            loads++;
            pods.Add(pod);
            starting[Key(bound)] = starting.GetValueOrDefault(Key(bound)) + 1;
            events.Enqueue((Kind.PodReady, pod, null, 0), (ready, seq++));
        }

        void TakeWork(Pod pod, bool fresh)
        {
            var q = QueueOf(Key(pod.Bound));
            if (q.Count > 0)
            {
                // FIFO, except that a shared pod first takes the oldest queued call whose model it holds.
                var i = policy.PodPerModel ? 0 : Math.Max(0, q.FindIndex(c => pod.Resident.Contains(c.Model)));
                var c = q[i];
                q.RemoveAt(i);
                if (c.Affinity) affinityWaiting--;
                Dispatch((c.Arrival, c.Model), pod, fresh);
                return;
            }
            pod.Token++;
            if (!pod.Warm) events.Enqueue((Kind.PodIdle, pod, null, pod.Token), (t + timeline.PodIdleSeconds, seq++));
        }

        void Dispatch((double Arrival, int Model) call, Pod pod, bool fresh)
        {
            var needLoad = !pod.Resident.Contains(call.Model);
            if (needLoad)
            {
                if (pod.Resident.Count >= capacity) pod.Resident.RemoveAt(0); // least recently used
                loads++;
            }
            else pod.Resident.Remove(call.Model);
            pod.Resident.Add(call.Model);
            var start = t + (needLoad ? timeline.ModelLoadSeconds : 0);
            added.Add(start - call.Arrival);
            if (fresh || needLoad)
            {
                cold++;
                perModelCold[call.Model]++;
                if (fresh && pod.NewNode) coldNode++;
                else if (fresh) coldPod++;
                else coldLoad++;
            }
            pod.Busy = true;
            pod.BusyUntil = start + workload.ServiceSeconds;
            pod.Token++;
            events.Enqueue((Kind.CallDone, pod, null, 0), (start + workload.ServiceSeconds, seq++));
        }
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}

/// <summary>
/// KServe-style pod-per-model against OSForAI's warm generic GPU pods on a simulated GPU-node timeline (node provisioning, image
/// pull, pod start, model load as parameters; issue 13). Synthetic: no traces. Full mode: one day; quick mode: two hours.
/// </summary>
public sealed class GpuTimelineStudy : ISimulationStudy
{
    public const string StudyId = "gpu";
    public const string TraceId = "synthetic-gpu-day";
    public const int DefaultWarmPods = 2;

    public string Name => StudyId;

    public GpuTimeline Timeline { get; init; } = new();

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.Run(() => Run(context), ct);

    public static IReadOnlyList<GpuPolicy> Policies(int warmPods = DefaultWarmPods) =>
    [
        new("kserve", PodPerModel: true, WarmPods: 0, "pod per model, each scaled from zero (KPA: pod removed after 90 s idle)"),
        new("osforai", PodPerModel: false, WarmPods: warmPods, RegimeText.F($"{warmPods} warm generic GPU pods (image pulled, never scaled down), models LRU-resident; more pods on the node path")),
        new("osforai-w0", PodPerModel: false, WarmPods: 0, "no warm GPU pods: kserve's node path, but pods are shared across models"),
    ];

    public static ResultRow Row(GpuPolicy policy, GpuRunResult r, GpuTimeline tl, string? policyId = null) => new()
    {
        Study = StudyId,
        Trace = TraceId,
        Policy = policyId ?? policy.Id,
        Part = "all",
        Calls = r.Calls,
        ColdStarts = r.ColdStarts,
        ColdPct = r.ColdPct,
        AppColdP75Pct = r.ModelColdP75Pct,
        InstanceS = r.NodeSeconds,
        IdealInstanceS = r.BusyGpuSeconds,
        WastedInstanceS = r.NodeSeconds - r.BusyGpuSeconds,
        WastedGbS = null,
        P50AddedMs = r.P50AddedMs,
        P99AddedMs = r.P99AddedMs,
        Rejected = 0,
        Loads = r.Loads,
        LoadModel = RegimeText.F($"node-{tl.NodeProvisionSeconds:0.##}s+pull-{tl.ImagePullSeconds:0.##}s+pod-{tl.PodStartSeconds:0.##}s+load-{tl.ModelLoadSeconds:0.##}s"),
        Note = policy.Note,
    };

    private StudyResult Run(SimulationContext context)
    {
        var workload = new GpuWorkload { DurationSeconds = context.Quick ? 7200 : 86_400 };
        var tl = Timeline;
        var policies = Policies();
        var results = policies.Select(p => (Policy: p, Result: GpuTimelineSimulator.Run(workload, tl, p))).ToList();
        var rows = results.Select(x => Row(x.Policy, x.Result, tl)).ToList();
        var k = results[0].Result;
        var o = results[1].Result;
        context.Progress(RegimeText.F($"gpu: {k.Calls} calls over {workload.DurationSeconds / 3600:0} h; cold kserve {k.ColdStarts}, osforai {o.ColdStarts}; GPU node-h {k.NodeSeconds / 3600:0.0} vs {o.NodeSeconds / 3600:0.0}"));

        var sensitivity = new List<(double Prov, GpuPolicy Policy, GpuRunResult Result)>();
        foreach (var prov in new[] { 60.0, 180, 300 })
        foreach (var p in policies)
        {
            var stl = tl with { NodeProvisionSeconds = prov };
            var r = GpuTimelineSimulator.Run(workload, stl, p);
            sensitivity.Add((prov, p, r));
            rows.Add(Row(p, r, stl, RegimeText.F($"{p.Id}@node={prov:0}s")));
        }

        var md = new StringBuilder();
        md.Append("## GPU node timeline (synthetic: KServe pod-per-model vs warm generic GPU pods)\n\n");
        md.Append(RegimeText.F($"Workload: {workload.Models} models over {workload.DurationSeconds / 3600:0} h, each a Poisson process (seed {workload.Seed}) with mean gaps spaced geometrically from {workload.MinGapSeconds:0} s to {workload.MaxGapSeconds / 60:0} min "));
        md.Append(RegimeText.F($"({string.Join(", ", Enumerable.Range(0, workload.Models).Select(m => FormatGap(workload.MeanGapSeconds(m))))}); every call holds one GPU for {workload.ServiceSeconds:0.##} s. "));
        md.Append(RegimeText.F($"Timeline: GPU node scale-up {tl.NodeProvisionSeconds:0} s, image pull on a fresh node {tl.ImagePullSeconds:0} s (cached afterwards), pod start {tl.PodStartSeconds:0} s on a ready node with the image, "));
        md.Append(RegimeText.F($"model load {tl.ModelSizeGb:0} GB ÷ {tl.LoadGbPerSecond:0.#} GB/s = {tl.ModelLoadSeconds:0.#} s, a pod removed after {tl.PodIdleSeconds:0} s idle (KPA stable window + scale-to-zero grace), a node after {tl.NodeIdleSeconds / 60:0} min without a pod (cluster-autoscaler default); "));
        md.Append(RegimeText.F($"one GPU and one pod per node, one call at a time per pod; a shared pod keeps up to {tl.ModelsPerGpu} models resident ({tl.GpuMemoryGb:0} GB GPU, LRU). "));
        md.Append("Modelled explicitly (`GpuTimelineSimulator`), not through the live `VersionScheduler`, which has no nodes shared across models; the start-on-queue rule and the KPA idle window are the same for every policy. ");
        md.Append("`instance-s` = GPU node-seconds from scale-up request to scale-down (the cost); ideal = busy GPU-seconds; a cold start is a call that waited for any of node, pull, pod start or model load; added latency = wait before the call runs. Everything from time 0 is counted (`part` = `all`), kserve starting from zero.\n\n");

        var t = new MarkdownTable("policy", "calls", "cold starts", "cold %", "model cold p75 %", "waited for a node", "for a pod", "for a load only", "p50 added ms", "p99 added ms", "GPU node-h", "busy GPU-h", "nodes provisioned", "peak nodes");
        foreach (var (p, r) in results)
            t.Row(p.Id, r.Calls, r.ColdStarts, r.ColdPct, r.ModelColdP75Pct, r.ColdNode, r.ColdPod, r.ColdLoadOnly, r.P50AddedMs, r.P99AddedMs,
                r.NodeSeconds / 3600, r.BusyGpuSeconds / 3600, r.NodesProvisioned, r.PeakNodes);
        md.Append(t).Append('\n');

        var w0 = results[2].Result;
        var warmCost = DefaultWarmPods * workload.DurationSeconds;
        md.Append("Reading. ");
        md.Append(RegimeText.F($"Per call, kserve had a cold start (node, pod or load) on {k.ColdPct:0.0}% of calls (p99 added {k.P99AddedMs / 1000:0} s), osforai on {o.ColdPct:0.0}% (p99 {o.P99AddedMs / 1000:0.#} s), osforai-w0 on {w0.ColdPct:0.0}% (p99 {w0.P99AddedMs / 1000:0} s). "));
        md.Append(RegimeText.F($"The {DefaultWarmPods} warm pods cost at least {warmCost / 3600:0} GPU node-h by themselves; the whole osforai run used {o.NodeSeconds / 3600:0.0} node-h against kserve's {k.NodeSeconds / 3600:0.0} and osforai-w0's {w0.NodeSeconds / 3600:0.0}. "));
        var savedCold = k.ColdStarts - o.ColdStarts;
        md.Append(savedCold >= 0
            ? RegimeText.F($"osforai has {savedCold} fewer cold starts than kserve. ")
            : RegimeText.F($"osforai has {-savedCold} more cold starts than kserve, but {o.ColdLoadOnly} of its {o.ColdStarts} are model loads on a running pod ({tl.ModelLoadSeconds:0} s), against kserve's {k.ColdNode} waits for a new node and {k.ColdPod} for a pod; the count hides the size of the wait, the p99 shows it. "));
        md.Append(RegimeText.F($"Cost: kserve provisioned {k.NodesProvisioned} GPU nodes (peak {k.PeakNodes} at once), osforai {o.NodesProvisioned} (peak {o.PeakNodes}), osforai-w0 {w0.NodesProvisioned} (peak {w0.PeakNodes}). "));
        md.Append("The node count is the start-on-queue rule meeting a minutes-long node path: while a node is being provisioned every further queued call of a busy model starts another pod (KPA with one call per pod scales to the queued concurrency the same way), each new node is then held at least the 10-min scale-down time; warm pods absorb those bursts, so here they cost fewer node-seconds, not more. ");
        md.Append("Sharing pods without warm ones (osforai-w0) saves some node-seconds over one pod per model but keeps the minutes-long waits. ");
        md.Append("The outcome would change with a queue-aware scale-up (one pod per expected concurrency, not per queued call) or with GPU calls long enough that the warm pods sit idle most of the day; neither is modelled here. ");
        md.Append("Limits: one GPU per node, one call at a time per pod, a single image, no GPU shortage (every scale-up succeeds), synthetic arrivals.\n\n");

        md.Append("Sensitivity to GPU node provisioning (image pull, pod start and load as above):\n\n");
        var s = new MarkdownTable("node scale-up s", "policy", "cold %", "p50 added ms", "p99 added ms", "GPU node-h");
        foreach (var (prov, p, r) in sensitivity)
            s.Row(prov, p.Id, r.ColdPct, r.P50AddedMs, r.P99AddedMs, r.NodeSeconds / 3600);
        md.Append(s).Append('\n');

        var numbers = new Dictionary<string, double>();
        foreach (var (p, r) in results)
        {
            numbers[$"gpu.{p.Id}.coldStarts"] = r.ColdStarts;
            numbers[$"gpu.{p.Id}.coldPct"] = r.ColdPct;
            numbers[$"gpu.{p.Id}.nodeSeconds"] = r.NodeSeconds;
            numbers[$"gpu.{p.Id}.p99AddedMs"] = r.P99AddedMs;
        }
        numbers["gpu.calls"] = k.Calls;
        numbers["gpu.durationSeconds"] = workload.DurationSeconds;
        numbers["gpu.warmPods"] = DefaultWarmPods;
        return new StudyResult(StudyId, md.ToString(), [], numbers, Rows: rows);
    }

    private static string FormatGap(double s) => s < 60 ? RegimeText.F($"{s:0.#} s") : RegimeText.F($"{s / 60:0.#} min");
}
