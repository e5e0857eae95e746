namespace OSForAI.Simulation.Regimes;

/// <summary>Simulated time: the replay sets it event by event. Seconds since the start of the replay.</summary>
public sealed class SimulatedClock : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private DateTimeOffset _now = Origin;

    public double Seconds { get; private set; }

    /// <summary>Moves the clock to <paramref name="seconds"/>; time never goes back.</summary>
    public void Set(double seconds)
    {
        if (seconds < Seconds) throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"time went back from {Seconds}");
        Seconds = seconds;
        _now = Origin + TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
    }

    public override DateTimeOffset GetUtcNow() => _now;
}
