namespace OSForAI.Scaling.Autoscaling;

/// <summary>Extra knobs of <see cref="OsForAiAutoscaler"/>. Durations in seconds.</summary>
public sealed record OsForAiAutoscalerOptions
{
    /// <summary>Shared knobs (target, windows, rates, min/max). The stable window only bounds history here.</summary>
    public AutoscalerOptions Base { get; init; } = new();
    /// <summary>Window whose busiest second (or average, see <see cref="ScaleDownToPeak"/>) the count may fall to; shorter than KPA's 60 s so capacity leaves when the work left.</summary>
    public double ScaleDownWindowSeconds { get; init; } = 10;
    /// <summary>Scale down only to the busiest second of the scale-down window (peak hold) instead of its average.</summary>
    public bool ScaleDownToPeak { get; init; } = true;
    /// <summary>
    /// Within the keep-warm period after the last traffic, also never fall below the stable-window average (KPA's signal, at
    /// this scaler's target); after it, the count may reach zero.
    /// </summary>
    public bool HoldStableAverage { get; init; } = true;
    /// <summary>Instance boot time used to project the arrival trend forward (pre-warm lead).</summary>
    public double ColdStartSeconds { get; init; } = 2;
    /// <summary>Shortest and longest time one instance is kept warm after the traffic stops (idle gaps longer than the maximum are not bridged: the minimum applies).</summary>
    public double MinKeepWarmSeconds { get; init; } = 10;
    public double MaxKeepWarmSeconds { get; init; } = 300;
    /// <summary>Keep-warm when no idle gap has been observed yet (KPA's stable window + grace).</summary>
    public double DefaultKeepWarmSeconds { get; init; } = 90;
    /// <summary>Quantile of observed idle gaps the keep-warm period should cover.</summary>
    public double IdleGapQuantile { get; init; } = 0.9;
}

/// <summary>
/// OSForAI's concurrency autoscaler. Scales up on the largest of the panic-window average, the latest sample (in-flight +
/// queued) and the panic-window trend projected one cold start ahead; scales down only to the busiest second (or the average)
/// of a 10-s scale-down window and, within the keep-warm period, not below the stable-window average (limited to ÷down-rate per
/// decision); keeps one instance warm after traffic stops for a period learned
/// from past idle gaps (their 90th percentile × 1.1 when it is short enough to be worth bridging, else the minimum).
/// Guarantee: after Observe(t, c), Decide(t, ready) ≥ min(max, ceil(c / target), ceil(max(1, ready) × up-rate)),
/// it never exceeds max, never goes below min, and returns 0 only after <see cref="OsForAiAutoscalerOptions.MinKeepWarmSeconds"/>
/// (or the learned keep-warm, if longer) with no traffic. Time in seconds; deterministic.
/// </summary>
public sealed class OsForAiAutoscaler : IConcurrencyAutoscaler, Scheduling.ILoadTimeAware
{
    private readonly OsForAiAutoscalerOptions _o;
    private readonly ConcurrencyWindow _window;
    private readonly IdleGapEstimator _gaps;
    private bool _hadTraffic;
    private double _idleSince = double.NaN;
    private double _coldStartSeconds;

    public OsForAiAutoscaler(OsForAiAutoscalerOptions? options = null)
    {
        _o = options ?? new OsForAiAutoscalerOptions();
        _o.Base.Validate();
        if (_o.MinKeepWarmSeconds < 0 || _o.MaxKeepWarmSeconds < _o.MinKeepWarmSeconds) throw new ArgumentOutOfRangeException(nameof(options));
        var longest = Math.Max(_o.Base.StableWindowSeconds, _o.ScaleDownWindowSeconds);
        _window = new ConcurrencyWindow(_o.Base.BucketSeconds, longest);
        _gaps = new IdleGapEstimator(64);
        _coldStartSeconds = _o.ColdStartSeconds;
    }

    /// <summary>The start time the trend is projected over: the configured one until starts are measured, then a moving average of them.</summary>
    public double ColdStartSeconds => _coldStartSeconds;

    public void OnLoadTimeMeasured(double seconds)
    {
        if (seconds >= 0 && double.IsFinite(seconds)) _coldStartSeconds = 0.7 * _coldStartSeconds + 0.3 * seconds;
    }

    public AutoscalerOptions Options => _o.Base;

    /// <summary>The keep-warm period currently applied after the traffic stops.</summary>
    public double KeepWarmSeconds => _gaps.Count == 0
        ? Math.Max(_o.MinKeepWarmSeconds, _o.DefaultKeepWarmSeconds)
        : KeepWarmFrom(_gaps.Quantile(_o.IdleGapQuantile));

    public void Observe(double nowSeconds, double concurrency)
    {
        concurrency = Math.Max(0, concurrency);
        if (concurrency > 0)
        {
            if (_hadTraffic && !double.IsNaN(_idleSince)) _gaps.Add(nowSeconds - _idleSince);
            _hadTraffic = true;
            _idleSince = double.NaN;
        }
        else if (_hadTraffic && double.IsNaN(_idleSince)) _idleSince = nowSeconds;
        _window.Record(nowSeconds, concurrency);
    }

    public ScaleDecision Decide(double nowSeconds, int readyInstances)
    {
        var o = _o.Base;
        var panic = _window.Average(nowSeconds, o.PanicWindowSeconds);
        var down = _o.ScaleDownToPeak ? _window.Max(nowSeconds, _o.ScaleDownWindowSeconds) : _window.Average(nowSeconds, _o.ScaleDownWindowSeconds);
        var trend = Math.Max(0, _window.Slope(nowSeconds, o.PanicWindowSeconds));
        var latest = _window.LastSample;
        var upSignal = Math.Max(Math.Max(panic, latest), panic + trend * _coldStartSeconds);

        var (minByRate, maxByRate) = RateLimits.Bounds(readyInstances, o);
        var upDesired = (int)Math.Min(maxByRate, Math.Ceiling(upSignal / o.EffectiveTarget));
        var keepWarm = KeepWarmSeconds;
        var stable = _window.Average(nowSeconds, o.StableWindowSeconds);
        if (_o.HoldStableAverage && nowSeconds - _window.LastNonZeroSeconds < keepWarm) down = Math.Max(down, stable);
        var downDesired = (int)Math.Ceiling(Math.Max(down, latest) / o.EffectiveTarget);
        var desired = Math.Clamp(Math.Max(upDesired, Math.Min(downDesired, readyInstances)), minByRate, maxByRate);
        desired = Math.Max(desired, upDesired);

        desired = ScaleToZeroGate.Apply(desired, nowSeconds, _window.LastNonZeroSeconds, keepWarm);
        desired = Math.Clamp(desired, o.MinInstances, o.MaxInstances);
        return new ScaleDecision(desired, upDesired > readyInstances, stable, panic);
    }

    private double KeepWarmFrom(double gapQuantile) =>
        gapQuantile * 1.1 <= _o.MaxKeepWarmSeconds ? Math.Max(_o.MinKeepWarmSeconds, gapQuantile * 1.1) : _o.MinKeepWarmSeconds;
}

/// <summary>The last N idle gaps (seconds between traffic stopping and resuming) and their quantiles.</summary>
public sealed class IdleGapEstimator(int capacity)
{
    private readonly Queue<double> _gaps = new();

    public int Count => _gaps.Count;

    public void Add(double gapSeconds)
    {
        if (_gaps.Count == capacity) _gaps.Dequeue();
        _gaps.Enqueue(gapSeconds);
    }

    /// <summary>Nearest-rank quantile, q in [0, 1]; 0 when empty.</summary>
    public double Quantile(double q)
    {
        if (_gaps.Count == 0) return 0;
        var sorted = _gaps.Order().ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
