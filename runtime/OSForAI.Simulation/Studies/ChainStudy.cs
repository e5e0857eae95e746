using System.Text;
using OSForAI.Scaling.Prewarming;
using OSForAI.Simulation.Regimes;

namespace OSForAI.Simulation;

/// <summary>
/// Synthetic chain A → B (probability p) else A → C, replayed without pre-warming and with call-graph pre-warming
/// (the <see cref="CallGraph"/> learns online from the same replay). Full mode: 7 days; quick mode: 1 day.
/// </summary>
public sealed class ChainStudy : ISimulationStudy
{
    public string Name => "chains";

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.Run(() => Run(context), ct);

    private static StudyResult Run(SimulationContext context)
    {
        var days = context.Quick ? 1 : 7;
        var scenario = new ChainScenario(DurationSeconds: days * 86_400.0);
        var baseline = ChainSimulator.Run(scenario, prewarm: false);
        var graph = new CallGraph(new CallGraphOptions(HalfLifeSeconds: 6 * 3600));
        var warmed = ChainSimulator.Run(scenario, prewarm: true, graph);
        context.Progress(RegimeText.F($"chains: {baseline.CallerCalls} calls of A over {days} day(s); downstream cold {baseline.DownstreamColdStarts} → {warmed.DownstreamColdStarts}"));

        var coldReduction = baseline.DownstreamColdStarts == 0 ? 0 : 100.0 * (1 - (double)warmed.DownstreamColdStarts / baseline.DownstreamColdStarts);
        var extraTotalPct = 100.0 * (warmed.TotalInstanceSeconds / baseline.TotalInstanceSeconds - 1);
        var extraDownstreamPct = 100.0 * (warmed.DownstreamInstanceSeconds / baseline.DownstreamInstanceSeconds - 1);

        var forecast = graph.Forecast("A", days * 86_400.0);
        Directory.CreateDirectory(context.OutputDir);
        var figure = new Figure("chains-cold-starts.svg", "Chain A → B | C: cumulative downstream cold starts, without and with call-graph pre-warming");
        File.WriteAllText(Path.Combine(context.OutputDir, figure.FileName), SvgLineChart.Render("Downstream cold starts (cumulative)", "hours", "cold starts",
            baseline.CumulativeDownstreamColdByHour.Count - 1,
            [new ChartSeries("no pre-warming", baseline.CumulativeDownstreamColdByHour), new ChartSeries("call-graph pre-warming", warmed.CumulativeDownstreamColdByHour)]));
        var md = new StringBuilder();
        md.Append("## Pre-warming chains (synthetic A → B | C)\n\n");
        md.Append(RegimeText.F($"Scenario: A arrives as a Poisson process with a mean gap of {scenario.MeanGapSeconds:0} s for {days} day(s), runs {scenario.CallerMinSeconds}–{scenario.CallerMaxSeconds} s (uniform), then calls B with p = {scenario.P} else C; B and C run {scenario.CalleeSeconds} s. "));
        md.Append(RegimeText.F($"Every function boots in {scenario.ColdStartSeconds} s and is kept {scenario.KeepAliveSeconds:0} s after its last call (both runs). "));
        md.Append("With pre-warming, each start of A asks the online `CallGraph` (6-h half-life) for callees with probability ≥ 0.1 and boots them so they are ready by the early edge of the learned delay (mean − 2σ), releasing an unused one at mean + 2σ + 2 s; a warm instance that would expire earlier is kept until then instead. Instance-seconds include boot time.\n\n");
        var t = new MarkdownTable("run", "A calls", "downstream calls", "downstream cold starts", "mean downstream wait ms", "A+B+C instance-s", "B+C instance-s", "pre-warm boots (unused)");
        t.Row("no pre-warming", baseline.CallerCalls, baseline.DownstreamCalls, baseline.DownstreamColdStarts, baseline.MeanDownstreamWaitMs, baseline.TotalInstanceSeconds, baseline.DownstreamInstanceSeconds, "–");
        t.Row("call-graph pre-warming", warmed.CallerCalls, warmed.DownstreamCalls, warmed.DownstreamColdStarts, warmed.MeanDownstreamWaitMs, warmed.TotalInstanceSeconds, warmed.DownstreamInstanceSeconds, RegimeText.F($"{warmed.Prewarms} ({warmed.UnusedPrewarms})"));
        md.Append(t).Append('\n');
        md.Append("Learned edges at the end: ").Append(string.Join(", ", forecast.Select(f => RegimeText.F($"A → {f.Callee}: p = {f.Probability:0.00}, delay {f.MeanDelaySeconds:0.00} ± {f.DelayStdSeconds:0.00} s")))).Append(".\n\n");
        var met = coldReduction >= 90 && extraTotalPct <= 10;
        md.Append(RegimeText.F($"**Verdict (goal: ≥ 90% fewer downstream cold starts for ≤ 10% extra warm time): {(met ? "met" : "missed")}** — downstream cold starts −{coldReduction:0.0}%, extra warm instance-seconds +{extraTotalPct:0.0}% of the whole chain (+{extraDownstreamPct:0.0}% counting B and C alone). "));
        md.Append("The remaining cold starts fall while the graph is still learning (before an edge is seen, or while its delay spread is still underestimated). Pre-warming helps only when the caller runs longer than the callee boots; with a 1-s boot and a 3-s caller it fully hides it.\n");

        var numbers = new Dictionary<string, double>
        {
            ["chains.baselineDownstreamColdStarts"] = baseline.DownstreamColdStarts,
            ["chains.prewarmDownstreamColdStarts"] = warmed.DownstreamColdStarts,
            ["chains.downstreamColdReductionPct"] = coldReduction,
            ["chains.extraWarmPct"] = extraTotalPct,
            ["chains.extraDownstreamWarmPct"] = extraDownstreamPct,
            ["chains.callerCalls"] = baseline.CallerCalls,
        };
        md.Append('\n').Append(RegimeText.F($"![{figure.Caption}]({figure.FileName})\n"));
        return new StudyResult("chains", md.ToString(), [figure], numbers);
    }
}
