namespace OSForAI.Scaling.Autoscaling;

/// <summary>
/// Knobs of a concurrency autoscaler. Defaults are Knative Serving's KPA defaults (config-autoscaler):
/// target 100 in-flight per instance at 70% utilization, 60-s stable window, panic window 10% of it, panic threshold 200%,
/// 1-s metric buckets, a decision every 2 s, scale up at most ×1000 and down at most ÷2 per decision, scale-to-zero grace 30 s.
/// All durations are in seconds.
/// </summary>
public sealed record AutoscalerOptions
{
    public double TargetConcurrencyPerInstance { get; init; } = 100;
    public double TargetUtilization { get; init; } = 0.7;
    public double StableWindowSeconds { get; init; } = 60;
    public double PanicWindowPercentage { get; init; } = 10;
    /// <summary>Panic when the panic-window desired count is at least this multiple of the ready instances.</summary>
    public double PanicThreshold { get; init; } = 2.0;
    public double BucketSeconds { get; init; } = 1;
    /// <summary>How often the host should call <see cref="IConcurrencyAutoscaler.Decide"/>.</summary>
    public double DecisionIntervalSeconds { get; init; } = 2;
    public double MaxScaleUpRate { get; init; } = 1000;
    public double MaxScaleDownRate { get; init; } = 2;
    public int MinInstances { get; init; }
    public int MaxInstances { get; init; } = 1000;
    public double ScaleToZeroGraceSeconds { get; init; } = 30;

    /// <summary>In-flight requests one instance should carry: target × utilization (70 with the defaults).</summary>
    public double EffectiveTarget => TargetConcurrencyPerInstance * TargetUtilization;
    public double PanicWindowSeconds => StableWindowSeconds * PanicWindowPercentage / 100.0;

    /// <summary>Throws when a knob is out of range.</summary>
    public void Validate()
    {
        if (EffectiveTarget <= 0) throw new ArgumentOutOfRangeException(nameof(TargetConcurrencyPerInstance), "target × utilization must be positive");
        if (StableWindowSeconds < BucketSeconds || BucketSeconds <= 0) throw new ArgumentOutOfRangeException(nameof(StableWindowSeconds));
        if (PanicWindowSeconds < BucketSeconds) throw new ArgumentOutOfRangeException(nameof(PanicWindowPercentage));
        if (MaxScaleUpRate <= 1 || MaxScaleDownRate <= 1) throw new ArgumentOutOfRangeException(nameof(MaxScaleUpRate), "rates must exceed 1");
        if (MinInstances < 0 || MaxInstances < Math.Max(1, MinInstances)) throw new ArgumentOutOfRangeException(nameof(MaxInstances));
        if (ScaleToZeroGraceSeconds < 0) throw new ArgumentOutOfRangeException(nameof(ScaleToZeroGraceSeconds));
    }
}

/// <summary>What one autoscaling decision found.</summary>
/// <param name="DesiredInstances">Instances the service should have (booting + ready), already clamped.</param>
/// <param name="Panicking">True while in panic mode (KPA) or while scaling up on the short signal (OSForAI).</param>
/// <param name="StableConcurrency">Average concurrency over the stable window.</param>
/// <param name="PanicConcurrency">Average concurrency over the panic window.</param>
public readonly record struct ScaleDecision(int DesiredInstances, bool Panicking, double StableConcurrency, double PanicConcurrency);

/// <summary>
/// A request-concurrency autoscaler for one algorithm version. Pure and deterministic: time is passed in as seconds since
/// an arbitrary epoch and must not go backwards.
/// </summary>
public interface IConcurrencyAutoscaler
{
    AutoscalerOptions Options { get; }

    /// <summary>Records the concurrency (in-flight + queued requests) seen at <paramref name="nowSeconds"/>; samples in one bucket are averaged.</summary>
    void Observe(double nowSeconds, double concurrency);

    /// <summary>Decides the instance count; call every <see cref="AutoscalerOptions.DecisionIntervalSeconds"/>.</summary>
    ScaleDecision Decide(double nowSeconds, int readyInstances);
}
