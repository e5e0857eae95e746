namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// Idle times of one application in fixed-width bins over a fixed range (the paper: 1-minute bins over 4 hours),
/// plus a count of the idle times beyond the range ("out of bounds"). Keeps the sums needed for the coefficient of
/// variation of the bin counts in O(1).
/// </summary>
public sealed class IdleTimeHistogram
{
    private readonly int[] _bins;
    private double _sumOfSquares;

    public IdleTimeHistogram(double binSec = 60, int binCount = 240)
    {
        if (binSec <= 0) throw new ArgumentOutOfRangeException(nameof(binSec));
        if (binCount < 2) throw new ArgumentOutOfRangeException(nameof(binCount));
        BinSec = binSec;
        _bins = new int[binCount];
    }

    public double BinSec { get; }
    public int BinCount => _bins.Length;
    public double RangeSec => BinSec * _bins.Length;

    /// <summary>Idle times inside the range.</summary>
    public long InRange { get; private set; }

    /// <summary>Idle times beyond the range.</summary>
    public long OutOfBounds { get; private set; }

    public int this[int bin] => _bins[bin];

    public void Add(double idleSec)
    {
        if (double.IsNaN(idleSec) || idleSec < 0) throw new ArgumentOutOfRangeException(nameof(idleSec));
        var bin = (int)Math.Floor(idleSec / BinSec);
        if (bin >= _bins.Length)
        {
            OutOfBounds++;
            return;
        }
        var before = _bins[bin]++;
        _sumOfSquares += 2.0 * before + 1; // (c+1)² − c²
        InRange++;
    }

    /// <summary>Coefficient of variation (population standard deviation / mean) of the bin counts; 0 when empty.</summary>
    public double CoefficientOfVariation()
    {
        if (InRange == 0) return 0;
        var n = (double)_bins.Length;
        var mean = InRange / n;
        var variance = Math.Max(0, _sumOfSquares / n - mean * mean);
        return Math.Sqrt(variance) / mean;
    }

    /// <summary>The index of the bin holding the <paramref name="percentile"/> (0–100) of the in-range idle times.</summary>
    public int BinOfPercentile(double percentile)
    {
        if (InRange == 0) throw new InvalidOperationException("the histogram is empty");
        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100.0 * InRange));
        long seen = 0;
        for (var i = 0; i < _bins.Length; i++)
        {
            seen += _bins[i];
            if (seen >= rank) return i;
        }
        return _bins.Length - 1;
    }
}
