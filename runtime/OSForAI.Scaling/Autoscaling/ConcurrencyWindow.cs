namespace OSForAI.Scaling.Autoscaling;

/// <summary>
/// Concurrency samples in fixed-width time buckets (a ring), with window averages and trends. Samples within one bucket are
/// averaged; buckets without a sample count as zero, except those before the first sample (a young window averages over
/// the time it has seen). Time in seconds.
/// </summary>
public sealed class ConcurrencyWindow
{
    private readonly double _bucketSeconds;
    private readonly long[] _bucketIndex;
    private readonly double[] _sum;
    private readonly int[] _count;
    private long _firstBucket = long.MinValue;

    public ConcurrencyWindow(double bucketSeconds, double longestWindowSeconds)
    {
        _bucketSeconds = bucketSeconds;
        var n = (int)Math.Ceiling(longestWindowSeconds / bucketSeconds) + 2;
        _bucketIndex = new long[n];
        Array.Fill(_bucketIndex, long.MinValue);
        _sum = new double[n];
        _count = new int[n];
    }

    /// <summary>Time of the last non-zero sample, or negative infinity.</summary>
    public double LastNonZeroSeconds { get; private set; } = double.NegativeInfinity;

    /// <summary>The most recent sample.</summary>
    public double LastSample { get; private set; }

    public void Record(double nowSeconds, double concurrency)
    {
        var b = BucketOf(nowSeconds);
        if (_firstBucket == long.MinValue) _firstBucket = b;
        var slot = Slot(b);
        if (_bucketIndex[slot] != b)
        {
            _bucketIndex[slot] = b;
            _sum[slot] = 0;
            _count[slot] = 0;
        }
        _sum[slot] += concurrency;
        _count[slot]++;
        LastSample = concurrency;
        if (concurrency > 0) LastNonZeroSeconds = nowSeconds;
    }

    /// <summary>Average of the bucket averages over the last <paramref name="windowSeconds"/> ending at <paramref name="nowSeconds"/>.</summary>
    public double Average(double nowSeconds, double windowSeconds)
    {
        var (from, to) = Range(nowSeconds, windowSeconds);
        if (to < from) return 0;
        double total = 0;
        for (var b = from; b <= to; b++) total += BucketValue(b);
        return total / (to - from + 1);
    }

    /// <summary>Largest bucket average over the last <paramref name="windowSeconds"/> ending at <paramref name="nowSeconds"/>.</summary>
    public double Max(double nowSeconds, double windowSeconds)
    {
        var (from, to) = Range(nowSeconds, windowSeconds);
        double max = 0;
        for (var b = from; b <= to; b++) max = Math.Max(max, BucketValue(b));
        return max;
    }

    /// <summary>Least-squares slope (concurrency per second) of the bucket averages over the window; 0 with fewer than 3 buckets.</summary>
    public double Slope(double nowSeconds, double windowSeconds)
    {
        var (from, to) = Range(nowSeconds, windowSeconds);
        var n = to - from + 1;
        if (n < 3) return 0;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (var b = from; b <= to; b++)
        {
            double x = (b - from) * _bucketSeconds, y = BucketValue(b);
            sx += x; sy += y; sxx += x * x; sxy += x * y;
        }
        var d = n * sxx - sx * sx;
        return d == 0 ? 0 : (n * sxy - sx * sy) / d;
    }

    private (long From, long To) Range(double nowSeconds, double windowSeconds)
    {
        if (_firstBucket == long.MinValue) return (1, 0);
        var to = BucketOf(nowSeconds);
        var n = Math.Max(1, (long)Math.Round(windowSeconds / _bucketSeconds));
        n = Math.Min(n, _bucketIndex.Length - 2);
        var from = Math.Max(to - n + 1, _firstBucket);
        return (from, to);
    }

    private double BucketValue(long b)
    {
        var slot = Slot(b);
        return _bucketIndex[slot] == b && _count[slot] > 0 ? _sum[slot] / _count[slot] : 0;
    }

    private long BucketOf(double seconds) => (long)Math.Floor(seconds / _bucketSeconds);
    private int Slot(long bucket) => (int)(((bucket % _bucketIndex.Length) + _bucketIndex.Length) % _bucketIndex.Length);
}
