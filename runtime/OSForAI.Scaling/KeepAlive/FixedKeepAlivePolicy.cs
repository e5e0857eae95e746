namespace OSForAI.Scaling.KeepAlive;

/// <summary>Fixed keep-alive (the industry default, e.g. 10 or 20 minutes): keep warm for a fixed time after each invocation.</summary>
public sealed class FixedKeepAlivePolicy(TimeSpan window) : IKeepAlivePolicy
{
    public TimeSpan Window { get; } = window >= TimeSpan.Zero ? window : throw new ArgumentOutOfRangeException(nameof(window));

    /// <summary>"fixed-10m" for whole minutes, else "fixed-90s".</summary>
    public string Name => Window.TotalMinutes == Math.Floor(Window.TotalMinutes)
        ? FormattableString.Invariant($"fixed-{Window.TotalMinutes:0}m")
        : FormattableString.Invariant($"fixed-{Window.TotalSeconds:0.###}s");

    public IAppKeepAlive ForApp() => new State(KeepAliveWindow.KeepFor(Window.TotalSeconds));

    private sealed class State(KeepAliveWindow window) : IAppKeepAlive
    {
        public KeepAliveWindow OnIdle(double idleStartSec) => window;
        public void OnArrival(double idleStartSec, double arrivalSec) { }
    }
}
