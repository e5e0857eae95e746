namespace OSForAI.Simulation.KeepAlive;

/// <summary>
/// The busy and idle periods of one application, which is all a keep-alive replay needs. One instance serves all the
/// application's invocations (concurrently when they overlap); the application is busy from an arrival until the
/// latest end of the invocations running, and idle from then until the next arrival (a gap). Only the first arrival
/// after a gap can be a cold start. Times are seconds from the start of the trace.
/// </summary>
public sealed class AppActivity
{
    public AppActivity(string id, double memoryMb, long invocations, double firstArrivalSec,
        double[] idleStartSec, double[] nextArrivalSec, double lastIdleStartSec, double traceEndSec)
    {
        if (invocations < 1) throw new ArgumentOutOfRangeException(nameof(invocations), "an application needs an invocation");
        if (idleStartSec.Length != nextArrivalSec.Length) throw new ArgumentException("one next arrival per idle start");
        if (invocations < idleStartSec.Length + 1) throw new ArgumentException("more gaps than invocations allow");
        Id = id;
        MemoryMb = memoryMb;
        Invocations = invocations;
        FirstArrivalSec = firstArrivalSec;
        IdleStartSec = idleStartSec;
        NextArrivalSec = nextArrivalSec;
        LastIdleStartSec = lastIdleStartSec;
        TraceEndSec = traceEndSec;
    }

    public string Id { get; }
    public double MemoryMb { get; }
    public long Invocations { get; }
    public double FirstArrivalSec { get; }
    /// <summary>Gap k: the application is idle from IdleStartSec[k] until NextArrivalSec[k].</summary>
    public double[] IdleStartSec { get; }
    public double[] NextArrivalSec { get; }
    public int Gaps => IdleStartSec.Length;
    /// <summary>When the last busy period ends; idle from there to the end of the trace.</summary>
    public double LastIdleStartSec { get; }
    public double TraceEndSec { get; }
    public double TrailingIdleSec => Math.Max(0, TraceEndSec - LastIdleStartSec);

    /// <summary>Builds the activity from invocations given as (arrival, duration) pairs, in any order.</summary>
    public static AppActivity FromInvocations(string id, double memoryMb, double[] arrivalSec, double[] durationSec, double traceEndSec)
    {
        if (arrivalSec.Length != durationSec.Length) throw new ArgumentException("one duration per arrival");
        if (arrivalSec.Length == 0) throw new ArgumentException("an application needs an invocation");
        var arrivals = (double[])arrivalSec.Clone();
        var ends = new double[arrivals.Length];
        for (var i = 0; i < ends.Length; i++) ends[i] = arrivals[i] + Math.Max(0, durationSec[i]);
        Array.Sort(arrivals, ends);

        var idleStarts = new List<double>();
        var nextArrivals = new List<double>();
        var busyUntil = ends[0];
        for (var i = 1; i < arrivals.Length; i++)
        {
            if (arrivals[i] > busyUntil)
            {
                idleStarts.Add(busyUntil);
                nextArrivals.Add(arrivals[i]);
                busyUntil = ends[i];
            }
            else
            {
                busyUntil = Math.Max(busyUntil, ends[i]);
            }
        }
        return new AppActivity(id, memoryMb, arrivals.Length, arrivals[0], [.. idleStarts], [.. nextArrivals], busyUntil, traceEndSec);
    }

    /// <summary>The activity of a trace application, each minute's invocations spread uniformly inside it.
    /// Null when the application has no invocation.</summary>
    public static AppActivity? FromTrace(TraceApp app, double traceEndSec)
    {
        var total = app.Invocations;
        if (total == 0) return null;
        var arrivals = new double[total];
        var durations = new double[total];
        var next = 0;
        foreach (var function in app.Functions)
            for (var minute = 0; minute < function.PerMinute.Length; minute++)
            {
                var count = function.PerMinute[minute];
                MinuteSpreading.Fill(minute, count, arrivals.AsSpan(next, count));
                durations.AsSpan(next, count).Fill(function.DurationSec);
                next += count;
            }
        return FromInvocations(app.Id, app.MemoryMb, arrivals, durations, traceEndSec);
    }
}

/// <summary>Spreads a minute's invocation count uniformly inside the minute: the i-th of n arrives at
/// 60 × (minute + (i + 0.5) / n) seconds.</summary>
public static class MinuteSpreading
{
    public static void Fill(int minute, int count, Span<double> arrivals)
    {
        if (arrivals.Length != count) throw new ArgumentException("one slot per invocation");
        for (var i = 0; i < count; i++)
            arrivals[i] = 60.0 * (minute + (i + 0.5) / count);
    }

    public static double[] Arrivals(int minute, int count)
    {
        var result = new double[count];
        Fill(minute, count, result);
        return result;
    }
}
