using OSForAI.Runtime.Catalog;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Scaling.KeepAlive;
using OSForAI.Scaling.Scheduling;

namespace OSForAI.Runtime.Workers;

/// <summary>Makes each version's <see cref="VersionScheduler"/> from the worker options: its autoscaler, keep-alive state and bounds.</summary>
public sealed class SchedulerFactory(WorkerOptions options, TimeProvider clock)
{
    private readonly IKeepAlivePolicy _keepAlive = options.KeepAlive switch
    {
        KeepAliveKind.Fixed => new FixedKeepAlivePolicy(options.IdleKeepAlive),
        _ => new CostAwareKeepAlivePolicy(),
    };

    public IKeepAlivePolicy KeepAlive => _keepAlive;

    /// <summary>A version's scheduler; its keep-alive starts from the version's declared memory and the assumed start time (then measured).</summary>
    public VersionScheduler For(VersionRecord version) => new(Settings(version), Autoscaler(version),
        _keepAlive.ForApp(new AppProfile(version.Resources.MemoryMb, options.Autoscaling.AssumedStartTime.TotalSeconds)), clock);

    public SchedulerSettings Settings(VersionRecord version) => new()
    {
        SlotsPerInstance = Math.Max(1, version.Concurrency),
        MaxInstances = options.MaxInstancesPerVersion,
        QueueLimit = options.QueueLimit,
        AssumedStartSeconds = options.Autoscaling.AssumedStartTime.TotalSeconds,
    };

    public IConcurrencyAutoscaler Autoscaler(VersionRecord version)
    {
        var a = options.Autoscaling;
        var shared = ScalingDefaults.Base(version.Concurrency, options.MaxInstancesPerVersion, a.TargetUtilization) with
        {
            StableWindowSeconds = a.StableWindow.TotalSeconds,
            PanicWindowPercentage = a.PanicWindowPercentage,
            BucketSeconds = a.MetricInterval.TotalSeconds,
            DecisionIntervalSeconds = a.DecisionInterval.TotalSeconds,
            MaxScaleUpRate = a.MaxScaleUpRate,
            MaxScaleDownRate = a.MaxScaleDownRate,
        };
        if (a.Policy == AutoscalerKind.Kpa) return new KpaAutoscaler(shared);
        return new OsForAiAutoscaler(ScalingDefaults.OsForAi(version.Concurrency, options.MaxInstancesPerVersion, a.AssumedStartTime.TotalSeconds) with
        {
            Base = shared,
            // The scale-down window keeps its default ratio to the stable window (10 s of 60 s).
            ScaleDownWindowSeconds = a.StableWindow.TotalSeconds * ScalingDefaults.ScaleDownWindowSeconds / ScalingDefaults.StableWindowSeconds,
        });
    }
}
