namespace OSForAI.Scaling.KeepAlive;

/// <summary>Fixed keep-alive (the industry default, e.g. 10 or 20 minutes): keep warm for a fixed time after each invocation.</summary>
public sealed class FixedKeepAlivePolicy(TimeSpan window) : IKeepAlivePolicy
{
    public TimeSpan Window { get; } = window >= TimeSpan.Zero ? window : throw new ArgumentOutOfRangeException(nameof(window));

    public string Name => $"fixed{Window.TotalMinutes:0.##}";

    public IAppKeepAlive ForApp() => new State(KeepAliveWindow.KeepFor(Window.TotalSeconds));

    private sealed class State(KeepAliveWindow window) : IAppKeepAlive
    {
        public KeepAliveWindow OnIdle(double idleStartSec) => window;
        public void OnArrival(double idleStartSec, double arrivalSec) { }
    }
}
