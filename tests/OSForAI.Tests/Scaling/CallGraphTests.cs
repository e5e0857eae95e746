using OSForAI.Scaling.Prewarming;

namespace OSForAI.Tests.Scaling;

public sealed class CallGraphTests
{
    private static CallGraph Learned(int calls, double pB, double delay = 3, double halfLife = 1e6)
    {
        var g = new CallGraph(new CallGraphOptions(HalfLifeSeconds: halfLife));
        var takeB = (int)Math.Round(calls * pB);
        for (var i = 0; i < calls; i++)
        {
            double t = i * 10;
            g.RecordInvocation("A", t);
            g.RecordCall("A", i < takeB ? "B" : "C", t, delay);
        }
        return g;
    }

    [Fact]
    public void LearnsCalleeProbabilitiesAndDelays()
    {
        var g = Learned(100, 0.8);
        var f = g.Forecast("A", 1000);
        Assert.Equal(["B", "C"], f.Select(x => x.Callee));
        Assert.Equal(0.8, f[0].Probability, 2);
        Assert.Equal(0.2, f[1].Probability, 2);
        Assert.Equal(3, f[0].MeanDelaySeconds, 6);
        Assert.Equal(0, f[0].DelayStdSeconds, 6);
    }

    [Fact]
    public void UnknownCaller_HasNoForecast()
    {
        Assert.Empty(new CallGraph().Forecast("nobody", 0));
        Assert.Empty(new CallGraph().Plan("nobody", 0, 1));
    }

    [Fact]
    public void Plan_BootsLikelyCalleesOneColdStartBeforeTheyAreNeeded()
    {
        var g = Learned(100, 0.95);
        var plans = g.Plan("A", 2000, coldStartSeconds: 1, minProbability: 0.1);
        var b = Assert.Single(plans); // C (p = 0.05) is below the threshold
        Assert.Equal("B", b.Callee);
        Assert.Equal(2000 + 3 - 1 - 0.25, b.StartAtSeconds, 6);
        Assert.True(b.ReleaseAfterSeconds >= 2000 + 3);
    }

    [Fact]
    public void Plan_StartsAtOnceWhenTheDelayIsShorterThanTheColdStart()
    {
        var g = Learned(10, 1.0, delay: 0.2);
        var p = Assert.Single(g.Plan("A", 500, coldStartSeconds: 2));
        Assert.Equal(500, p.StartAtSeconds, 6);
    }

    [Fact]
    public void DelaySpread_WidensTheWindow()
    {
        var g = new CallGraph();
        for (var i = 0; i < 50; i++)
        {
            g.RecordInvocation("A", i);
            g.RecordCall("A", "B", i, i % 2 == 0 ? 2 : 4);
        }
        var f = Assert.Single(g.Forecast("A", 50));
        Assert.InRange(f.MeanDelaySeconds, 2.5, 3.5);
        Assert.InRange(f.DelayStdSeconds, 0.5, 1.5);
    }

    [Fact]
    public void RecentBehaviourOutweighsOld()
    {
        var g = new CallGraph(new CallGraphOptions(HalfLifeSeconds: 100));
        for (var t = 0; t < 1000; t += 10) { g.RecordInvocation("A", t); g.RecordCall("A", "B", t, 1); }
        for (var t = 1000; t < 1500; t += 10) { g.RecordInvocation("A", t); g.RecordCall("A", "C", t, 1); }
        var f = g.Forecast("A", 1500);
        Assert.Equal("C", f[0].Callee);
        Assert.True(f[0].Probability > 0.9);
        Assert.True(f.Single(x => x.Callee == "B").Probability < 0.05);
    }

    [Fact]
    public void Forget_DropsStaleEdgesAndCallers()
    {
        var g = new CallGraph(new CallGraphOptions(HalfLifeSeconds: 60, ForgetBelowWeight: 0.05));
        g.RecordInvocation("A", 0);
        g.RecordCall("A", "B", 0, 1);
        g.RecordInvocation("X", 0);
        g.RecordCall("X", "Y", 0, 1);
        g.RecordInvocation("X", 1000);
        g.RecordCall("X", "Y", 1000, 1);
        Assert.Equal(0, g.Forget(100)); // 2^(−100/60) ≈ 0.31: still kept
        Assert.Equal(1, g.Forget(1000)); // A → B has decayed to ≈ 1e-5
        Assert.Equal(1, g.CallerCount);
        Assert.Empty(g.Forecast("A", 1000));
        Assert.Single(g.Forecast("X", 1000));
    }

    [Fact]
    public void DecayedCount_HalvesEveryHalfLife()
    {
        var c = new DecayedCount();
        c.Add(8, 0, 10);
        Assert.Equal(4, c.ValueAt(10, 10), 9);
        Assert.Equal(1, c.ValueAt(30, 10), 9);
        c.Add(1, 30, 10);
        Assert.Equal(2, c.ValueAt(30, 10), 9);
    }
}
