using OSForAI.WorkerProtocol;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Catalog;
using OSForAI.Scaling.Autoscaling;
using OSForAI.Scaling.KeepAlive;
using OSForAI.Scaling.Placement;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// The pool's state and counters. ColdStarts counts specializations (a worker loading a version); ColdCalls counts
/// calls that found no instance of their version and had to wait for one; Prewarms counts specializations started
/// ahead of demand, PrewarmHits the first calls served by them. Desired is the autoscaler's instance count summed over
/// versions; ScaleUps and ScaleDowns count instances it started and stopped.
/// </summary>
public sealed record PoolStats(int LiveWorkers, int GenericIdle, int Instances, int Queued, long ColdStarts, long FreshStarts, long Calls,
    long ColdCalls = 0, long Prewarms = 0, long PrewarmHits = 0, int Desired = 0, long ScaleUps = 0, long ScaleDowns = 0);

/// <summary>
/// The local scheduler. Keeps a few generic warm workers per runtime kind; a cold call specializes
/// one by loading the version's code into it (milliseconds), instead of starting a process. Each
/// version gets up to MaxInstancesPerVersion instances with a per-instance concurrency limit, and a
/// bounded FIFO queue for calls waiting for a slot. Dead, timed-out or idle workers are replaced.
/// Scaling is split between two pure policies: a concurrency autoscaler per version decides how many
/// instances a version with traffic runs (fed its load every tick), and a keep-alive policy decides
/// when an idle version drops to zero (and when to pre-warm it again).
/// </summary>
public sealed class WorkerPool : IAsyncDisposable
{
    /// <summary>How long a load failure is answered from memory before the code is tried again.</summary>
    private static readonly TimeSpan LoadFailureMemory = TimeSpan.FromSeconds(2);
    private readonly IWorkerHost _host;
    private readonly Auth.CallDelegation _delegation;
    private readonly CodeStore _code;
    private readonly WorkerOptions _options;
    private readonly ILogger<WorkerPool> _log;
    private readonly TimeProvider _clock;
    private readonly ConcurrentDictionary<string, VersionGroup> _groups = new();
    private readonly ConcurrentDictionary<string, GenericPool> _generics = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ITimer _reaper, _scaler;
    private readonly IKeepAlivePolicy _keepAlive;
    private readonly Func<VersionRecord, IConcurrencyAutoscaler> _autoscaler;
    private readonly ResourceProfiles _profiles;
    private readonly NodeSpec _node;
    private readonly DateTimeOffset _epoch;
    private int _liveWorkers;
    private int _spawning;
    private long _coldStarts, _freshStarts, _calls, _coldCalls, _prewarms, _prewarmHits, _scaleUps, _scaleDowns;

    public WorkerPool(IWorkerHost host, CodeStore code, IOptions<OsaiOptions> options, ILogger<WorkerPool> log, TimeProvider clock,
        ResourceProfiles profiles, Auth.CallDelegation delegation)
    {
        _delegation = delegation;
        _profiles = profiles;
        var n = options.Value.Workers.Node;
        _node = new NodeSpec("local", new ResourceProfile(
            n.CpuCores > 0 ? n.CpuCores : Environment.ProcessorCount,
            n.MemoryMb > 0 ? n.MemoryMb : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8 / 1048576.0,
            n.GpuMemoryMb));
        _host = host;
        _code = code;
        _options = options.Value.Workers;
        _log = log;
        _clock = clock;
        _keepAlive = (_options.KeepAlive ?? "adaptive").Trim().ToLowerInvariant() switch
        {
            "fixed" => new FixedKeepAlivePolicy(_options.IdleKeepAlive),
            "adaptive" => new CostAwareKeepAlivePolicy(),
            var other => throw new InvalidOperationException($"OSForAI:Workers:KeepAlive must be fixed or adaptive, not '{other}'"),
        };
        _autoscaler = AutoscalerFactory(_options);
        _epoch = clock.GetUtcNow();
        _scaler = clock.CreateTimer(_ => Autoscale(), null, _options.Autoscaling.Tick, _options.Autoscaling.Tick);
        var period = TimeSpan.FromTicks(Math.Clamp(_options.IdleKeepAlive.Ticks / 4, TimeSpan.FromMilliseconds(200).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _reaper = clock.CreateTimer(_ => ReapIdle(), null, period, period);
    }

    /// <summary>One autoscaler per version: a slot per unit of the version's concurrency, bounded by MaxInstancesPerVersion.</summary>
    private static Func<VersionRecord, IConcurrencyAutoscaler> AutoscalerFactory(WorkerOptions o)
    {
        var a = o.Autoscaling;
        var policy = (a.Policy ?? "osforai").Trim().ToLowerInvariant();
        if (policy is not ("osforai" or "kpa"))
            throw new InvalidOperationException($"OSForAI:Workers:Autoscaling:Policy must be osforai or kpa, not '{a.Policy}'");
        AutoscalerOptions For(int concurrency) => new()
        {
            TargetConcurrencyPerInstance = Math.Max(1, concurrency),
            TargetUtilization = a.TargetUtilization,
            StableWindowSeconds = a.StableWindow.TotalSeconds,
            PanicWindowPercentage = a.PanicWindowPercentage,
            BucketSeconds = a.Tick.TotalSeconds,
            DecisionIntervalSeconds = a.Tick.TotalSeconds,
            MaxScaleUpRate = a.MaxScaleUpRate,
            MaxScaleDownRate = a.MaxScaleDownRate,
            MinInstances = 0,
            MaxInstances = Math.Max(1, o.MaxInstancesPerVersion),
        };
        try { For(1).Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new InvalidOperationException($"OSForAI:Workers:Autoscaling is invalid ({e.ParamName}): {e.Message}"); }
        return policy == "kpa"
            ? v => new KpaAutoscaler(For(v.Concurrency))
            // The scale-down window keeps the simulator's ratio to the stable window (10 s of 60 s).
            : v => new OsForAiAutoscaler(new OsForAiAutoscalerOptions { Base = For(v.Concurrency), ScaleDownWindowSeconds = a.StableWindow.TotalSeconds / 6 });
    }

    /// <summary>Starts the generic warm workers.</summary>
    public void WarmUp()
    {
        foreach (var kind in _host.RuntimeKinds) Replenish(kind);
    }

    public PoolStats Stats => new(
        Volatile.Read(ref _liveWorkers),
        _generics.Values.Sum(g => g.Idle.Count),
        _groups.Values.Sum(g => { lock (g) return g.Instances.Count; }),
        _groups.Values.Sum(g => { lock (g) return g.Waiters.Count; }),
        Interlocked.Read(ref _coldStarts), Interlocked.Read(ref _freshStarts), Interlocked.Read(ref _calls),
        Interlocked.Read(ref _coldCalls), Interlocked.Read(ref _prewarms), Interlocked.Read(ref _prewarmHits),
        _groups.Values.Sum(g => { lock (g) return g.Desired; }), Interlocked.Read(ref _scaleUps), Interlocked.Read(ref _scaleDowns));

    /// <summary>
    /// Starts an instance of <paramref name="version"/> ahead of a predicted call, unless one exists or is starting,
    /// and keeps the version's instances for at least <paramref name="hold"/> whatever the keep-alive policy says.
    /// Returns whether it started one.
    /// </summary>
    public bool Prewarm(VersionRecord version, TimeSpan hold)
    {
        if (_stopping.IsCancellationRequested || version.Runtime != "python3") return false;
        var group = _groups.GetOrAdd(version.InstanceKey, NewGroup(version));
        lock (group)
        {
            var until = _clock.GetUtcNow() + hold;
            if (until > group.HoldUntil) group.HoldUntil = until;
            if (group.Instances.Count + group.Starting > 0) return false;
            if (group.LoadFailure is { } failure && _clock.GetUtcNow() - failure.At < LoadFailureMemory) return false;
            group.Starting++;
        }
        Interlocked.Increment(ref _prewarms);
        _ = SpecializeAsync(group, prewarm: true);
        return true;
    }

    /// <summary>Worker process ids currently serving a version (for operators and tests).</summary>
    public IReadOnlyList<int> InstancePids(string instanceKey) =>
        _groups.TryGetValue(instanceKey, out var g) ? Locked(g, () => g.Instances.Select(i => i.Conn.Pid).ToList()) : [];

    /// <summary>Calls running on a version's instances right now (for operators and tests).</summary>
    public int InFlight(string instanceKey) =>
        _groups.TryGetValue(instanceKey, out var g) ? Locked(g, () => g.Instances.Sum(i => i.InFlight)) : 0;

    /// <summary>Runs one call on a warm instance of <paramref name="version"/>.</summary>
    public async Task<InvokeResult> InvokeAsync(VersionRecord version, InvokeRequest request, TimeSpan timeout, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        var group = _groups.GetOrAdd(version.InstanceKey, NewGroup(version));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        deadline.CancelAfter(timeout);
        Instance instance;
        try { instance = await AcquireAsync(group, deadline.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            throw new AlgorithmCallException(ErrorTypes.Timeout, $"the call timed out after {timeout.TotalSeconds:0.###} s while waiting for a worker");
        }
        try
        {
            Frame reply;
            // The call's token works from this worker, and only while the call is in flight.
            using var dispatched = _delegation.Dispatched(request.Context.CallId, instance.Conn.Id);
            try
            {
                reply = await instance.Conn.RequestAsync("invoke", w =>
                {
                    w.WriteString("content_type", request.ContentKind);
                    w.WriteNumber("timeout_ms", (long)timeout.TotalMilliseconds);
                    w.WriteStartObject("context");
                    w.WriteString("trace_id", request.Context.TraceId);
                    w.WriteString("caller", request.Context.Caller);
                    w.WriteNumber("depth", request.Context.Depth);
                    w.WriteNumber("deadline_unix_ms", request.Context.Deadline.ToUnixTimeMilliseconds());
                    if (request.Context.Token is { } token) w.WriteString("token", token);
                    w.WriteEndObject();
                }, request.Body, deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stopping.IsCancellationRequested)
            {
                instance.Conn.Kill($"call exceeded its timeout of {timeout.TotalSeconds:0.###} s");
                throw new AlgorithmCallException(ErrorTypes.Timeout,
                    $"the algorithm did not finish within its timeout of {timeout.TotalSeconds:0.###} s; its worker was stopped");
            }
            return reply.Type switch
            {
                "result" => new InvokeResult(reply.GetString("content_type") ?? ContentKinds.Binary, reply.Payload,
                    OutputOf(reply), reply.GetDouble("duration_ms")),
                "error" => throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.AlgorithmError,
                    reply.GetString("message") ?? "the algorithm failed", reply.GetString("stacktrace"), OutputOf(reply)),
                _ => throw new AlgorithmCallException(ErrorTypes.ProtocolError, $"the worker answered an invoke with '{reply.Type}'"),
            };
        }
        finally { Release(group, instance); }
    }

    private static CapturedOutput OutputOf(Frame reply) => new(
        reply.GetString("stdout"), reply.GetBool("stdout_truncated"), reply.GetString("stderr"), reply.GetBool("stderr_truncated"));

    private Func<string, VersionGroup> NewGroup(VersionRecord version) => _ => new VersionGroup(version, _keepAlive.ForApp(), _autoscaler(version));

    /// <summary>Tells the version's load meter the current load (in flight + queued). Call under the group's lock after every change.</summary>
    private void LoadChanged(VersionGroup group) =>
        group.Load.Set(Seconds(_clock.GetUtcNow()), group.Instances.Sum(i => i.InFlight) + group.Waiters.Count);

    private double Seconds(DateTimeOffset t) => (t - _epoch).TotalSeconds;

    private async Task<Instance> AcquireAsync(VersionGroup group, CancellationToken ct)
    {
        Waiter waiter;
        var startAnother = false;
        lock (group)
        {
            if (group.IdleSince is { } since)
            {
                // The version was idle: tell the keep-alive policy how long the gap was.
                group.KeepAlive.OnArrival(since, Seconds(_clock.GetUtcNow()));
                group.IdleSince = null;
                group.IdleWindow = null;
            }
            Instance? best = null;
            foreach (var i in group.Instances)
                if (i.InFlight < i.Concurrency && i.Conn.IsAlive && (best is null || i.InFlight < best.InFlight)) best = i;
            if (best is not null)
            {
                best.InFlight++;
                MarkUsed(best);
                LoadChanged(group);
                return best;
            }
            // Code that just failed to load fails the same way again: answer at once instead of churning workers.
            if (group.Instances.Count == 0 && group.LoadFailure is { } failure && _clock.GetUtcNow() - failure.At < LoadFailureMemory)
                throw new AlgorithmCallException(failure.Error.ErrorType, failure.Error.Message, failure.Error.AlgorithmStacktrace);
            if (group.Waiters.Count >= _options.QueueLimit)
                throw new AlgorithmCallException(ErrorTypes.QueueFull,
                    $"{group.Version.FullName} has {group.Waiters.Count} calls waiting already; retry shortly");
            waiter = new Waiter();
            group.Waiters.AddLast(waiter.Node = new LinkedListNode<Waiter>(waiter));
            LoadChanged(group);
            if (group.Instances.Count == 0) Interlocked.Increment(ref _coldCalls);
            // Start another instance at once when the queue outgrows what the instances being started will absorb
            // (scaling from zero, and bursts between autoscaler ticks).
            if (group.Waiters.Count > group.Starting * group.Version.Concurrency &&
                group.Instances.Count + group.Starting < _options.MaxInstancesPerVersion)
            {
                group.Starting++;
                startAnother = true;
            }
        }
        if (startAnother) _ = SpecializeAsync(group);
        await using var reg = ct.Register(() =>
        {
            lock (group)
                if (waiter.Node!.List is not null)
                {
                    group.Waiters.Remove(waiter.Node);
                    LoadChanged(group);
                }
            waiter.Tcs.TrySetCanceled(ct);
        });
        return await waiter.Tcs.Task;
    }

    /// <summary>Starts the version's idle period under its keep-alive policy when none of its instances is running a call. Call under the group's lock.</summary>
    private void MarkIdleIfUnused(VersionGroup group)
    {
        if (group.Instances.Any(i => i.InFlight > 0)) return;
        var since = Seconds(_clock.GetUtcNow());
        group.IdleSince = since;
        group.IdleWindow = group.KeepAlive.OnIdle(since);
    }

    /// <summary>The first call on a pre-warmed instance is a pre-warm hit.</summary>
    private void MarkUsed(Instance instance)
    {
        if (instance.Used) return;
        instance.Used = true;
        if (instance.Prewarmed) Interlocked.Increment(ref _prewarmHits);
    }

    private void Release(VersionGroup group, Instance instance)
    {
        lock (group)
        {
            instance.LastUsed = _clock.GetUtcNow();
            if (instance.Conn.IsAlive)
            {
                // Hand the slot straight to the oldest waiter.
                while (group.Waiters.First is { } node)
                {
                    group.Waiters.RemoveFirst();
                    if (node.Value.Tcs.TrySetResult(instance))
                    {
                        MarkUsed(instance);
                        LoadChanged(group);
                        return;
                    }
                }
            }
            instance.InFlight--;
            LoadChanged(group);
            // The version just went idle: the keep-alive policy decides how long its instances stay.
            if (group.Waiters.Count == 0) MarkIdleIfUnused(group);
        }
    }

    private async Task SpecializeAsync(VersionGroup group, bool prewarm = false)
    {
        var v = group.Version;
        WorkerConnection? conn = null;
        try
        {
            EnsureRoom(group);
            var codeDir = await _code.EnsureExtractedAsync(v.Build, v.CodeUri, _stopping.Token);
            conn = await ObtainGenericAsync(v.Runtime, group);
            var visibleCode = conn.Environment.ExposeBuild(codeDir);
            conn.Environment.Limit(v.Resources, _options.MaxProcesses);
            var egress = v.Network ? conn.Environment.OpenEgress() : null;
            using var loadTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            loadTimeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(30, v.TimeoutSeconds)));
            var reply = await conn.RequestAsync("load", w =>
            {
                w.WriteString("algorithm", v.FullName);
                w.WriteString("version", v.VersionLabel);
                w.WriteString("code_dir", visibleCode);
                if (egress is not null) w.WriteString("egress", egress);
                w.WriteString("entrypoint", v.Entrypoint);
                w.WriteNumber("concurrency", v.Concurrency);
                w.WriteNumber("stdout_limit", _options.StdoutLimitBytes);
            }, default, loadTimeout.Token);
            if (reply.Type != "loaded")
                throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.LoadError,
                    "the algorithm failed to load: " + (reply.GetString("message") ?? reply.Type), reply.GetString("stacktrace"));
            Interlocked.Increment(ref _coldStarts);
            var instance = new Instance(conn, v.Concurrency, _clock.GetUtcNow()) { Prewarmed = prewarm };
            lock (group)
            {
                group.Starting--;
                group.LoadFailure = null;
                group.Instances.Add(instance);
                while (instance.InFlight < instance.Concurrency && group.Waiters.First is { } node)
                {
                    group.Waiters.RemoveFirst();
                    instance.InFlight++;
                    if (!node.Value.Tcs.TrySetResult(instance)) instance.InFlight--;
                    else MarkUsed(instance);
                }
                LoadChanged(group);
                // Started with nothing to do (a pre-warm, or its callers gave up): idle from now, under the policy.
                if (group.IdleSince is null) MarkIdleIfUnused(group);
            }
            _ = conn.Exited.ContinueWith(_ => OnInstanceGone(group, instance), TaskScheduler.Default);
        }
        catch (Exception e)
        {
            conn?.Kill("specialization failed");
            var error = e as AlgorithmCallException ?? new AlgorithmCallException(ErrorTypes.Unavailable,
                e is OperationCanceledException ? "the server is stopping" : "could not prepare a worker: " + e.Message);
            if (e is not AlgorithmCallException and not OperationCanceledException) _log.LogError(e, "specializing {Key}", v.InstanceKey);
            List<Waiter> failed;
            lock (group)
            {
                group.Starting--;
                if (error.ErrorType == ErrorTypes.LoadError) group.LoadFailure = (error, _clock.GetUtcNow());
                // The same code fails the same way: fail everything queued that no live instance will serve.
                failed = group.Instances.Count == 0 ? [.. group.Waiters] : [];
                if (failed.Count > 0) group.Waiters.Clear();
                LoadChanged(group);
            }
            foreach (var w in failed) w.Tcs.TrySetException(error);
        }
    }

    private void OnInstanceGone(VersionGroup group, Instance instance)
    {
        _profiles.Forget(instance.Conn.Pid);
        var restart = false;
        lock (group)
        {
            group.Instances.Remove(instance);
            LoadChanged(group);
            if (group.Waiters.Count > 0 && group.Starting == 0 && group.Instances.Count < _options.MaxInstancesPerVersion)
            {
                group.Starting++;
                restart = true;
            }
        }
        if (restart && !_stopping.IsCancellationRequested) _ = SpecializeAsync(group);
    }

    /// <summary>An idle generic worker if one is warm (the fast path), else a freshly started one.</summary>
    private async Task<WorkerConnection> ObtainGenericAsync(string runtime, VersionGroup forGroup)
    {
        var pool = _generics.GetOrAdd(runtime, _ => new GenericPool());
        try
        {
            while (pool.Idle.TryDequeue(out var warm))
                if (warm.IsAlive) return warm;
            var waitUntil = _clock.GetUtcNow() + TimeSpan.FromSeconds(30);
            while (!TryReserveSpawn())
            {
                if (!EvictIdleInstance(except: forGroup) && _clock.GetUtcNow() > waitUntil)
                    throw new AlgorithmCallException(ErrorTypes.Unavailable, $"all {_options.MaxWorkers} workers are busy; retry shortly");
                if (pool.Idle.TryDequeue(out var freed) && freed.IsAlive) return freed;
                await Task.Delay(20, _stopping.Token);
            }
            return await SpawnAsync(runtime);
        }
        finally { Replenish(runtime); }
    }

    private bool TryReserveSpawn()
    {
        while (true)
        {
            var s = Volatile.Read(ref _spawning);
            if (Volatile.Read(ref _liveWorkers) + s >= _options.MaxWorkers) return false;
            if (Interlocked.CompareExchange(ref _spawning, s + 1, s) == s) return true;
        }
    }

    /// <summary>Starts a worker process; the caller has reserved a slot with <see cref="TryReserveSpawn"/>.</summary>
    private async Task<WorkerConnection> SpawnAsync(string runtime)
    {
        try
        {
            var conn = await _host.StartAsync(runtime, _stopping.Token);
            Interlocked.Increment(ref _freshStarts);
            Interlocked.Increment(ref _liveWorkers);
            _ = conn.Exited.ContinueWith(_ => Interlocked.Decrement(ref _liveWorkers), TaskScheduler.Default);
            return conn;
        }
        finally { Interlocked.Decrement(ref _spawning); }
    }

    private void Replenish(string runtime)
    {
        if (_stopping.IsCancellationRequested) return;
        var pool = _generics.GetOrAdd(runtime, _ => new GenericPool());
        while (pool.Idle.Count + Volatile.Read(ref pool.Starting) < _options.WarmGenericWorkers && TryReserveSpawn())
        {
            Interlocked.Increment(ref pool.Starting);
            _ = Task.Run(async () =>
            {
                try
                {
                    pool.Idle.Enqueue(await SpawnAsync(runtime));
                    // Started while the pool was being disposed: nobody else will stop it.
                    if (_stopping.IsCancellationRequested)
                        while (pool.Idle.TryDequeue(out var late)) late.Kill("the server is stopping");
                }
                catch (Exception e) { _log.LogWarning("could not start a warm {Runtime} worker: {Message}", runtime, e.Message); }
                finally { Interlocked.Decrement(ref pool.Starting); }
            });
        }
    }

    /// <summary>
    /// Placement on this node: the instances running and starting (this one included), each with its version's measured need
    /// (declared before it is measured), must pack into the node's memory and GPU memory. When they do not, idle instances of
    /// other versions are stopped, least recently used first; when that is not enough the start fails with a clear error.
    /// CPU is packed but not enforced (it is shared, not exhausted).
    /// </summary>
    private void EnsureRoom(VersionGroup group)
    {
        var noGpu = _node.Capacity.GpuMemoryMb <= 0;
        var node = _node with { Capacity = _node.Capacity with { CpuCores = double.MaxValue, GpuMemoryMb = noGpu ? 0 : _node.Capacity.GpuMemoryMb } };
        while (true)
        {
            var requests = new List<InstanceRequest>();
            foreach (var g in _groups.Values)
            {
                var need = _profiles.NeedOf(g.Version);
                if (noGpu) need = need with { GpuMemoryMb = 0 };
                int count;
                lock (g) count = g.Instances.Count + g.Starting;
                for (var i = 0; i < count; i++) requests.Add(new InstanceRequest($"{g.Version.InstanceKey}#{i}", need));
            }
            var packing = BinPacker.Pack(requests, [node], affinity: false);
            if (packing.Unplaced.Count == 0) return;
            if (EvictIdleInstance(except: group)) continue;
            var used = requests.Sum(r => r.Need.MemoryMb);
            throw new AlgorithmCallException(ErrorTypes.Unavailable,
                $"not enough memory on this node to start {group.Version.FullName}: running and starting instances need {used:0} MB " +
                $"of {_node.Capacity.MemoryMb:0} MB and none of the others is idle; retry shortly");
        }
    }

    /// <summary>Stops the least recently used idle instance of another version to make room. Returns false if none.</summary>
    private bool EvictIdleInstance(VersionGroup except)
    {
        (VersionGroup Group, Instance Instance)? victim = null;
        foreach (var g in _groups.Values)
        {
            if (g == except) continue;
            lock (g)
                foreach (var i in g.Instances)
                    if (i.InFlight == 0 && (victim is null || i.LastUsed < victim.Value.Instance.LastUsed)) victim = (g, i);
        }
        if (victim is not { } v) return false;
        lock (v.Group)
        {
            if (v.Instance.InFlight != 0 || !v.Group.Instances.Remove(v.Instance)) return false;
        }
        v.Instance.Conn.Kill("evicted to make room for another algorithm");
        return true;
    }

    /// <summary>
    /// Stops what the keep-alive policy no longer keeps: every instance of an idle version once its window has passed
    /// (or at once when the policy unloads now and pre-warms later). Pre-warms an idle version when its policy asks for it.
    /// Extra instances of a version with traffic are the autoscaler's business (<see cref="Autoscale"/>).
    /// </summary>
    private void ReapIdle()
    {
        var now = _clock.GetUtcNow();
        var prewarm = new List<(VersionRecord Version, TimeSpan Hold)>();
        foreach (var g in _groups.Values)
        {
            List<Instance> idle;
            lock (g)
            {
                if (g.HoldUntil > now)
                {
                    idle = [];   // pre-warmed for an expected call: kept until then
                }
                else if (g.IdleSince is { } since && g.IdleWindow is { } window)
                {
                    var idleFor = Seconds(now) - since;
                    idle = window.IsWarmAfter(idleFor) ? [] : g.Instances.Where(i => i.InFlight == 0).ToList();
                    if (window.Prewarms && window.IsWarmAfter(idleFor) && g.Instances.Count + g.Starting == 0)
                        prewarm.Add((g.Version, TimeSpan.FromSeconds(Math.Min(window.UnloadAfterSec - idleFor, TimeSpan.MaxValue.TotalSeconds / 2))));
                }
                else idle = [];
                foreach (var i in idle) g.Instances.Remove(i);
            }
            foreach (var i in idle) _ = i.Conn.ShutdownAsync(TimeSpan.FromSeconds(2));
        }
        foreach (var (v, hold) in prewarm) Prewarm(v, hold);
    }

    /// <summary>
    /// One autoscaler tick: feeds each version's average load since the last tick to its autoscaler and applies the
    /// decision. Scaling up starts instances (up to MaxInstancesPerVersion and the global worker cap); scaling down stops
    /// idle instances, least recently used first, but never the last one: dropping to zero is the keep-alive policy's call.
    /// </summary>
    private void Autoscale()
    {
        if (_stopping.IsCancellationRequested) return;
        SampleResources();
        var nowAt = _clock.GetUtcNow();
        var now = Seconds(nowAt);
        foreach (var g in _groups.Values)
        {
            var start = 0;
            List<Instance> stop = [];
            lock (g)
            {
                g.Scaler.Observe(now, g.Load.TakeAverage(now));
                var current = g.Instances.Count + g.Starting;
                if (current == 0 && g.Load.Current == 0) { g.Desired = 0; continue; }
                var desired = g.Desired = g.Scaler.Decide(now, g.Instances.Count).DesiredInstances;
                if (desired > current && g.Load.Current > 0 &&
                    !(g.LoadFailure is { } failure && nowAt - failure.At < LoadFailureMemory))
                {
                    start = Math.Min(desired, _options.MaxInstancesPerVersion) - current;
                    g.Starting += Math.Max(0, start);
                }
                else if (desired < g.Instances.Count && g.Instances.Count > 1)
                {
                    stop = g.Instances.Where(i => i.InFlight == 0).OrderBy(i => i.LastUsed)
                        .Take(Math.Min(g.Instances.Count - Math.Max(desired, 1), g.Instances.Count - 1)).ToList();
                    foreach (var i in stop) g.Instances.Remove(i);
                }
            }
            for (var i = 0; i < start; i++) _ = SpecializeAsync(g);
            if (start > 0) Interlocked.Add(ref _scaleUps, start);
            if (stop.Count > 0) Interlocked.Add(ref _scaleDowns, stop.Count);
            foreach (var i in stop) _ = i.Conn.ShutdownAsync(TimeSpan.FromSeconds(2));
        }
    }

    /// <summary>Measures every instance's worker process tree (CPU, resident memory) into its version's profile.</summary>
    private void SampleResources()
    {
        var owners = new Dictionary<int, string>();
        foreach (var g in _groups.Values)
            lock (g)
                foreach (var i in g.Instances)
                    if (i.Conn.IsAlive) owners[i.Conn.Pid] = g.Version.InstanceKey;
        if (owners.Count == 0) return;
        var at = _clock.GetUtcNow();
        foreach (var (pid, usage) in ProcessSampler.Sample(owners.Keys)) _profiles.Observe(owners[pid], pid, usage, at);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _reaper.DisposeAsync();
        await _scaler.DisposeAsync();
        var all = new List<WorkerConnection>();
        foreach (var p in _generics.Values) while (p.Idle.TryDequeue(out var c)) all.Add(c);
        foreach (var g in _groups.Values)
            lock (g)
            {
                all.AddRange(g.Instances.Select(i => i.Conn));
                g.Instances.Clear();
                foreach (var w in g.Waiters) w.Tcs.TrySetException(new AlgorithmCallException(ErrorTypes.Unavailable, "the server is stopping"));
                g.Waiters.Clear();
            }
        await Task.WhenAll(all.Select(c => c.ShutdownAsync(TimeSpan.FromSeconds(1))));
    }

    private static T Locked<T>(object gate, Func<T> f) { lock (gate) return f(); }

    private sealed class VersionGroup(VersionRecord version, IAppKeepAlive keepAlive, IConcurrencyAutoscaler scaler)
    {
        public VersionRecord Version { get; } = version;
        public IAppKeepAlive KeepAlive { get; } = keepAlive;
        public IConcurrencyAutoscaler Scaler { get; } = scaler;
        public LoadMeter Load { get; } = new();
        public int Desired;
        /// <summary>When the version last went idle (seconds on the pool's clock), and what the policy decided then.</summary>
        public double? IdleSince;
        public KeepAliveWindow? IdleWindow;
        /// <summary>A pre-warm keeps the version's instances at least until then.</summary>
        public DateTimeOffset HoldUntil;
        public List<Instance> Instances { get; } = [];
        public LinkedList<Waiter> Waiters { get; } = new();
        public int Starting;
        public (AlgorithmCallException Error, DateTimeOffset At)? LoadFailure;
    }

    private sealed class Instance(WorkerConnection conn, int concurrency, DateTimeOffset now)
    {
        public WorkerConnection Conn { get; } = conn;
        public int Concurrency { get; } = concurrency;
        public int InFlight;
        public DateTimeOffset LastUsed = now;
        public bool Prewarmed;
        public bool Used;
    }

    private sealed class Waiter
    {
        public TaskCompletionSource<Instance> Tcs { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Waiter>? Node;
    }

    private sealed class GenericPool
    {
        public ConcurrentQueue<WorkerConnection> Idle { get; } = new();
        public int Starting;
    }
}
