using OSForAI.Scaling.KeepAlive;

namespace OSForAI.Simulation.KeepAlive;

/// <summary>
/// Replays application activity through keep-alive policies, one application at a time (applications are
/// independent: each has its own instance), in parallel across applications; results do not depend on the order.
/// Every policy cold-starts an application's first invocation. Cold-start latency does not shift later arrivals.
/// Also provides the three reference points that are not policies: the oracle, never-unload and always-cold.
/// </summary>
public sealed class KeepAliveEngine(double loadSec = KeepAliveEngine.DefaultLoadSec)
{
    /// <summary>Seconds an instance spends loading (a cold start or a pre-warm); also the oracle's break-even gap.</summary>
    public const double DefaultLoadSec = 5;

    public double LoadSec { get; } = loadSec >= 0 ? loadSec : throw new ArgumentOutOfRangeException(nameof(loadSec));

    public KeepAliveOutcome Replay(IKeepAlivePolicy policy, IReadOnlyList<AppActivity> apps) =>
        Run(policy.Name, apps, app => ReplayApp(policy.ForApp(), app));

    /// <summary>
    /// Knows the future: across a gap it keeps the instance warm only when the gap is at most one load long (cheaper
    /// than reloading), otherwise it unloads and re-warms just in time (paying one load, no cold start). So it has one
    /// cold start per application and, gap by gap, the least possible waste: any policy either stays warm for the
    /// whole gap (≥ gap) or unloads and must load again (≥ one load).
    /// </summary>
    public KeepAliveOutcome Oracle(IReadOnlyList<AppActivity> apps) => Run("oracle", apps, app =>
    {
        double idle = 0;
        long loads = 1;
        for (var k = 0; k < app.Gaps; k++)
        {
            var gap = app.NextArrivalSec[k] - app.IdleStartSec[k];
            if (gap <= LoadSec) idle += gap;
            else loads++;
        }
        return new AppOutcome(app.Invocations, 1, idle, loads, app.MemoryMb);
    });

    /// <summary>Loads each application once and keeps it until the end of the trace.</summary>
    public KeepAliveOutcome NeverUnload(IReadOnlyList<AppActivity> apps) => Run("never-unload", apps, app =>
    {
        double idle = app.TrailingIdleSec;
        for (var k = 0; k < app.Gaps; k++) idle += app.NextArrivalSec[k] - app.IdleStartSec[k];
        return new AppOutcome(app.Invocations, 1, idle, 1, app.MemoryMb);
    });

    /// <summary>Every invocation starts a fresh instance that is unloaded when it ends.</summary>
    public KeepAliveOutcome AlwaysCold(IReadOnlyList<AppActivity> apps) => Run("always-cold", apps, app =>
        new AppOutcome(app.Invocations, app.Invocations, 0, app.Invocations, app.MemoryMb));

    private KeepAliveOutcome Run(string name, IReadOnlyList<AppActivity> apps, Func<AppActivity, AppOutcome> replay)
    {
        var results = new AppOutcome[apps.Count];
        Parallel.For(0, apps.Count, i => results[i] = replay(apps[i]));
        return new KeepAliveOutcome(name, results, LoadSec);
    }

    internal static AppOutcome ReplayApp(IAppKeepAlive state, AppActivity app)
    {
        long cold = 1, loads = 1;
        double idle = 0;
        for (var k = 0; k < app.Gaps; k++)
        {
            var start = app.IdleStartSec[k];
            var arrival = app.NextArrivalSec[k];
            var gap = arrival - start;
            var window = state.OnIdle(start);
            var pre = window.PrewarmAfterSec;
            var unload = window.UnloadAfterSec;
            if (gap < pre)
            {
                cold++; loads++;                        // arrived before the pre-warm, which is cancelled
            }
            else if (gap <= unload)
            {
                idle += gap - pre;                      // warm hit
                if (window.Prewarms) loads++;
            }
            else
            {
                idle += unload - pre;                   // unloaded before the arrival
                cold++; loads++;
                if (window.Prewarms) loads++;
            }
            state.OnArrival(start, arrival);
        }

        var trailing = app.TrailingIdleSec;
        var last = state.OnIdle(app.LastIdleStartSec);
        if (last.PrewarmAfterSec < trailing || !last.Prewarms)
        {
            idle += Math.Max(0, Math.Min(last.UnloadAfterSec, trailing) - last.PrewarmAfterSec);
            if (last.Prewarms) loads++;
        }
        return new AppOutcome(app.Invocations, cold, idle, loads, app.MemoryMb);
    }
}
