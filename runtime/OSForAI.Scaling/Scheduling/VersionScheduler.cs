using OSForAI.Scaling.Autoscaling;
using OSForAI.Scaling.KeepAlive;

namespace OSForAI.Scaling.Scheduling;

/// <summary>The fixed shape of one version's scheduling: slots per instance and the bounds.</summary>
public sealed record SchedulerSettings
{
    /// <summary>Calls one instance runs at once (the version's concurrency).</summary>
    public int SlotsPerInstance { get; init; } = 1;
    /// <summary>Most instances (starting, ready and draining) of the version.</summary>
    public int MaxInstances { get; init; } = 8;
    /// <summary>Calls that may wait for a slot; more are refused (<see cref="RejectReason.QueueFull"/>).</summary>
    public int QueueLimit { get; init; } = 1000;
    /// <summary>Start time assumed until one is measured: pre-warms are started this far ahead of the moment they should be warm.</summary>
    public double AssumedStartSeconds { get; init; } = 1;
    /// <summary>
    /// After a failed start, no new start for this long, doubling with each further failure in a row up to
    /// <see cref="MaxStartBackoff"/> (no churn: an image that cannot be pulled is not retried every tick); a remembered failure
    /// (<see cref="StartFailure.Remember"/>) also refuses calls at once meanwhile.
    /// </summary>
    public TimeSpan StartFailureMemory { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxStartBackoff { get; init; } = TimeSpan.FromMinutes(1);

    public void Validate()
    {
        if (SlotsPerInstance < 1) throw new ArgumentOutOfRangeException(nameof(SlotsPerInstance), SlotsPerInstance, "must be at least 1");
        if (MaxInstances < 1) throw new ArgumentOutOfRangeException(nameof(MaxInstances), MaxInstances, "must be at least 1");
        if (QueueLimit < 0) throw new ArgumentOutOfRangeException(nameof(QueueLimit), QueueLimit, "must not be negative");
        if (!(AssumedStartSeconds >= 0)) throw new ArgumentOutOfRangeException(nameof(AssumedStartSeconds), AssumedStartSeconds, "must not be negative");
    }
}

/// <summary>A policy that wants to know how long this version's instances really take to start (load time, measured live).</summary>
public interface ILoadTimeAware
{
    void OnLoadTimeMeasured(double seconds);
}

/// <summary>
/// The scheduler of one algorithm version, pure: no I/O, no threads, time from an injected <see cref="TimeProvider"/>. The live
/// <c>WorkerPool</c> and the simulator drive this same class with the same events and carry out the commands it returns
/// (<see cref="SchedulerCommand"/>: start, stop, dispatch, reject). Shaped as Knative splits its autoscaler:
/// <list type="bullet">
/// <item><b>metric collection</b>: a <see cref="LoadMeter"/> turns every change of load (in flight + queued) into the time-averaged
/// concurrency of each metric tick;</item>
/// <item><b>decider</b>: the <see cref="IConcurrencyAutoscaler"/> turns those samples into a desired instance count, every decision
/// interval; the <see cref="IAppKeepAlive"/> policy alone decides, while the version is idle, whether its last instance stays
/// (or is pre-warmed again); without a keep-alive policy the autoscaler decides scale-to-zero itself (Knative's way);</item>
/// <item><b>ticker</b>: <see cref="Tick"/>, called by the host every metric interval, feeds the metric and applies the decision.</item>
/// </list>
/// Admission and dispatch: a call goes to the fullest ready instance with a free slot (packing, so surplus instances fall idle and
/// can be stopped), else waits in a bounded FIFO queue, else is refused. While the queue is longer than
/// the slots of all its starting and ready instances together, another instance starts at once (the activator's job), up to
/// <see cref="SchedulerSettings.MaxInstances"/>; shorter queues wait for the autoscaler's next decision.
/// Guarantees, whatever the events: a Stop is only ever issued for an instance with no call in flight (busy instances are drained:
/// no new calls, stopped when their last call ends); an instance that is starting (or pending, e.g. waiting for a node) is never
/// stopped by a policy; the instance count never exceeds the maximum; every queued call is eventually dispatched or refused.
/// Not thread-safe: the host serialises events (one lock per version).
/// </summary>
public sealed class VersionScheduler
{
    private readonly TimeProvider _clock;
    private readonly DateTimeOffset _epoch;
    private readonly SchedulerSettings _settings;
    private readonly IConcurrencyAutoscaler _decider;
    private readonly IAppKeepAlive? _keepAlive;
    private readonly LoadMeter _load = new();
    private readonly List<InstanceState> _instances = [];
    private readonly LinkedList<long> _queue = new();
    private readonly Dictionary<long, LinkedListNode<long>> _waiting = [];
    private readonly Queue<double> _loadTimes = new();
    private long _nextInstance, _nextCall;
    private int _inFlight;
    private double _nextDecision;
    private double? _idleSince;
    private KeepAliveWindow? _window;
    private double _holdUntil = double.NegativeInfinity;
    private StartFailure? _remembered;
    private double _backoffUntil = double.NegativeInfinity;
    private int _failuresInARow;
    private bool _stopping;

    public VersionScheduler(SchedulerSettings settings, IConcurrencyAutoscaler decider, IAppKeepAlive? keepAlive, TimeProvider clock)
    {
        settings.Validate();
        _settings = settings;
        _decider = decider;
        _keepAlive = keepAlive;
        _clock = clock;
        _epoch = clock.GetUtcNow();
        _nextDecision = decider.Options.DecisionIntervalSeconds;
    }

    public SchedulerSettings Settings => _settings;

    /// <summary>Seconds since this scheduler was made, on its clock.</summary>
    public double Now => (_clock.GetUtcNow() - _epoch).TotalSeconds;

    /// <summary>The autoscaler's latest desired count (before keep-alive).</summary>
    public int Desired { get; private set; }
    public int InFlight => _inFlight;
    public int Queued => _queue.Count;
    public int ReadyCount => _instances.Count(i => i.Phase == Phase.Ready);
    public int StartingCount => _instances.Count(i => i.Phase == Phase.Starting);
    /// <summary>Instances that exist in any phase (starting, ready, draining, or gone with calls still being failed).</summary>
    public int Instances => _instances.Count;

    public long Calls { get; private set; }
    /// <summary>Calls that waited for an instance to start (cold starts, per invocation).</summary>
    public long ColdCalls { get; private set; }
    public long Starts { get; private set; }
    public long Prewarms { get; private set; }
    public long PrewarmHits { get; private set; }
    public long ScaleUps { get; private set; }
    public long ScaleDowns { get; private set; }
    public long Rejected { get; private set; }

    /// <summary>The median of the last start-to-ready times measured (seconds), or null before the first.</summary>
    public double? MeasuredLoadSeconds => _loadTimes.Count == 0 ? null : _loadTimes.Order().ElementAt(_loadTimes.Count / 2);

    /// <summary>The last start failure reported, if any.</summary>
    public StartFailure? LastStartFailure { get; private set; }

    /// <summary>Why calls are waiting right now, when instances are starting: e.g. "1 instance starting for 180 s (pending: Unschedulable)".</summary>
    public string? WaitReason
    {
        get
        {
            var starting = _instances.Where(i => i.Phase == Phase.Starting).ToList();
            var now = Now;
            if (starting.Count == 0)
                return InBackoff(now) && LastStartFailure is { } f
                    ? $"{_failuresInARow} start{(_failuresInARow == 1 ? "" : "s")} failed in a row, the next in {_backoffUntil - now:0} s; the last: {f.Message}"
                    : null;
            var oldest = starting.MinBy(i => i.StartedAt)!;
            var pending = starting.Where(i => i.PendingReason is not null).MaxBy(i => now - i.StartedAt);
            var text = $"{starting.Count} instance{(starting.Count == 1 ? "" : "s")} starting for {now - oldest.StartedAt:0} s";
            return pending is null ? text : $"{text} (pending: {pending.PendingReason})";
        }
    }

    /// <summary>Instance ids in each phase, for operators and tests.</summary>
    public IEnumerable<long> InstanceIds(bool readyOnly = false) =>
        _instances.Where(i => !readyOnly || i.Phase == Phase.Ready).Select(i => i.Id);

    /// <summary>A call arrives: dispatched to a free slot, queued, or refused; may start an instance. Returns the call's id.</summary>
    public long Arrive(List<SchedulerCommand> output)
    {
        var call = ++_nextCall;
        var now = Now;
        Calls++;
        if (_idleSince is { } since)
        {
            _keepAlive?.OnArrival(since, now);
            _idleSince = null;
            _window = null;
        }
        if (_stopping) { Refuse(call, RejectReason.Stopping, output); return call; }
        if (FullestFree() is { } free)
        {
            DispatchTo(free, call, cold: false, now, output);
            LoadChanged(now);
            return call;
        }
        if (ActiveCount == 0 && IsFailureRemembered(now))
        {
            Refuse(call, RejectReason.StartFailed, output);
            return call;
        }
        if (_queue.Count >= _settings.QueueLimit)
        {
            Refuse(call, RejectReason.QueueFull, output);
            return call;
        }
        _waiting[call] = _queue.AddLast(call);
        LoadChanged(now);
        StartForQueue(now, output);
        return call;
    }

    /// <summary>A call that waited in the queue gave up (its timeout, or its client left). Returns whether it was still waiting.</summary>
    public bool Cancel(long call, List<SchedulerCommand> output)
    {
        if (!_waiting.Remove(call, out var node)) return false;
        _queue.Remove(node);
        var now = Now;
        LoadChanged(now);
        MarkIdleIfIdle(now);
        return true;
    }

    /// <summary>A dispatched call ended (answered or failed) on <paramref name="instance"/>.</summary>
    public void Complete(long instance, List<SchedulerCommand> output)
    {
        var i = Find(instance) ?? throw new InvalidOperationException($"unknown instance {instance}");
        var now = Now;
        i.InFlight--;
        _inFlight--;
        i.LastUsed = now;
        AfterSlotFreed(i, now, output);
        LoadChanged(now);
        StartForQueue(now, output);
        MarkIdleIfIdle(now);
    }

    /// <summary>
    /// A dispatched call ran past its timeout on <paramref name="instance"/>: the call is given up (as if complete), the instance takes
    /// no more calls (its code is stuck) and is stopped as soon as its other calls have ended, never before.
    /// </summary>
    public void TimedOut(long instance, List<SchedulerCommand> output)
    {
        var i = Find(instance) ?? throw new InvalidOperationException($"unknown instance {instance}");
        var now = Now;
        i.InFlight--;
        _inFlight--;
        i.Abandoned = true;
        if (i.Phase == Phase.Ready) i.Phase = Phase.Draining;
        AfterSlotFreed(i, now, output);
        LoadChanged(now);
        StartForQueue(now, output);
        MarkIdleIfIdle(now);
    }

    /// <summary>A starting instance is ready: it takes queued calls (cold starts) up to its slots.</summary>
    public void Ready(long instance, List<SchedulerCommand> output)
    {
        var i = Find(instance);
        if (i is not { Phase: Phase.Starting }) return;
        var now = Now;
        i.Phase = Phase.Ready;
        i.LastUsed = now;
        i.PendingReason = null;
        _remembered = null;
        _failuresInARow = 0;
        _backoffUntil = double.NegativeInfinity;
        RecordLoadTime(now - i.StartedAt);
        while (i.InFlight < _settings.SlotsPerInstance && _queue.First is { } head)
        {
            _queue.RemoveFirst();
            _waiting.Remove(head.Value);
            DispatchTo(i, head.Value, cold: true, now, output);
        }
        LoadChanged(now);
        MarkIdleIfIdle(now);
    }

    /// <summary>A starting instance is still waiting, for a reason worth telling callers (e.g. "Unschedulable: 0/3 nodes have nvidia.com/gpu").</summary>
    public void Pending(long instance, string reason)
    {
        if (Find(instance) is { Phase: Phase.Starting } i) i.PendingReason = reason;
    }

    /// <summary>
    /// A start failed. When no instance is ready or starting any more, the queued calls are refused with the reason
    /// (<see cref="LastStartFailure"/>); a failure to remember refuses new calls at once for a while.
    /// </summary>
    public void StartFailed(long instance, StartFailure failure, List<SchedulerCommand> output)
    {
        var i = Find(instance);
        if (i is not { Phase: Phase.Starting }) return;
        _instances.Remove(i);
        var now = Now;
        LastStartFailure = failure;
        _failuresInARow++;
        var backoff = Math.Min(_settings.StartFailureMemory.TotalSeconds * Math.Pow(2, Math.Min(_failuresInARow - 1, 20)), _settings.MaxStartBackoff.TotalSeconds);
        _backoffUntil = now + backoff;
        _remembered = failure.Remember ? failure : null;
        if (ActiveCount == 0)
        {
            while (_queue.First is { } head)
            {
                _queue.RemoveFirst();
                _waiting.Remove(head.Value);
                Refuse(head.Value, RejectReason.StartFailed, output);
            }
        }
        LoadChanged(now);
        MarkIdleIfIdle(now);
    }

    /// <summary>
    /// A ready instance died on its own (crash, out of memory). Its calls in flight fail (the host reports each as complete);
    /// queued calls get a replacement when nothing else will serve them.
    /// </summary>
    public void Exited(long instance, List<SchedulerCommand> output)
    {
        var i = Find(instance);
        if (i is null) return;
        if (i.Phase == Phase.Starting) { StartFailed(instance, new StartFailure("Unavailable", "the worker exited while starting"), output); return; }
        i.Phase = Phase.Gone;
        if (i.InFlight == 0) _instances.Remove(i);
        var now = Now;
        StartForQueue(now, output);
    }

    /// <summary>
    /// Starts an instance ahead of a predicted call unless one exists or is starting, and keeps the version warm for at least
    /// <paramref name="hold"/> whatever the keep-alive policy says. Returns whether it started one.
    /// </summary>
    public bool Prewarm(TimeSpan hold, List<SchedulerCommand> output)
    {
        var now = Now;
        _holdUntil = Math.Max(_holdUntil, now + hold.TotalSeconds);
        if (_stopping || ActiveCount > 0 || InBackoff(now)) return false;
        StartInstance(prewarm: true, output);
        return true;
    }

    /// <summary>Starts instances ahead of demand until <paramref name="count"/> are starting or ready (a minimum at start). Returns how many it started.</summary>
    public int Provision(int count, List<SchedulerCommand> output)
    {
        var now = Now;
        if (_stopping || InBackoff(now)) return 0;
        var n = Math.Min(count, _settings.MaxInstances) - ActiveCount;
        for (var k = 0; k < n; k++) StartInstance(prewarm: true, output);
        return Math.Max(0, n);
    }

    /// <summary>When the least recently used idle ready instance was last used, or null if none is idle.</summary>
    public DateTimeOffset? OldestIdleLastUsed => LeastRecentlyUsedIdle() is { } i ? _epoch + TimeSpan.FromSeconds(i.LastUsed) : null;

    /// <summary>Placement needs memory: stops the least recently used idle instance, if there is one.</summary>
    public bool EvictIdle(List<SchedulerCommand> output)
    {
        if (LeastRecentlyUsedIdle() is not { } victim) return false;
        StopNow(victim, StopReason.Evicted, output);
        return true;
    }

    /// <summary>
    /// The ticker: call every metric interval (the autoscaler's bucket, 1 s by default). Feeds the load average since the last tick
    /// to the autoscaler, takes a decision when one is due, and applies it together with the keep-alive policy.
    /// </summary>
    public void Tick(List<SchedulerCommand> output)
    {
        if (_stopping) return;
        var now = Now;
        _decider.Observe(now, _load.TakeAverage(now));
        if (now + 1e-9 >= _nextDecision)
        {
            Desired = Math.Min(_decider.Decide(now, ReadyCount).DesiredInstances, _settings.MaxInstances);
            var interval = _decider.Options.DecisionIntervalSeconds;
            while (_nextDecision <= now + 1e-9) _nextDecision += interval;
            Apply(Target(now), now, output);
        }
        else if (_keepAlive is not null)
        {
            // Between decisions, only the keep-alive's verdict on the last instance (unload, or warm again) is applied.
            var target = Target(now);
            if (target == 0 || ActiveCount == 0) Apply(Math.Min(target, 1), now, output);
        }
    }

    /// <summary>The server is stopping: queued calls are refused and no new call is taken. The host stops the instances itself.</summary>
    public void Shutdown(List<SchedulerCommand> output)
    {
        _stopping = true;
        while (_queue.First is { } head)
        {
            _queue.RemoveFirst();
            _waiting.Remove(head.Value);
            Refuse(head.Value, RejectReason.Stopping, output);
        }
    }

    private bool IsIdle => _inFlight == 0 && _queue.Count == 0;

    /// <summary>Instances that serve or will serve calls: starting and ready (not draining or gone).</summary>
    private int ActiveCount
    {
        get
        {
            var n = 0;
            foreach (var i in _instances) if (i.Phase is Phase.Starting or Phase.Ready) n++;
            return n;
        }
    }

    private int Target(double now)
    {
        if (_keepAlive is null) return Desired;
        bool warm;
        if (!IsIdle || _holdUntil > now) warm = true;
        else if (_idleSince is { } since && _window is { } window)
        {
            // A pre-warm must be warm at the policy's offset: it starts one start time (measured, else assumed) ahead of it.
            var idleFor = now - since;
            var lead = window.Prewarms && ActiveCount == 0 ? MeasuredLoadSeconds ?? _settings.AssumedStartSeconds : 0;
            warm = idleFor <= window.UnloadAfterSec && idleFor + lead >= window.PrewarmAfterSec;
        }
        else warm = false;
        return warm ? Math.Max(1, Desired) : 0;
    }

    private void Apply(int target, double now, List<SchedulerCommand> output)
    {
        target = Math.Min(target, _settings.MaxInstances);
        var active = ActiveCount;
        if (target > active)
        {
            var need = target - active;
            need -= Reclaim(need);
            if (InBackoff(now)) return;
            need = Math.Min(need, _settings.MaxInstances - _instances.Count);
            var ahead = IsIdle;
            for (var k = 0; k < need; k++) StartInstance(prewarm: ahead, output);
            if (need > 0) ScaleUps += need;
            return;
        }
        var surplus = active - target;
        if (surplus <= 0) return;
        var reason = target == 0 && IsIdle && _keepAlive is not null ? StopReason.KeepAlive : StopReason.ScaleDown;
        // Starting (and pending) instances are never stopped by a policy: they become ready first, then count as surplus.
        var victims = _instances.Where(i => i.Phase == Phase.Ready)
            .OrderBy(i => i.InFlight).ThenBy(i => i.LastUsed).ThenBy(i => i.Id).Take(surplus).ToList();
        foreach (var v in victims)
        {
            if (v.InFlight == 0) StopNow(v, reason, output);
            else v.Phase = Phase.Draining;   // no new calls; stopped when its last call ends
            ScaleDowns++;
        }
    }

    /// <summary>Takes draining instances back into service (busiest first) instead of starting new ones. Returns how many.</summary>
    private int Reclaim(int wanted)
    {
        var n = 0;
        foreach (var i in _instances.Where(i => i.Phase == Phase.Draining && !i.Abandoned).OrderByDescending(i => i.InFlight).ToList())
        {
            if (n == wanted) break;
            i.Phase = Phase.Ready;
            n++;
        }
        return n;
    }

    /// <summary>Starts another instance while the queue outgrows the slots of every instance, starting or ready (scale from zero, bursts).</summary>
    private void StartForQueue(double now, List<SchedulerCommand> output)
    {
        if (_stopping || _queue.Count == 0) return;
        // Only a queue longer than one round of every instance's slots (each waiting call would wait a whole service time
        // at least) starts one at once; shorter queues are the autoscaler's to judge at its next decision (their calls are
        // in its signal). Starting on every short queue chased noise at high utilisation (docs/scaling.md).
        if (_queue.Count <= ActiveCount * _settings.SlotsPerInstance) return;
        if (Reclaim(1) == 1)
        {
            // A reclaimed instance may have free slots right away.
            foreach (var i in _instances) if (i.Phase == Phase.Ready) FillFromQueue(i, now, output);
            LoadChanged(now);
            return;
        }
        if (_instances.Count >= _settings.MaxInstances || InBackoff(now)) return;
        StartInstance(prewarm: false, output);
    }

    private void AfterSlotFreed(InstanceState i, double now, List<SchedulerCommand> output)
    {
        switch (i.Phase)
        {
            case Phase.Gone:
                if (i.InFlight == 0) _instances.Remove(i);
                break;
            case Phase.Draining:
                if (i.InFlight == 0) StopNow(i, i.Abandoned ? StopReason.Abandoned : StopReason.ScaleDown, output);
                break;
            case Phase.Ready:
                FillFromQueue(i, now, output);
                break;
        }
    }

    private void FillFromQueue(InstanceState i, double now, List<SchedulerCommand> output)
    {
        while (i.InFlight < _settings.SlotsPerInstance && _queue.First is { } head)
        {
            _queue.RemoveFirst();
            _waiting.Remove(head.Value);
            DispatchTo(i, head.Value, cold: false, now, output);
        }
    }

    private void StartInstance(bool prewarm, List<SchedulerCommand> output)
    {
        var i = new InstanceState(++_nextInstance, Now) { Prewarmed = prewarm };
        _instances.Add(i);
        Starts++;
        if (prewarm) Prewarms++;
        output.Add(SchedulerCommand.Start(i.Id, prewarm));
    }

    private void StopNow(InstanceState i, StopReason reason, List<SchedulerCommand> output)
    {
        if (i.InFlight != 0) throw new InvalidOperationException($"instance {i.Id} has {i.InFlight} calls in flight and cannot be stopped");
        _instances.Remove(i);
        output.Add(SchedulerCommand.Stop(i.Id, reason));
    }

    private void DispatchTo(InstanceState i, long call, bool cold, double now, List<SchedulerCommand> output)
    {
        i.InFlight++;
        _inFlight++;
        i.LastUsed = now;
        if (cold) ColdCalls++;
        if (!i.Used)
        {
            i.Used = true;
            if (i.Prewarmed) PrewarmHits++;
        }
        output.Add(SchedulerCommand.Dispatch(call, i.Id, cold));
    }

    private void Refuse(long call, RejectReason reason, List<SchedulerCommand> output)
    {
        Rejected++;
        output.Add(SchedulerCommand.Refuse(call, reason));
    }

    private InstanceState? FullestFree()
    {
        InstanceState? best = null;
        foreach (var i in _instances)
            if (i.Phase == Phase.Ready && i.InFlight < _settings.SlotsPerInstance && (best is null || i.InFlight > best.InFlight)) best = i;
        return best;
    }

    private InstanceState? LeastRecentlyUsedIdle()
    {
        InstanceState? victim = null;
        foreach (var i in _instances)
            if (i.Phase == Phase.Ready && i.InFlight == 0 && (victim is null || i.LastUsed < victim.LastUsed)) victim = i;
        return victim;
    }

    private void MarkIdleIfIdle(double now)
    {
        if (!IsIdle || _idleSince is not null || _keepAlive is null || ActiveCount == 0 && Calls == 0) return;
        _idleSince = now;
        _window = _keepAlive.OnIdle(now);
    }

    private bool IsFailureRemembered(double now) => _remembered is not null && InBackoff(now);

    private bool InBackoff(double now) => now < _backoffUntil;

    private void RecordLoadTime(double seconds)
    {
        if (_loadTimes.Count == 16) _loadTimes.Dequeue();
        _loadTimes.Enqueue(seconds);
        if (_decider is ILoadTimeAware d) d.OnLoadTimeMeasured(seconds);
        if (_keepAlive is ILoadTimeAware k) k.OnLoadTimeMeasured(seconds);
    }

    private void LoadChanged(double now) => _load.Set(now, _inFlight + _queue.Count);

    private InstanceState? Find(long id)
    {
        foreach (var i in _instances) if (i.Id == id) return i;
        return null;
    }

    private enum Phase { Starting, Ready, Draining, Gone }

    private sealed class InstanceState(long id, double startedAt)
    {
        public long Id { get; } = id;
        public double StartedAt { get; } = startedAt;
        public Phase Phase = Phase.Starting;
        public int InFlight;
        public double LastUsed = startedAt;
        public bool Prewarmed, Used, Abandoned;
        public string? PendingReason;
    }
}
