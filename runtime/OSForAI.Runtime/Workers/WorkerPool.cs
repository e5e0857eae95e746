using System.Diagnostics;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Catalog;
using OSForAI.WorkerProtocol;
using OSForAI.Scaling.Placement;
using OSForAI.Scaling.Scheduling;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// The pool's state and counters. ColdStarts counts specializations (a worker loading a version); ColdCalls counts
/// calls that waited for an instance of their version to start; Prewarms counts instances started ahead of demand, PrewarmHits
/// the first calls served by them. Desired is the autoscaler's instance count summed over versions; ScaleUps and ScaleDowns
/// count instances it started and stopped. Starting counts instances being started (a pod may wait minutes for a node).
/// </summary>
public sealed record PoolStats(int LiveWorkers, int GenericIdle, int Instances, int Queued, long ColdStarts, long FreshStarts, long Calls,
    long ColdCalls = 0, long Prewarms = 0, long PrewarmHits = 0, int Desired = 0, long ScaleUps = 0, long ScaleDowns = 0, int Starting = 0);

/// <summary>
/// The live pool: the I/O around one <see cref="VersionScheduler"/> per version (the same class the simulator drives). It turns
/// calls, worker starts and exits, and a ticker into scheduler events, and carries out the commands that come back: a start
/// specializes a generic worker (<see cref="GenericWorkers"/>) by loading the version's build into it after placement made room
/// (<see cref="NodePlacement"/>); a dispatch hands a waiting call its instance; a stop shuts an idle worker down (or kills one
/// whose call ran past its timeout, once its other calls ended); a reject fails the call. The worker host stays behind
/// <see cref="IWorkerHost"/>. Each version's events and commands run under that version's lock.
/// </summary>
public sealed class WorkerPool : IAsyncDisposable
{
    private readonly IWorkerHost _host;
    private readonly Auth.CallDelegation _delegation;
    private readonly CodeStore _code;
    private readonly WorkerOptions _options;
    private readonly ILogger<WorkerPool> _log;
    private readonly TimeProvider _clock;
    private readonly SchedulerFactory _schedulers;
    private readonly ResourceProfiles _profiles;
    private readonly NodePlacement _placement;
    private readonly GenericWorkers _generics;
    private readonly Building.PythonEnvironments? _environments;
    private readonly ConcurrentDictionary<string, LiveVersion> _versions = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ITimer _ticker;
    private long _loads;

    public WorkerPool(IWorkerHost host, CodeStore code, IOptions<OsaiOptions> options, ILogger<WorkerPool> log, TimeProvider clock,
        ResourceProfiles profiles, Auth.CallDelegation delegation, Building.PythonEnvironments? environments = null)
    {
        _host = host;
        _environments = environments;
        _code = code;
        _options = options.Value.Workers;
        _log = log;
        _clock = clock;
        _profiles = profiles;
        _delegation = delegation;
        var n = _options.Node;
        _placement = new NodePlacement(new NodeSpec("local", new ResourceProfile(
            n.CpuCores > 0 ? n.CpuCores : Environment.ProcessorCount,
            n.MemoryMb > 0 ? n.MemoryMb : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8 / 1048576.0,
            n.GpuMemoryMb)), profiles);
        _schedulers = new SchedulerFactory(_options, clock);
        _generics = new GenericWorkers(host, host.WarmGenericWorkers(_options.WarmGenericWorkers), _options.MaxWorkers, log, clock, _stopping.Token);
        var tick = _options.Autoscaling.MetricInterval;
        _ticker = clock.CreateTimer(_ => Tick(), null, tick, tick);
    }

    /// <summary>Starts the generic warm workers, after taking over the workers a previous server left running (if the host has any).</summary>
    public void WarmUp()
    {
        _ = Task.Run(async () =>
        {
            try
            {
                foreach (var adopted in await _host.AdoptAsync(_stopping.Token))
                {
                    // Only generic workers can be taken over here: a specialized one would need its version's record.
                    // Model workers (another runtime kind: ModelWorkerPool starts its own) are not taken over either.
                    if (adopted.InstanceKey is null && _host.RuntimeKinds.Contains(adopted.Connection.Runtime)) _generics.Adopt(adopted.Connection);
                    else _ = adopted.Connection.ShutdownAsync(TimeSpan.FromSeconds(2));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException) { _log.LogWarning(e, "could not take over running workers"); }
            foreach (var kind in _host.RuntimeKinds) _generics.Replenish(kind);
        });
    }

    public PoolStats Stats
    {
        get
        {
            int instances = 0, queued = 0, desired = 0, starting = 0;
            long calls = 0, cold = 0, prewarms = 0, hits = 0, ups = 0, downs = 0;
            foreach (var v in _versions.Values)
                lock (v)
                {
                    var s = v.Scheduler;
                    instances += v.Instances.Count;
                    queued += s.Queued;
                    desired += s.Desired;
                    starting += s.StartingCount;
                    calls += s.Calls; cold += s.ColdCalls; prewarms += s.Prewarms; hits += s.PrewarmHits; ups += s.ScaleUps; downs += s.ScaleDowns;
                }
            return new PoolStats(_generics.Live, _generics.Idle, instances, queued, Interlocked.Read(ref _loads), _generics.FreshStarts, calls,
                cold, prewarms, hits, desired, ups, downs, starting);
        }
    }

    /// <summary>Worker process ids currently serving a version (for operators and tests).</summary>
    public IReadOnlyList<int> InstancePids(string instanceKey) =>
        _versions.TryGetValue(instanceKey, out var v) ? Locked(v, () => v.Instances.Values.Select(i => i.Conn.Pid).ToList()) : [];

    /// <summary>Calls running on a version's instances right now (for operators and tests).</summary>
    public int InFlight(string instanceKey) => _versions.TryGetValue(instanceKey, out var v) ? Locked(v, () => v.Scheduler.InFlight) : 0;

    /// <summary>How long the version's instances took to start lately (median, seconds), measured live; null before the first.</summary>
    public double? MeasuredLoadSeconds(string instanceKey) =>
        _versions.TryGetValue(instanceKey, out var v) ? Locked(v, () => v.Scheduler.MeasuredLoadSeconds) : null;

    /// <summary>Every version's measured start time (median of recent starts, seconds), for operators.</summary>
    public IReadOnlyList<(string Version, double Seconds)> MeasuredLoadTimes() =>
        [.. _versions.Values.Select(v => (v.Version.InstanceKey, Locked(v, () => v.Scheduler.MeasuredLoadSeconds)))
            .Where(x => x.Item2 is not null).Select(x => (x.InstanceKey, x.Item2!.Value))];

    /// <summary>
    /// Starts an instance of <paramref name="version"/> ahead of a predicted call, unless one exists or is starting,
    /// and keeps the version's instances for at least <paramref name="hold"/> whatever the keep-alive policy says.
    /// Returns whether it started one.
    /// </summary>
    public bool Prewarm(VersionRecord version, TimeSpan hold)
    {
        if (_stopping.IsCancellationRequested || version.Runtime == ModelWorkerPool.Runtime || !_host.RuntimeKinds.Contains(version.Runtime)) return false;
        var v = VersionOf(version);
        lock (v)
        {
            var started = v.Scheduler.Prewarm(hold, v.Commands);
            Carry(v);
            return started;
        }
    }

    /// <summary>Runs one call on a warm instance of <paramref name="version"/>.</summary>
    public async Task<InvokeResult> InvokeAsync(VersionRecord version, InvokeRequest request, TimeSpan timeout, CancellationToken ct)
    {
        var v = VersionOf(version);
        var timer = new CancellationTokenSource(timeout, _clock);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token, timer.Token);
        LiveInstance instance;
        try { instance = await AcquireAsync(v, timeout, deadline.Token, ct); }
        catch { timer.Dispose(); throw; }
        if (deadline.IsCancellationRequested)
        {
            Finish(v, instance, timer, timedOut: null);
            throw Gave(ct, timeout, "while waiting for a worker", null);
        }
        // The worker's side of the call ends with its answer or its deadline, not with the caller: a caller that goes
        // away leaves the call running in the worker, so its slot stays taken until then.
        var work = RunAsync(v, instance, request, timeout, timer);
        try { return await work.WaitAsync(ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !work.IsCompleted)
        {
            _ = work.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);   // observed; its slot is released by RunAsync
            throw;
        }
    }

    /// <summary>Sends the call to its instance and releases the slot when the worker's side of it ends.</summary>
    private async Task<InvokeResult> RunAsync(LiveVersion v, LiveInstance instance, InvokeRequest request, TimeSpan timeout, CancellationTokenSource timer)
    {
        using var workerDeadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, timer.Token);
        TimeSpan? timedOut = null;
        try
        {
            // The call's token works from this worker, and only while the call is in flight.
            using var dispatched = _delegation.Dispatched(request.Context.CallId, instance.Conn.Id);
            try { return await WorkerFrames.InvokeAsync(instance.Conn, request, timeout, workerDeadline.Token); }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !_stopping.IsCancellationRequested)
            {
                timedOut = timeout;
                throw new AlgorithmCallException(ErrorTypes.Timeout,
                    $"the algorithm did not finish within its timeout of {timeout.TotalSeconds:0.###} s; its worker is stopped");
            }
        }
        finally { Finish(v, instance, timer, timedOut); }
    }

    /// <summary>
    /// The worker's side of a call ended: its slot is free. A call that ran past its timeout gives its instance up: the code is
    /// stuck, so the instance takes no more calls and is killed as soon as its other calls have ended (never before).
    /// </summary>
    private void Finish(LiveVersion v, LiveInstance instance, CancellationTokenSource timer, TimeSpan? timedOut)
    {
        timer.Dispose();
        lock (v)
        {
            if (timedOut is { } t)
            {
                instance.Abandoned = $"a call ran past its timeout of {t.TotalSeconds:0.###} s";
                v.Scheduler.TimedOut(instance.Id, v.Commands);
            }
            else v.Scheduler.Complete(instance.Id, v.Commands);
            Carry(v);
        }
    }

    /// <summary>Admits the call and waits until the scheduler dispatches it to an instance (or refuses it, or the caller gives up).</summary>
    private async Task<LiveInstance> AcquireAsync(LiveVersion v, TimeSpan timeout, CancellationToken deadline, CancellationToken clientGone)
    {
        // An instance can die between its exit and the scheduler hearing of it: a call dispatched to it then is admitted again.
        for (var attempt = 0; ; attempt++)
        {
            long call;
            var waiter = new TaskCompletionSource<LiveInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (v)
            {
                call = v.Scheduler.Arrive(v.Commands);
                v.Waiting[call] = waiter;
                Carry(v);
            }
            LiveInstance instance;
            await using (deadline.Register(() =>
            {
                string? reason;
                lock (v)
                {
                    if (!v.Scheduler.Cancel(call, v.Commands)) return;   // already dispatched or refused
                    reason = v.Scheduler.WaitReason;
                    v.Waiting.Remove(call);
                    Carry(v);
                }
                waiter.TrySetException(Gave(clientGone, timeout, "while waiting for a worker", reason));
            }))
            {
                instance = await waiter.Task;
            }
            if (instance.Conn.IsAlive || attempt == 2) return instance;
            lock (v)
            {
                v.Scheduler.Exited(instance.Id, v.Commands);
                v.Scheduler.Complete(instance.Id, v.Commands);
                v.Instances.Remove(instance.Id);
                Carry(v);
            }
        }
    }

    private Exception Gave(CancellationToken clientGone, TimeSpan timeout, string where, string? reason)
    {
        if (clientGone.IsCancellationRequested) return new OperationCanceledException(clientGone);
        if (_stopping.IsCancellationRequested) return new AlgorithmCallException(ErrorTypes.Unavailable, "the server is stopping");
        return new AlgorithmCallException(ErrorTypes.Timeout,
            $"the call timed out after {timeout.TotalSeconds:0.###} s {where}" + (reason is null ? "" : $": {reason}"));
    }

    private LiveVersion VersionOf(VersionRecord version) =>
        _versions.GetOrAdd(version.InstanceKey, _ => new LiveVersion(version, _schedulers.For(version)));

    /// <summary>Sees every scheduler command with its version and the scheduler's time, before it is carried out (tests compare it with the simulator's).</summary>
    internal Action<string, double, SchedulerCommand>? CommandObserver { get; set; }

    /// <summary>Carries out the scheduler's commands. Under the version's lock; everything here is quick and does not re-enter.</summary>
    private void Carry(LiveVersion v)
    {
        foreach (var c in v.Commands)
        {
            CommandObserver?.Invoke(v.Version.InstanceKey, v.Scheduler.Now, c);
            switch (c.Kind)
            {
                case SchedulerCommandKind.Start:
                    var id = c.Instance;
                    _ = Task.Run(() => StartInstanceAsync(v, id));
                    break;
                case SchedulerCommandKind.Stop:
                    if (!v.Instances.Remove(c.Instance, out var stopped)) break;
                    if (c.StopReason == StopReason.Abandoned) stopped.Conn.Kill(stopped.Abandoned ?? "a call ran past its timeout");
                    else _ = stopped.Conn.ShutdownAsync(TimeSpan.FromSeconds(2));
                    break;
                case SchedulerCommandKind.Dispatch:
                    if (v.Waiting.Remove(c.Call, out var waiter)) waiter.TrySetResult(v.Instances[c.Instance]);
                    break;
                case SchedulerCommandKind.Reject:
                    if (v.Waiting.Remove(c.Call, out var refused)) refused.TrySetException(Refusal(v, c.Reject));
                    break;
            }
        }
        v.Commands.Clear();
    }

    private static AlgorithmCallException Refusal(LiveVersion v, RejectReason reason) => reason switch
    {
        RejectReason.QueueFull => new AlgorithmCallException(ErrorTypes.QueueFull,
            $"{v.Version.FullName} has {v.Scheduler.Queued} calls waiting already; retry shortly"),
        RejectReason.StartFailed when v.Scheduler.LastStartFailure is { } f => new AlgorithmCallException(f.ErrorType, f.Message, f.Detail),
        _ => new AlgorithmCallException(ErrorTypes.Unavailable, "the server is stopping"),
    };

    /// <summary>Carries out a Start: placement, the build, a generic worker, the load; then tells the scheduler how it went.</summary>
    private async Task StartInstanceAsync(LiveVersion v, long id)
    {
        var version = v.Version;
        WorkerConnection? conn = null;
        try
        {
            _placement.EnsureRoom(version, InstanceCounts, () => EvictIdleInstance(except: v));
            var codeDir = await _code.EnsureExtractedAsync(version.Build, version.CodeUri, _stopping.Token);
            var pending = new PendingReport(reason => { lock (v) v.Scheduler.Pending(id, reason); });
            conn = await _generics.ObtainAsync(version.Runtime, version.Resources, pending, () => EvictIdleInstance(except: v));
            using var loadTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            loadTimeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(30, version.TimeoutSeconds)));
            await LoadIntoAsync(conn, version, codeDir, version.Network, loadTimeout.Token);
            var instance = new LiveInstance(id, conn);
            lock (v)
            {
                if (_stopping.IsCancellationRequested) throw new OperationCanceledException(_stopping.Token);
                Interlocked.Increment(ref _loads);
                v.Instances[id] = instance;
                v.Scheduler.Ready(id, v.Commands);
                Carry(v);
            }
            _ = conn.Exited.ContinueWith(_ => OnExited(v, instance), TaskScheduler.Default);
        }
        catch (Exception e)
        {
            conn?.Kill("specialization failed");
            var error = e as AlgorithmCallException ?? new AlgorithmCallException(ErrorTypes.Unavailable,
                e is OperationCanceledException ? "the server is stopping" : "could not prepare a worker: " + e.Message);
            if (e is not AlgorithmCallException and not OperationCanceledException and not WorkerStartException)
                _log.LogError(e, "specializing {Key}", version.InstanceKey);
            lock (v)
            {
                // Starts back off after a failure. Code that does not load, or a worker the host cannot start (an image that cannot
                // be pulled), fails the same way again: remembered, so calls are refused at once meanwhile instead of churning workers.
                v.Scheduler.StartFailed(id, new StartFailure(error.ErrorType, error.Message, error.AlgorithmStacktrace,
                    Remember: error.ErrorType == ErrorTypes.LoadError || e is WorkerStartException), v.Commands);
                Carry(v);
            }
        }
    }

    private void OnExited(LiveVersion v, LiveInstance instance)
    {
        _profiles.Forget(instance.Conn.Pid);
        lock (v)
        {
            v.Instances.Remove(instance.Id);
            v.Scheduler.Exited(instance.Id, v.Commands);
            Carry(v);
        }
    }

    private IEnumerable<(VersionRecord, int)> InstanceCounts()
    {
        foreach (var v in _versions.Values)
        {
            int count;
            lock (v) count = v.Scheduler.Instances;
            yield return (v.Version, count);
        }
    }

    /// <summary>
    /// Specializes <paramref name="conn"/> as <paramref name="version"/>: shows it the build and the build's Python environment
    /// (in place where it sees this machine's files, else sent to it), holds it to the version's resources, and loads.
    /// </summary>
    private async Task LoadIntoAsync(WorkerConnection conn, VersionRecord version, string codeDir, bool network, CancellationToken ct)
    {
        var visibleCode = conn.Environment.ExposeBuild(codeDir);
        conn.Environment.Limit(version.Resources, _options.MaxProcesses);
        var egress = network ? conn.Environment.OpenEgress() : null;
        var envDir = version.Environment is { } env ? await EnvironmentForAsync(conn, env, ct) : null;
        var archive = visibleCode is null ? await _code.ReadArchiveAsync(version.Build, version.CodeUri, ct) : default;
        await WorkerFrames.LoadAsync(conn, version, visibleCode, archive, egress, envDir, _options.StdoutLimitBytes, ct);
    }

    /// <summary>
    /// Where <paramref name="conn"/>'s worker sees Python environment <paramref name="hash"/>: this machine's copy, bound read-only
    /// into its sandbox (nothing copied); or, for a worker that cannot see this machine's files (a pod), the environment's stored
    /// archive sent in a <c>stage</c> message and unpacked in the worker's own scratch folder.
    /// </summary>
    private async Task<string> EnvironmentForAsync(WorkerConnection conn, string hash, CancellationToken ct)
    {
        if (_environments is null)
            throw new AlgorithmCallException(ErrorTypes.LoadError, "this version needs a Python environment, and this server keeps none");
        if (conn.Environment.SeesHostFiles)
        {
            var local = await _environments.EnsureLocalAsync(hash, ct);
            return conn.Environment.ExposeEnvironment(local);
        }
        var archive = await _environments.ReadArchiveAsync(hash, ct);
        var reply = await conn.RequestAsync(MessageTypes.Stage, w =>
        {
            w.WriteString("build", hash);
            w.WriteString("archive", "tar.gz");
            w.WriteNumber("max_bytes", Building.PythonEnvironments.MaxExtractedBytes);
            w.WriteNumber("max_entries", Building.PythonEnvironments.MaxEntries);
        }, archive, ct);
        if (reply.Type == MessageTypes.Staged && reply.GetString("path") is { Length: > 0 } path) return path;
        throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.LoadError,
            $"the worker could not unpack the Python environment {hash[..12]}: {reply.GetString("message") ?? reply.Type}");
    }

    /// <summary>
    /// The build's import check: loads <paramref name="version"/> (an unpublished build) into a generic worker exactly as a call
    /// would — same host, same sandbox, same resource limits, its Python environment — but without network and without a GPU
    /// (a warm generic worker: a GPU version's check does not wait for a GPU node), and throws the worker's error when it does
    /// not load; then kills the worker, whatever happened (it ran code nobody published yet). Returns the load time in
    /// milliseconds. Counts as neither a call nor a cold start. A worker that cannot start is Unavailable: no verdict on the code.
    /// </summary>
    public async Task<double> CheckLoadAsync(VersionRecord version, TimeSpan timeout, CancellationToken ct)
    {
        version = version with { Resources = version.Resources with { GpuMemoryMb = 0 } };
        var codeDir = await _code.EnsureExtractedAsync(version.Build, version.CodeUri, ct);
        WorkerConnection? conn = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        deadline.CancelAfter(timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            conn = await _generics.ObtainAsync(version.Runtime, version.Resources, null, () => EvictIdleInstance(except: null));
            await LoadIntoAsync(conn, version, codeDir, network: false, deadline.Token);
            return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            if (conn is null)
                throw new AlgorithmCallException(ErrorTypes.Unavailable, $"no {version.Runtime} worker was free to check the build within {timeout.TotalSeconds:0} s; try again");
            throw new AlgorithmCallException(ErrorTypes.Timeout, $"loading {version.Entrypoint} took longer than {timeout.TotalSeconds:0} s (OSForAI:Build:CheckTimeout): does the module do slow work when it is imported?");
        }
        catch (WorkerStartException e) { throw new AlgorithmCallException(ErrorTypes.Unavailable, $"no {version.Runtime} worker could start: {e.Message}"); }
        catch (AlgorithmCallException e) when (e.Message.StartsWith(WorkerFrames.LoadFailed, StringComparison.Ordinal))
        {
            throw new AlgorithmCallException(e.ErrorType, e.Message[WorkerFrames.LoadFailed.Length..], e.AlgorithmStacktrace);
        }
        finally { conn?.Kill("the build check is done"); }
    }

    /// <summary>Evicts the least recently used idle instance of another version to make room. Returns false if there is none.</summary>
    private bool EvictIdleInstance(LiveVersion? except)
    {
        while (true)
        {
            LiveVersion? victim = null;
            DateTimeOffset oldest = DateTimeOffset.MaxValue;
            foreach (var v in _versions.Values)
            {
                if (v == except) continue;
                lock (v)
                    if (v.Scheduler.OldestIdleLastUsed is { } at && at < oldest) (victim, oldest) = (v, at);
            }
            if (victim is null) return false;
            lock (victim)
            {
                // It may have taken a call since: then look again.
                if (!victim.Scheduler.EvictIdle(victim.Commands)) continue;
                Carry(victim);
                return true;
            }
        }
    }

    /// <summary>The ticker: samples instances' resources, then ticks every version's scheduler (metrics, decisions, keep-alive).</summary>
    private void Tick()
    {
        if (_stopping.IsCancellationRequested) return;
        try
        {
            SampleResources();
            foreach (var v in _versions.Values)
                lock (v)
                {
                    v.Scheduler.Tick(v.Commands);
                    Carry(v);
                }
        }
        catch (Exception e) { _log.LogError(e, "scheduler tick"); }
    }

    /// <summary>Measures every instance's worker process tree (CPU, resident memory) into its version's profile.</summary>
    private void SampleResources()
    {
        var owners = new Dictionary<int, string>();
        foreach (var v in _versions.Values)
            lock (v)
                foreach (var i in v.Instances.Values)
                    if (i.Conn.IsAlive && i.Conn.Pid > 0) owners[i.Conn.Pid] = v.Version.InstanceKey;
        if (owners.Count == 0) return;
        var at = _clock.GetUtcNow();
        foreach (var (pid, usage) in ProcessSampler.Sample(owners.Keys)) _profiles.Observe(owners[pid], pid, usage, at);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _ticker.DisposeAsync();
        var idle = _generics.TakeAll();
        var all = new List<WorkerConnection>();
        foreach (var v in _versions.Values)
            lock (v)
            {
                v.Scheduler.Shutdown(v.Commands);
                Carry(v);
                all.AddRange(v.Instances.Values.Select(i => i.Conn));
                v.Instances.Clear();
            }
        await Task.WhenAll(all.Select(c => c.ShutdownAsync(TimeSpan.FromSeconds(1))).Concat(idle.Select(_host.ReleaseAsync)));
    }

    private static T Locked<T>(object gate, Func<T> f) { lock (gate) return f(); }

    /// <summary>One version: its scheduler and the live side of its decisions. Lock it for any access.</summary>
    private sealed class LiveVersion(VersionRecord version, VersionScheduler scheduler)
    {
        public VersionRecord Version { get; } = version;
        public VersionScheduler Scheduler { get; } = scheduler;
        /// <summary>Ready instances (with their worker), by the scheduler's instance id.</summary>
        public Dictionary<long, LiveInstance> Instances { get; } = [];
        /// <summary>Calls waiting for a dispatch, by the scheduler's call id.</summary>
        public Dictionary<long, TaskCompletionSource<LiveInstance>> Waiting { get; } = [];
        /// <summary>The scheduler's output, carried out and cleared after every event.</summary>
        public List<SchedulerCommand> Commands { get; } = [];
    }

    private sealed class LiveInstance(long Id, WorkerConnection Conn)
    {
        public long Id { get; } = Id;
        public WorkerConnection Conn { get; } = Conn;
        /// <summary>Why the instance was given up (a call ran past its timeout), for the kill's log line.</summary>
        public string? Abandoned;
    }
}
