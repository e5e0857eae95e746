namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// OSForAI's keep-alive policy. Per application it keeps all idle times in a fine logarithmic histogram
/// (<see cref="LogIdleHistogram"/>) and, each time the application becomes idle, picks the window
/// (pre-warm offset p, unload offset k) that minimises the expected cost of the next idle period, in instance-seconds,
/// as if the next idle time were drawn from the history:
/// <list type="bullet">
/// <item>arrival before p: a cold start (priced <see cref="ColdStartPriceSec"/>) plus its load (<see cref="LoadSec"/>);</item>
/// <item>arrival in [p, k]: warm; idle warm time g − p, plus a load when it pre-warmed (p &gt; 0);</item>
/// <item>arrival after k: k − p of wasted warm time, then a cold start and its load (and the pre-warm load if any).</item>
/// </list>
/// Candidates for p and k are the bin edges (p with a 0.9 safety margin below, k with 1.1 above), plus "unload now".
/// Compared with the hybrid histogram: sub-minute idle times keep their resolution, a spread-out history gets a window
/// sized by cost instead of the 4-hour range, rare long gaps of busy applications are still covered when that is
/// cheap, and timer-like applications (idle times bunched at one value) are pre-warmed just before the expected arrival.
/// Until an application has <see cref="MinSamples"/> idle times it keeps the instance for <see cref="ColdStartWindowSec"/>.
/// Decisions are recomputed after each new idle time while there are few, then after every n/16 new ones.
/// </summary>
public sealed class CostAwareKeepAlivePolicy : IKeepAlivePolicy
{
    /// <summary>What one cold start is worth in warm instance-seconds (the trade-off knob).</summary>
    public double ColdStartPriceSec { get; init; } = 4 * 3600;

    /// <summary>Instance-seconds a load (cold start or pre-warm) occupies before the instance can serve.</summary>
    public double LoadSec { get; init; } = 5;

    /// <summary>Idle times needed before the cost model is trusted.</summary>
    public int MinSamples { get; init; } = 3;

    /// <summary>Keep-alive while the application has fewer than <see cref="MinSamples"/> idle times
    /// (shorter than the hybrid policy's 4 hours: most of its waste comes from rarely invoked applications).</summary>
    public double ColdStartWindowSec { get; init; } = 3600;

    /// <summary>Longest keep-alive considered (also the histogram range).</summary>
    public double MaxKeepSec { get; init; } = 4 * 3600;

    /// <summary>
    /// Shortest keep-alive when not pre-warming. The history says nothing about idle times longer than any seen, and an
    /// application's idle times drift (per-minute rates change), so a window cut just above the longest idle time seen
    /// would cold-start on the first slightly longer one; a floor of a minute costs little and avoids that.
    /// </summary>
    public double MinKeepSec { get; init; } = 60;

    public double PrewarmMargin { get; init; } = 0.9;
    public double UnloadMargin { get; init; } = 1.1;

    public string Name => "osforai";

    /// <summary>The parameters in one line, for reports.</summary>
    public string Describe() => FormattableString.Invariant(
        $"cold start priced at {ColdStartPriceSec:0} instance-s, {ColdStartWindowSec:0} s keep-alive until {MinSamples} idle times are known, keep-alive floor {MinKeepSec:0} s, load time the application's own (else {LoadSec:0.#} s)");

    public IAppKeepAlive ForApp() => new State(this, LoadSec);

    /// <summary>Per-application state priced with the application's own load time when it is known.</summary>
    public IAppKeepAlive ForApp(AppProfile app) => new State(this, double.IsFinite(app.LoadSec) && app.LoadSec >= 0 ? app.LoadSec : LoadSec);

    private sealed class State(CostAwareKeepAlivePolicy p, double loadSec) : IAppKeepAlive
    {
        private readonly LogIdleHistogram _idle = new(p.MaxKeepSec);
        private long _decidedAtCount = -1;
        private KeepAliveWindow _decision;

        public KeepAliveWindow OnIdle(double idleStartSec)
        {
            var n = _idle.Count;
            if (n < p.MinSamples)
                return KeepAliveWindow.KeepFor(p.ColdStartWindowSec);
            if (_decidedAtCount < 0 || n - _decidedAtCount >= Math.Max(1, _decidedAtCount / 16))
            {
                _decision = CheapestWindow();
                _decidedAtCount = n;
            }
            return _decision;
        }

        public void OnArrival(double idleStartSec, double arrivalSec) => _idle.Add(Math.Max(0, arrivalSec - idleStartSec));

        private KeepAliveWindow CheapestWindow()
        {
            var bins = _idle.Bins;
            var count = new long[bins + 1];   // prefix counts
            var sum = new double[bins + 1];   // prefix sums
            for (var b = 0; b < bins; b++)
            {
                count[b + 1] = count[b] + _idle.CountOf(b);
                sum[b + 1] = sum[b] + _idle.SumOf(b);
            }
            var total = count[bins];
            var cold = p.ColdStartPriceSec + loadSec;

            var best = KeepAliveWindow.UnloadNow;
            var bestCost = total * cold;                // unload at once: every arrival is cold
            // Window covering bins [first, last]: arrivals in earlier bins are early, in later bins late.
            for (var last = 0; last < bins - 1; last++) // the overflow bin is never covered
            {
                if (_idle.CountOf(last) == 0) continue;
                var covered = Math.Min(p.MaxKeepSec, _idle.UpperEdge(last) * p.UnloadMargin);
                var late = total - count[last + 1];
                for (var first = 0; first <= last; first++)
                {
                    if (first > 0 && _idle.CountOf(first) == 0) continue;
                    var pre = first == 0 ? 0 : _idle.LowerEdge(first) * p.PrewarmMargin;
                    var k = pre > 0 ? covered : Math.Max(covered, Math.Min(p.MaxKeepSec, p.MinKeepSec));
                    var prewarmLoad = pre > 0 ? loadSec : 0;
                    var early = count[first];
                    var warm = count[last + 1] - early;
                    var cost = early * cold
                        + (sum[last + 1] - sum[first]) - pre * warm + warm * prewarmLoad
                        + late * ((k - pre) + prewarmLoad + cold);
                    if (cost < bestCost - 1e-9)
                    {
                        bestCost = cost;
                        best = new KeepAliveWindow(pre, k);
                    }
                }
            }
            return best;
        }
    }
}
