using System.Collections.Concurrent;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Scaling.Prewarming;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// The live side of call-graph pre-warming: every call teaches the <see cref="CallGraph"/> policy which versions a
/// version calls (from the call chain that composed calls carry), and when a version is called, the callees it
/// likely calls next are pre-warmed in the pool in time for their expected call.
/// </summary>
public sealed class CallGraphPrewarmer(WorkerPool pool, TimeProvider clock)
{
    /// <summary>Callees called on at least this share of a caller's invocations are pre-warmed.</summary>
    public const double MinProbability = 0.3;
    /// <summary>What a specialization costs, for timing pre-warms (generic workers specialize in tens of milliseconds).</summary>
    private const double ColdStartSeconds = 0.05;
    private static readonly TimeSpan ForgetEvery = TimeSpan.FromMinutes(5);
    private readonly CallGraph _graph = new();
    private readonly ConcurrentDictionary<string, VersionRecord> _versions = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _epoch = clock.GetUtcNow();
    private DateTimeOffset _lastForget = clock.GetUtcNow();

    private double Seconds(DateTimeOffset t) => (t - _epoch).TotalSeconds;

    public void OnCall(VersionRecord version, CallChain? from)
    {
        var now = clock.GetUtcNow();
        var t = Seconds(now);
        _versions[version.InstanceKey] = version;
        IReadOnlyList<PrewarmPlan> plans;
        lock (_graph)
        {
            _graph.RecordInvocation(version.InstanceKey, t);
            if (from is { CallerKey: { } caller, CallerStartedAt: { } started })
                _graph.RecordCall(caller, version.InstanceKey, Seconds(started), (now - started).TotalSeconds);
            plans = _graph.Plan(version.InstanceKey, t, ColdStartSeconds, MinProbability);
            if (now - _lastForget > ForgetEvery)
            {
                _graph.Forget(t);
                _lastForget = now;
            }
        }
        foreach (var plan in plans)
        {
            if (!_versions.TryGetValue(plan.Callee, out var callee)) continue;
            var wait = TimeSpan.FromSeconds(Math.Max(0, plan.StartAtSeconds - t));
            // Keep it until the plan would release it if unused.
            var hold = TimeSpan.FromSeconds(Math.Max(0, plan.ReleaseAfterSeconds - plan.StartAtSeconds));
            if (wait <= TimeSpan.FromMilliseconds(5)) pool.Prewarm(callee, hold);
            else _ = Task.Delay(wait, clock).ContinueWith(_ => pool.Prewarm(callee, hold), TaskScheduler.Default);
        }
    }
}
