namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// All idle times of one application in geometrically growing bins (first edge 0.1 s, each edge
/// <c>growth</c> × the previous one, up to the range), plus an overflow bin beyond the range. Each bin keeps its count
/// and the sum of its idle times, so the expected idle time of a window can be computed exactly from bin sums.
/// Unlike 1-minute bins, sub-minute idle times keep their resolution.
/// </summary>
public sealed class LogIdleHistogram
{
    private readonly double[] _edges; // _edges[i] = lower edge of bin i; bin i = [_edges[i], _edges[i+1])
    private readonly long[] _counts;
    private readonly double[] _sums;

    public LogIdleHistogram(double rangeSec = 4 * 3600, double firstEdgeSec = 0.1, double growth = 1.15)
    {
        if (rangeSec <= firstEdgeSec || firstEdgeSec <= 0 || growth <= 1) throw new ArgumentOutOfRangeException(nameof(growth));
        var edges = new List<double> { 0, firstEdgeSec };
        while (edges[^1] < rangeSec) edges.Add(Math.Min(rangeSec, edges[^1] * growth));
        edges.Add(double.PositiveInfinity); // overflow bin: [range, ∞)
        _edges = [.. edges];
        _counts = new long[_edges.Length - 1];
        _sums = new double[_edges.Length - 1];
        RangeSec = rangeSec;
    }

    public double RangeSec { get; }

    /// <summary>Number of bins, the overflow bin (last) included.</summary>
    public int Bins => _counts.Length;

    public long Count { get; private set; }

    public double LowerEdge(int bin) => _edges[bin];
    public double UpperEdge(int bin) => _edges[bin + 1];
    public long CountOf(int bin) => _counts[bin];
    public double SumOf(int bin) => _sums[bin];

    public void Add(double idleSec)
    {
        if (double.IsNaN(idleSec) || idleSec < 0) throw new ArgumentOutOfRangeException(nameof(idleSec));
        var bin = BinOf(idleSec);
        _counts[bin]++;
        _sums[bin] += idleSec;
        Count++;
    }

    public int BinOf(double idleSec)
    {
        int lo = 0, hi = _counts.Length - 1; // last bin whose lower edge ≤ idleSec
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (_edges[mid] <= idleSec) lo = mid; else hi = mid - 1;
        }
        return lo;
    }
}
