namespace OSForAI.Scaling.Autoscaling;

/// <summary>
/// The default autoscaler settings, in one place: the live pool's options default to these and the simulator's studies use them,
/// so what docs/scaling.md measures is what runs. The window, tick and rate values are Knative's KPA defaults; OSForAI's own
/// defaults are its target utilisation and its scale-down window.
/// </summary>
public static class ScalingDefaults
{
    /// <summary>OSForAI's target utilisation of an instance's slots (KPA's default is 0.7).</summary>
    public const double TargetUtilization = 0.8;
    /// <summary>Load is averaged over, and fed to the autoscaler every, metric interval (Knative: 1-s buckets).</summary>
    public const double MetricIntervalSeconds = 1;
    /// <summary>The autoscaler decides every decision interval (Knative: 2 s).</summary>
    public const double DecisionIntervalSeconds = 2;
    public const double StableWindowSeconds = 60;
    public const double PanicWindowPercentage = 10;
    /// <summary>OSForAI scales down to the busiest second of this window (a sixth of the stable window).</summary>
    public const double ScaleDownWindowSeconds = 10;
    public const double MaxScaleUpRate = 1000;
    public const double MaxScaleDownRate = 2;

    /// <summary>The shared knobs at their defaults for an instance with <paramref name="slots"/> concurrent calls.</summary>
    public static AutoscalerOptions Base(int slots, int maxInstances, double targetUtilization = TargetUtilization) => new()
    {
        TargetConcurrencyPerInstance = Math.Max(1, slots),
        TargetUtilization = targetUtilization,
        StableWindowSeconds = StableWindowSeconds,
        PanicWindowPercentage = PanicWindowPercentage,
        BucketSeconds = MetricIntervalSeconds,
        DecisionIntervalSeconds = DecisionIntervalSeconds,
        MaxScaleUpRate = MaxScaleUpRate,
        MaxScaleDownRate = MaxScaleDownRate,
        MaxInstances = Math.Max(1, maxInstances),
    };

    /// <summary>OSForAI's autoscaler at its defaults; <paramref name="coldStartSeconds"/> is the start time assumed until one is measured.</summary>
    public static OsForAiAutoscalerOptions OsForAi(int slots, int maxInstances, double coldStartSeconds, double targetUtilization = TargetUtilization) => new()
    {
        Base = Base(slots, maxInstances, targetUtilization),
        ColdStartSeconds = coldStartSeconds,
        ScaleDownWindowSeconds = ScaleDownWindowSeconds,
        ScaleDownToPeak = true,
        HoldStableAverage = true,
    };

    /// <summary>Knative's KPA with all its defaults (target utilisation 0.7 unless given).</summary>
    public static AutoscalerOptions Kpa(int slots, int maxInstances, double targetUtilization = 0.7) => Base(slots, maxInstances, targetUtilization);
}
