using System.Globalization;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;

namespace OSForAI.Simulation;

/// <summary>One setting of OSForAI's autoscaler that a grid may choose: target utilisation, scale down to the busiest second
/// of the scale-down window (peak hold) or to its average, and whether the stable-window average is held while traffic lasts.</summary>
public sealed record OsForAiSetting(double Utilization, bool PeakHold, bool HoldStable)
{
    public string Knobs => string.Create(CultureInfo.InvariantCulture,
        $"target utilisation {Utilization:0.0#}, scale down to the {(PeakHold ? "busiest second" : "average")} of the last 10 s{(HoldStable ? ", hold the 60-s average while traffic lasts" : "")}");

    public OsForAiAutoscalerOptions Options(int slots, double bootSeconds) =>
        ScalingDefaults.OsForAi(slots, AutoscalerGrid.MaxInstances, bootSeconds, Utilization) with { ScaleDownToPeak = PeakHold, HoldStableAverage = HoldStable };
}

/// <summary>
/// What the autoscaler studies share: the utilisation sweep, the grid for OSForAI's knobs, the rule that picks a setting on
/// tuning data only, frontier dominance, and rows. The rule: the settings that meet SCALING.md's goal against KPA with its
/// defaults on the tuning data (fewer cold starts and lower p99 added latency at equal or fewer instance-seconds; a figure that
/// is 0 for both counts as met) and of those the one with the fewest instance-seconds; when none meets it, the setting whose
/// worst relative gain (cold starts, p99, instance-seconds) against KPA is largest.
/// </summary>
public static class AutoscalerGrid
{
    /// <summary>Target utilisations swept for both scalers (the frontiers).</summary>
    public static IReadOnlyList<double> Utilizations { get; } = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

    /// <summary>KPA's (Knative's) default target utilisation.</summary>
    public const double KpaDefaultUtilization = 0.7;

    public static IReadOnlyList<OsForAiSetting> Grid { get; } =
        Utilizations.SelectMany(u => new[] { true, false }.SelectMany(peak => new[] { true, false }.Select(hold => new OsForAiSetting(u, peak, hold)))).ToList();

    /// <summary>Most instances a simulated service may run.</summary>
    public const int MaxInstances = 500;

    /// <summary>The live pool's default target utilisation for OSForAI's autoscaler (ScalingDefaults).</summary>
    public const double OsForAiDefaultUtilization = ScalingDefaults.TargetUtilization;

    public static AutoscalerOptions KpaOptions(int slots, double utilization = KpaDefaultUtilization) => ScalingDefaults.Kpa(slots, MaxInstances, utilization);

    /// <summary>OSForAI's autoscaler with the live pool's defaults (ScalingDefaults; only the service's slots and boot time filled in).</summary>
    public static OsForAiAutoscalerOptions DefaultOsForAi(int slots, double bootSeconds) => ScalingDefaults.OsForAi(slots, MaxInstances, bootSeconds);

    /// <summary>Runs the replays on all cores; each gets its own simulator and scaler.</summary>
    public static ServiceSimResult[] RunAll(IReadOnlyList<Func<ServiceSimResult>> runs, CancellationToken ct)
    {
        var results = new ServiceSimResult[runs.Count];
        Parallel.For(0, runs.Count, new ParallelOptions { CancellationToken = ct }, i => results[i] = runs[i]());
        return results;
    }

    public static bool MeetsGoal(ServiceSimResult ours, ServiceSimResult kpa) =>
        Fewer(ours.ColdStarts, kpa.ColdStarts) && Fewer(ours.P99AddedMs, kpa.P99AddedMs) && ours.InstanceSeconds <= kpa.InstanceSeconds;

    private static bool Fewer(double ours, double theirs) => ours < theirs || (ours == 0 && theirs == 0);

    /// <summary>Relative gain (positive = ours lower = better).</summary>
    public static double Gain(double ours, double theirs) => theirs == 0 ? (ours == 0 ? 0 : -1) : (theirs - ours) / theirs;

    public static (OsForAiSetting Setting, bool Met) Choose(IReadOnlyList<(OsForAiSetting Setting, ServiceSimResult Result)> tried, ServiceSimResult kpa)
    {
        var met = tried.Where(t => MeetsGoal(t.Result, kpa)).ToList();
        if (met.Count > 0)
            return (met.OrderBy(t => t.Result.InstanceSeconds).ThenBy(t => t.Result.P99AddedMs).First().Setting, true);
        return (tried.OrderByDescending(t => Math.Min(Gain(t.Result.ColdStarts, kpa.ColdStarts), Math.Min(Gain(t.Result.P99AddedMs, kpa.P99AddedMs), Gain(t.Result.InstanceSeconds, kpa.InstanceSeconds))))
            .ThenBy(t => t.Result.InstanceSeconds).First().Setting, false);
    }

    /// <summary>a is no worse than b on cold starts, p99 added latency and instance-seconds, and better on one.</summary>
    public static bool Dominates(ServiceSimResult a, ServiceSimResult b) =>
        a.ColdStarts <= b.ColdStarts && a.P99AddedMs <= b.P99AddedMs && a.InstanceSeconds <= b.InstanceSeconds &&
        (a.ColdStarts < b.ColdStarts || a.P99AddedMs < b.P99AddedMs || a.InstanceSeconds < b.InstanceSeconds);

    public static ResultRow Row(string study, string trace, string policy, string part, ServiceSimResult r, int slots, double? utilization, double bootSeconds, string? note)
    {
        var ideal = r.BusySlotSeconds / slots;
        return new ResultRow
        {
            Study = study,
            Trace = trace,
            Policy = policy,
            Part = part,
            Calls = r.Calls,
            ColdStarts = r.ColdStarts,
            ColdPct = r.Calls == 0 ? 0 : 100.0 * r.ColdStarts / r.Calls,
            WastedInstanceS = r.InstanceSeconds - ideal,
            InstanceS = r.InstanceSeconds,
            IdealInstanceS = ideal,
            P50AddedMs = r.P50AddedMs,
            P99AddedMs = r.P99AddedMs,
            Rejected = r.Rejected,
            Loads = r.InstanceStarts,
            LoadModel = string.Create(CultureInfo.InvariantCulture, $"fixed-{bootSeconds:0.##}s"),
            TargetUtilization = utilization,
            Note = note,
        };
    }

    /// <summary>A sentence on how the two sweeps compare: how many points of each are dominated by a point of the other.</summary>
    public static string FrontierSentence(IReadOnlyList<ServiceSimResult> kpa, IReadOnlyList<ServiceSimResult> os)
    {
        var kpaBeaten = kpa.Count(k => os.Any(o => Dominates(o, k)));
        var osBeaten = os.Count(o => kpa.Any(k => Dominates(k, o)));
        return string.Create(CultureInfo.InvariantCulture,
            $"{kpaBeaten} of {kpa.Count} KPA sweep points are dominated by an OSForAI sweep point (no more cold starts, no higher p99, no more instance-s, better on one); {osBeaten} of {os.Count} OSForAI points are dominated by a KPA point.");
    }
}
