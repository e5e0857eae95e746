namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// OSForAI's keep-alive policy. Per application it keeps all idle times in a fine logarithmic histogram
/// (<see cref="LogIdleHistogram"/>) and, each time the application becomes idle, picks the window
/// (pre-warm offset p, unload offset k) that minimises the expected cost of the next idle period, in instance-seconds,
/// as if the next idle time were drawn from the history:
/// <list type="bullet">
/// <item>arrival before p: a cold start (priced <see cref="ColdStartPriceGbSec"/> ÷ the application's memory, else
/// <see cref="ColdStartPriceSec"/>) plus its load (the application's load time, else <see cref="LoadSec"/>);</item>
/// <item>arrival in [p, k]: warm; idle warm time g − p, plus a load when it pre-warmed (p &gt; 0);</item>
/// <item>arrival after k: k − p of wasted warm time, then a cold start and its load (and the pre-warm load if any).</item>
/// </list>
/// Candidates for p and k are the bin edges (p with a 0.9 safety margin below, k with 1.1 above), plus "unload now".
/// The history gets two pseudo idle times (<see cref="TailPseudoSamples"/>), one shorter than all and one longer than the range,
/// so a small or drifting history does not fit a window tightly around the idle times seen so far.
/// Pricing a cold start in memory-time (GB-s, the same for every application) is what minimises the sum the platform pays,
/// wasted memory-time plus cold starts: a small application is kept warm longer than a large one for the same price.
/// Until an application has <see cref="MinSamples"/> idle times it keeps the instance for <see cref="ColdStartWindowSec"/>.
/// Decisions are recomputed after each new idle time while there are few, then after every n/16 new ones.
/// Defaults (not fitted to any trace): a cold start is worth what the industry's fixed 10-minute keep-alive pays at most to
/// avoid one for a 128-MB instance (10 min × 0.125 GB = 75 GB-s; 600 instance-s when the memory is unknown), and before any
/// idle time is known the policy keeps the instance 10 minutes, like that fixed policy.
/// </summary>
public sealed class CostAwareKeepAlivePolicy : IKeepAlivePolicy
{
    /// <summary>What one cold start is worth in warm instance-seconds (the trade-off knob), when it is not priced in
    /// memory-time (<see cref="ColdStartPriceGbSec"/>) or the application's memory is unknown.</summary>
    public double ColdStartPriceSec { get; init; } = 600;

    /// <summary>
    /// What one cold start is worth in warm memory-time (GB-s), the same for every application: an application of m GB then
    /// prices a cold start at this ÷ m instance-seconds, so small applications are kept warm longer than large ones for the
    /// same cost. Null: price in instance-seconds (<see cref="ColdStartPriceSec"/>).
    /// </summary>
    public double? ColdStartPriceGbSec { get; init; } = 75;

    /// <summary>
    /// Weight of two pseudo idle times added to the history, one shorter than every idle time seen and one longer than the
    /// range (the rule of succession: after n idle times, the next is the shortest, or the longest, with probability about
    /// 1 / (n + 1)). Without them a window is fitted to the extremes of a small or drifting history: a pre-warm just below the
    /// shortest idle time seen, an unload just above the longest. 0: none.
    /// </summary>
    public double TailPseudoSamples { get; init; } = 1;

    /// <summary>Instance-seconds a load (cold start or pre-warm) occupies before the instance can serve.</summary>
    public double LoadSec { get; init; } = 5;

    /// <summary>Idle times needed before the cost model is used (the pseudo idle times already temper a short history).</summary>
    public int MinSamples { get; init; } = 1;

    /// <summary>Keep-alive while the application has fewer than <see cref="MinSamples"/> idle times.</summary>
    public double ColdStartWindowSec { get; init; } = 600;

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
        $"cold start priced at {(ColdStartPriceGbSec is { } gb ? $"{gb:0.#} GB-s" : $"{ColdStartPriceSec:0} instance-s")}, {ColdStartWindowSec:0} s keep-alive until {MinSamples} idle time{(MinSamples == 1 ? " is" : "s are")} known, {TailPseudoSamples:0.##} pseudo idle time at each end, keep-alive floor {MinKeepSec:0} s");

    public IAppKeepAlive ForApp() => new State(this, LoadSec, ColdStartPriceSec);

    /// <summary>Per-application state priced with the application's own load time and memory when they are known.</summary>
    public IAppKeepAlive ForApp(AppProfile app)
    {
        var load = double.IsFinite(app.LoadSec) && app.LoadSec >= 0 ? app.LoadSec : LoadSec;
        var price = ColdStartPriceGbSec is { } gbSec && double.IsFinite(app.MemoryMb) && app.MemoryMb > 0
            ? gbSec * 1024 / app.MemoryMb
            : ColdStartPriceSec;
        return new State(this, load, price);
    }

    private sealed class State(CostAwareKeepAlivePolicy p, double initialLoadSec, double priceSec) : IAppKeepAlive, Scheduling.ILoadTimeAware
    {
        private double _loadSec = initialLoadSec;

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

        /// <summary>Live, the application's load time is measured: the cost of a cold start follows it.</summary>
        public void OnLoadTimeMeasured(double seconds)
        {
            if (!(seconds >= 0) || !double.IsFinite(seconds)) return;
            _loadSec = 0.7 * _loadSec + 0.3 * seconds;
            _decidedAtCount = -1;
        }

        private KeepAliveWindow CheapestWindow()
        {
            var bins = _idle.Bins;
            var count = new double[bins + 1]; // prefix counts (with the pseudo idle times: one at 0, one beyond the range)
            var sum = new double[bins + 1];   // prefix sums
            for (var b = 0; b < bins; b++)
            {
                count[b + 1] = count[b] + _idle.CountOf(b) + (b == 0 || b == bins - 1 ? p.TailPseudoSamples : 0);
                sum[b + 1] = sum[b] + _idle.SumOf(b);
            }
            var total = count[bins];
            var cold = priceSec + _loadSec;

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
                    var prewarmLoad = pre > 0 ? _loadSec : 0;
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
