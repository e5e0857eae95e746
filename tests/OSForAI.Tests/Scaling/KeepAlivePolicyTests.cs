using OSForAI.Scaling.KeepAlive;

namespace OSForAI.Tests.Scaling;

public class KeepAlivePolicyTests
{
    /// <summary>Feeds idle times to a policy's per-app state as consecutive idle periods; returns the next decision.</summary>
    private static KeepAliveWindow DecisionAfter(IAppKeepAlive state, IEnumerable<double> idleTimes)
    {
        var clock = 0.0;
        foreach (var idle in idleTimes)
        {
            state.OnIdle(clock);
            state.OnArrival(clock, clock + idle);
            clock += idle + 1; // one second busy
        }
        return state.OnIdle(clock);
    }

    [Fact]
    public void Window_rejects_an_unload_before_the_prewarm()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeepAliveWindow(10, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeepAliveWindow(-1, 5));
    }

    [Fact]
    public void Window_is_warm_between_prewarm_and_unload_inclusive()
    {
        var window = new KeepAliveWindow(60, 120);
        Assert.False(window.IsWarmAfter(59.9));
        Assert.True(window.IsWarmAfter(60));
        Assert.True(window.IsWarmAfter(120));
        Assert.False(window.IsWarmAfter(120.1));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(20)]
    public void Fixed_keeps_warm_exactly_its_window_whatever_the_history(int minutes)
    {
        var policy = new FixedKeepAlivePolicy(TimeSpan.FromMinutes(minutes));
        var window = DecisionAfter(policy.ForApp(), [5, 3000, 40000]);
        Assert.Equal($"fixed-{minutes}m", policy.Name);
        Assert.False(window.Prewarms);
        Assert.True(window.IsWarmAfter(minutes * 60));
        Assert.False(window.IsWarmAfter(minutes * 60 + 0.001));
    }

    [Fact]
    public void Histogram_coefficient_of_variation_matches_the_definition()
    {
        var histogram = new IdleTimeHistogram(binSec: 60, binCount: 4);
        foreach (var idle in new[] { 10.0, 20, 70, 200 }) histogram.Add(idle); // bins: 2, 1, 0, 1
        var mean = 1.0;
        var std = Math.Sqrt(((2 - mean) * (2 - mean) + 0 + 1 + 0) / 4);
        Assert.Equal(std / mean, histogram.CoefficientOfVariation(), 10);
        Assert.Equal(0, histogram.BinOfPercentile(5));
        Assert.Equal(3, histogram.BinOfPercentile(99));
    }

    [Fact]
    public void Hybrid_without_history_keeps_alive_for_the_whole_range()
    {
        Assert.Equal(KeepAliveWindow.KeepFor(4 * 3600), new HybridHistogramPolicy().ForApp().OnIdle(0));
    }

    [Fact]
    public void Hybrid_falls_back_to_four_hours_when_the_histogram_is_not_representative()
    {
        // One idle time in every 1-minute bin: all bin counts equal, coefficient of variation 0 < 2.
        var spread = Enumerable.Range(0, 240).Select(minute => minute * 60.0 + 30);
        Assert.Equal(KeepAliveWindow.KeepFor(4 * 3600), DecisionAfter(new HybridHistogramPolicy().ForApp(), spread));
    }

    [Fact]
    public void Hybrid_prewarms_at_head_and_unloads_at_tail_when_representative()
    {
        // 100 idle times of 30.5 minutes: all in bin 30 → head = 30 min, tail = 31 min.
        var window = DecisionAfter(new HybridHistogramPolicy().ForApp(), Enumerable.Repeat(30.5 * 60, 100));
        Assert.True(window.Prewarms);
        Assert.Equal(30 * 60 * 0.9, window.PrewarmAfterSec, 6);
        Assert.Equal(31 * 60 * 1.1, window.UnloadAfterSec, 6);
        Assert.True(window.IsWarmAfter(30.5 * 60));
    }

    [Fact]
    public void Hybrid_does_not_unload_when_the_head_is_zero()
    {
        // Idle times under a minute: head bin 0 → keep warm from the idle start until tail (1 min) × 1.1.
        var window = DecisionAfter(new HybridHistogramPolicy().ForApp(), Enumerable.Repeat(20.0, 50));
        Assert.False(window.Prewarms);
        Assert.Equal(66, window.UnloadAfterSec, 6);
    }

    [Fact]
    public void Hybrid_forecasts_when_most_idle_times_are_out_of_range()
    {
        var window = DecisionAfter(new HybridHistogramPolicy().ForApp(), [5 * 3600, 6 * 3600, 7 * 3600]);
        Assert.Equal(0.85 * 6 * 3600, window.PrewarmAfterSec, 6);
        Assert.Equal(1.15 * 6 * 3600, window.UnloadAfterSec, 6);
    }

    [Fact]
    public void Log_histogram_keeps_counts_and_sums_per_bin()
    {
        var histogram = new LogIdleHistogram();
        histogram.Add(0.05);
        histogram.Add(0.06);
        histogram.Add(20000); // beyond 4 h: the overflow bin
        Assert.Equal(3, histogram.Count);
        Assert.Equal(2, histogram.CountOf(0));
        Assert.Equal(0.11, histogram.SumOf(0), 10);
        Assert.Equal(1, histogram.CountOf(histogram.Bins - 1));
        for (var b = 1; b < histogram.Bins; b++) Assert.True(histogram.LowerEdge(b) > histogram.LowerEdge(b - 1));
    }

    [Fact]
    public void CostAware_keeps_alive_for_its_warm_up_window_until_it_has_enough_samples()
    {
        var policy = new CostAwareKeepAlivePolicy { MinSamples = 3, ColdStartWindowSec = 3600 };
        Assert.Equal(KeepAliveWindow.KeepFor(3600), policy.ForApp().OnIdle(0));
        Assert.Equal(KeepAliveWindow.KeepFor(3600), DecisionAfter(policy.ForApp(), [100, 100]));
        Assert.NotEqual(KeepAliveWindow.KeepFor(3600), DecisionAfter(policy.ForApp(), [100, 100, 100]));
        // The defaults: like fixed 10-minute keep-alive until the first idle time is known.
        Assert.Equal(KeepAliveWindow.KeepFor(600), new CostAwareKeepAlivePolicy().ForApp().OnIdle(0));
        Assert.Equal(KeepAliveWindow.KeepFor(600), new CostAwareKeepAlivePolicy().ForApp(new AppProfile(128, 1.6)).OnIdle(0));
    }

    [Fact]
    public void CostAware_prices_cold_starts_in_memory_time_so_small_apps_stay_warm_longer()
    {
        // Idle times spread over 100–1,800 s: no pre-warm window fits them. At 75 GB-s per cold start a 128-MB app prices a
        // cold start at 600 s of its warm time (less than the idle times cost: unload at once); a 16-MB app at 4,800 s (keep warm).
        var idle = Enumerable.Range(0, 20).Select(i => 100 + i * 1700 / 19.0).ToArray();
        var policy = new CostAwareKeepAlivePolicy();
        var large = DecisionAfter(policy.ForApp(new AppProfile(MemoryMb: 128, LoadSec: 2)), idle);
        var small = DecisionAfter(policy.ForApp(new AppProfile(MemoryMb: 16, LoadSec: 2)), idle);
        Assert.False(large.IsWarmAfter(1000), large.ToString());
        Assert.True(small.IsWarmAfter(1000), small.ToString());
        Assert.True(small.IsWarmAfter(1800), small.ToString());
        // Without a memory-time price the memory does not matter.
        var perSecond = new CostAwareKeepAlivePolicy { ColdStartPriceGbSec = null, ColdStartPriceSec = 4800 };
        Assert.Equal(DecisionAfter(perSecond.ForApp(new AppProfile(128, 2)), idle), DecisionAfter(perSecond.ForApp(new AppProfile(16, 2)), idle));
    }

    [Fact]
    public void CostAware_does_not_fit_a_prewarm_to_a_handful_of_idle_times()
    {
        // Five idle times of 300 s. Without the pseudo idle times a pre-warm at 0.9 × 300 s looks free; with them, the next idle
        // time may well be shorter than any seen (1 in 6), which costs a cold start: keep warm instead. After 200 such idle
        // times, pre-warming is worth that risk.
        var bare = new CostAwareKeepAlivePolicy { ColdStartPriceGbSec = null, ColdStartPriceSec = 3600, TailPseudoSamples = 0 };
        var tempered = new CostAwareKeepAlivePolicy { ColdStartPriceGbSec = null, ColdStartPriceSec = 3600 };
        Assert.True(DecisionAfter(bare.ForApp(), Enumerable.Repeat(300.0, 5)).Prewarms);
        var few = DecisionAfter(tempered.ForApp(), Enumerable.Repeat(300.0, 5));
        Assert.False(few.Prewarms, few.ToString());
        Assert.True(few.IsWarmAfter(300));
        Assert.True(DecisionAfter(tempered.ForApp(), Enumerable.Repeat(300.0, 200)).Prewarms);
    }

    [Fact]
    public void CostAware_prewarms_a_timer_like_app_just_before_its_period()
    {
        var window = DecisionAfter(new CostAwareKeepAlivePolicy().ForApp(), Enumerable.Repeat(300.0, 20));
        Assert.True(window.Prewarms);
        Assert.InRange(window.PrewarmAfterSec, 200, 300);
        Assert.True(window.IsWarmAfter(300));
        Assert.True(window.UnloadAfterSec < 400, $"unloads at {window.UnloadAfterSec}");
    }

    [Fact]
    public void CostAware_keeps_a_busy_app_warm_for_its_floor_without_unloading()
    {
        var idle = Enumerable.Range(0, 200).Select(i => 0.2 + (i % 10) * 0.3); // 0.2 … 2.9 s
        var window = DecisionAfter(new CostAwareKeepAlivePolicy().ForApp(), idle);
        Assert.False(window.Prewarms);
        Assert.Equal(60, window.UnloadAfterSec); // the floor: idle times drift above the longest seen
        var noFloor = DecisionAfter(new CostAwareKeepAlivePolicy { MinKeepSec = 0 }.ForApp(), idle);
        Assert.True(noFloor.IsWarmAfter(2.9));
        Assert.True(noFloor.UnloadAfterSec < 10, $"unloads at {noFloor.UnloadAfterSec}");
    }

    [Fact]
    public void CostAware_unloads_at_once_when_gaps_cost_more_than_a_cold_start()
    {
        // Idle times of 3 hours, a cold start priced at 10 minutes: even a pre-warm at 0.9 × 3 h wastes 18 minutes.
        var cheapColdStarts = new CostAwareKeepAlivePolicy { ColdStartPriceSec = 600 };
        Assert.Equal(KeepAliveWindow.UnloadNow, DecisionAfter(cheapColdStarts.ForApp(), Enumerable.Repeat(3 * 3600.0, 10)));
        // With a cold start priced at 4 h of warm time it pre-warms instead.
        var window = DecisionAfter(new CostAwareKeepAlivePolicy { ColdStartPriceSec = 4 * 3600 }.ForApp(), Enumerable.Repeat(3 * 3600.0, 10));
        Assert.True(window.Prewarms);
        Assert.True(window.IsWarmAfter(3 * 3600));
    }

    [Fact]
    public void CostAware_covers_a_rare_long_gap_of_a_busy_app_when_that_is_cheap()
    {
        // 990 gaps of 1 s and 10 gaps of 10 minutes: keeping 11 minutes costs 10 × 600 s, far less than 10 cold starts
        // priced at an hour each.
        var idle = Enumerable.Range(0, 1000).Select(i => i % 100 == 0 ? 600.0 : 1.0);
        var window = DecisionAfter(new CostAwareKeepAlivePolicy { ColdStartPriceSec = 3600 }.ForApp(), idle);
        Assert.True(window.IsWarmAfter(1));
        Assert.True(window.IsWarmAfter(600));
    }

    [Fact]
    public void Policies_are_deterministic()
    {
        var random = new Random(42);
        var idle = Enumerable.Range(0, 500).Select(_ => random.NextDouble() * 5000).ToArray();
        IKeepAlivePolicy[] policies = [new HybridHistogramPolicy(), new CostAwareKeepAlivePolicy(), new FixedKeepAlivePolicy(TimeSpan.FromMinutes(10))];
        foreach (var policy in policies)
            Assert.Equal(DecisionAfter(policy.ForApp(), idle), DecisionAfter(policy.ForApp(), idle));
    }
}
