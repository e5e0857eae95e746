namespace OSForAI.Scaling.Autoscaling;

/// <summary>
/// Knative-KPA-like concurrency autoscaler. desired = ceil(window-average concurrency / (target × utilization)) over the stable
/// window (and the panic window), each clamped to [floor(ready / down-rate), ceil(max(1, ready) × up-rate)]. Panic starts when
/// panic-window concurrency / target ≥ threshold × max(1, ready); while panicking the count never drops; panic ends one stable
/// window after the last over-threshold decision. The count reaches zero only after a full stable window plus the grace period
/// without any traffic. The result is finally clamped to [min, max]. Time in seconds.
/// </summary>
public sealed class KpaAutoscaler : IConcurrencyAutoscaler
{
    private readonly ConcurrencyWindow _window;
    private double _panicSince = double.NaN;
    private double _lastOverThreshold = double.NaN;
    private int _maxPanicInstances;

    public KpaAutoscaler(AutoscalerOptions? options = null)
    {
        Options = options ?? new AutoscalerOptions();
        Options.Validate();
        _window = new ConcurrencyWindow(Options.BucketSeconds, Options.StableWindowSeconds);
    }

    public AutoscalerOptions Options { get; }
    public bool Panicking => !double.IsNaN(_panicSince);

    public void Observe(double nowSeconds, double concurrency) => _window.Record(nowSeconds, Math.Max(0, concurrency));

    public ScaleDecision Decide(double nowSeconds, int readyInstances)
    {
        var o = Options;
        var stable = _window.Average(nowSeconds, o.StableWindowSeconds);
        var panic = _window.Average(nowSeconds, o.PanicWindowSeconds);
        var ready = Math.Max(1, readyInstances);
        var (down, up) = RateLimits.Bounds(readyInstances, o);

        var stableDesired = Math.Clamp((int)Math.Ceiling(stable / o.EffectiveTarget), down, up);
        var panicDesired = Math.Clamp((int)Math.Ceiling(panic / o.EffectiveTarget), down, up);
        var over = panic / o.EffectiveTarget / ready >= o.PanicThreshold;

        if (over)
        {
            if (!Panicking) _panicSince = nowSeconds;
            _lastOverThreshold = nowSeconds;
        }
        else if (Panicking && nowSeconds >= _lastOverThreshold + o.StableWindowSeconds)
        {
            _panicSince = double.NaN;
            _maxPanicInstances = 0;
        }

        int desired;
        if (Panicking)
        {
            // Never scale down while panicking: keep the highest count seen during this panic.
            desired = Math.Max(Math.Max(panicDesired, stableDesired), Math.Max(_maxPanicInstances, readyInstances));
            _maxPanicInstances = desired;
        }
        else desired = stableDesired;

        desired = ScaleToZeroGate.Apply(desired, nowSeconds, _window.LastNonZeroSeconds, o.StableWindowSeconds + o.ScaleToZeroGraceSeconds);
        desired = Math.Clamp(desired, o.MinInstances, o.MaxInstances);
        return new ScaleDecision(desired, Panicking, stable, panic);
    }
}

/// <summary>Per-decision rate limits shared by the autoscalers.</summary>
internal static class RateLimits
{
    /// <summary>[floor(ready / down-rate), ceil(max(1, ready) × up-rate)].</summary>
    public static (int Down, int Up) Bounds(int readyInstances, AutoscalerOptions o)
    {
        var ready = Math.Max(1, readyInstances);
        var down = (int)Math.Floor(readyInstances / o.MaxScaleDownRate);
        var up = (int)Math.Min(int.MaxValue / 2, Math.Ceiling(ready * o.MaxScaleUpRate));
        return (down, Math.Max(up, down));
    }
}

/// <summary>Keeps one instance while the service has seen traffic within the idle period.</summary>
internal static class ScaleToZeroGate
{
    public static int Apply(int desired, double nowSeconds, double lastTrafficSeconds, double idleSeconds) =>
        desired == 0 && nowSeconds - lastTrafficSeconds < idleSeconds ? 1 : desired;
}
