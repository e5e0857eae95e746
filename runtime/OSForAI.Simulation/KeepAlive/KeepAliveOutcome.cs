namespace OSForAI.Simulation.KeepAlive;

/// <summary>
/// The metrics of one lane in one part of a trace, priced with one load model.
/// <list type="bullet">
/// <item>cold-start rate: cold starts ÷ invocations (per invocation);</item>
/// <item>per-application cold-start %: for each application with an invocation in the part, its cold starts ÷ its invocations;
/// the p50/p75/p90 over applications (linear interpolation between ranks);</item>
/// <item>wasted instance-seconds: idle warm time plus one load time per load (each cold start and each pre-warm occupies the
/// instance while it loads); wasted GB-s weight each application's waste by its memory;</item>
/// <item>instance-seconds: busy time (the union of the application's invocations, one instance per application) plus waste;
/// ideal instance-seconds: the busy time alone;</item>
/// <item>added latency: a cold start adds its application's load time, a warm invocation nothing; p50/p99 over invocations (nearest rank).</item>
/// </list>
/// </summary>
public sealed record KeepAliveMetrics(
    string Policy, string LoadModel, int Apps, long Calls, long ColdStarts, long Loads, double IdleWarmSec,
    double WastedInstanceSec, double WastedGbSec, double InstanceSec, double IdealInstanceSec,
    double AppColdP50Pct, double AppColdP75Pct, double AppColdP90Pct, double P50AddedMs, double P99AddedMs)
{
    public double ColdStartRate => Calls == 0 ? 0 : (double)ColdStarts / Calls;
    public double ColdPct => 100 * ColdStartRate;

    /// <summary>Percentile with linear interpolation between closest ranks; 0 for an empty list.</summary>
    public static double Percentile(double[] sortedAscending, double percentile)
    {
        if (sortedAscending.Length == 0) return 0;
        var position = percentile / 100.0 * (sortedAscending.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sortedAscending.Length - 1);
        return sortedAscending[lower] + (position - lower) * (sortedAscending[upper] - sortedAscending[lower]);
    }
}

/// <summary>What a replay produced: per lane, application and part, the cold starts, idle warm time and loads; per
/// application and part, the invocations and busy time.</summary>
public sealed class KeepAliveReplay(IReadOnlyList<AppActivity> apps, IReadOnlyList<KeepAliveLane> lanes, PartOutcome[,,] outcomes, long[,] calls, double[,] busy)
{
    public IReadOnlyList<AppActivity> Apps { get; } = apps;
    public IReadOnlyList<KeepAliveLane> Lanes { get; } = lanes;

    public int LaneIndex(string policy, LoadModel model)
    {
        for (var l = 0; l < Lanes.Count; l++)
            if (Lanes[l].Policy == policy && (Lanes[l].LoadIndependent || Lanes[l].LoadModel == model)) return l;
        throw new KeyNotFoundException($"no lane {policy} for load model {model.Id}");
    }

    public KeepAliveMetrics Metrics(string policy, int part, LoadModel model) => Metrics(LaneIndex(policy, model), part, model);

    /// <summary>The metrics of lane <paramref name="lane"/> in <paramref name="part"/> (0 before the split, 1 from it), with
    /// loads priced by <paramref name="model"/> (which must be the lane's own unless the lane is load-independent).</summary>
    public KeepAliveMetrics Metrics(int lane, int part, LoadModel model)
    {
        var spec = Lanes[lane];
        if (!spec.LoadIndependent && spec.LoadModel != model)
            throw new ArgumentException($"lane {spec.Policy} decided with load model {spec.LoadModel.Id}, not {model.Id}");
        long totalCalls = 0, cold = 0, loads = 0;
        double idle = 0, waste = 0, wasteGb = 0, busyTotal = 0;
        var perApp = new List<double>(Apps.Count);
        var coldLatencies = new List<(double Ms, long Count)>();
        for (var i = 0; i < Apps.Count; i++)
        {
            var o = outcomes[lane, i, part];
            var n = calls[i, part];
            var loadSec = model.Seconds(Apps[i].MemoryMb);
            var appWaste = o.IdleWarmSec + o.Loads * loadSec;
            totalCalls += n;
            cold += o.ColdStarts;
            loads += o.Loads;
            idle += o.IdleWarmSec;
            waste += appWaste;
            wasteGb += appWaste * Apps[i].MemoryMb / 1024.0;
            busyTotal += busy[i, part];
            if (n > 0) perApp.Add(100.0 * o.ColdStarts / n);
            if (o.ColdStarts > 0) coldLatencies.Add((loadSec * 1000, o.ColdStarts));
        }
        perApp.Sort();
        var sorted = perApp.ToArray();
        coldLatencies.Sort((a, b) => a.Ms.CompareTo(b.Ms));
        return new KeepAliveMetrics(spec.Policy, model.Id, sorted.Length, totalCalls, cold, loads, idle, waste, wasteGb, busyTotal + waste, busyTotal,
            KeepAliveMetrics.Percentile(sorted, 50), KeepAliveMetrics.Percentile(sorted, 75), KeepAliveMetrics.Percentile(sorted, 90),
            NearestRank(0.50), NearestRank(0.99));

        // Added latency over all invocations: (calls − cold) zeros, then each cold start's load time.
        double NearestRank(double q)
        {
            if (totalCalls == 0) return 0;
            var rank = Math.Max(1, (long)Math.Ceiling(q * totalCalls));
            var warm = totalCalls - cold;
            if (rank <= warm) return 0;
            var seen = warm;
            foreach (var (ms, count) in coldLatencies)
            {
                seen += count;
                if (seen >= rank) return ms;
            }
            return coldLatencies.Count == 0 ? 0 : coldLatencies[^1].Ms;
        }
    }
}
