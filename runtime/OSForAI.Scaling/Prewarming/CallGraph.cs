namespace OSForAI.Scaling.Prewarming;

/// <summary>Knobs of <see cref="CallGraph"/>. Durations in seconds.</summary>
/// <param name="HalfLifeSeconds">Counts halve after this long without new observations.</param>
/// <param name="ForgetBelowWeight">Edges (and callers) whose decayed count falls below this are dropped by <see cref="CallGraph.Forget"/>.</param>
/// <param name="DelayAlpha">Weight of a new delay observation in the exponentially weighted delay mean and variance.</param>
public sealed record CallGraphOptions(double HalfLifeSeconds = 3600, double ForgetBelowWeight = 0.05, double DelayAlpha = 0.2);

/// <summary>A callee a caller is expected to call: probability per caller invocation and the delay after the caller started.</summary>
public sealed record CalleeForecast(string Callee, double Probability, double MeanDelaySeconds, double DelayStdSeconds, double Weight);

/// <summary>Start booting <paramref name="Callee"/> at <paramref name="StartAtSeconds"/>; release it if unused by <paramref name="ReleaseAfterSeconds"/>.</summary>
public sealed record PrewarmPlan(string Callee, double StartAtSeconds, double ReleaseAfterSeconds, double Probability);

/// <summary>
/// Learns, from observed composition calls, which callees each caller calls, how often (exponentially decayed counts: a
/// probability is decayed calls ÷ decayed caller invocations) and after what delay (EWMA mean and deviation); answers which
/// callees to pre-warm when a caller starts, and forgets edges that stopped being used. Pure: time is passed in as seconds
/// since an arbitrary epoch and must not go backwards per caller. Not thread-safe.
/// </summary>
public sealed class CallGraph(CallGraphOptions? options = null)
{
    private readonly CallGraphOptions _o = options ?? new CallGraphOptions();
    private readonly Dictionary<string, CallerNode> _callers = new(StringComparer.Ordinal);

    public int CallerCount => _callers.Count;
    public int EdgeCount => _callers.Values.Sum(c => c.Edges.Count);

    /// <summary>Records that <paramref name="caller"/> started (was invoked) at <paramref name="nowSeconds"/>.</summary>
    public void RecordInvocation(string caller, double nowSeconds)
    {
        var node = Node(caller, nowSeconds);
        node.Invocations.Add(1, nowSeconds, _o.HalfLifeSeconds);
    }

    /// <summary>Records that <paramref name="caller"/>, started at <paramref name="callerStartSeconds"/>, called <paramref name="callee"/> <paramref name="delaySeconds"/> later.</summary>
    public void RecordCall(string caller, string callee, double callerStartSeconds, double delaySeconds)
    {
        var node = Node(caller, callerStartSeconds);
        if (!node.Edges.TryGetValue(callee, out var edge)) node.Edges[callee] = edge = new Edge(delaySeconds);
        edge.Count.Add(1, callerStartSeconds, _o.HalfLifeSeconds);
        edge.ObserveDelay(Math.Max(0, delaySeconds), _o.DelayAlpha);
    }

    /// <summary>What <paramref name="caller"/> is expected to call, most likely first.</summary>
    public IReadOnlyList<CalleeForecast> Forecast(string caller, double nowSeconds)
    {
        if (!_callers.TryGetValue(caller, out var node)) return [];
        var invocations = node.Invocations.ValueAt(nowSeconds, _o.HalfLifeSeconds);
        if (invocations <= 0) return [];
        return node.Edges
            .Select(e => (e.Key, Weight: e.Value.Count.ValueAt(nowSeconds, _o.HalfLifeSeconds), e.Value))
            .Select(e => new CalleeForecast(e.Key, Math.Min(1, e.Weight / invocations), e.Value.MeanDelay, e.Value.DelayStd, e.Weight))
            .OrderByDescending(f => f.Probability).ThenBy(f => f.Callee, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Caller <paramref name="caller"/> just started: which callees to pre-warm and when. A callee qualifies when its probability
    /// is at least <paramref name="minProbability"/>; it should start booting <paramref name="coldStartSeconds"/> plus a margin
    /// before the early edge of its delay (mean − 2 σ), and may be released if unused by mean + 2 σ + <paramref name="slackSeconds"/>.
    /// </summary>
    public IReadOnlyList<PrewarmPlan> Plan(string caller, double nowSeconds, double coldStartSeconds, double minProbability = 0.1,
        double slackSeconds = 2)
    {
        var plans = new List<PrewarmPlan>();
        foreach (var f in Forecast(caller, nowSeconds))
        {
            if (f.Probability < minProbability) continue;
            var earliest = Math.Max(0, f.MeanDelaySeconds - 2 * f.DelayStdSeconds);
            var start = nowSeconds + Math.Max(0, earliest - coldStartSeconds - 0.25);
            var release = nowSeconds + f.MeanDelaySeconds + 2 * f.DelayStdSeconds + slackSeconds;
            plans.Add(new PrewarmPlan(f.Callee, start, Math.Max(release, start + coldStartSeconds + slackSeconds), f.Probability));
        }
        return plans;
    }

    /// <summary>Drops edges and callers whose decayed counts fell below the threshold; returns how many edges were dropped.</summary>
    public int Forget(double nowSeconds)
    {
        var dropped = 0;
        foreach (var (name, node) in _callers.ToList())
        {
            foreach (var (callee, edge) in node.Edges.ToList())
            {
                if (edge.Count.ValueAt(nowSeconds, _o.HalfLifeSeconds) >= _o.ForgetBelowWeight) continue;
                node.Edges.Remove(callee);
                dropped++;
            }
            if (node.Edges.Count == 0 && node.Invocations.ValueAt(nowSeconds, _o.HalfLifeSeconds) < _o.ForgetBelowWeight) _callers.Remove(name);
        }
        return dropped;
    }

    private CallerNode Node(string caller, double nowSeconds)
    {
        if (!_callers.TryGetValue(caller, out var node)) _callers[caller] = node = new CallerNode();
        return node;
    }

    private sealed class CallerNode
    {
        public DecayedCount Invocations { get; } = new();
        public Dictionary<string, Edge> Edges { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Edge(double firstDelay)
    {
        private double _variance;
        public DecayedCount Count { get; } = new();
        public double MeanDelay { get; private set; } = firstDelay;
        public double DelayStd => Math.Sqrt(_variance);

        public void ObserveDelay(double delay, double alpha)
        {
            var diff = delay - MeanDelay;
            MeanDelay += alpha * diff;
            _variance = (1 - alpha) * (_variance + alpha * diff * diff);
        }
    }
}

/// <summary>A count that halves every half-life: value(t) = value(t0) × 2^(−(t − t0) / halfLife).</summary>
public sealed class DecayedCount
{
    private double _value;
    private double _at = double.NegativeInfinity;

    public void Add(double amount, double nowSeconds, double halfLifeSeconds)
    {
        _value = ValueAt(nowSeconds, halfLifeSeconds) + amount;
        _at = Math.Max(_at, nowSeconds);
    }

    public double ValueAt(double nowSeconds, double halfLifeSeconds) =>
        double.IsNegativeInfinity(_at) ? 0 : _value * Math.Pow(2, -Math.Max(0, nowSeconds - _at) / halfLifeSeconds);
}
