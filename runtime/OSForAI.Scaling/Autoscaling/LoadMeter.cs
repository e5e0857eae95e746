namespace OSForAI.Scaling.Autoscaling;

/// <summary>
/// Turns a step function of load (in-flight + queued calls, updated on every change) into the time-weighted average
/// concurrency of each sampling period: the sample an autoscaler observes. Time in seconds; not thread-safe.
/// </summary>
public sealed class LoadMeter
{
    private double _area, _periodStart = double.NaN, _lastChange;
    private int _load;

    public int Current => _load;

    /// <summary>The load became <paramref name="load"/> at <paramref name="nowSeconds"/>.</summary>
    public void Set(double nowSeconds, int load)
    {
        Advance(nowSeconds);
        _load = Math.Max(0, load);
    }

    /// <summary>The average load since the previous call (or since the first change), starting a new period.</summary>
    public double TakeAverage(double nowSeconds)
    {
        Advance(nowSeconds);
        var span = nowSeconds - _periodStart;
        var average = span > 0 ? _area / span : _load;
        _area = 0;
        _periodStart = nowSeconds;
        return average;
    }

    private void Advance(double now)
    {
        if (double.IsNaN(_periodStart)) { _periodStart = now; _lastChange = now; return; }
        if (now > _lastChange) _area += _load * (now - _lastChange);
        _lastChange = Math.Max(_lastChange, now);
    }
}
