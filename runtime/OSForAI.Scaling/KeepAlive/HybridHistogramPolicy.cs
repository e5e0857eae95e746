namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// The hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., ATC 2020), per application:
/// <list type="bullet">
/// <item>idle times go into a histogram of 1-minute bins over 4 hours;</item>
/// <item>representative histogram (coefficient of variation of the bin counts ≥ 2): unload when idle, pre-warm at
/// head × 0.9 and keep warm until tail × 1.1, where head is the 5th and tail the 99th percentile
/// (head = 0: do not unload, keep warm until tail × 1.1);</item>
/// <item>not representative (or no idle time seen yet): keep alive for the whole range (4 hours), no pre-warm;</item>
/// <item>most idle times beyond the range: forecast the next idle time and pre-warm around it. The paper uses ARIMA;
/// this implementation uses a simpler forecast (the mean of the last three out-of-range idle times) with the
/// same ±margins (pre-warm at 0.85 × forecast, unload at 1.15 × forecast).</item>
/// </list>
/// Head is the lower edge and tail the upper edge of the bin holding the percentile.
/// </summary>
public sealed class HybridHistogramPolicy : IKeepAlivePolicy
{
    public double BinSec { get; init; } = 60;
    public int BinCount { get; init; } = 240;
    public double RepresentativeCv { get; init; } = 2.0;
    public double HeadPercentile { get; init; } = 5;
    public double TailPercentile { get; init; } = 99;
    public double HeadMargin { get; init; } = 0.9;
    public double TailMargin { get; init; } = 1.1;

    public string Name => "hybrid-histogram";

    public IAppKeepAlive ForApp() => new State(this);

    private sealed class State(HybridHistogramPolicy p) : IAppKeepAlive
    {
        private readonly IdleTimeHistogram _histogram = new(p.BinSec, p.BinCount);
        private readonly OutOfRangeForecast _forecast = new(3);

        public KeepAliveWindow OnIdle(double idleStartSec)
        {
            if (_histogram.OutOfBounds > _histogram.InRange && _forecast.Next is { } next)
                return new KeepAliveWindow(0.85 * next, 1.15 * next);
            if (_histogram.InRange == 0 || _histogram.CoefficientOfVariation() < p.RepresentativeCv)
                return KeepAliveWindow.KeepFor(_histogram.RangeSec);
            var head = _histogram.BinOfPercentile(p.HeadPercentile) * p.BinSec;
            var tail = (_histogram.BinOfPercentile(p.TailPercentile) + 1) * p.BinSec;
            return new KeepAliveWindow(head * p.HeadMargin, tail * p.TailMargin);
        }

        public void OnArrival(double idleStartSec, double arrivalSec)
        {
            var idle = Math.Max(0, arrivalSec - idleStartSec);
            _histogram.Add(idle);
            if (idle >= _histogram.RangeSec) _forecast.Add(idle);
        }
    }
}

/// <summary>A simple stand-in for ARIMA: the mean of the last few observed values.</summary>
internal sealed class OutOfRangeForecast(int keep)
{
    private readonly Queue<double> _recent = new();

    public double? Next => _recent.Count == 0 ? null : _recent.Average();

    public void Add(double value)
    {
        _recent.Enqueue(value);
        while (_recent.Count > keep) _recent.Dequeue();
    }
}
