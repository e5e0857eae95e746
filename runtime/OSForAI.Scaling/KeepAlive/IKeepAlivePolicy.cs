namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// A keep-alive policy: makes one <see cref="IAppKeepAlive"/> per application (one warm instance per application
/// serves all its functions). Policies are pure and deterministic: time is passed in as seconds (double) on any
/// monotonic clock the caller chooses (trace seconds in the simulator, a real clock in the scheduler).
/// </summary>
public interface IKeepAlivePolicy
{
    /// <summary>Short id used in reports (e.g. "fixed-10m", "hybrid-histogram", "osforai").</summary>
    string Name { get; }

    /// <summary>Fresh per-application state (no history yet).</summary>
    IAppKeepAlive ForApp();

    /// <summary>Fresh per-application state for an application whose memory and load time are known (policies that do not
    /// use them ignore them).</summary>
    IAppKeepAlive ForApp(AppProfile app) => ForApp();
}

/// <summary>What the platform knows about an application before it has seen any of its idle times: its memory (MB) and
/// how long loading an instance of it takes (seconds; measured live, modelled in the simulator).</summary>
public readonly record struct AppProfile(double MemoryMb, double LoadSec);

/// <summary>
/// The keep-alive state of one application. The caller alternates:
/// <see cref="OnIdle"/> when the application's last running invocation ends, then
/// <see cref="OnArrival"/> when the next invocation arrives (possibly never).
/// </summary>
public interface IAppKeepAlive
{
    /// <summary>The application became idle at <paramref name="idleStartSec"/>: when to unload and pre-warm it.</summary>
    KeepAliveWindow OnIdle(double idleStartSec);

    /// <summary>The next invocation arrived at <paramref name="arrivalSec"/> after the idle period that began at
    /// <paramref name="idleStartSec"/>: the policy learns the idle time (arrival − idle start).</summary>
    void OnArrival(double idleStartSec, double arrivalSec);
}
