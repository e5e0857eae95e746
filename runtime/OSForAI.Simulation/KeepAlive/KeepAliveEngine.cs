using System.Globalization;
using OSForAI.Scaling.KeepAlive;

namespace OSForAI.Simulation.KeepAlive;

/// <summary>How long loading an instance of an application takes (a cold start or a pre-warm), as a function of its memory.</summary>
public sealed record LoadModel(string Id, string Description, double StartupSec, double MbPerSec)
{
    /// <summary>The main model: a fixed start-up (process or container start, runtime initialisation) plus reading and
    /// initialising the application's memory at a stated bandwidth.</summary>
    public static LoadModel Memory { get; } = new("memory", "1 s start-up + memory ÷ 200 MB/s", 1, 200);

    /// <summary>The same load time for every application (sensitivity rows).</summary>
    public static LoadModel Fixed(double seconds) =>
        new(string.Create(CultureInfo.InvariantCulture, $"fixed-{seconds:0.##}s"), string.Create(CultureInfo.InvariantCulture, $"{seconds:0.##} s for every application"), seconds, double.PositiveInfinity);

    public double Seconds(double memoryMb) => StartupSec + (double.IsPositiveInfinity(MbPerSec) ? 0 : Math.Max(0, memoryMb) / MbPerSec);
}

/// <summary>
/// One line of a replay: a policy (or a reference point) whose decisions use <see cref="LoadModel"/> for the load time
/// (<see cref="IAppKeepAlive"/> policies get it through <see cref="AppProfile"/>). When <see cref="LoadIndependent"/>, its
/// decisions do not depend on the load time, so its outcome can be priced with any load model.
/// </summary>
public sealed record KeepAliveLane(string Policy, LoadModel LoadModel, bool LoadIndependent, Func<AppProfile, LaneState> Create)
{
    public static KeepAliveLane For(IKeepAlivePolicy policy, LoadModel model, string? id = null, bool loadIndependent = false) =>
        new(id ?? policy.Name, model, loadIndependent, app => new PolicyLaneState(policy.ForApp(app)));

    /// <summary>Knows the future: keeps warm across a gap only when it is at most one load long, else re-warms just in time.</summary>
    public static KeepAliveLane Oracle(LoadModel model) => new("oracle", model, false, app => new OracleLaneState(app.LoadSec));

    /// <summary>Loads each application once and keeps it until the end.</summary>
    public static KeepAliveLane NeverUnload(LoadModel model) => new("never-unload", model, true, _ => new NeverUnloadLaneState());

    /// <summary>Every invocation starts a fresh instance that is unloaded when it ends.</summary>
    public static KeepAliveLane AlwaysCold(LoadModel model) => new("always-cold", model, true, _ => new AlwaysColdLaneState());
}

/// <summary>What one application cost under one lane in one part of the trace.</summary>
public struct PartOutcome
{
    public long ColdStarts;
    public double IdleWarmSec;
    public long Loads;
}

/// <summary>
/// The per-application state of a lane during a replay, and its accounting. Every event is counted in the part of the
/// trace it falls in: part 0 before the split, part 1 from the split on; nothing after the stop time counts.
/// A cold start and its load count at the arrival; a pre-warm load when the instance is warm again; idle warm time is cut at
/// the split and the stop.
/// </summary>
public abstract class LaneState
{
    private double _split, _stop;
    private bool _started;
    private double _lastEnd;
    internal PartOutcome Before, After;

    internal void Start(double split, double stop) { _split = split; _stop = stop; }

    internal void OnPeriod(in BusyPeriod period)
    {
        if (!_started) { _started = true; First(period); }
        else Gap(_lastEnd, period);
        _lastEnd = period.End;
    }

    internal void Finish()
    {
        if (_started && _lastEnd < _stop) Trailing(_lastEnd, _stop - _lastEnd);
    }

    /// <summary>The application's first invocation: a cold start for every policy.</summary>
    protected virtual void First(in BusyPeriod period) { Cold(period.Start); Load(period.Start); }

    /// <summary>Idle from <paramref name="idleStart"/> until <paramref name="next"/> starts.</summary>
    protected abstract void Gap(double idleStart, in BusyPeriod next);

    /// <summary>Idle from <paramref name="idleStart"/> until the stop, <paramref name="length"/> seconds later.</summary>
    protected abstract void Trailing(double idleStart, double length);

    protected void Idle(double from, double to)
    {
        to = Math.Min(to, _stop);
        if (to <= from) return;
        if (from < _split) Before.IdleWarmSec += Math.Min(to, _split) - from;
        if (to > _split) After.IdleWarmSec += to - Math.Max(from, _split);
    }

    protected void Load(double at, long count = 1)
    {
        if (at >= _stop) return;
        if (at < _split) Before.Loads += count; else After.Loads += count;
    }

    protected void Cold(double at, long count = 1)
    {
        if (at >= _stop) return;
        if (at < _split) Before.ColdStarts += count; else After.ColdStarts += count;
    }

    protected void ColdPerInvocation(in BusyPeriod p)
    {
        Before.ColdStarts += p.Invocations - p.InvocationsFromSplit;
        Before.Loads += p.Invocations - p.InvocationsFromSplit;
        After.ColdStarts += p.InvocationsFromSplit;
        After.Loads += p.InvocationsFromSplit;
    }
}

/// <summary>A keep-alive policy's decisions: at each idle start it asks for the window (pre-warm, unload).</summary>
public sealed class PolicyLaneState(IAppKeepAlive state) : LaneState
{
    protected override void Gap(double s, in BusyPeriod next)
    {
        var arrival = next.Start;
        var gap = arrival - s;
        var window = state.OnIdle(s);
        var pre = window.PrewarmAfterSec;
        var unload = window.UnloadAfterSec;
        if (gap < pre)
        {
            Cold(arrival); Load(arrival);              // arrived before the pre-warm, which is cancelled
        }
        else if (gap <= unload)
        {
            Idle(s + pre, arrival);                    // warm hit
            if (window.Prewarms) Load(s + pre);
        }
        else
        {
            Idle(s + pre, s + unload);                 // unloaded before the arrival
            if (window.Prewarms) Load(s + pre);
            Cold(arrival); Load(arrival);
        }
        state.OnArrival(s, arrival);
    }

    protected override void Trailing(double s, double length)
    {
        var window = state.OnIdle(s);
        if (window.Prewarms && window.PrewarmAfterSec >= length) return;
        Idle(s + window.PrewarmAfterSec, s + Math.Min(window.UnloadAfterSec, length));
        if (window.Prewarms) Load(s + window.PrewarmAfterSec);
    }
}

internal sealed class OracleLaneState(double loadSec) : LaneState
{
    protected override void Gap(double s, in BusyPeriod next)
    {
        if (next.Start - s <= loadSec) Idle(s, next.Start);
        else Load(next.Start);                         // unloaded at once, loaded again just in time
    }

    protected override void Trailing(double s, double length) { }
}

internal sealed class NeverUnloadLaneState : LaneState
{
    protected override void Gap(double s, in BusyPeriod next) => Idle(s, next.Start);
    protected override void Trailing(double s, double length) => Idle(s, s + length);
}

internal sealed class AlwaysColdLaneState : LaneState
{
    protected override void First(in BusyPeriod period) => ColdPerInvocation(period);
    protected override void Gap(double s, in BusyPeriod next) => ColdPerInvocation(next);
    protected override void Trailing(double s, double length) { }
}

/// <summary>
/// Replays application activity through many lanes at once, one application at a time (applications are independent: each
/// has its own instance), in parallel across applications; results do not depend on the order. Cold-start latency does not
/// shift later arrivals. Events before <c>split</c> count in part 0, from it on in part 1, and the replay stops at <c>stop</c>:
/// so policies can learn from a first part whose metrics are not reported.
/// </summary>
public static class KeepAliveEngine
{
    public static KeepAliveReplay Replay(IReadOnlyList<AppActivity> apps, IReadOnlyList<KeepAliveLane> lanes, double splitSec, double stopSec,
        CancellationToken ct = default)
    {
        var outcomes = new PartOutcome[lanes.Count, apps.Count, 2];
        var calls = new long[apps.Count, 2];
        var busy = new double[apps.Count, 2];
        // Work items: (application, group of lanes); each item regenerates the application's periods (cheap next to the
        // policies), so a few busy applications do not leave cores idle. Group 0 also counts invocations and busy time.
        var groups = Math.Max(1, Math.Min(lanes.Count, Environment.ProcessorCount));
        var perGroup = (lanes.Count + groups - 1) / Math.Max(1, groups);
        Parallel.For(0, apps.Count * groups, new ParallelOptions { CancellationToken = ct }, item =>
        {
            var i = item / groups;
            var group = item % groups;
            var app = apps[i];
            var from = group * perGroup;
            var to = Math.Min(lanes.Count, from + perGroup);
            if (from >= to && group > 0) return;
            var states = new LaneState[Math.Max(0, to - from)];
            for (var l = from; l < to; l++)
            {
                states[l - from] = lanes[l].Create(new AppProfile(app.MemoryMb, lanes[l].LoadModel.Seconds(app.MemoryMb)));
                states[l - from].Start(splitSec, stopSec);
            }
            long before = 0, after = 0;
            double busyBefore = 0, busyAfter = 0;
            foreach (var period in app.Periods(splitSec))
            {
                if (period.Start >= stopSec) break;
                if (group == 0)
                {
                    before += period.Invocations - period.InvocationsFromSplit;
                    after += period.InvocationsFromSplit;
                    var end = Math.Min(period.End, stopSec);
                    if (period.Start < splitSec) busyBefore += Math.Min(end, splitSec) - period.Start;
                    if (end > splitSec) busyAfter += end - Math.Max(period.Start, splitSec);
                }
                foreach (var state in states) state.OnPeriod(period);
            }
            for (var l = from; l < to; l++)
            {
                states[l - from].Finish();
                outcomes[l, i, 0] = states[l - from].Before;
                outcomes[l, i, 1] = states[l - from].After;
            }
            if (group == 0)
            {
                calls[i, 0] = before; calls[i, 1] = after;
                busy[i, 0] = busyBefore; busy[i, 1] = busyAfter;
            }
        });
        return new KeepAliveReplay(apps, lanes, outcomes, calls, busy);
    }

    /// <summary>One policy over the whole of <paramref name="apps"/> (no split), priced with <paramref name="model"/>.</summary>
    public static KeepAliveMetrics Replay(IKeepAlivePolicy policy, IReadOnlyList<AppActivity> apps, LoadModel model) =>
        Whole(KeepAliveLane.For(policy, model), apps);

    public static KeepAliveMetrics Oracle(IReadOnlyList<AppActivity> apps, LoadModel model) => Whole(KeepAliveLane.Oracle(model), apps);
    public static KeepAliveMetrics NeverUnload(IReadOnlyList<AppActivity> apps, LoadModel model) => Whole(KeepAliveLane.NeverUnload(model), apps);
    public static KeepAliveMetrics AlwaysCold(IReadOnlyList<AppActivity> apps, LoadModel model) => Whole(KeepAliveLane.AlwaysCold(model), apps);

    private static KeepAliveMetrics Whole(KeepAliveLane lane, IReadOnlyList<AppActivity> apps)
    {
        var stop = apps.Count == 0 ? 0 : apps.Max(a => a.TraceEndSec);
        return Replay(apps, [lane], 0, stop).Metrics(0, part: 1, lane.LoadModel);
    }
}
