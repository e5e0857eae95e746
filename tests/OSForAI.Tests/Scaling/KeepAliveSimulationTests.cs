using OSForAI.Scaling.KeepAlive;
using OSForAI.Simulation;
using OSForAI.Simulation.KeepAlive;
using OSForAI.Simulation.Report;
using OSForAI.Simulation.Traces;

namespace OSForAI.Tests.Scaling;

/// <summary>
/// Finds the shared trace folder: $OSAI_TRACES if set, else a shared/traces folder found by walking up from the test's
/// folder (shared/ sits beside the repository for developers and CI).
/// </summary>
internal static class SharedTraces
{
    /// <summary>The folder holding <paramref name="traceSet"/> (e.g. azure-llm-2023), or null.</summary>
    public const string FunctionsSample = "azure-functions-2019-sample500";

    public static string? Find(string traceSet = FunctionsSample) =>
        Support.SharedData.Find("traces", "OSAI_TRACES", traceSet);

    public const string SkipReason = "shared/traces/azure-functions-2019-sample500 not found above the test folder (or set OSAI_TRACES)";
}

public class KeepAliveSimulationTests
{
    private static readonly LoadModel Load5 = LoadModel.Fixed(5);

    private static AppActivity App(double traceEnd, params double[] arrivals) =>
        AppActivity.FromInvocations("app", 1024, arrivals, new double[arrivals.Length], traceEnd);

    /// <summary>A policy that always answers the same window.</summary>
    private sealed class ConstantPolicy(KeepAliveWindow window) : IKeepAlivePolicy
    {
        public string Name => "constant";
        public IAppKeepAlive ForApp() => new State(window);
        private sealed class State(KeepAliveWindow window) : IAppKeepAlive
        {
            public KeepAliveWindow OnIdle(double idleStartSec) => window;
            public void OnArrival(double idleStartSec, double arrivalSec) { }
        }
    }

    [Fact]
    public void A_minute_with_n_invocations_spreads_them_uniformly()
    {
        Assert.Equal([127.5, 142.5, 157.5, 172.5], MinuteSpreading.Arrivals(minute: 2, count: 4));
        Assert.Equal([30.0], MinuteSpreading.Arrivals(minute: 0, count: 1));
        Assert.Empty(MinuteSpreading.Arrivals(minute: 5, count: 0));
    }

    [Fact]
    public void Overlapping_invocations_form_one_busy_period()
    {
        // Busy 0–12 (0–10 and 5–12 overlap); 30–31, and 31 arrives exactly at the end: still busy until 33.
        var app = AppActivity.FromInvocations("a", 128, [30, 0, 5, 31], [1, 10, 7, 2], traceEndSec: 100);
        Assert.Equal(4, app.Invocations);
        Assert.Equal([new BusyPeriod(0, 12, 2, 0), new BusyPeriod(30, 33, 2, 2)], app.Periods(splitSec: 20).ToList());
        Assert.Equal([new BusyPeriod(0, 12, 2, 1), new BusyPeriod(30, 33, 2, 2)], app.Periods(splitSec: 5).ToList());
    }

    [Fact]
    public void Trace_minutes_become_the_same_periods_as_the_spread_invocations()
    {
        // Two functions of one app: f1 4 calls in minute 2 lasting 20 s (they overlap: spacing 15 s), f2 2 calls lasting 1 s
        // in minutes 2 and 3. The generator must agree with spreading every invocation and merging them one by one.
        var f1 = TraceFunction.FromPerMinute("f1", "http", [0, 0, 4, 0, 1], 20);
        var f2 = TraceFunction.FromPerMinute("f2", "", [0, 0, 2, 2, 0], 1);
        var app = new TraceApp("a", "o", [f1, f2], 256);
        var arrivals = new List<double>();
        var durations = new List<double>();
        foreach (var f in new[] { f1, f2 })
            for (var k = 0; k < f.Minutes.Length; k++)
                foreach (var at in MinuteSpreading.Arrivals(f.Minutes[k], f.Counts[k])) { arrivals.Add(at); durations.Add(f.DurationSec); }
        var expected = AppActivity.FromInvocations("a", 256, [.. arrivals], [.. durations], 300).Periods(splitSec: 180).ToList();
        var actual = AppActivity.FromTrace(app, 300)!.Periods(splitSec: 180).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Start, actual[i].Start, 9);
            Assert.Equal(expected[i].End, actual[i].End, 9);
            Assert.Equal(expected[i].Invocations, actual[i].Invocations);
            Assert.Equal(expected[i].InvocationsFromSplit, actual[i].InvocationsFromSplit);
        }
        Assert.Equal(9, actual.Sum(p => p.Invocations));
        Assert.Equal(3, actual.Sum(p => p.InvocationsFromSplit)); // minute 3 (2 calls of f2) and minute 4 (1 of f1)
    }

    [Fact]
    public void A_replay_cut_at_the_split_never_sees_the_second_half()
    {
        var f = TraceFunction.FromPerMinute("f", "", [1, 0, 3, 1, 5, 0, 2, 2], 0.5);
        var app = new TraceApp("a", "o", [f], 128);
        var firstHalf = AppActivity.FromTrace(app, traceEndSec: 240, untilMinute: 4)!;
        Assert.Equal(5, firstHalf.Invocations);
        Assert.All(firstHalf.Periods(), p => Assert.True(p.Start < 240));
        var spy = new SpyPolicy();
        KeepAliveEngine.Replay([firstHalf], [KeepAliveLane.For(spy, Load5)], 240, 240);
        Assert.NotEmpty(spy.Arrivals);
        Assert.All(spy.Arrivals, a => Assert.True(a < 240, $"saw an arrival at {a}"));
        Assert.Null(AppActivity.FromTrace(new TraceApp("b", "o", [TraceFunction.FromPerMinute("g", "", [0, 0, 0, 0, 0, 7], 1)], 1), 240, untilMinute: 4));
    }

    /// <summary>A fixed 60-s window that records every arrival it is told about.</summary>
    private sealed class SpyPolicy : IKeepAlivePolicy
    {
        public System.Collections.Concurrent.ConcurrentBag<double> Arrivals { get; } = [];
        public string Name => "spy";
        public IAppKeepAlive ForApp() => new State(this);
        private sealed class State(SpyPolicy p) : IAppKeepAlive
        {
            public KeepAliveWindow OnIdle(double idleStartSec) => KeepAliveWindow.KeepFor(60);
            public void OnArrival(double idleStartSec, double arrivalSec) => p.Arrivals.Add(arrivalSec);
        }
    }

    [Fact]
    public void Split_replay_counts_only_the_second_half_by_hand()
    {
        // Arrivals at 30, 1230, 2130, 3030 s, no duration, trace end 3600 s, split at 1800 s, a 600-s keep-alive.
        // Second half: calls 2130 and 3030, both cold (gaps of 900 s); idle warm: [1800, 1830] of the window opened at 1230,
        // [2130, 2730], and [3030, 3600] (trailing, cut at the end) = 30 + 600 + 570; loads: the two cold starts.
        var app = App(3600, 30, 1230, 2130, 3030);
        var replay = KeepAliveEngine.Replay([app], [KeepAliveLane.For(new FixedKeepAlivePolicy(TimeSpan.FromMinutes(10)), Load5)], 1800, 3600);
        var second = replay.Metrics(0, part: 1, Load5);
        Assert.Equal(2, second.Calls);
        Assert.Equal(2, second.ColdStarts);
        Assert.Equal(1200, second.IdleWarmSec, 9);
        Assert.Equal(2, second.Loads);
        Assert.Equal(1200 + 2 * 5, second.WastedInstanceSec, 9);
        Assert.Equal((1200 + 2 * 5) * 1024 / 1024.0, second.WastedGbSec, 9);
        Assert.Equal(100, second.AppColdP75Pct);
        Assert.Equal(5000, second.P99AddedMs);
        // First half: calls 30 and 1230, both cold; idle [30, 630] and [1230, 1800].
        var first = replay.Metrics(0, part: 0, Load5);
        Assert.Equal(2, first.Calls);
        Assert.Equal(2, first.ColdStarts);
        Assert.Equal(600 + 570, first.IdleWarmSec, 9);
    }

    [Fact]
    public void Fixed_window_replay_has_the_hand_computed_answer()
    {
        // Gaps of 100 s (warm) and 900 s (cold with a 300-s window); trailing 200 s of the 1,200-s trace.
        var app = App(1200, 0, 100, 1000);
        var outcome = KeepAliveEngine.Replay(new ConstantPolicy(KeepAliveWindow.KeepFor(300)), [app], Load5);
        Assert.Equal(2, outcome.ColdStarts);                 // first + the 900-s gap
        Assert.Equal(100 + 300 + 200, outcome.IdleWarmSec);  // warm through, window spent, trailing
        Assert.Equal(2, outcome.Loads);
        Assert.Equal(600 + 2 * 5, outcome.WastedInstanceSec);
        Assert.Equal(2.0 / 3, outcome.ColdStartRate, 10);
    }

    [Fact]
    public void Memory_load_model_prices_each_application_by_its_memory()
    {
        Assert.Equal(1 + 1024 / 200.0, LoadModel.Memory.Seconds(1024), 10);
        Assert.Equal(30, LoadModel.Fixed(30).Seconds(1024));
        Assert.Equal("fixed-30s", LoadModel.Fixed(30).Id);
        // Always-cold: every invocation loads; waste = loads × load time, whatever the model.
        var apps = new[] { App(1200, 0, 100, 1000) };
        Assert.Equal(3 * (1 + 1024 / 200.0), KeepAliveEngine.AlwaysCold(apps, LoadModel.Memory).WastedInstanceSec, 9);
        Assert.Equal(3 * 30.0, KeepAliveEngine.AlwaysCold(apps, LoadModel.Fixed(30)).WastedInstanceSec, 9);
    }

    [Fact]
    public void Prewarm_replay_has_the_hand_computed_answer()
    {
        // Window: unloaded at once, warm again from +50 s to +150 s.
        // Gap 100: warm, idle 50, one pre-warm load. Gap 900: unloaded again, idle 100, pre-warm + cold loads.
        // Gap 30 (arrives before the pre-warm): cold, one load. Trailing 170 s: pre-warm load, idle 100.
        var app = App(1200, 0, 100, 1000, 1030);
        var outcome = KeepAliveEngine.Replay(new ConstantPolicy(new KeepAliveWindow(50, 150)), [app], Load5);
        Assert.Equal(3, outcome.ColdStarts);
        Assert.Equal(50 + 100 + 0 + 100, outcome.IdleWarmSec);
        Assert.Equal(1 + 1 + 2 + 1 + 1, outcome.Loads);
    }

    [Fact]
    public void Always_cold_is_all_cold_and_never_unload_cold_starts_once_per_app()
    {
        var apps = RandomApps(new Random(1), 20);
        var alwaysCold = KeepAliveEngine.AlwaysCold(apps, Load5);
        Assert.Equal(1.0, alwaysCold.ColdStartRate);
        Assert.Equal(100, alwaysCold.AppColdP50Pct);
        Assert.Equal(0, alwaysCold.IdleWarmSec);
        var never = KeepAliveEngine.NeverUnload(apps, Load5);
        Assert.Equal(apps.Count, never.ColdStarts);
        Assert.Equal(apps.Count, never.Loads);
        // Never-unload holds each instance from its first arrival to the end: busy + idle = that span (trace end is common).
        var end = apps.Max(a => a.TraceEndSec);
        Assert.Equal(apps.Sum(a => end - a.Periods().First().Start), never.IdleWarmSec + never.IdealInstanceSec, 6);
    }

    /// <summary>
    /// What can be proved: every policy cold-starts each application's first invocation, so the oracle's one cold start
    /// per application is the minimum; and for every gap any policy either stays warm through it (≥ gap instance-seconds)
    /// or is unloaded in it and must load again (≥ one load), while the oracle pays min(gap, load), and nothing after
    /// the last invocation. So the oracle's waste is ≤ every policy's waste, at no more cold starts.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Oracle_has_the_fewest_cold_starts_and_the_least_waste(int seed)
    {
        var apps = RandomApps(new Random(seed), 30);
        var oracle = KeepAliveEngine.Oracle(apps, Load5);
        Assert.Equal(apps.Count, oracle.ColdStarts);
        IKeepAlivePolicy[] policies =
        [
            new FixedKeepAlivePolicy(TimeSpan.FromMinutes(1)), new FixedKeepAlivePolicy(TimeSpan.FromMinutes(10)),
            new HybridHistogramPolicy(), new CostAwareKeepAlivePolicy(), new CostAwareKeepAlivePolicy { ColdStartPriceSec = 30 },
            new ConstantPolicy(new KeepAliveWindow(20, 40)),
        ];
        var others = policies.Select(p => KeepAliveEngine.Replay(p, apps, Load5)).Append(KeepAliveEngine.NeverUnload(apps, Load5)).Append(KeepAliveEngine.AlwaysCold(apps, Load5));
        foreach (var other in others)
        {
            Assert.True(oracle.ColdStarts <= other.ColdStarts, other.Policy);
            Assert.True(oracle.WastedInstanceSec <= other.WastedInstanceSec + 1e-6, $"{other.Policy}: {other.WastedInstanceSec} < oracle {oracle.WastedInstanceSec}");
        }
    }

    private static List<AppActivity> RandomApps(Random random, int count) =>
        Enumerable.Range(0, count).Select(i =>
        {
            var n = random.Next(1, 60);
            var arrivals = new double[n];
            var t = random.NextDouble() * 100;
            var kind = i % 3; // busy, timer-like, sparse
            for (var k = 0; k < n; k++)
            {
                arrivals[k] = t;
                t += kind switch { 0 => random.NextDouble() * 3, 1 => 300 + random.NextDouble(), _ => random.NextDouble() * 7200 };
            }
            var durations = arrivals.Select(_ => random.NextDouble() * 2).ToArray();
            return AppActivity.FromInvocations($"app{i}", 100 + i, arrivals, durations, 60 * 7200 + 1000);
        }).ToList();

    [Fact]
    public void Many_lanes_at_once_give_each_lane_what_it_gets_alone()
    {
        var apps = RandomApps(new Random(7), 25);
        var end = apps.Max(a => a.TraceEndSec);
        var lanes = Enumerable.Range(0, 13).Select(i => KeepAliveLane.For(
            new CostAwareKeepAlivePolicy { ColdStartPriceGbSec = 20 * (i + 1) }, i % 2 == 0 ? Load5 : LoadModel.Memory, $"p{i}")).ToList();
        var together = KeepAliveEngine.Replay(apps, lanes, end / 2, end);
        foreach (var lane in lanes)
        {
            var alone = KeepAliveEngine.Replay(apps, [lane], end / 2, end);
            Assert.Equal(alone.Metrics(0, 1, lane.LoadModel), together.Metrics(lane.Policy, 1, lane.LoadModel));
            Assert.Equal(alone.Metrics(0, 0, lane.LoadModel), together.Metrics(lane.Policy, 0, lane.LoadModel));
        }
    }

    [Fact]
    public void Percentile_interpolates_between_ranks()
    {
        Assert.Equal(2.5, KeepAliveMetrics.Percentile([1, 2, 3, 4], 50), 10);
        Assert.Equal(3.25, KeepAliveMetrics.Percentile([1, 2, 3, 4], 75), 10);
        Assert.Equal(0, KeepAliveMetrics.Percentile([], 75));
    }

    [Fact]
    public void Reader_parses_the_azure_schema_and_groups_functions_by_app()
    {
        var dir = WriteTrace(
            "HashOwner,HashApp,HashFunction,Trigger,480,481\no1,a1,f1,http,2,0\no1,a1,f2,timer,0,1\no2,a2,f3,queue,1,1\n");
        var trace = AzureFunctionsTraceReader.Read(dir);
        Assert.Equal(2, trace.Minutes);
        Assert.Equal(2, trace.Apps.Count);
        var a1 = trace.Apps.Single(a => a.Id == "a1");
        Assert.Equal(3, a1.Invocations);
        Assert.Equal(0.5, a1.Functions[0].DurationSec, 10);
        Assert.Equal(300, a1.MemoryMb, 10); // 100 + 200
        var activity = AppActivity.FromTrace(a1, trace.DurationSec)!;
        Assert.Equal(15, activity.Periods().First().Start);
    }

    [Fact]
    public void Reader_names_the_file_and_line_of_a_malformed_row()
    {
        var dir = WriteTrace("HashOwner,HashApp,HashFunction,Trigger,480,481\no1,a1,f1,http,2,0\no1,a1,f2,timer,x,1\n");
        var e = Assert.Throws<TraceFormatException>(() => AzureFunctionsTraceReader.Read(dir));
        Assert.Contains("invocations.csv:3", e.Message);
        Assert.Contains("'x'", e.Message);

        var short_ = WriteTrace("HashOwner,HashApp,HashFunction,Trigger,480,481\no1,a1,f1,http,2\n");
        Assert.Contains("invocations.csv:2", Assert.Throws<TraceFormatException>(() => AzureFunctionsTraceReader.Read(short_)).Message);
    }

    private static string WriteTrace(string invocations)
    {
        var dir = Directory.CreateTempSubdirectory("osai-trace-").FullName;
        File.WriteAllText(Path.Combine(dir, "invocations.csv"), invocations);
        File.WriteAllText(Path.Combine(dir, "durations.csv"),
            "HashOwner,HashApp,HashFunction,Average,Count\no1,a1,f1,500,10\no1,a1,f2,1500,10\no2,a2,f3,100,5\n");
        File.WriteAllText(Path.Combine(dir, "memory.csv"),
            "HashFunction,HashOwner,HashApp,SampleCount,AverageAllocatedMb\nf1,o1,a1,5,100\nf2,o1,a1,5,200\nf3,o2,a2,5,50\n");
        return dir;
    }

    [Fact]
    public async Task Study_skips_with_a_reason_when_there_are_no_traces()
    {
        var outDir = Directory.CreateTempSubdirectory("osai-sim-").FullName;
        var none = await new KeepAliveStudy().RunAsync(new SimulationContext(null, outDir, true, _ => { }), CancellationToken.None);
        Assert.Contains("no traces folder", none.SkippedBecause);
        var empty = await new KeepAliveStudy().RunAsync(new SimulationContext(outDir, outDir, true, _ => { }), CancellationToken.None);
        Assert.Contains("no Azure Functions invocation file", empty.SkippedBecause);
    }

    [SkippableFact]
    public async Task Study_runs_in_quick_mode_on_the_real_trace()
    {
        var traces = SharedTraces.Find();
        Skip.If(traces is null, SharedTraces.SkipReason);
        var outDir = Directory.CreateTempSubdirectory("osai-sim-").FullName;
        var result = await new KeepAliveStudy().RunAsync(new SimulationContext(traces, outDir, Quick: true, _ => { }), CancellationToken.None);

        Assert.Null(result.SkippedBecause);
        var figure = KeepAliveStudy.FigureFile(SharedTraces.FunctionsSample);
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(outDir, figure)));
        Assert.Contains("| osforai |", result.Markdown);
        var rows = result.AllRows.Where(r => r.Trace == SharedTraces.FunctionsSample && r.LoadModel == "memory").ToDictionary(r => r.Policy);
        foreach (var policy in new[] { "fixed-10m", "fixed-20m", "hybrid-histogram", "osforai", "osforai-default", "oracle", "never-unload", "always-cold" })
            Assert.True(rows.ContainsKey(policy), policy);
        Assert.Equal(100, rows["always-cold"].ColdPct);
        foreach (var r in rows.Values)
        {
            Assert.True(rows["oracle"].WastedInstanceS <= r.WastedInstanceS + 1e-6, r.Policy);
            Assert.True(rows["oracle"].ColdStarts <= r.ColdStarts, r.Policy);
            Assert.Equal(r.IdealInstanceS!.Value + r.WastedInstanceS!.Value, r.InstanceS!.Value, 3);
            Assert.Equal("second-half", r.Part);
        }
    }

    [Fact]
    public void Report_links_figures_relative_to_the_document_and_explains_skips()
    {
        StudyResult[] results =
        [
            new("keepalive", "## Keep-alive\n\nbody", [new Figure("a.svg", "A caption")], new Dictionary<string, double>()),
            new("chain", "", [], new Dictionary<string, double>(), SkippedBecause: "not implemented yet"),
        ];
        var when = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        var beside = MarkdownReport.Write("Title", results, "osai sim --quick", "", when);
        var docs = MarkdownReport.Write("Title", results, "osai sim --quick", "scaling", when);

        Assert.StartsWith("# Title\n", beside);
        Assert.Contains("`osai sim --quick`", beside);
        Assert.Contains("2026-11-28 12:00 UTC", beside);
        Assert.Contains("![A caption](a.svg)", beside);
        Assert.Contains("![A caption](scaling/a.svg)", docs);
        Assert.Contains("## chain\n\nSkipped: not implemented yet", beside);
        Assert.True(beside.IndexOf("## Keep-alive", StringComparison.Ordinal) < beside.IndexOf("## chain", StringComparison.Ordinal));
    }

    [Fact]
    public void Scatter_plot_is_well_formed_svg_with_one_labelled_dot_per_point()
    {
        var svg = SvgScatterPlot.Render("T <&>", "x", "y", [new("a", 1, 2), new("b&c", 1000, 50), new("d", 1001, 50)]);
        var root = System.Xml.Linq.XDocument.Parse(svg).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.Equal(3, root.Elements().Count(e => e.Name.LocalName == "circle"));
        Assert.Contains(root.Elements(), e => e.Name.LocalName == "text" && e.Value == "b&c");
        Assert.Equal(1000, SvgScatterPlot.NiceCeiling(1000));
        Assert.Equal(2000, SvgScatterPlot.NiceCeiling(1001));
        Assert.Equal(5, SvgScatterPlot.NiceCeiling(2.5));
    }
}
