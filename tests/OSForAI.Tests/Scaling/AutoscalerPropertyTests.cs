using FsCheck.Xunit;
using OSForAI.Scaling.Autoscaling;

namespace OSForAI.Tests.Scaling;

/// <summary>
/// Properties over random load sequences (one sample per second, a decision every 2 s, instances assumed ready at once).
/// What the autoscalers guarantee, with target T = in-flight per instance, R = ready instances, up = ceil(max(1, R) × 1000):
/// <list type="bullet">
/// <item>both: min ≤ desired ≤ max;</item>
/// <item>KPA: desired ≥ min(max, up, ceil(m / T)) where m is the smallest sample of the stable window (its average is ≥ m);
/// desired = 0 only when no sample in the last stable window + grace (90 s) was non-zero;</item>
/// <item>OSForAI: desired ≥ min(max, up, ceil(c / T)) for the latest sample c (in-flight + queued): it never has fewer instances
/// than the work in flight needs unless max or the rate limit forbids it; desired = 0 only after at least MinKeepWarmSeconds
/// without traffic.</item>
/// </list>
/// </summary>
public sealed class AutoscalerPropertyTests
{
    private const double Target = 10;

    private static double[] Loads(int[] raw, bool bursty) =>
        raw.Select((x, i) => bursty && i % 7 > 2 ? 0 : Math.Abs(x % 400)).Select(v => (double)v).ToArray();

    private static AutoscalerOptions Options(int max, int min) => new()
    {
        TargetConcurrencyPerInstance = Target, TargetUtilization = 1.0, MaxInstances = Math.Max(1, Math.Abs(max % 50) + 1), MinInstances = Math.Abs(min % 3),
    };

    private static void Replay(IConcurrencyAutoscaler s, double[] loads, Action<int, int, int> check)
    {
        var ready = 0;
        for (var t = 0; t < loads.Length; t++)
        {
            s.Observe(t, loads[t]);
            if (t % 2 != 1) continue;
            var desired = s.Decide(t, ready).DesiredInstances;
            check(t, ready, desired);
            ready = desired;
        }
    }

    private static int Up(int ready) => (int)Math.Ceiling(Math.Max(1, ready) * 1000.0);

    private static bool ZeroLoadSince(double[] loads, int t, double seconds)
    {
        for (var k = t; k >= 0 && t - k < seconds; k--) if (loads[k] > 0) return false;
        return true;
    }

    [Property(MaxTest = 200)]
    public void Kpa_StaysWithinBoundsAndCoversTheWindowMinimum(int[] raw, int max, int min, bool bursty)
    {
        var o = Options(max, min);
        if (o.MinInstances > o.MaxInstances) o = o with { MinInstances = o.MaxInstances };
        var loads = Loads(raw.Concat(raw).Concat(raw).ToArray(), bursty);
        Replay(new KpaAutoscaler(o), loads, (t, ready, desired) =>
        {
            Assert.InRange(desired, o.MinInstances, o.MaxInstances);
            var windowMin = loads.Skip(Math.Max(0, t - 59)).Take(Math.Min(60, t + 1)).Min();
            Assert.True(desired >= Math.Min(o.MaxInstances, Math.Min(Up(ready), (int)Math.Ceiling(windowMin / Target))),
                $"t={t}: {desired} instances for a window minimum of {windowMin}");
            if (desired == 0) Assert.True(ZeroLoadSince(loads, t, 90), $"t={t}: scaled to zero within 90 s of traffic");
        });
    }

    [Property(MaxTest = 200)]
    public void OsForAi_NeverHasFewerInstancesThanTheWorkInFlightNeeds(int[] raw, int max, int min, bool bursty)
    {
        var b = Options(max, min);
        if (b.MinInstances > b.MaxInstances) b = b with { MinInstances = b.MaxInstances };
        var o = new OsForAiAutoscalerOptions { Base = b, MinKeepWarmSeconds = 10 };
        var loads = Loads(raw.Concat(raw).Concat(raw).ToArray(), bursty);
        Replay(new OsForAiAutoscaler(o), loads, (t, ready, desired) =>
        {
            Assert.InRange(desired, b.MinInstances, b.MaxInstances);
            var need = (int)Math.Ceiling(loads[t] / Target);
            Assert.True(desired >= Math.Min(b.MaxInstances, Math.Min(Up(ready), need)), $"t={t}: {desired} instances for {loads[t]} in flight");
            if (desired == 0) Assert.True(ZeroLoadSince(loads, t, o.MinKeepWarmSeconds), $"t={t}: scaled to zero within {o.MinKeepWarmSeconds} s of traffic");
        });
    }

    [Property(MaxTest = 100)]
    public void BothAreDeterministic(int[] raw)
    {
        var loads = Loads(raw, bursty: false);
        foreach (var make in new Func<IConcurrencyAutoscaler>[] { () => new KpaAutoscaler(), () => new OsForAiAutoscaler() })
        {
            var a = new List<int>();
            var c = new List<int>();
            Replay(make(), loads, (_, _, d) => a.Add(d));
            Replay(make(), loads, (_, _, d) => c.Add(d));
            Assert.Equal(a, c);
        }
    }
}
