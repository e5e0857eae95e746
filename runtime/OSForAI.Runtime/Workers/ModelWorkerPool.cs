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
/// Serves model versions (runtime kind "onnx") from a few long-lived multi-model workers. Each model
/// lives in one worker, chosen by a stable hash of its version; the worker loads it on demand and
/// unloads the least recently used models when its memory budget would be exceeded. A worker that dies
/// fails its in-flight calls and is replaced on the next call; its models load again on demand.
/// </summary>
public sealed class ModelWorkerPool(IWorkerHost host, CodeStore code, IOptions<OsaiOptions> options, ILogger<ModelWorkerPool> log) : IAsyncDisposable
{
    public const string Runtime = "onnx";
    private readonly ModelServingOptions _options = options.Value.Models;
    private readonly Slot[] _slots = Enumerable.Range(0, Math.Max(1, options.Value.Models.Workers)).Select(_ => new Slot()).ToArray();
    private readonly CancellationTokenSource _stopping = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ModelFacts> _facts = new();

    private long _inferences, _batchedInferences, _callIds;

    /// <summary>Inferences answered, and how many of them shared a run with others (dynamic batching).</summary>
    public (long Inferences, long Batched) Counters => (Interlocked.Read(ref _inferences), Interlocked.Read(ref _batchedInferences));

    /// <summary>What the last load or inference of a version said about its placement (device, fallback reason), if any.</summary>
    public ModelFacts? LastFacts(VersionRecord version) => _facts.GetValueOrDefault(version.InstanceKey);

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
        finally { Interlocked.Decrement(ref slot.InFlight); }
    }

    /// <summary>Loads a model now (the repository API's load, and readiness checks).</summary>
    public async Task<ModelFacts> LoadAsync(VersionRecord version, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var timeout = TimeSpan.FromSeconds(Math.Max(30, version.TimeoutSeconds));
        deadline.CancelAfter(timeout);
        var reply = await RequestAsync(SlotFor(version), version, MessageTypes.Load, _ => { }, [], deadline.Token, ct, timeout);
        return FactsOf(reply);
    }

    /// <summary>Unloads a model if its worker holds it. False when it was not resident.</summary>
    public async Task<bool> UnloadAsync(VersionRecord version, CancellationToken ct)
    {
        var slot = _slots[SlotIndex(version)];
        if (slot.Connection is not { IsAlive: true } conn) return false;
        var reply = await conn.RequestAsync("unload", w => w.WriteString("model", version.InstanceKey), default, ct);
        return reply.Type == "unloaded" && reply.GetBool("was_resident");
    }

    /// <summary>The live workers' memory accounting and resident models (asks each worker).</summary>
    public async Task<IReadOnlyList<ModelWorkerStats>> StatsAsync(CancellationToken ct)
    {
        var stats = new List<ModelWorkerStats>();
        foreach (var slot in _slots)
        {
            if (slot.Connection is not { IsAlive: true } conn) continue;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var pong = await conn.RequestAsync("ping", _ => { }, default, timeout.Token);
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
            var codeDir = await code.EnsureExtractedAsync(version.Build, version.CodeUri, deadline);
            conn = await ConnectionAsync(slot, deadline);
            // Model workers run beside the gateway (the process host, whatever runs the code workers): they see its files.
            var modelDir = conn.Environment.ExposeBuild(codeDir)
                ?? throw new AlgorithmCallException(ErrorTypes.Unavailable, "this model worker cannot see the gateway's builds");
            var spec = version.Model ?? new ModelSpec();
            var reply = await conn.RequestGatheredAsync(type, w =>
            {
                w.WriteString("model", version.InstanceKey);
                w.WriteString("model_path", Path.Combine(modelDir, version.Entrypoint));
                w.WriteString("device", spec.Device);
                w.WriteNumber("max_batch_size", spec.MaxBatchSize);
                w.WriteNumber("max_queue_delay_ms", spec.MaxQueueDelayMs);
                w.WriteNumber("instances", spec.Instances);
                w.WriteNumber("intra_op_threads", spec.IntraOpThreads);
                w.WriteString("graph_optimization", spec.GraphOptimization);
                w.WriteNumber("memory_bytes", (long)version.Resources.GpuMemoryMb * 1024 * 1024);
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
            throw new AlgorithmCallException(ErrorTypes.Timeout, $"the model did not answer within {timeout.TotalSeconds:0.###} s");
        }
    }

    private static ModelFacts FactsOf(Frame reply) =>
        new(reply.GetString("device") ?? "cpu", reply.GetString("fallback_reason"), (long)reply.GetDouble("resident_bytes"), reply.GetBool("batching"));

    private int SlotIndex(VersionRecord version) =>
        (int)((uint)StringComparer.Ordinal.GetHashCode(version.InstanceKey) % (uint)_slots.Length);

    private Slot SlotFor(VersionRecord version) => _slots[SlotIndex(version)];

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

    private async Task<WorkerConnection> StartAsync(Slot slot)
    {
        try
        {
            var conn = await host.StartAsync(Runtime, _stopping.Token);
            log.LogInformation("model worker {Id} started (pid {Pid})", conn.Id, conn.Pid);
            lock (slot)
            {
                slot.Connection = conn;
                slot.Starting = null;
            }
            return conn;
        }
        catch
        {
            lock (slot) slot.Starting = null;
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await Task.WhenAll(_slots.Select(s => s.Connection?.ShutdownAsync(TimeSpan.FromSeconds(2)) ?? Task.CompletedTask));
    }

    private sealed class Slot
    {
        public WorkerConnection? Connection;
        public Task<WorkerConnection>? Starting;
        public int InFlight;
    }
}
