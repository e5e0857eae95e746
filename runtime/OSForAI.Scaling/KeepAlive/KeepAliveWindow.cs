namespace OSForAI.Scaling.KeepAlive;

/// <summary>
/// What a keep-alive policy decides when an application becomes idle (its last running invocation ended).
/// Both offsets are seconds measured from that moment (the idle start):
/// the instance is unloaded at once when <see cref="PrewarmAfterSec"/> is positive and loaded again at that offset;
/// it stays warm until <see cref="UnloadAfterSec"/>, then it is unloaded.
/// <c>PrewarmAfterSec == 0</c> means "do not unload now, keep warm from the idle start".
/// <c>UnloadAfterSec == +∞</c> means "never unload".
/// </summary>
public readonly record struct KeepAliveWindow
{
    public KeepAliveWindow(double prewarmAfterSec, double unloadAfterSec)
    {
        if (double.IsNaN(prewarmAfterSec) || prewarmAfterSec < 0)
            throw new ArgumentOutOfRangeException(nameof(prewarmAfterSec), prewarmAfterSec, "must be ≥ 0");
        if (double.IsNaN(unloadAfterSec) || unloadAfterSec < prewarmAfterSec)
            throw new ArgumentOutOfRangeException(nameof(unloadAfterSec), unloadAfterSec, "must be ≥ the pre-warm offset");
        PrewarmAfterSec = prewarmAfterSec;
        UnloadAfterSec = unloadAfterSec;
    }

    /// <summary>Offset (s) at which the instance is warm again after being unloaded at the idle start; 0 = not unloaded.</summary>
    public double PrewarmAfterSec { get; }

    /// <summary>Offset (s) after which the instance is unloaded.</summary>
    public double UnloadAfterSec { get; }

    /// <summary>True when the policy unloads the instance as soon as it becomes idle and pre-warms it later.</summary>
    public bool Prewarms => PrewarmAfterSec > 0;

    /// <summary>Keep warm for <paramref name="seconds"/> after the idle start, no pre-warm.</summary>
    public static KeepAliveWindow KeepFor(double seconds) => new(0, seconds);

    /// <summary>Never unload.</summary>
    public static KeepAliveWindow Forever { get; } = new(0, double.PositiveInfinity);

    /// <summary>Unload immediately, no pre-warm.</summary>
    public static KeepAliveWindow UnloadNow { get; } = new(0, 0);

    /// <summary>Whether a request arriving <paramref name="idleSec"/> after the idle start finds a warm instance.</summary>
    public bool IsWarmAfter(double idleSec) => idleSec >= PrewarmAfterSec && idleSec <= UnloadAfterSec;

    public override string ToString() =>
        Prewarms ? $"unload, pre-warm at +{PrewarmAfterSec:0.#}s, unload at +{UnloadAfterSec:0.#}s" : $"keep warm {UnloadAfterSec:0.#}s";
}
