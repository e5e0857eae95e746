using OSForAI.Scaling.Autoscaling;

namespace OSForAI.Tests.Scaling;

/// <summary>Deterministic fake-time tests of the KPA-like and OSForAI autoscalers (time = seconds, one sample per second).</summary>
public sealed class AutoscalerTests
{
    // Target 10 in-flight per instance keeps the arithmetic readable.
    private static AutoscalerOptions Options(int min = 0, int max = 1000) =>
        new() { TargetConcurrencyPerInstance = 10, TargetUtilization = 1.0, MinInstances = min, MaxInstances = max };

    private static void Feed(IConcurrencyAutoscaler s, int from, int to, double load)
    {
        for (var t = from; t < to; t++) s.Observe(t, load);
    }

    [Fact]
    public void Defaults_AreKnativeKpaDefaults()
    {
        var o = new AutoscalerOptions();
        Assert.Equal(70, o.EffectiveTarget, 6);
        Assert.Equal(60, o.StableWindowSeconds);
        Assert.Equal(6, o.PanicWindowSeconds, 6);
        Assert.Equal(2, o.PanicThreshold);
        Assert.Equal(1, o.BucketSeconds);
        Assert.Equal(2, o.DecisionIntervalSeconds);
        Assert.Equal(1000, o.MaxScaleUpRate);
        Assert.Equal(2, o.MaxScaleDownRate);
        Assert.Equal(30, o.ScaleToZeroGraceSeconds);
    }

    [Fact]
    public void Kpa_SteadyLoad_DesiresCeilOfAverageOverTarget()
    {
        var s = new KpaAutoscaler(Options());
        Feed(s, 0, 60, 45);
        var d = s.Decide(59, readyInstances: 5);
        Assert.Equal(5, d.DesiredInstances);
        Assert.False(d.Panicking);
    }

    [Fact]
    public void Kpa_EntersPanicOnBurst_AndDoesNotScaleDownWhilePanicking()
    {
        var s = new KpaAutoscaler(Options());
        Feed(s, 0, 60, 5);
        Assert.False(s.Decide(59, 1).Panicking);
        Feed(s, 60, 66, 100); // panic window average 100 → 10 instances ≥ 2 × 1 ready
        var burst = s.Decide(65, 1);
        Assert.True(burst.Panicking);
        Assert.Equal(10, burst.DesiredInstances);

        for (var t = 66; t < 100; t++) // the work is gone, but panic holds the count
        {
            s.Observe(t, 0);
            if (t % 2 == 0) continue;
            var d = s.Decide(t, 10);
            Assert.True(d.Panicking);
            Assert.True(d.DesiredInstances >= 10, $"scaled down to {d.DesiredInstances} at {t} while panicking");
        }
    }

    [Fact]
    public void Kpa_LeavesPanicOneStableWindowAfterTheLastOverThresholdTick()
    {
        var s = new KpaAutoscaler(Options());
        Feed(s, 0, 6, 100);
        Assert.True(s.Decide(5, 1).Panicking); // last over-threshold decision at t = 5
        Feed(s, 6, 65, 0);
        Assert.True(s.Decide(64, 10).Panicking);
        s.Observe(65, 0);
        var after = s.Decide(65, 10);
        Assert.False(after.Panicking);
        Assert.Equal(5, after.DesiredInstances); // stable average ~0, but at most ÷2 per decision
    }

    [Fact]
    public void Kpa_ScaleDownIsLimitedToHalvingPerDecision()
    {
        var s = new KpaAutoscaler(Options());
        Feed(s, 0, 60, 10); // wants 1 instance
        Assert.Equal(20, s.Decide(59, 40).DesiredInstances);
        Assert.Equal(10, s.Decide(61, 20).DesiredInstances);
        Assert.Equal(5, s.Decide(63, 10).DesiredInstances);
        Assert.Equal(2, s.Decide(65, 5).DesiredInstances);
        Assert.Equal(1, s.Decide(67, 2).DesiredInstances);
    }

    [Fact]
    public void Kpa_ScalesToZeroOnlyAfterStableWindowPlusGraceWithoutTraffic()
    {
        var s = new KpaAutoscaler(Options());
        Feed(s, 0, 10, 10); // last traffic at t = 9
        for (var t = 10; t < 99; t++)
        {
            s.Observe(t, 0);
            Assert.Equal(1, s.Decide(t, 1).DesiredInstances);
        }
        s.Observe(99, 0);
        Assert.Equal(0, s.Decide(99, 1).DesiredInstances); // 9 + 60 + 30
    }

    [Fact]
    public void Kpa_ClampsToMaxAndMin()
    {
        var capped = new KpaAutoscaler(Options(max: 7));
        Feed(capped, 0, 60, 10_000);
        Assert.Equal(7, capped.Decide(59, 7).DesiredInstances);

        var floor = new KpaAutoscaler(Options(min: 3));
        Feed(floor, 0, 200, 0);
        Assert.Equal(3, floor.Decide(199, 3).DesiredInstances);
    }

    [Fact]
    public void Kpa_ScaleUpIsLimitedToRateTimesReady()
    {
        var s = new KpaAutoscaler(Options(max: 1_000_000));
        Feed(s, 0, 60, 1e8);
        Assert.Equal(1000, s.Decide(59, 0).DesiredInstances);
        Assert.Equal(2000, s.Decide(61, 2).DesiredInstances);
    }

    [Fact]
    public void OsForAi_ScalesUpOnTheLatestSecondImmediately()
    {
        var s = new OsForAiAutoscaler(new OsForAiAutoscalerOptions { Base = Options() });
        Feed(s, 0, 60, 5);
        s.Observe(60, 95); // in-flight + queued jumped this second
        Assert.True(s.Decide(60, 1).DesiredInstances >= 10);
    }

    [Fact]
    public void OsForAi_ScalesDownAfterTheShortWindowNotTheStableWindow()
    {
        // Without the 60-s floor (on by default) the count follows the 10-s window down.
        var o = new OsForAiAutoscalerOptions { Base = Options(), ScaleDownWindowSeconds = 10, HoldStableAverage = false };
        var s = new OsForAiAutoscaler(o);
        Feed(s, 0, 60, 100);
        Feed(s, 60, 75, 10); // 15 s later the 10-s window only sees 10 in flight
        var ready = 10;
        for (var t = 74; t < 90; t += 2) ready = s.Decide(t, ready).DesiredInstances;
        Assert.Equal(1, ready);

        var kpa = new KpaAutoscaler(Options());
        Feed(kpa, 0, 60, 100);
        Feed(kpa, 60, 75, 10);
        Assert.True(kpa.Decide(74, 10).DesiredInstances >= 8); // KPA still averages over 60 s
    }

    [Fact]
    public void OsForAi_KeepWarmFollowsObservedIdleGaps()
    {
        var o = new OsForAiAutoscalerOptions
        {
            Base = Options(), MinKeepWarmSeconds = 10, MaxKeepWarmSeconds = 300, DefaultKeepWarmSeconds = 90, ScaleDownWindowSeconds = 5,
        };
        var s = new OsForAiAutoscaler(o);
        Assert.Equal(90, s.KeepWarmSeconds);
        var t = 0;
        for (var burst = 0; burst < 10; burst++)
        {
            Feed(s, t, t + 5, 10);
            Feed(s, t + 5, t + 25, 0); // idle gaps of 20 s
            t += 25;
        }
        Assert.Equal(22, s.KeepWarmSeconds, 6); // p90 gap × 1.1
        s.Observe(t, 10);
        for (var k = 1; k < 22; k++) { s.Observe(t + k, 0); Assert.Equal(1, s.Decide(t + k, 1).DesiredInstances); }
        s.Observe(t + 22, 0);
        Assert.Equal(0, s.Decide(t + 22, 1).DesiredInstances);
    }

    [Fact]
    public void OsForAi_LongIdleGapsAreNotBridged()
    {
        var o = new OsForAiAutoscalerOptions { Base = Options(), MinKeepWarmSeconds = 10, MaxKeepWarmSeconds = 300 };
        var s = new OsForAiAutoscaler(o);
        var t = 0;
        for (var burst = 0; burst < 5; burst++)
        {
            Feed(s, t, t + 2, 10);
            Feed(s, t + 2, t + 1000, 0);
            t += 1000;
        }
        Assert.Equal(10, s.KeepWarmSeconds, 6);
    }

    [Fact]
    public void InvalidOptions_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KpaAutoscaler(new AutoscalerOptions { TargetUtilization = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KpaAutoscaler(new AutoscalerOptions { MinInstances = 5, MaxInstances = 2 }));
    }
}
