using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Catalog;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers;

/// <summary>What a model worker said about a model it ran or loaded.</summary>
public sealed record ModelFacts(string Device, string? FallbackReason, long ResidentBytes, bool Batching);

/// <summary>One inference: the outputs, how it ran, and the model's placement.</summary>
public sealed record InferenceReply(IReadOnlyList<Tensor> Outputs, double DurationMs, int BatchRequests, long BatchRows, bool LoadedNow, ModelFacts Model);

/// <summary>A model worker's view of its memory: the budget, what is resident, and the load history.</summary>
public sealed record ModelWorkerStats(string WorkerId, int Pid, long BudgetBytes, long ResidentBytes, IReadOnlyList<string> Models,
    long Loads, long Unloads, long Evictions, int InFlight);

/// <summary>
/// Serves model versions (runtime kind "onnx") from a few long-lived multi-model workers. Each model lives in one worker, chosen
/// by a stable hash of its version among the workers of its placement: versions that declare GPU memory on a host that gives them
/// a GPU (a pod in the gpu pool) go to GPU model workers, the others to CPU ones (<see cref="ModelServingOptions.Workers"/> of
/// each). A worker loads models on demand and unloads the least recently used when its memory budget would be exceeded, so one
/// worker serves many versions. A worker that cannot see the gateway's builds (a pod) is sent them (<see cref="ModelBuilds"/>).
/// A worker that dies fails its in-flight calls and is replaced on the next call; its models load again on demand. One that has
/// had no call for <see cref="ModelServingOptions.IdleShutdown"/> is stopped (its pod deleted: a GPU pool can scale to zero),
/// except the warm GPU workers the host keeps (<see cref="IWorkerHost.WarmGpuModelWorkers"/>), which are started with the server.
/// A start that waits (a pod pending for a GPU node) is never given up by a caller's timeout: callers wait for it up to their
/// timeout and learn why it is waiting; the host fails it at its own start timeout.
/// </summary>
public sealed class ModelWorkerPool : IAsyncDisposable
{
    public const string Runtime = "onnx";
    private readonly IWorkerHost _host;
    private readonly ModelBuilds _builds;
    private readonly CodeStore _code;
    private readonly ModelServingOptions _options;
    private readonly ILogger<ModelWorkerPool> _log;
    private readonly TimeProvider _clock;
    private readonly Dictionary<Placement, Slot[]> _slots;
    private readonly int _warmGpu;
    private readonly CancellationTokenSource _stopping = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ModelFacts> _facts = new();
    private ITimer? _maintenance;

    private long _inferences, _batchedInferences, _callIds, _starts, _idleStops;

    /// <summary>Where a model worker runs: beside the CPU, or on a GPU the host gives it (a pod that requests one).</summary>
    public enum Placement { Cpu, Gpu }

    public ModelWorkerPool(IWorkerHost host, CodeStore code, IOptions<OsaiOptions> options, ILogger<ModelWorkerPool> log, TimeProvider clock)
    {
        _host = host;
        _builds = new ModelBuilds(code);
        _code = code;
        _options = options.Value.Models;
        _log = log;
        _clock = clock;
        var count = Math.Max(1, _options.Workers);
        _slots = Enum.GetValues<Placement>().ToDictionary(p => p, p => Enumerable.Range(0, count).Select(i => new Slot(p, i)).ToArray());
        _warmGpu = Math.Min(count, host.WarmGpuModelWorkers);
    }

    /// <summary>Inferences answered, and how many of them shared a run with others (dynamic batching).</summary>
    public (long Inferences, long Batched) Counters => (Interlocked.Read(ref _inferences), Interlocked.Read(ref _batchedInferences));

    /// <summary>Model workers started, and stopped for being idle.</summary>
    public (long Starts, long IdleStops) Lifecycle => (Interlocked.Read(ref _starts), Interlocked.Read(ref _idleStops));

    /// <summary>Builds sent to workers that cannot see the gateway's files (pods).</summary>
    public long Stagings => _builds.Stagings;

    /// <summary>What the last load or inference of a version said about its placement (device, fallback reason), if any.</summary>
    public ModelFacts? LastFacts(VersionRecord version) => _facts.GetValueOrDefault(version.InstanceKey);

    /// <summary>Where <paramref name="version"/>'s model runs: on a GPU when it declares GPU memory and the host places it on one.</summary>
    public Placement PlacementOf(VersionRecord version) =>
        version.Resources.GpuMemoryMb > 0 && _host.NeedsDedicatedWorker(new ResourceRequest(0, 0, version.Resources.GpuMemoryMb)) ? Placement.Gpu : Placement.Cpu;

    /// <summary>
    /// Starts the warm GPU model workers and the idle check. A pod for many versions is sized by its placement, not by one version:
    /// memory for the budget's worth of models (plus the runtime), and on a GPU the budget as its device memory.
    /// </summary>
    public void Start()
    {
        var idle = _options.IdleShutdown;
        var period = idle > TimeSpan.Zero ? TimeSpan.FromTicks(Math.Clamp(idle.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks))
            : TimeSpan.FromSeconds(30);
        _maintenance = _clock.CreateTimer(_ => Maintain(), null, TimeSpan.Zero, period);
    }

    /// <summary>Stops workers idle for IdleShutdown; starts warm GPU workers that are missing (at start, or after one died).</summary>
    private void Maintain()
    {
        if (_stopping.IsCancellationRequested) return;
        foreach (var slot in _slots.Values.SelectMany(s => s))
        {
            if (IsWarm(slot))
            {
                _ = ConnectionAsync(slot, _stopping.Token).ContinueWith(t => { _ = t.Exception; }, TaskScheduler.Default);
                continue;
            }
            if (_options.IdleShutdown <= TimeSpan.Zero) continue;
            WorkerConnection? idle = null;
            lock (slot)
            {
                if (slot.Connection is { IsAlive: true } conn && Volatile.Read(ref slot.InFlight) == 0
                    && _clock.GetElapsedTime(Interlocked.Read(ref slot.LastUsed)) >= _options.IdleShutdown)
                {
                    idle = conn;
                    slot.Connection = null;
                }
            }
            if (idle is null) continue;
            Interlocked.Increment(ref _idleStops);
            _log.LogInformation("model worker {Id} ({Placement}) had no call for {Idle}: stopping it", idle.Id, slot.Placement, _options.IdleShutdown);
            _ = idle.ShutdownAsync(TimeSpan.FromSeconds(2));
        }
    }

    private bool IsWarm(Slot slot) => slot.Placement == Placement.Gpu && slot.Index < _warmGpu;

    /// <summary>Runs one inference of <paramref name="version"/> on <paramref name="inputs"/> (sent as a tensor bundle, data not copied).</summary>
    public async Task<InferenceReply> InferAsync(VersionRecord version, IReadOnlyList<Tensor> inputs, TimeSpan timeout, CallContext context, CancellationToken ct)
    {
        var slot = SlotFor(version);
        if (Interlocked.Increment(ref slot.InFlight) > _options.MaxInFlightPerWorker)
        {
            Interlocked.Decrement(ref slot.InFlight);
            throw new AlgorithmCallException(ErrorTypes.QueueFull, $"the model worker has {_options.MaxInFlightPerWorker} calls in flight already; retry shortly");
        }
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
            deadline.CancelAfter(timeout);
            var callId = Interlocked.Increment(ref _callIds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var reply = await RequestAsync(slot, version, MessageTypes.Invoke, w =>
            {
                w.WriteString("call_id", callId);
                w.WriteString("content_type", TensorBundle.ContentKind);
                w.WriteNumber("timeout_ms", (long)timeout.TotalMilliseconds);
                w.WriteStartObject("context");
                w.WriteString("trace_id", context.TraceId);
                w.WriteString("caller", context.Caller);
                w.WriteNumber("depth", context.Depth);
                w.WriteNumber("deadline_unix_ms", context.Deadline.ToUnixTimeMilliseconds());
                w.WriteEndObject();
            }, TensorBundle.EncodeSegments(inputs), deadline.Token, ct, timeout, callId);
            Interlocked.Increment(ref _inferences);
            if (reply.GetInt("batch_requests") > 1) Interlocked.Increment(ref _batchedInferences);
            List<Tensor> outputs;
            try { outputs = TensorBundle.Decode(reply.Payload); }
            catch (InvalidDataException e) { throw new AlgorithmCallException(ErrorTypes.ProtocolError, "the model worker sent malformed outputs: " + e.Message); }
            return new InferenceReply(outputs, reply.GetDouble("duration_ms"), reply.GetInt("batch_requests"),
                (long)reply.GetDouble("batch_rows"), reply.GetBool("loaded_now"), FactsOf(reply));
        }
        finally { Done(slot); }
    }

    /// <summary>Loads a model now (the repository API's load, and readiness checks).</summary>
    public async Task<ModelFacts> LoadAsync(VersionRecord version, CancellationToken ct)
    {
        var slot = SlotFor(version);
        Interlocked.Increment(ref slot.InFlight);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
            var timeout = TimeSpan.FromSeconds(Math.Max(30, version.TimeoutSeconds));
            deadline.CancelAfter(timeout);
            var reply = await RequestAsync(slot, version, MessageTypes.Load, _ => { }, [], deadline.Token, ct, timeout);
            return FactsOf(reply);
        }
        finally { Done(slot); }
    }

    /// <summary>A request on the slot ended: it is idle from now if none is left.</summary>
    private void Done(Slot slot)
    {
        Interlocked.Exchange(ref slot.LastUsed, _clock.GetTimestamp());
        Interlocked.Decrement(ref slot.InFlight);
    }

    /// <summary>Unloads a model if its worker holds it. False when it was not resident.</summary>
    public async Task<bool> UnloadAsync(VersionRecord version, CancellationToken ct)
    {
        if (SlotFor(version).Connection is not { IsAlive: true } conn) return false;
        var reply = await conn.RequestAsync(MessageTypes.Unload, w => w.WriteString("model", version.InstanceKey), default, ct);
        return reply.Type == MessageTypes.Unloaded && reply.GetBool("was_resident");
    }

    /// <summary>The live workers' memory accounting and resident models (asks each worker).</summary>
    public async Task<IReadOnlyList<ModelWorkerStats>> StatsAsync(CancellationToken ct)
    {
        var stats = new List<ModelWorkerStats>();
        foreach (var slot in _slots.Values.SelectMany(s => s))
        {
            if (slot.Connection is not { IsAlive: true } conn) continue;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var pong = await conn.RequestAsync(MessageTypes.Ping, _ => { }, default, timeout.Token);
                var models = pong.GetElement("models") is { ValueKind: JsonValueKind.Array } a
                    ? a.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [];
                stats.Add(new ModelWorkerStats(conn.Id, conn.Pid, (long)pong.GetDouble("memory_budget_bytes"), (long)pong.GetDouble("resident_bytes"),
                    models, (long)pong.GetDouble("model_loads"), (long)pong.GetDouble("model_unloads"), (long)pong.GetDouble("model_evictions"),
                    pong.GetInt("in_flight")));
            }
            catch (Exception e) when (e is AlgorithmCallException or OperationCanceledException) { }
        }
        return stats;
    }

    private async Task<Frame> RequestAsync(Slot slot, VersionRecord version, string type, Action<Utf8JsonWriter> extra, IReadOnlyList<ReadOnlyMemory<byte>> payload,
        CancellationToken deadline, CancellationToken callerToken, TimeSpan timeout, string? callId = null)
    {
        WorkerConnection? conn = null;
        try
        {
            conn = await ConnectionAsync(slot, deadline);
            var modelDir = await _builds.FolderAsync(conn, version, deadline);
            var spec = version.Model ?? new ModelSpec();
            var reply = await conn.RequestGatheredAsync(type, w =>
            {
                WriteModel(w, version, modelDir, spec.Device);
                extra(w);
            }, payload, deadline);
            if (reply.Type == MessageTypes.Error)
                throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.AlgorithmError,
                    reply.GetString("message") ?? "the model failed", reply.GetString("stacktrace"));
            _facts[version.InstanceKey] = FactsOf(reply);
            return reply;
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            // The worker serves other models too, so it is not killed: it is told to stop this call's run
            // (or drop it from the batching queue), and its late reply is dropped.
            if (callId is not null && conn is not null) _ = conn.NotifyAsync(MessageTypes.Cancel, w => w.WriteString("call_id", callId));
            if (callerToken.IsCancellationRequested) throw;
            // Still starting: its start goes on for the next callers (a pod pending for a node is not deleted and made again).
            if (conn is null)
                throw new AlgorithmCallException(ErrorTypes.Timeout, $"no {slot.Placement.ToString().ToLowerInvariant()} model worker was ready within " +
                    $"{timeout.TotalSeconds:0.###} s" + (Volatile.Read(ref slot.Pending) is { } why ? $": {why}" : " (it is still starting)"));
            throw new AlgorithmCallException(ErrorTypes.Timeout, $"the model did not answer within {timeout.TotalSeconds:0.###} s");
        }
        catch (WorkerStartException e) { throw new AlgorithmCallException(ErrorTypes.Unavailable, "the model worker could not start: " + e.Message); }
    }

    /// <summary>The fields that name a model and how to serve it, in every request about it.</summary>
    private static void WriteModel(Utf8JsonWriter w, VersionRecord version, string modelDir, string device)
    {
        var spec = version.Model ?? new ModelSpec();
        w.WriteString("model", version.InstanceKey);
        w.WriteString("model_path", Path.Combine(modelDir, version.Entrypoint));
        w.WriteString("device", device);
        w.WriteNumber("max_batch_size", spec.MaxBatchSize);
        w.WriteNumber("max_queue_delay_ms", spec.MaxQueueDelayMs);
        w.WriteNumber("instances", spec.Instances);
        w.WriteNumber("intra_op_threads", spec.IntraOpThreads);
        w.WriteString("graph_optimization", spec.GraphOptimization);
        w.WriteNumber("memory_bytes", (long)version.Resources.GpuMemoryMb * 1024 * 1024);
    }

    /// <summary>
    /// A build's load check: ONNX Runtime makes a session of the model, on the CPU, in a model worker started for the check alone
    /// (through the same host as the serving ones, so in the same sandbox) and killed after it, so the models being served
    /// are neither touched nor evicted. Its memory budget does not apply: that is a question for the serving workers.
    /// Throws the worker's error when the model does not load; a worker that cannot start is Unavailable (no verdict).
    /// </summary>
    public async Task<ModelFacts> CheckLoadAsync(VersionRecord version, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        deadline.CancelAfter(timeout);
        WorkerConnection? conn = null;
        try
        {
            var environment = new Dictionary<string, string>(_options.WorkerEnvironment(ownGpu: false))
            {
                ["OSAI_DEVICE"] = "cpu",
                ["OSAI_MODEL_MEMORY_BUDGET"] = (1L << 50).ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            conn = await _host.StartAsync(Runtime, WorkerResources(Placement.Cpu), environment, new Progress<string>(), deadline.Token);
            // Staged through a ModelBuilds of its own: the serving workers' stagings are not this worker's business.
            var modelDir = await new ModelBuilds(_code).FolderAsync(conn, version, deadline.Token);
            var reply = await conn.RequestAsync(MessageTypes.Load, w => WriteModel(w, version, modelDir, "cpu"), default, deadline.Token);
            if (reply.Type == MessageTypes.Error)
                throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.LoadError,
                    reply.GetString("message") ?? "the model did not load", reply.GetString("stacktrace"));
            return FactsOf(reply);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            throw new AlgorithmCallException(ErrorTypes.Timeout, $"the model did not load within {timeout.TotalSeconds:0} s (OSForAI:Build:CheckTimeout)");
        }
        catch (WorkerStartException e) { throw new AlgorithmCallException(ErrorTypes.Unavailable, "the model worker could not start: " + e.Message); }
        finally { conn?.Kill("the build check is done"); }
    }

    private static ModelFacts FactsOf(Frame reply) =>
        new(reply.GetString("device") ?? "cpu", reply.GetString("fallback_reason"), (long)reply.GetDouble("resident_bytes"), reply.GetBool("batching"));

    private Slot SlotFor(VersionRecord version)
    {
        var slots = _slots[PlacementOf(version)];
        return slots[(int)((uint)StringComparer.Ordinal.GetHashCode(version.InstanceKey) % (uint)slots.Length)];
    }

    /// <summary>The slot's live worker, started (once, however many callers wait) when there is none.</summary>
    private async Task<WorkerConnection> ConnectionAsync(Slot slot, CancellationToken ct)
    {
        Task<WorkerConnection> starting;
        lock (slot)
        {
            if (slot.Connection is { IsAlive: true } live) return live;
            if (slot.Starting is null || slot.Starting.IsFaulted || slot.Starting.IsCanceled)
                slot.Starting = StartAsync(slot);
            starting = slot.Starting;
        }
        return await starting.WaitAsync(ct);
    }

    /// <summary>What a model worker of <paramref name="placement"/> is sized for: the budget's worth of models, on its device.</summary>
    private ResourceRequest WorkerResources(Placement placement)
    {
        var budgetMb = (int)Math.Min(int.MaxValue - RuntimeOverheadMb, (_options.MemoryBudgetBytes + (1 << 20) - 1) >> 20);
        return new ResourceRequest(Cpu: 1, MemoryMb: budgetMb + RuntimeOverheadMb, GpuMemoryMb: placement == Placement.Gpu ? budgetMb : 0);
    }

    /// <summary>Memory a model worker needs besides its models (the .NET runtime, ONNX Runtime, buffers).</summary>
    private const int RuntimeOverheadMb = 512;

    private async Task<WorkerConnection> StartAsync(Slot slot)
    {
        await Task.Yield();   // runs outside the slot's lock
        try
        {
            Interlocked.Increment(ref _starts);
            var pending = new PendingReport(reason => Volatile.Write(ref slot.Pending, reason));
            var conn = await _host.StartAsync(Runtime, WorkerResources(slot.Placement), _options.WorkerEnvironment(ownGpu: slot.Placement == Placement.Gpu),
                pending, _stopping.Token);
            _log.LogInformation("model worker {Id} ({Placement}) started", conn.Id, slot.Placement);
            lock (slot)
            {
                Interlocked.Exchange(ref slot.LastUsed, _clock.GetTimestamp());
                slot.Connection = conn;
                slot.Starting = null;
                slot.Pending = null;
            }
            return conn;
        }
        catch (Exception e)
        {
            if (e is not OperationCanceledException) _log.LogWarning("a {Placement} model worker could not start: {Message}", slot.Placement, e.Message);
            lock (slot)
            {
                slot.Starting = null;
                slot.Pending = null;
            }
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (_maintenance is not null) await _maintenance.DisposeAsync();
        await Task.WhenAll(_slots.Values.SelectMany(s => s).Select(s => s.Connection?.ShutdownAsync(TimeSpan.FromSeconds(2)) ?? Task.CompletedTask));
    }

    private sealed class Slot(Placement placement, int index)
    {
        public Placement Placement { get; } = placement;
        public int Index { get; } = index;
        public WorkerConnection? Connection;
        public Task<WorkerConnection>? Starting;
        /// <summary>Calls and loads using the slot's worker now; it is not idle while any are.</summary>
        public int InFlight;
        /// <summary>When the last of them ended (a TimeProvider timestamp).</summary>
        public long LastUsed;
        /// <summary>Why its start is still waiting, as the host last said (a pod pending for a node).</summary>
        public string? Pending;
    }
}
