using OSForAI.Scaling.Prewarming;

namespace OSForAI.Simulation.Regimes;

/// <summary>
/// The synthetic chain: A arrives as a Poisson process (mean gap <paramref name="MeanGapSeconds"/>), runs for a uniform
/// [<paramref name="CallerMinSeconds"/>, <paramref name="CallerMaxSeconds"/>] and then calls B with probability <paramref name="P"/>,
/// else C; B and C run <paramref name="CalleeSeconds"/>. Every function boots in <paramref name="ColdStartSeconds"/> and an idle
/// instance is kept <paramref name="KeepAliveSeconds"/> after its last call.
/// </summary>
public sealed record ChainScenario(double DurationSeconds, double MeanGapSeconds = 120, double P = 0.8, double CallerMinSeconds = 2.5,
    double CallerMaxSeconds = 3.5, double CalleeSeconds = 1, double ColdStartSeconds = 1, double KeepAliveSeconds = 60, int Seed = 5);

/// <summary>
/// Outcome of one chain replay, counting only what happens from the replay's count-from time on (calls arriving, instances
/// alive, boots starting then). Instance-seconds include boot time; busy seconds are the time instances spend running calls.
/// </summary>
public sealed record ChainResult(int CallerCalls, int DownstreamCalls, int DownstreamColdStarts, int CallerColdStarts,
    double CallerInstanceSeconds, double DownstreamInstanceSeconds, int Prewarms, int UnusedPrewarms, double MeanDownstreamWaitMs,
    IReadOnlyList<double> CumulativeDownstreamColdByHour)
{
    public double TotalInstanceSeconds => CallerInstanceSeconds + DownstreamInstanceSeconds;
    /// <summary>Seconds instances of A, B and C spent running calls.</summary>
    public double BusySeconds { get; init; }
    /// <summary>Instances booted (cold starts and pre-warms).</summary>
    public int Boots { get; init; }
    public double P50DownstreamWaitMs { get; init; }
    public double P99DownstreamWaitMs { get; init; }
}

/// <summary>
/// Replays the chain with or without call-graph pre-warming. With pre-warming, every start of A is recorded in a
/// <see cref="CallGraph"/> learning online (each downstream call is recorded too), and its plan boots the likely callees just
/// before they are expected (or stretches a warm instance's life until then); unused pre-warmed instances go away at the
/// plan's release time. A downstream call is a cold start when it had to wait for any boot. Deterministic.
/// </summary>
public static class ChainSimulator
{
    private sealed class Inst(double bootAt, double readyAt, double expiresAt)
    {
        public double BootAt { get; } = bootAt;
        public double ReadyAt { get; } = readyAt;
        public double BusyUntil { get; set; } = readyAt;
        public double ExpiresAt { get; set; } = expiresAt;
        public bool Used { get; set; }
        public bool Prewarmed { get; init; }
    }

    private enum Kind { ArriveA, StartA, CallDownstream, Prewarm }

    private readonly record struct Ev(Kind Kind, string Fn, double CallerStart, double Delay, double ReleaseAt);

    /// <param name="countFromSeconds">Only calls arriving, instance time and boots from then on are counted (the graph still
    /// learns from everything before).</param>
    public static ChainResult Run(ChainScenario s, bool prewarm, CallGraph? graph = null, double countFromSeconds = 0)
    {
        graph ??= new CallGraph(new CallGraphOptions(HalfLifeSeconds: 6 * 3600));
        var rnd = new Random(s.Seed);
        var pools = new Dictionary<string, List<Inst>> { ["A"] = [], ["B"] = [], ["C"] = [] };
        var pq = new PriorityQueue<Ev, (double, long)>();
        long seq = 0;
        for (var t = -s.MeanGapSeconds * Math.Log(1 - rnd.NextDouble()); t < s.DurationSeconds; t += -s.MeanGapSeconds * Math.Log(1 - rnd.NextDouble()))
            pq.Enqueue(new Ev(Kind.ArriveA, "A", 0, 0, 0), (t, seq++));

        int aCalls = 0, dCalls = 0, dCold = 0, aCold = 0, prewarms = 0;
        double dWait = 0, busy = 0;
        var waits = new List<double>();
        var from = countFromSeconds;
        var coldByHour = new double[(int)Math.Ceiling(s.DurationSeconds / 3600) + 1];
        var nextForget = 3600.0;
        while (pq.TryDequeue(out var ev, out var pr))
        {
            var now = pr.Item1;
            switch (ev.Kind)
            {
                case Kind.ArriveA:
                {
                    var work = s.CallerMinSeconds + rnd.NextDouble() * (s.CallerMaxSeconds - s.CallerMinSeconds);
                    var (start, cold) = Acquire(pools["A"], now, work, s);
                    if (now >= from)
                    {
                        aCalls++;
                        if (cold) aCold++;
                        busy += work;
                    }
                    var callee = rnd.NextDouble() < s.P ? "B" : "C";
                    pq.Enqueue(new Ev(Kind.StartA, callee, start, work, 0), (start, seq++));
                    break;
                }
                case Kind.StartA:
                    graph.RecordInvocation("A", now);
                    if (prewarm)
                        foreach (var plan in graph.Plan("A", now, s.ColdStartSeconds, minProbability: 0.1))
                            pq.Enqueue(new Ev(Kind.Prewarm, plan.Callee, now, 0, plan.ReleaseAfterSeconds), (plan.StartAtSeconds, seq++));
                    pq.Enqueue(new Ev(Kind.CallDownstream, ev.Fn, now, ev.Delay, 0), (now + ev.Delay, seq++));
                    break;
                case Kind.CallDownstream:
                {
                    graph.RecordCall("A", ev.Fn, ev.CallerStart, ev.Delay);
                    var (start, cold) = Acquire(pools[ev.Fn], now, s.CalleeSeconds, s);
                    if (now < from) break;
                    dCalls++;
                    busy += s.CalleeSeconds;
                    if (cold)
                    {
                        dCold++;
                        coldByHour[Math.Min(coldByHour.Length - 1, (int)(now / 3600))]++;
                    }
                    dWait += start - now;
                    waits.Add(start - now);
                    break;
                }
                case Kind.Prewarm:
                    prewarms += Prewarm(pools[ev.Fn], now, ev.ReleaseAt, s) && now >= from ? 1 : 0;
                    break;
            }
            if (now >= nextForget) { graph.Forget(now); nextForget += 3600; }
        }

        double Seconds(string fn) => pools[fn].Sum(i => Math.Max(0, Math.Min(i.ExpiresAt, s.DurationSeconds + 3600) - Math.Max(i.BootAt, from)));
        var unused = pools["B"].Concat(pools["C"]).Count(i => i.Prewarmed && !i.Used && i.BootAt >= from);
        waits.Sort();
        double WaitMs(double q) => waits.Count == 0 ? 0 : 1000 * waits[Math.Clamp((int)Math.Ceiling(q * waits.Count) - 1, 0, waits.Count - 1)];
        return new ChainResult(aCalls, dCalls, dCold, aCold, Seconds("A"), Seconds("B") + Seconds("C"), prewarms, unused,
            dCalls == 0 ? 0 : dWait / dCalls * 1000, Cumulative(coldByHour))
        {
            BusySeconds = busy,
            Boots = pools.Values.Sum(p => p.Count(i => i.BootAt >= from)),
            P50DownstreamWaitMs = WaitMs(0.50),
            P99DownstreamWaitMs = WaitMs(0.99),
        };
    }

    private static double[] Cumulative(double[] perBin)
    {
        var sum = 0.0;
        return perBin.Select(v => sum += v).ToArray();
    }

    /// <summary>Takes an alive instance free at <paramref name="now"/> (or the booting one that frees first), else boots one. Returns when the call starts and whether it waited for a boot.</summary>
    private static (double Start, bool Cold) Acquire(List<Inst> pool, double now, double work, ChainScenario s)
    {
        var candidate = pool.Where(i => i.ExpiresAt >= now && (!i.Used || i.BusyUntil <= now))
            .OrderBy(i => Math.Max(now, i.ReadyAt)).FirstOrDefault();
        if (candidate is null)
        {
            candidate = new Inst(now, now + s.ColdStartSeconds, now + s.ColdStartSeconds);
            pool.Add(candidate);
        }
        var start = Math.Max(now, candidate.ReadyAt);
        candidate.Used = true;
        candidate.BusyUntil = start + work;
        candidate.ExpiresAt = Math.Max(candidate.ExpiresAt, candidate.BusyUntil + s.KeepAliveSeconds);
        return (start, start > now);
    }

    /// <summary>Ensures an instance will be alive and free at least until <paramref name="releaseAt"/>; returns true when one was booted.</summary>
    private static bool Prewarm(List<Inst> pool, double now, double releaseAt, ChainScenario s)
    {
        var alive = pool.Where(i => i.ExpiresAt >= now && i.BusyUntil <= releaseAt).OrderByDescending(i => i.ExpiresAt).FirstOrDefault();
        if (alive is not null)
        {
            alive.ExpiresAt = Math.Max(alive.ExpiresAt, releaseAt);
            return false;
        }
        pool.Add(new Inst(now, now + s.ColdStartSeconds, Math.Max(releaseAt, now + s.ColdStartSeconds)) { Prewarmed = true });
        return true;
    }
}
