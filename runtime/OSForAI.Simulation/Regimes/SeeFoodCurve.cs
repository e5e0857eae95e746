namespace OSForAI.Simulation.Regimes;

/// <summary>
/// The SeeFood day: a per-minute call rate (calls/s) = diurnal base × burst factor, scaled to a mean of 21 calls/s.
/// Base(h) = 0.3 + 0.4 × daytime(h) + 0.5 × exp(−(h − 12.5)² / (2 × 1.5²)), daytime(h) = (1 − cos(2π(h − 6)/16)) / 2 between
/// 06:00 and 22:00 (else 0): a night floor, a working-day hump and a lunchtime peak at 12:30. Each minute independently carries a
/// 6× burst with probability 0.2 (seeded), which is what makes hourly autoscaling provision for far more than the hourly mean.
/// Machine capacity = the peak minute's rate / 40, so provisioning for the daily peak takes exactly 40 machines.
/// </summary>
public sealed class SeeFoodCurve
{
    public const double MeanCallsPerSecond = 21;
    public const int PeakMachines = 40;

    public SeeFoodCurve(int seed = 7)
    {
        var rnd = new Random(seed);
        var raw = new double[1440];
        for (var m = 0; m < raw.Length; m++)
        {
            var h = (m + 0.5) / 60.0;
            var daytime = h is >= 6 and <= 22 ? 0.5 * (1 - Math.Cos(2 * Math.PI * (h - 6) / 16)) : 0;
            var baseRate = 0.3 + 0.4 * daytime + 0.5 * Math.Exp(-Math.Pow(h - 12.5, 2) / (2 * 1.5 * 1.5));
            raw[m] = baseRate * (rnd.NextDouble() < 0.2 ? 6 : 1);
        }
        var scale = MeanCallsPerSecond / raw.Average();
        PerMinuteRate = raw.Select(r => r * scale).ToArray();
        MachineCallsPerSecond = PerMinuteRate.Max() / PeakMachines;
    }

    /// <summary>Calls/s in each minute of the day (1,440 values).</summary>
    public IReadOnlyList<double> PerMinuteRate { get; }

    /// <summary>Calls/s one machine serves at full load.</summary>
    public double MachineCallsPerSecond { get; }

    /// <summary>Machines when provisioning for the day's peak minute (40 by construction).</summary>
    public int FixedMachines => (int)Math.Ceiling(PerMinuteRate.Max() / MachineCallsPerSecond - 1e-9);

    /// <summary>Per hour: enough machines for that hour's busiest minute.</summary>
    public IReadOnlyList<int> HourlyMachines => Enumerable.Range(0, 24)
        .Select(h => (int)Math.Ceiling(PerMinuteRate.Skip(h * 60).Take(60).Max() / MachineCallsPerSecond - 1e-9)).ToList();

    /// <summary>Machine-equivalents when paying only for calls served: mean rate / machine capacity.</summary>
    public double IdealMachines => PerMinuteRate.Average() / MachineCallsPerSecond;

    /// <summary>
    /// Poisson arrivals following the curve, with the day compressed into <paramref name="daySeconds"/> (86,400 = real time;
    /// shorter days keep the call rate, so they hold proportionally fewer calls). Each call takes <paramref name="serviceSeconds"/>.
    /// </summary>
    public List<SimRequest> Arrivals(double daySeconds, double serviceSeconds, int seed = 11)
    {
        var rnd = new Random(seed);
        var list = new List<SimRequest>();
        var minuteSeconds = daySeconds / 1440;
        for (var m = 0; m < 1440; m++)
        {
            var rate = PerMinuteRate[m];
            var t = m * minuteSeconds;
            var endOfMinute = (m + 1) * minuteSeconds;
            while (true)
            {
                t += -Math.Log(1 - rnd.NextDouble()) / rate;
                if (t >= endOfMinute) break;
                list.Add(new SimRequest(t, serviceSeconds));
            }
        }
        return list;
    }
}
