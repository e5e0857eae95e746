namespace OSForAI.Simulation.KeepAlive;

/// <summary>What one application cost under one policy.</summary>
public readonly record struct AppOutcome(long Invocations, long ColdStarts, double IdleWarmSec, long Loads, double MemoryMb);

/// <summary>
/// The metrics of one policy over a trace. Waste is counted in instance-seconds held without serving:
/// idle warm time plus <see cref="LoadSec"/> per load (each cold start and each pre-warm occupies the instance while
/// it loads). Memory-GB-seconds weight each application's waste by its memory.
/// </summary>
public sealed class KeepAliveOutcome
{
    public KeepAliveOutcome(string policy, IReadOnlyList<AppOutcome> apps, double loadSec)
    {
        Policy = policy;
        Apps = apps;
        LoadSec = loadSec;
        Invocations = apps.Sum(a => a.Invocations);
        ColdStarts = apps.Sum(a => a.ColdStarts);
        IdleWarmSec = apps.Sum(a => a.IdleWarmSec);
        Loads = apps.Sum(a => a.Loads);
        WasteGbSec = apps.Sum(a => (a.IdleWarmSec + a.Loads * loadSec) * a.MemoryMb / 1024.0);
        var perApp = apps.Where(a => a.Invocations > 0).Select(a => 100.0 * a.ColdStarts / a.Invocations).Order().ToArray();
        P50ColdPct = Percentile(perApp, 50);
        P75ColdPct = Percentile(perApp, 75);
    }

    public string Policy { get; }
    public IReadOnlyList<AppOutcome> Apps { get; }
    public double LoadSec { get; }
    public long Invocations { get; }
    public long ColdStarts { get; }
    public double IdleWarmSec { get; }
    public long Loads { get; }
    public double WasteSec => IdleWarmSec + Loads * LoadSec;
    public double WasteGbSec { get; }
    public double ColdStartRate => Invocations == 0 ? 0 : (double)ColdStarts / Invocations;
    public double P50ColdPct { get; }
    public double P75ColdPct { get; }

    /// <summary>Percentile with linear interpolation between closest ranks; 0 for an empty list.</summary>
    public static double Percentile(double[] sortedAscending, double percentile)
    {
        if (sortedAscending.Length == 0) return 0;
        var position = percentile / 100.0 * (sortedAscending.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sortedAscending.Length - 1);
        return sortedAscending[lower] + (position - lower) * (sortedAscending[upper] - sortedAscending[lower]);
    }
}
