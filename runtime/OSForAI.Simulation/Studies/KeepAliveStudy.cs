using System.Diagnostics;
using System.Globalization;
using System.Text;
using OSForAI.Scaling.KeepAlive;
using OSForAI.Simulation.KeepAlive;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;
using OSForAI.Simulation.Traces;

namespace OSForAI.Simulation;

/// <summary>
/// Keep-alive on every Azure Functions 2019 invocation file under the traces folder, out of sample: each trace is split at
/// half its minutes; the cost-aware policy's knobs are chosen by a grid replayed on the first half alone; then every policy
/// replays the whole trace (learning from the first half as it would live) and only events in the second half are counted.
/// Policies: fixed 10/20-minute keep-alive, the hybrid histogram (ATC'20), OSForAI's cost-aware policy (grid-chosen knobs, and
/// its compiled defaults), and the references oracle, never-unload and always-cold. Load times per application come from
/// <see cref="LoadModel.Memory"/>, with sensitivity rows at a fixed 1, 5 and 30 s. Quick mode replays the first two hours.
/// </summary>
public sealed class KeepAliveStudy : ISimulationStudy
{
    public const int QuickMinutes = 120;
    public const string StudyId = "keepalive";

    /// <summary>The load models: the main one first, then the sensitivity rows.</summary>
    public static IReadOnlyList<LoadModel> LoadModels { get; } = [LoadModel.Memory, LoadModel.Fixed(1), LoadModel.Fixed(5), LoadModel.Fixed(30)];

    public string Name => StudyId;

    public static string FigureFile(string traceId) => $"keepalive-{Slug(traceId)}.svg";

    public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct)
    {
        if (context.TracesRoot is null)
            return Task.FromResult(Skipped("no traces folder was given (--traces DIR or $OSAI_TRACES)"));
        return Task.Run(() =>
        {
            var catalog = TraceCatalog.Discover(context.TracesRoot);
            if (catalog.Functions.Count == 0)
                return Skipped($"no Azure Functions invocation file under {context.TracesRoot} (looked for {TraceCatalog.LayoutHelp})");
            var md = new StringBuilder();
            md.Append("## Keep-alive (Azure Functions 2019 traces)\n\n");
            md.Append(Method(context.Quick));
            var rows = new List<ResultRow>();
            var figures = new List<Figure>();
            var numbers = new Dictionary<string, double>();
            foreach (var source in catalog.Functions)
            {
                ct.ThrowIfCancellationRequested();
                var run = RunTrace(context, source, ct);
                md.Append(run.Markdown);
                rows.AddRange(run.Rows);
                figures.Add(run.Figure);
                foreach (var (k, v) in run.Numbers) numbers[k] = v;
            }
            return new StudyResult(Name, md.ToString(), figures, numbers, Rows: rows);
        }, ct);
    }

    private StudyResult Skipped(string reason) => new(Name, "", [], new Dictionary<string, double>(), reason);

    private static string Method(bool quick) =>
        "Out of sample: each trace is split at half its minutes" + (quick ? $" (quick mode: only the first {QuickMinutes} minutes are read, split at minute {QuickMinutes / 2})" : "") + ". " +
        "The knobs of `osforai` are chosen by a grid replayed on the first half alone (the second half is not read for it); " +
        "then every policy replays the whole trace, learning from the first half as it would live, and only what happens in the second half is counted: " +
        "invocations arriving in it, cold starts and loads happening in it, and idle warm time and busy time falling in it. " +
        "Each minute's invocations of a function are spread uniformly inside the minute, each runs for the function's average duration; " +
        "one warm instance per application serves all its functions; an invocation is a cold start when no instance of its application is warm at its arrival. " +
        "Waste = idle warm time + one load time per load (each cold start and each pre-warm); wasted GB-s weight it by the application's memory. " +
        $"Load time per application: {LoadModel.Memory.Description} (the main rows); `policy@load=Ns` rows use a fixed N s for every application. " +
        "Instance-s = busy time + waste; ideal instance-s = busy time alone. Added latency: a cold start adds its load time.\n\n" +
        "Policies: `fixed-10m`/`fixed-20m` keep an instance warm 10/20 minutes after each invocation; `hybrid-histogram` is the hybrid histogram policy " +
        "of Shahrad et al. (ATC 2020) with a mean-of-last-three forecast instead of ARIMA for out-of-range idle times; `osforai` is OSForAI's cost-aware policy " +
        "with the knobs the first-half grid chose (under the same load model); `osforai-default` is the same policy with its compiled defaults; " +
        "`oracle` knows the future (keeps warm across a gap only when it is at most one load long, else re-warms just in time); " +
        "`never-unload` and `always-cold` are the bounds.\n\n" +
        "Grid rule (first half only, per load model): among the grid points, the one with the largest goal margin against `hybrid-histogram` measured on the first half, " +
        "where margin = max(min(g_cold − 10 %, g_waste + 2 %), min(g_waste − 10 %, g_cold + 2 %)), g = relative gain in per-invocation cold-start rate and in wasted GB-s " +
        "(positive = better); a point that is not better than `fixed-10m` on both loses to one that is; ties go to the smaller waste.\n\n";

    private sealed record TraceRun(string Markdown, List<ResultRow> Rows, Figure Figure, Dictionary<string, double> Numbers);

    /// <summary>One grid point of the cost-aware policy: the cold-start price in GB-s, the keep-alive used until an application
    /// has <see cref="MinSamples"/> idle times; the other knobs keep their defaults.</summary>
    public sealed record GridPoint(double PriceGbSec, double WarmUpSec, int MinSamples)
    {
        public string Id => Invariant($"osforai@price={PriceGbSec:0.#}GBs,warmup={WarmUpSec:0}s,min={MinSamples}");
        public CostAwareKeepAlivePolicy Make() => new() { ColdStartPriceGbSec = PriceGbSec, ColdStartWindowSec = WarmUpSec, MinSamples = MinSamples };
        public string Knobs => Make().Describe();
    }

    /// <summary>
    /// The knobs the grid may choose: the price in steps of √2 from half to 8 × the default (75 GB-s, 10 minutes of a 128-MB
    /// instance), the warm-up keep-alive (10 min, 1 h, 4 h) and whether the model starts after 1 or 3 idle times.
    /// Quick mode: four points.
    /// </summary>
    public static IReadOnlyList<GridPoint> Grid(bool quick)
    {
        var d = new CostAwareKeepAlivePolicy();
        double[] prices = quick ? [d.ColdStartPriceGbSec!.Value, 4 * d.ColdStartPriceGbSec!.Value] : Prices(d.ColdStartPriceGbSec!.Value);
        double[] warmUps = quick ? [600, 14_400] : [600, 3600, 14_400];
        int[] samples = quick ? [d.MinSamples] : [1, 3];
        return [.. from p in prices from w in warmUps from m in samples select new GridPoint(p, w, m)];
    }

    /// <summary>Half to 8 × the default price in steps of √2.</summary>
    public static double[] Prices(double defaultPrice) => [.. Enumerable.Range(-2, 9).Select(k => Math.Round(defaultPrice * Math.Pow(2, k / 2.0), 1))];

    private static TraceRun RunTrace(SimulationContext context, FunctionsTraceSource source, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var trace = AzureFunctionsTraceReader.Read(source, context.Quick ? QuickMinutes : null);
        var splitMinute = trace.Minutes / 2;
        var split = 60.0 * splitMinute;
        var end = trace.DurationSec;
        var whole = trace.Apps.Select(a => AppActivity.FromTrace(a, end)).OfType<AppActivity>().ToList();
        var firstHalf = trace.Apps.Select(a => AppActivity.FromTrace(a, split, untilMinute: splitMinute)).OfType<AppActivity>().ToList();
        context.Progress(Invariant($"keepalive/{trace.Id}: {whole.Count} applications, {whole.Sum(a => a.Invocations):N0} invocations over {trace.Minutes} minutes, read in {clock.Elapsed.TotalSeconds:0.0} s"));

        // 1. Tuning: the grid on the first half alone; under the other load models only the price is re-chosen.
        var grid = Grid(context.Quick);
        var main = LoadModels[0];
        var baselines = new List<KeepAliveLane>
        {
            KeepAliveLane.For(new HybridHistogramPolicy(), main, loadIndependent: true),
            KeepAliveLane.For(new FixedKeepAlivePolicy(TimeSpan.FromMinutes(10)), main, loadIndependent: true),
        };
        var tuning = KeepAliveEngine.Replay(firstHalf, [.. baselines, .. grid.Select(g => KeepAliveLane.For(g.Make(), main, g.Id))], split, split, ct);
        var firstHalfScores = new Dictionary<string, (double Score, double ColdGain, double WasteGain)>();
        var chosen = new Dictionary<LoadModel, GridPoint> { [main] = Choose(tuning, grid, main, firstHalfScores) };
        var others = LoadModels.Skip(1).ToList();
        var priceGrid = Prices(new CostAwareKeepAlivePolicy().ColdStartPriceGbSec!.Value).Select(p => chosen[main] with { PriceGbSec = p }).ToList();
        if (context.Quick) priceGrid = grid.Select(g => chosen[main] with { PriceGbSec = g.PriceGbSec }).Distinct().ToList();
        var tuningOthers = KeepAliveEngine.Replay(firstHalf,
            [.. baselines, .. others.SelectMany(m => priceGrid.Select(g => KeepAliveLane.For(g.Make(), m, g.Id)))], split, split, ct);
        foreach (var model in others) chosen[model] = Choose(tuningOthers, priceGrid, model, null);
        context.Progress(Invariant($"keepalive/{trace.Id}: grid of {grid.Count} on the first half in {clock.Elapsed.TotalSeconds:0.0} s; chose {chosen[main].Id}"));

        // 2. Reporting: the whole trace, counted from the split.
        var lanes = new List<KeepAliveLane>
        {
            KeepAliveLane.For(new FixedKeepAlivePolicy(TimeSpan.FromMinutes(10)), main, loadIndependent: true),
            KeepAliveLane.For(new FixedKeepAlivePolicy(TimeSpan.FromMinutes(20)), main, loadIndependent: true),
            KeepAliveLane.For(new HybridHistogramPolicy(), main, loadIndependent: true),
            KeepAliveLane.NeverUnload(main),
            KeepAliveLane.AlwaysCold(main),
        };
        foreach (var model in LoadModels)
        {
            lanes.Add(KeepAliveLane.For(chosen[model].Make(), model, "osforai"));
            lanes.Add(KeepAliveLane.For(new CostAwareKeepAlivePolicy(), model, "osforai-default"));
            lanes.Add(KeepAliveLane.Oracle(model));
        }
        // Out of sample along the main knob: the chosen warm-up and start at every price of the grid.
        var frontier = grid.Where(g => g.WarmUpSec == chosen[main].WarmUpSec && g.MinSamples == chosen[main].MinSamples).ToList();
        foreach (var point in frontier)
            lanes.Add(KeepAliveLane.For(point.Make(), main, point.Id));
        var replay = KeepAliveEngine.Replay(whole, lanes, split, end, ct);
        context.Progress(Invariant($"keepalive/{trace.Id}: {lanes.Count} lanes over the whole trace in {clock.Elapsed.TotalSeconds:0.0} s"));

        string[] policies = ["fixed-10m", "fixed-20m", "hybrid-histogram", "osforai", "osforai-default", "oracle", "never-unload", "always-cold"];
        var rows = new List<ResultRow>();
        foreach (var model in LoadModels)
            foreach (var policy in policies)
            {
                var m = replay.Metrics(policy, 1, model);
                var id = model == main ? policy : Invariant($"{policy}@load={model.StartupSec:0.##}s");
                var note = policy switch
                {
                    "osforai" => $"grid choice on the first half: {chosen[model].Knobs}",
                    "osforai-default" => new CostAwareKeepAlivePolicy().Describe(),
                    _ => null,
                };
                rows.Add(Row(trace.Id, id, m, model, note));
            }
        foreach (var point in frontier)
            rows.Add(Row(trace.Id, point.Id, replay.Metrics(point.Id, 1, main), main, point.Knobs));

        var figure = new Figure(FigureFile(trace.Id), Invariant($"{trace.Id}, second half: per-invocation cold-start % against wasted GB-s, one point per policy"));
        Directory.CreateDirectory(context.OutputDir);
        var mainRows = rows.Where(r => r.LoadModel == main.Id && policies.Contains(r.Policy) && r.Policy != "always-cold").ToList();
        File.WriteAllText(Path.Combine(context.OutputDir, figure.FileName), SvgScatterPlot.Render(
            Invariant($"Keep-alive on {trace.Id} (second half)"), "wasted GB-s (idle warm + loading, × memory)", "cold starts per invocation, %",
            mainRows.Select(r => new ScatterPoint(r.Policy, r.WastedGbS ?? 0, r.ColdPct ?? 0)).ToList()));

        var md = new StringBuilder();
        md.Append(Invariant($"### {trace.Id}\n\n"));
        md.Append(Invariant($"{trace.Minutes} minutes{(context.Quick ? " (quick mode)" : "")}, {whole.Count:N0} applications, {whole.Sum(a => a.Invocations):N0} invocations; "));
        md.Append(Invariant($"tuned on minutes 0–{splitMinute}, reported on minutes {splitMinute}–{trace.Minutes}; replayed in {clock.Elapsed.TotalSeconds:0.0} s. "));
        md.Append("Memory: ").Append(trace.MemoryNote).Append(". Durations: ").Append(trace.DurationNote).Append(".\n\n");
        md.Append(Invariant($"Second half, load time {main.Description}:\n\n"));
        md.Append(MainTable(rows.Where(r => r.LoadModel == main.Id && policies.Contains(r.Policy))));
        md.Append('\n');
        md.Append("Verdicts (goals of SCALING.md, on the second half):\n\n");
        var byPolicy = rows.Where(r => r.LoadModel == main.Id).ToDictionary(r => r.Policy);
        foreach (var who in new[] { "osforai", "osforai-default" })
            foreach (var line in KeepAliveVerdicts.Judge(byPolicy[who], byPolicy["hybrid-histogram"], byPolicy["fixed-10m"]).Lines)
                md.Append("- `").Append(who).Append("`: ").Append(line).Append('\n');
        var verdict = KeepAliveVerdicts.Judge(byPolicy["osforai"], byPolicy["hybrid-histogram"], byPolicy["fixed-10m"]);
        if (!verdict.BeatsHybrid || !verdict.BeatsFixed10)
        {
            // Why: how the choice looked on the first half, how the halves differ, and what the second-half frontier along the price holds.
            var hybrid1 = tuning.Metrics("hybrid-histogram", 0, main);
            var (_, cg1, wg1) = firstHalfScores[chosen[main].Id];
            md.Append(Invariant($"- Why: on the first half the chosen point was {KeepAliveVerdicts.Better(cg1)} on cold-start rate and {KeepAliveVerdicts.Better(wg1)} on waste against `hybrid-histogram`; "))
                .Append(Invariant($"the halves differ (`hybrid-histogram` {hybrid1.ColdPct:0.0000} % cold starts on the first, {byPolicy["hybrid-histogram"].ColdPct:0.0000} % on the second). "));
            var meeting = frontier.Where(g => KeepAliveVerdicts.Judge(byPolicy[g.Id], byPolicy["hybrid-histogram"], byPolicy["fixed-10m"]) is { BeatsHybrid: true, BeatsFixed10: true })
                .Select(g => $"`{g.Id}`").ToList();
            md.Append(meeting.Count == 0
                ? "No price along the chosen warm-up and start meets both goals on the second half either: the trade-off there is the frontier in the grid table."
                : $"On the second half, {string.Join(", ", meeting)} would meet both goals; the first half did not point to {(meeting.Count == 1 ? "it" : "them")} (a choice made after seeing the second half would not be out of sample).").Append('\n');
        }
        md.Append('\n');

        md.Append("Grid (load time from memory), on the first half: each point's gains against `hybrid-histogram` (positive = better) and its goal margin; ")
            .Append("on the second half (out of sample), the points with the chosen warm-up and start at every price (`osforai@…` rows of the JSON). ")
            .Append(Invariant($"Chosen: `{chosen[main].Id}`.\n\n"));
        var gridTable = new MarkdownTable("grid point", "1st half: cold gain", "1st half: waste gain", "1st half: margin", "2nd half: cold gain", "2nd half: waste gain", "chosen");
        var hybrid2 = byPolicy["hybrid-histogram"];
        foreach (var point in grid)
        {
            var (score, cg, wg) = firstHalfScores[point.Id];
            var out2 = byPolicy.TryGetValue(point.Id, out var r) ? (Pct(Gain(r.ColdPct, hybrid2.ColdPct)), Pct(Gain(r.WastedGbS, hybrid2.WastedGbS))) : ("", "");
            gridTable.Row(point.Id, Pct(cg), Pct(wg), Pct(score), out2.Item1, out2.Item2, chosen[main].Id == point.Id ? "yes" : "");
        }
        md.Append(gridTable).Append('\n');

        md.Append("Load-time sensitivity (second half; `osforai` re-chosen by the grid under each load model):\n\n");
        var sens = new MarkdownTable("policy", "load model", "cold starts %", "app cold % p75", "wasted instance-s", "wasted GB-s", "loads", "p99 added ms");
        foreach (var r in rows.Where(r => r.LoadModel != main.Id))
            sens.Row(r.Policy, r.LoadModel!, Fixed(r.ColdPct, "0.0000"), Fixed(r.AppColdP75Pct, "0.00"), Fixed(r.WastedInstanceS, "N0"), Fixed(r.WastedGbS, "N0"), r.Loads ?? 0, Fixed(r.P99AddedMs, "0"));
        md.Append(sens).Append('\n');

        var numbers = new Dictionary<string, double>();
        foreach (var r in rows.Where(r => r.LoadModel == main.Id && policies.Contains(r.Policy)))
        {
            numbers[$"{trace.Id}/{r.Policy}.coldPct"] = r.ColdPct ?? 0;
            numbers[$"{trace.Id}/{r.Policy}.wastedGbS"] = r.WastedGbS ?? 0;
        }
        return new TraceRun(md.ToString(), rows, figure, numbers);
    }

    /// <summary>The grid rule on a first-half replay: the point with the best <see cref="GoalScore"/> (ties: less waste).</summary>
    private static GridPoint Choose(KeepAliveReplay tuning, IReadOnlyList<GridPoint> points, LoadModel model,
        Dictionary<string, (double Score, double ColdGain, double WasteGain)>? scores)
    {
        var hybrid = tuning.Metrics("hybrid-histogram", 0, model);
        var fixed10 = tuning.Metrics("fixed-10m", 0, model);
        var scored = points.Select(g =>
        {
            var m = tuning.Metrics(g.Id, 0, model);
            return (Point: g, Score: GoalScore(m, hybrid, fixed10), Metrics: m);
        }).ToList();
        if (scores is not null)
            foreach (var x in scored) scores[x.Point.Id] = (x.Score.Margin, x.Score.ColdGain, x.Score.WasteGain);
        return scored.OrderByDescending(x => x.Score.Key).ThenBy(x => x.Metrics.WastedGbSec).First().Point;
    }

    /// <summary>The main table of a trace, rendered from the rows.</summary>
    public static MarkdownTable MainTable(IEnumerable<ResultRow> rows)
    {
        var t = new MarkdownTable("policy", "cold starts %", "app cold % p50", "p75", "p90", "wasted instance-s", "wasted GB-s", "loads", "instance-s", "ideal instance-s", "p99 added ms");
        foreach (var r in rows)
            t.Row(r.Policy, Fixed(r.ColdPct, "0.0000"), Fixed(r.AppColdP50Pct, "0.00"), Fixed(r.AppColdP75Pct, "0.00"), Fixed(r.AppColdP90Pct, "0.00"),
                Fixed(r.WastedInstanceS, "N0"), Fixed(r.WastedGbS, "N0"), r.Loads ?? 0, Fixed(r.InstanceS, "N0"), Fixed(r.IdealInstanceS, "N0"), Fixed(r.P99AddedMs, "0"));
        return t;
    }

    private static ResultRow Row(string trace, string policy, KeepAliveMetrics m, LoadModel model, string? note) => new()
    {
        Study = StudyId,
        Trace = trace,
        Policy = policy,
        Part = "second-half",
        Calls = m.Calls,
        ColdStarts = m.ColdStarts,
        ColdPct = m.ColdPct,
        AppColdP50Pct = m.AppColdP50Pct,
        AppColdP75Pct = m.AppColdP75Pct,
        AppColdP90Pct = m.AppColdP90Pct,
        WastedInstanceS = m.WastedInstanceSec,
        WastedGbS = m.WastedGbSec,
        InstanceS = m.InstanceSec,
        IdealInstanceS = m.IdealInstanceSec,
        P50AddedMs = m.P50AddedMs,
        P99AddedMs = m.P99AddedMs,
        Rejected = null,
        Loads = m.Loads,
        LoadModel = model.Id,
        Note = note,
    };

    /// <summary>
    /// How well a point meets the goals against the hybrid histogram (margin ≥ 0: ≥ 10 % better on one of cold-start rate and
    /// wasted GB-s, ≤ 2 % worse on the other), and whether it is better than fixed-10m on both. The key orders points:
    /// better-than-fixed first, then by margin.
    /// </summary>
    public static (double Key, double Margin, double ColdGain, double WasteGain) GoalScore(KeepAliveMetrics m, KeepAliveMetrics hybrid, KeepAliveMetrics fixed10)
    {
        var cold = Gain(m.ColdStartRate, hybrid.ColdStartRate);
        var waste = Gain(m.WastedGbSec, hybrid.WastedGbSec);
        var margin = Math.Max(Math.Min(cold - 0.10, waste + 0.02), Math.Min(waste - 0.10, cold + 0.02));
        var beatsFixed = m.ColdStartRate < fixed10.ColdStartRate && m.WastedGbSec < fixed10.WastedGbSec;
        return ((beatsFixed ? 10 : 0) + margin, margin, cold, waste);
    }

    /// <summary>Relative improvement of <paramref name="ours"/> over <paramref name="theirs"/> (positive = lower = better).</summary>
    public static double Gain(double? ours, double? theirs)
    {
        if (ours is not { } o || theirs is not { } t) return double.NaN;
        return t == 0 ? (o == 0 ? 0 : -1) : (t - o) / t;
    }

    private static string Pct(double gain) => double.IsNaN(gain) ? "–" : gain.ToString("+0.0 %;−0.0 %;0.0 %", CultureInfo.InvariantCulture);

    private static string Fixed(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "–";

    public static string Slug(string id) => new(id.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The keep-alive goals of SCALING.md, judged on second-half rows, with the numbers behind each verdict.</summary>
public sealed record KeepAliveVerdicts(bool BeatsHybrid, bool BeatsFixed10, IReadOnlyList<string> Lines)
{
    public static KeepAliveVerdicts Judge(ResultRow ours, ResultRow hybrid, ResultRow fixed10)
    {
        var coldGain = KeepAliveStudy.Gain(ours.ColdPct, hybrid.ColdPct);
        var wasteGain = KeepAliveStudy.Gain(ours.WastedGbS, hybrid.WastedGbS);
        var beatsHybrid = (coldGain >= 0.10 && wasteGain >= -0.02) || (wasteGain >= 0.10 && coldGain >= -0.02);
        var beatsFixed = ours.ColdPct < fixed10.ColdPct && ours.WastedGbS < fixed10.WastedGbS;
        var lines = new List<string>
        {
            (beatsFixed ? "**met**" : "**missed**") + FormattableString.Invariant(
                $" Pareto-better than fixed-10m (cold-start rate and wasted GB-s): {ours.ColdPct:0.0000} % vs {fixed10.ColdPct:0.0000} % ({Better(KeepAliveStudy.Gain(ours.ColdPct, fixed10.ColdPct))}), {ours.WastedGbS:N0} vs {fixed10.WastedGbS:N0} GB-s ({Better(KeepAliveStudy.Gain(ours.WastedGbS, fixed10.WastedGbS))})."),
            (beatsHybrid ? "**met**" : "**missed**") + FormattableString.Invariant(
                $" vs hybrid histogram (≥ 10 % better on one of cold-start rate and wasted GB-s, ≤ 2 % worse on the other): {ours.ColdPct:0.0000} % vs {hybrid.ColdPct:0.0000} % ({Better(coldGain)}), {ours.WastedGbS:N0} vs {hybrid.WastedGbS:N0} GB-s ({Better(wasteGain)})."),
        };
        return new KeepAliveVerdicts(beatsHybrid, beatsFixed, lines);
    }

    /// <summary>A relative gain in words: "12.3 % better", "4.0 % worse", "equal".</summary>
    public static string Better(double gain) =>
        double.IsNaN(gain) ? "–" : gain == 0 ? "equal" : string.Create(CultureInfo.InvariantCulture, $"{Math.Abs(gain) * 100:0.0} % {(gain > 0 ? "better" : "worse")}");
}
