using System.Globalization;
using System.Text;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;
using OSForAI.Simulation.Traces;

namespace OSForAI.Simulation;

/// <summary>
/// Replays every Azure LLM inference trace under the traces folder through KPA and OSForAI's autoscaler, out of sample: the first
/// half of each trace (by time) chooses OSForAI's knobs (<see cref="AutoscalerGrid"/>); the second half, replayed on its own from
/// zero instances, is reported: KPA with its defaults, OSForAI with the chosen knobs and with its compiled defaults, and both
/// swept over target utilisation (the frontiers). Service time per request = 0.1 ms × context tokens (prefill) + 25 ms × generated
/// tokens (decode); an instance runs 8 requests at once (continuous batching, no slowdown assumed), boots in 2 s, and the activator
/// queue holds 500 calls. Quick mode: the first 10 minutes of each trace.
/// </summary>
public sealed class AutoscalerStudy : ISimulationStudy
{
    public const int Slots = 8;
    public const double ColdStartSeconds = 2;
    public const int QueueCapacity = 500;
    public const double PrefillSecondsPerToken = 0.0001;
    public const double DecodeSecondsPerToken = 0.025;
    public const double QuickSeconds = 600;
    public const string StudyId = "autoscaler";

    public string Name => StudyId;

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.Run(() => Run(context, ct), ct);

    private static StudyResult Skipped(string why) =>
        new(StudyId, "", [], new Dictionary<string, double>(), SkippedBecause: why);

    private static StudyResult Run(SimulationContext context, CancellationToken ct)
    {
        if (context.TracesRoot is null) return Skipped("no traces folder was given (--traces DIR or $OSAI_TRACES)");
        if (!Directory.Exists(context.TracesRoot)) return Skipped($"trace folder {context.TracesRoot} is missing");
        var catalog = TraceCatalog.Discover(context.TracesRoot);
        if (catalog.LlmTraces.Count == 0)
            return Skipped($"no Azure LLM inference trace (AzureLLMInferenceTrace_*.csv) under {context.TracesRoot}");

        var md = new StringBuilder();
        md.Append("## Autoscaler: KPA vs OSForAI (Azure LLM inference traces)\n\n");
        md.Append(F($"Assumptions: service time = {PrefillSecondsPerToken * 1000:0.0} ms × context tokens + {DecodeSecondsPerToken * 1000:0} ms × generated tokens; {Slots} concurrent requests per instance; boot {ColdStartSeconds:0} s (a model container with weights cached locally); activator queue {QueueCapacity} calls (beyond it: rejected, 429). "));
        md.Append("KPA: Knative defaults (60-s stable / 6-s panic window, panic at 2×, 1-s buckets, a decision every 2 s, ×1000 / ÷2, 30-s grace), target 8 × utilisation (default 0.7). ");
        md.Append("OSForAI: scales up on the max of the 6-s average, the latest second (in-flight + queued) and the 6-s trend projected one boot ahead; scales down to the busiest second or the average of the last 10 s, optionally holding the 60-s average while traffic lasts; keeps one instance warm after traffic for a learned idle period.\n\n");
        md.Append("Out of sample: each trace is cut at half its duration. On the first half alone, replayed from zero instances, a grid chooses OSForAI's knobs (target utilisation 0.5–1.0 × scale down to the busiest second or the average × hold the 60-s average or not): ");
        md.Append("the settings that meet the goal against KPA with its defaults on that half (fewer cold starts and lower p99 added latency at equal or fewer instance-seconds), and of those the one with the fewest instance-seconds; when none does, the one whose worst relative gain against KPA is largest. ");
        md.Append("The second half is replayed on its own from zero instances (both scalers keep only seconds to minutes of state) and reported: `kpa` (defaults), `osforai` (the chosen knobs), `osforai-default` (the live pool's defaults, `ScalingDefaults`: target 0.8, busiest second, hold), and the sweeps `kpa@u` and `osforai@u` (the chosen knobs at utilisation u). ");
        md.Append("A cold start is a call that waited for an instance to boot; wasted instance-s = instance-s − busy slot-seconds ÷ slots (the ideal). ");
        md.Append(context.Quick ? F($"Quick mode: the first {QuickSeconds / 60:0} minutes of each trace.\n\n") : "Full traces.\n\n");

        var rows = new List<ResultRow>();
        var figures = new List<Figure>();
        var numbers = new Dictionary<string, double>();
        foreach (var trace in catalog.LlmTraces)
        {
            ct.ThrowIfCancellationRequested();
            var requests = LlmTraceReader.Read(trace.File, context.Quick ? QuickSeconds : double.PositiveInfinity)
                .Select(r => new SimRequest(r.ArrivalSeconds, ServiceSeconds(r))).ToList();
            if (requests.Count < 2)
            {
                md.Append(F($"### {trace.Id}\n\nFewer than two requests: skipped.\n\n"));
                continue;
            }
            var split = requests[^1].ArrivalSeconds / 2;
            var first = requests.Where(r => r.ArrivalSeconds < split).ToList();
            var second = requests.Where(r => r.ArrivalSeconds >= split).Select(r => r with { ArrivalSeconds = r.ArrivalSeconds - split }).ToList();
            double End(List<SimRequest> rs) => (rs.Count == 0 ? 0 : rs[^1].ArrivalSeconds) + 120;

            // 1. Tuning on the first half.
            var grid = AutoscalerGrid.Grid;
            var tuningRuns = new List<Func<ServiceSimResult>> { () => Sim().Run(first, new KpaAutoscaler(AutoscalerGrid.KpaOptions(Slots)), End(first)) };
            tuningRuns.AddRange(grid.Select(g => (Func<ServiceSimResult>)(() => Sim().Run(first, new OsForAiAutoscaler(g.Options(Slots, ColdStartSeconds)), End(first)))));
            var tuning = AutoscalerGrid.RunAll(tuningRuns, ct);
            var (chosen, metOnFirst) = AutoscalerGrid.Choose(grid.Select((g, i) => (g, tuning[i + 1])).ToList(), tuning[0]);

            // 2. Reporting on the second half.
            var us = AutoscalerGrid.Utilizations;
            var runs = new List<Func<ServiceSimResult>>
            {
                () => Sim().Run(second, new KpaAutoscaler(AutoscalerGrid.KpaOptions(Slots)), End(second)),
                () => Sim().Run(second, new OsForAiAutoscaler(chosen.Options(Slots, ColdStartSeconds)), End(second)),
                () => Sim().Run(second, new OsForAiAutoscaler(AutoscalerGrid.DefaultOsForAi(Slots, ColdStartSeconds)), End(second)),
            };
            runs.AddRange(us.Select(u => (Func<ServiceSimResult>)(() => Sim().Run(second, new KpaAutoscaler(AutoscalerGrid.KpaOptions(Slots, u)), End(second)))));
            runs.AddRange(us.Select(u => (Func<ServiceSimResult>)(() => Sim().Run(second, new OsForAiAutoscaler((chosen with { Utilization = u }).Options(Slots, ColdStartSeconds)), End(second)))));
            var results = AutoscalerGrid.RunAll(runs, ct);
            var (kpa, os, osDefault) = (results[0], results[1], results[2]);
            var kpaSweep = results.Skip(3).Take(us.Count).ToList();
            var osSweep = results.Skip(3 + us.Count).Take(us.Count).ToList();
            context.Progress(F($"autoscaler/{trace.Id}: {requests.Count} calls; second half cold starts KPA {kpa.ColdStarts} vs OSForAI {os.ColdStarts}; chose {chosen.Knobs}"));

            var traceRows = new List<ResultRow>
            {
                AutoscalerGrid.Row(StudyId, trace.Id, "kpa", "second-half", kpa, Slots, AutoscalerGrid.KpaDefaultUtilization, ColdStartSeconds, "Knative KPA defaults"),
                AutoscalerGrid.Row(StudyId, trace.Id, "osforai", "second-half", os, Slots, chosen.Utilization, ColdStartSeconds, "grid choice on the first half: " + chosen.Knobs),
                AutoscalerGrid.Row(StudyId, trace.Id, "osforai-default", "second-half", osDefault, Slots, AutoscalerGrid.OsForAiDefaultUtilization, ColdStartSeconds, "compiled defaults"),
            };
            for (var i = 0; i < us.Count; i++)
                traceRows.Add(AutoscalerGrid.Row(StudyId, trace.Id, F($"kpa@{us[i]:0.0}"), "second-half", kpaSweep[i], Slots, us[i], ColdStartSeconds, null));
            for (var i = 0; i < us.Count; i++)
                traceRows.Add(AutoscalerGrid.Row(StudyId, trace.Id, F($"osforai@{us[i]:0.0}"), "second-half", osSweep[i], Slots, us[i], ColdStartSeconds, (chosen with { Utilization = us[i] }).Knobs));
            rows.AddRange(traceRows);

            md.Append(F($"### {trace.Id}\n\n{requests.Count:N0} calls over {requests[^1].ArrivalSeconds / 60:0.#} minutes; tuned on the first {split / 60:0.#} minutes ({first.Count:N0} calls), reported on the rest ({second.Count:N0} calls). "));
            md.Append(F($"Chosen on the first half: {chosen.Knobs} ({(metOnFirst ? "it met the goal there" : "no setting met the goal there; the most balanced one")}).\n\n"));
            md.Append(Table(traceRows)).Append('\n');
            var met = AutoscalerGrid.MeetsGoal(os, kpa);
            md.Append(F($"- Goal (fewer cold starts and lower p99 at equal or fewer instance-s than KPA defaults), second half, `osforai` vs `kpa`: **{(met ? "met" : "missed")}**: cold starts {os.ColdStarts} vs {kpa.ColdStarts}, p99 {os.P99AddedMs:0} vs {kpa.P99AddedMs:0} ms, instance-s {os.InstanceSeconds:0} vs {kpa.InstanceSeconds:0} ({Signed(100 * (os.InstanceSeconds / Math.Max(1e-9, kpa.InstanceSeconds) - 1))} %).\n"));
            md.Append(F($"- `osforai-default` vs `kpa`: **{(AutoscalerGrid.MeetsGoal(osDefault, kpa) ? "met" : "missed")}**: cold starts {osDefault.ColdStarts}, p99 {osDefault.P99AddedMs:0} ms, instance-s {osDefault.InstanceSeconds:0}.\n"));
            md.Append("- Frontiers: ").Append(AutoscalerGrid.FrontierSentence(kpaSweep, osSweep)).Append('\n');
            if (!met) md.Append("- Where a point misses, the frontier figures show the trade-off: along each sweep, a lower target utilisation buys fewer cold starts and lower p99 with more instance-seconds; the question is which curve lies lower-left.\n");
            md.Append('\n');

            Directory.CreateDirectory(context.OutputDir);
            var slug = KeepAliveStudy.Slug(trace.Id);
            FrontierFigure(context, figures, $"autoscaler-{slug}-cold.svg", F($"{trace.Id}, second half: cold starts against instance-s, utilisation 0.5–1.0 (labels)"), "cold starts",
                kpaSweep, osSweep, r => r.ColdStarts);
            FrontierFigure(context, figures, $"autoscaler-{slug}-p99.svg", F($"{trace.Id}, second half: p99 added latency (ms) against instance-s, utilisation 0.5–1.0 (labels)"), "p99 added ms",
                kpaSweep, osSweep, r => r.P99AddedMs);
            var timeline = new Figure($"autoscaler-{slug}-instances.svg", F($"{trace.Id}, second half: instances over time (30-s averages), KPA defaults vs OSForAI"));
            File.WriteAllText(Path.Combine(context.OutputDir, timeline.FileName), SvgLineChart.Render($"LLM {trace.Id}: instances (second half)", "seconds", "instances", End(second),
                [new ChartSeries("KPA defaults", kpa.InstancesPerBin), new ChartSeries("OSForAI", os.InstancesPerBin)]));
            figures.Add(timeline);

            numbers[$"autoscaler.{trace.Id}.kpa.coldStarts"] = kpa.ColdStarts;
            numbers[$"autoscaler.{trace.Id}.osforai.coldStarts"] = os.ColdStarts;
            numbers[$"autoscaler.{trace.Id}.kpa.p99AddedMs"] = kpa.P99AddedMs;
            numbers[$"autoscaler.{trace.Id}.osforai.p99AddedMs"] = os.P99AddedMs;
            numbers[$"autoscaler.{trace.Id}.goalMet"] = met ? 1 : 0;
        }
        return new StudyResult(StudyId, md.ToString(), figures, numbers, Rows: rows);
    }

    private static ServiceSimulator Sim() => new(new ServiceSimOptions(Slots, ColdStartSeconds, QueueCapacity, SeriesBinSeconds: 30));

    private static void FrontierFigure(SimulationContext context, List<Figure> figures, string file, string caption, string yLabel,
        List<ServiceSimResult> kpa, List<ServiceSimResult> os, Func<ServiceSimResult, double> y)
    {
        var us = AutoscalerGrid.Utilizations;
        FrontierSeries Series(string label, List<ServiceSimResult> rs) =>
            new(label, rs.Select((r, i) => new ScatterPoint(F($"{us[i]:0.0}"), r.InstanceSeconds, y(r))).ToList());
        File.WriteAllText(Path.Combine(context.OutputDir, file), SvgFrontierChart.Render(caption.Split(':')[0], "instance-seconds", yLabel,
            [Series("KPA", kpa), Series("OSForAI", os)]));
        figures.Add(new Figure(file, caption));
    }

    /// <summary>The table of a study's service rows (autoscaler, SeeFood), rendered from the rows.</summary>
    public static MarkdownTable Table(IEnumerable<ResultRow> rows)
    {
        var t = new MarkdownTable("policy", "target", "calls", "cold starts", "p50 added ms", "p99 added ms", "instance-s", "ideal instance-s", "× ideal", "rejected");
        foreach (var r in rows)
            t.Row(r.Policy, r.TargetUtilization is { } u ? u.ToString("0.0#", CultureInfo.InvariantCulture) : "–", Opt(r.Calls), Opt(r.ColdStarts),
                Opt(r.P50AddedMs), Opt(r.P99AddedMs), Opt(r.InstanceS), Opt(r.IdealInstanceS),
                r.InstanceS is { } i && r.IdealInstanceS is > 0 ? (i / r.IdealInstanceS.Value).ToString("0.00", CultureInfo.InvariantCulture) : "–", Opt(r.Rejected));
        return t;
    }

    private static string Opt(long? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "–";
    private static string Opt(double? v) => v is { } d ? MarkdownTable.Format(d) : "–";

    public static double ServiceSeconds(LlmRequest r) => r.ContextTokens * PrefillSecondsPerToken + r.GeneratedTokens * DecodeSecondsPerToken;

    private static string Signed(double v) => (v >= 0 ? "+" : "−") + Math.Abs(v).ToString("0.0", CultureInfo.InvariantCulture);

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
