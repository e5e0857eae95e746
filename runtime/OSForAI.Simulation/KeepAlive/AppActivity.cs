namespace OSForAI.Simulation.KeepAlive;

/// <summary>
/// A busy period of one application: from the arrival that starts it until the last of the invocations running ends
/// (one instance serves all the application's invocations, concurrently when they overlap). Only its first arrival can be
/// a cold start. <see cref="InvocationsFromSplit"/> of its <see cref="Invocations"/> arrive at or after the split time asked for.
/// </summary>
public readonly record struct BusyPeriod(double Start, double End, long Invocations, long InvocationsFromSplit);

/// <summary>
/// The busy and idle periods of one application, which is all a keep-alive replay needs; the application is idle from the
/// end of one busy period until the start of the next (a gap). Periods are produced on demand (a day of a busy application
/// can hold millions), in time order. Times are seconds from the start of the trace.
/// </summary>
public sealed class AppActivity
{
    private readonly Func<double, IEnumerable<BusyPeriod>> _periods;

    private AppActivity(string id, double memoryMb, long invocations, double traceEndSec, Func<double, IEnumerable<BusyPeriod>> periods)
    {
        if (invocations < 1) throw new ArgumentOutOfRangeException(nameof(invocations), "an application needs an invocation");
        Id = id;
        MemoryMb = memoryMb;
        Invocations = invocations;
        TraceEndSec = traceEndSec;
        _periods = periods;
    }

    public string Id { get; }
    public double MemoryMb { get; }
    public long Invocations { get; }
    /// <summary>The end of the trace (the replay stops there).</summary>
    public double TraceEndSec { get; }

    /// <summary>The busy periods in time order; each counts its arrivals at or after <paramref name="splitSec"/>.</summary>
    public IEnumerable<BusyPeriod> Periods(double splitSec = double.PositiveInfinity) => _periods(splitSec);

    /// <summary>Builds the activity from invocations given as (arrival, duration) pairs, in any order.</summary>
    public static AppActivity FromInvocations(string id, double memoryMb, double[] arrivalSec, double[] durationSec, double traceEndSec)
    {
        if (arrivalSec.Length != durationSec.Length) throw new ArgumentException("one duration per arrival");
        if (arrivalSec.Length == 0) throw new ArgumentException("an application needs an invocation");
        var arrivals = (double[])arrivalSec.Clone();
        var ends = new double[arrivals.Length];
        for (var i = 0; i < ends.Length; i++) ends[i] = arrivals[i] + Math.Max(0, durationSec[i]);
        Array.Sort(arrivals, ends);
        return new AppActivity(id, memoryMb, arrivals.Length, traceEndSec, split => FromSorted(arrivals, ends, split));
    }

    private static IEnumerable<BusyPeriod> FromSorted(double[] arrivals, double[] ends, double split)
    {
        var merger = new PeriodMerger();
        for (var i = 0; i < arrivals.Length; i++)
            if (merger.Add(arrivals[i], ends[i], 1, arrivals[i] >= split ? 1 : 0) is { } done) yield return done;
        if (merger.Finish() is { } last) yield return last;
    }

    /// <summary>
    /// The activity of a trace application, each minute's invocations of a function spread uniformly inside the minute
    /// (the i-th of n at 60 × (minute + (i + 0.5) / n) s), each running for the function's average duration.
    /// <paramref name="untilMinute"/> drops the minutes from there on (a replay that must not see them). Null without invocations.
    /// </summary>
    public static AppActivity? FromTrace(TraceApp app, double traceEndSec, int untilMinute = int.MaxValue)
    {
        var total = app.Functions.Sum(f => f.Minutes.Zip(f.Counts).Where(x => x.First < untilMinute).Sum(x => (long)x.Second));
        if (total == 0) return null;
        return new AppActivity(app.Id, app.MemoryMb, total, traceEndSec, split => FromMinutes(app.Functions, untilMinute, split));
    }

    private static IEnumerable<BusyPeriod> FromMinutes(IReadOnlyList<TraceFunction> functions, int untilMinute, double split)
    {
        var cursor = new int[functions.Count];
        var intervals = new List<BusyPeriod>();
        var merger = new PeriodMerger();
        while (true)
        {
            var minute = int.MaxValue;
            for (var f = 0; f < functions.Count; f++)
                if (cursor[f] < functions[f].Minutes.Length) minute = Math.Min(minute, functions[f].Minutes[cursor[f]]);
            if (minute == int.MaxValue || minute >= untilMinute) break;

            intervals.Clear();
            var contributors = 0;
            for (var f = 0; f < functions.Count; f++)
            {
                var fn = functions[f];
                if (cursor[f] >= fn.Minutes.Length || fn.Minutes[cursor[f]] != minute) continue;
                AddIntervals(intervals, minute, fn.Counts[cursor[f]], fn.DurationSec, split);
                cursor[f]++;
                contributors++;
            }
            if (contributors > 1) intervals.Sort((a, b) => a.Start.CompareTo(b.Start));
            foreach (var interval in intervals)
                if (merger.Add(interval.Start, interval.End, interval.Invocations, interval.InvocationsFromSplit) is { } done) yield return done;
        }
        if (merger.Finish() is { } last) yield return last;
    }

    /// <summary>
    /// The busy intervals of one function's n invocations in a minute: one interval when they overlap (duration ≥ spacing),
    /// else one per invocation.
    /// </summary>
    private static void AddIntervals(List<BusyPeriod> into, int minute, int n, double duration, double split)
    {
        var spacing = 60.0 / n;
        double At(int i) => 60.0 * (minute + (i + 0.5) / n);
        if (n == 1 || duration >= spacing)
        {
            // Arrivals i with At(i) >= split: i >= n (split / 60 − minute) − 0.5.
            var firstFromSplit = double.IsPositiveInfinity(split) ? n : (int)Math.Clamp(Math.Ceiling(n * (split / 60.0 - minute) - 0.5), 0, n);
            into.Add(new BusyPeriod(At(0), At(n - 1) + duration, n, n - firstFromSplit));
            return;
        }
        for (var i = 0; i < n; i++)
        {
            var at = At(i);
            into.Add(new BusyPeriod(at, at + duration, 1, at >= split ? 1 : 0));
        }
    }

    /// <summary>Merges intervals given in start order into busy periods (an arrival exactly at the end of the current one joins it).</summary>
    private sealed class PeriodMerger
    {
        private bool _open;
        private double _start, _end;
        private long _n, _fromSplit;

        public BusyPeriod? Add(double start, double end, long n, long fromSplit)
        {
            BusyPeriod? done = null;
            if (_open && start > _end)
            {
                done = new BusyPeriod(_start, _end, _n, _fromSplit);
                _open = false;
            }
            if (!_open)
            {
                _open = true;
                _start = start;
                _end = end;
                _n = n;
                _fromSplit = fromSplit;
            }
            else
            {
                _end = Math.Max(_end, end);
                _n += n;
                _fromSplit += fromSplit;
            }
            return done;
        }

        public BusyPeriod? Finish() => _open ? new BusyPeriod(_start, _end, _n, _fromSplit) : null;
    }
}

/// <summary>Spreads a minute's invocation count uniformly inside the minute: the i-th of n arrives at
/// 60 × (minute + (i + 0.5) / n) seconds.</summary>
public static class MinuteSpreading
{
    public static double[] Arrivals(int minute, int count)
    {
        var result = new double[count];
        for (var i = 0; i < count; i++) result[i] = 60.0 * (minute + (i + 0.5) / count);
        return result;
    }
}
