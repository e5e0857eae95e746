using System.Text;
using OSForAI.Scaling.Prewarming;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;

namespace OSForAI.Simulation;

/// <summary>
/// Synthetic chain A → B (probability p) else A → C, replayed without pre-warming and with call-graph pre-warming
/// (the <see cref="CallGraph"/> learns online from the same replay). Only the second half of the replay is counted (the graph
/// learns from the first half as it would live). Full mode: 7 days; quick mode: 1 day.
/// </summary>
public sealed class ChainStudy : ISimulationStudy
{
    public const string StudyId = "chains";
    public const string TraceId = "synthetic-chain";

    public string Name => StudyId;

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.Run(() => Run(context), ct);

    private static StudyResult Run(SimulationContext context)
    {
        var days = context.Quick ? 1 : 7;
        var scenario = new ChainScenario(DurationSeconds: days * 86_400.0);
        var from = scenario.DurationSeconds / 2;
        var baseline = ChainSimulator.Run(scenario, prewarm: false, countFromSeconds: from);
        var graph = new CallGraph(new CallGraphOptions(HalfLifeSeconds: 6 * 3600));
        var warmed = ChainSimulator.Run(scenario, prewarm: true, graph, countFromSeconds: from);
        context.Progress(RegimeText.F($"chains: {baseline.CallerCalls} calls of A in the second half of {days} day(s); downstream cold {baseline.DownstreamColdStarts} → {warmed.DownstreamColdStarts}"));

        var coldReduction = baseline.DownstreamColdStarts == 0 ? 0 : 100.0 * (1 - (double)warmed.DownstreamColdStarts / baseline.DownstreamColdStarts);
        var extraTotalPct = 100.0 * (warmed.TotalInstanceSeconds / baseline.TotalInstanceSeconds - 1);
        var extraDownstreamPct = 100.0 * (warmed.DownstreamInstanceSeconds / baseline.DownstreamInstanceSeconds - 1);

        var forecast = graph.Forecast("A", days * 86_400.0);
        Directory.CreateDirectory(context.OutputDir);
        var figure = new Figure("chains-cold-starts.svg", "Chain A → B | C: cumulative downstream cold starts in the second half, without and with call-graph pre-warming");
        File.WriteAllText(Path.Combine(context.OutputDir, figure.FileName), SvgLineChart.Render("Downstream cold starts (cumulative)", "hours", "cold starts",
            baseline.CumulativeDownstreamColdByHour.Count - 1,
            [new ChartSeries("no pre-warming", baseline.CumulativeDownstreamColdByHour), new ChartSeries("call-graph pre-warming", warmed.CumulativeDownstreamColdByHour)]));
        var rows = new List<ResultRow>
        {
            Row("fixed-60s", baseline, "keep-alive 60 s after the last call, no pre-warming"),
            Row("osforai", warmed, "keep-alive 60 s plus call-graph pre-warming"),
        };

        var md = new StringBuilder();
        md.Append("## Pre-warming chains (synthetic A → B | C)\n\n");
        md.Append(RegimeText.F($"Scenario: A arrives as a Poisson process with a mean gap of {scenario.MeanGapSeconds:0} s for {days} day(s), runs {scenario.CallerMinSeconds}–{scenario.CallerMaxSeconds} s (uniform), then calls B with p = {scenario.P} else C; B and C run {scenario.CalleeSeconds} s. "));
        md.Append(RegimeText.F($"Every function boots in {scenario.ColdStartSeconds} s and is kept {scenario.KeepAliveSeconds:0} s after its last call (both runs). "));
        md.Append("With pre-warming, each start of A asks the online `CallGraph` (6-h half-life) for callees with probability ≥ 0.1 and boots them so they are ready by the early edge of the learned delay (mean − 2σ), releasing an unused one at mean + 2σ + 2 s; a warm instance that would expire earlier is kept until then instead. ");
        md.Append(RegimeText.F($"Out of sample: both runs replay all {days} day(s) and only the second half is counted (calls arriving, instance time and boots from hour {from / 3600:0} on); no knob is chosen on this scenario here (the pre-warming constants are the policy's own: probability ≥ 0.1, ± 2σ, + 2 s). "));
        md.Append("`calls` and `cold starts` are downstream (B and C) calls; instance-s cover A, B and C and include boots; ideal = busy time; added latency = downstream wait for a boot.\n\n");
        md.Append(AutoscalerStudy.Table(rows)).Append('\n');
        md.Append(RegimeText.F($"Pre-warm boots (unused): {warmed.Prewarms} ({warmed.UnusedPrewarms}). Learned edges at the end: "))
            .Append(string.Join(", ", forecast.Select(f => RegimeText.F($"A → {f.Callee}: p = {f.Probability:0.00}, delay {f.MeanDelaySeconds:0.00} ± {f.DelayStdSeconds:0.00} s")))).Append(".\n\n");
        var met = coldReduction >= 90 && extraTotalPct <= 10;
        md.Append(RegimeText.F($"**Verdict (goal: ≥ 90% fewer downstream cold starts for ≤ 10% extra warm time): {(met ? "met" : "missed")}**: downstream cold starts −{coldReduction:0.0}%, extra instance-seconds +{extraTotalPct:0.0}% of the whole chain (+{extraDownstreamPct:0.0}% counting B and C alone). "));
        md.Append("Pre-warming helps only when the caller runs longer than the callee boots; with a 1-s boot and a 3-s caller it fully hides it.\n");

        var numbers = new Dictionary<string, double>
        {
            ["chains.baselineDownstreamColdStarts"] = baseline.DownstreamColdStarts,
            ["chains.prewarmDownstreamColdStarts"] = warmed.DownstreamColdStarts,
            ["chains.downstreamColdReductionPct"] = coldReduction,
            ["chains.extraWarmPct"] = extraTotalPct,
            ["chains.extraDownstreamWarmPct"] = extraDownstreamPct,
            ["chains.callerCalls"] = baseline.CallerCalls,
        };
        return new StudyResult(StudyId, md.ToString(), [figure], numbers, Rows: rows);

        ResultRow Row(string policy, ChainResult r, string note) => new()
        {
            Study = StudyId,
            Trace = TraceId,
            Policy = policy,
            Part = "second-half",
            Calls = r.DownstreamCalls,
            ColdStarts = r.DownstreamColdStarts,
            ColdPct = r.DownstreamCalls == 0 ? 0 : 100.0 * r.DownstreamColdStarts / r.DownstreamCalls,
            WastedInstanceS = r.TotalInstanceSeconds - r.BusySeconds,
            InstanceS = r.TotalInstanceSeconds,
            IdealInstanceS = r.BusySeconds,
            P50AddedMs = r.P50DownstreamWaitMs,
            P99AddedMs = r.P99DownstreamWaitMs,
            Loads = r.Boots,
            LoadModel = RegimeText.F($"fixed-{scenario.ColdStartSeconds:0.##}s"),
            Note = note,
        };
    }
}
