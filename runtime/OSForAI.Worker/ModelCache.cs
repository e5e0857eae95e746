using System.Diagnostics;
using OSForAI.WorkerProtocol;

namespace OSForAI.Worker;

public sealed record CacheStats(IReadOnlyList<string> Resident, long ResidentBytes, long BudgetBytes, long Loads, long Unloads, long Evictions);

/// <summary>
/// The models resident in this worker, under a device-memory budget. Models load on demand; when a
/// load would exceed the budget the least recently used idle models are unloaded first. A model's
/// cost is its declared memory or its file size, whichever is larger — the same accounting on CPU and GPU.
/// </summary>
public sealed class ModelCache(WorkerSettings worker) : IAsyncDisposable
{
    private readonly Dictionary<string, Entry> _models = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loadGate = new(1, 1);
    private long _resident, _loads, _unloads, _evictions;

    public CacheStats Stats
    {
        get { lock (_models) return new([.. _models.Keys], _resident, worker.MemoryBudgetBytes, _loads, _unloads, _evictions); }
    }

    /// <summary>The model, loaded if needed, held until the lease is disposed (a held model is never evicted).</summary>
    public async Task<Lease> AcquireAsync(ModelSettings settings)
    {
        if (TryHold(settings.Id) is { } held) return held;
        await _loadGate.WaitAsync();
        try
        {
            if (TryHold(settings.Id) is { } loadedMeanwhile) return loadedMeanwhile;
            var cost = OnnxModel.CostOf(settings);
            if (cost > worker.MemoryBudgetBytes)
                throw new WorkerException("LoadError", $"model {settings.Id} needs {cost} bytes of device memory; this worker's budget is {worker.MemoryBudgetBytes}");
            List<Entry> evicted = MakeRoom(cost);
            foreach (var e in evicted) await e.CloseAsync();
            var model = await Task.Run(() => OnnxModel.Load(settings, worker));
            var entry = new Entry(model);
            lock (_models)
            {
                _models[settings.Id] = entry;
                _resident += model.ResidentBytes;
                _loads++;
                entry.InFlight++;
                entry.LastUsed = Stopwatch.GetTimestamp();
            }
            return new Lease(this, entry, freshlyLoaded: true);
        }
        finally { _loadGate.Release(); }
    }

    private Lease? TryHold(string id)
    {
        lock (_models)
        {
            if (!_models.TryGetValue(id, out var e)) return null;
            e.InFlight++;
            e.LastUsed = Stopwatch.GetTimestamp();
            return new Lease(this, e, freshlyLoaded: false);
        }
    }

    private List<Entry> MakeRoom(long cost)
    {
        var evicted = new List<Entry>();
        lock (_models)
        {
            while (_resident + cost > worker.MemoryBudgetBytes)
            {
                var victim = _models.Values.Where(e => e.InFlight == 0).MinBy(e => e.LastUsed);
                if (victim is null)
                    throw new WorkerException("WorkerUnavailable",
                        $"no room for a model of {cost} bytes: {_resident} of {worker.MemoryBudgetBytes} bytes are held by models that are running");
                Remove(victim);
                _evictions++;
                evicted.Add(victim);
            }
        }
        return evicted;
    }

    private void Remove(Entry e)
    {
        _models.Remove(e.Model.Settings.Id);
        _resident -= e.Model.ResidentBytes;
        _unloads++;
    }

    /// <summary>Unloads a model now, or as soon as its running calls finish. False if it was not resident.</summary>
    public async Task<bool> UnloadAsync(string id)
    {
        Entry? e;
        lock (_models)
        {
            if (!_models.TryGetValue(id, out e)) return false;
            Remove(e);
            if (e.InFlight > 0) { e.CloseWhenIdle = true; return true; }
        }
        await e.CloseAsync();
        return true;
    }

    private void Release(Entry e)
    {
        bool close;
        lock (_models)
        {
            e.InFlight--;
            e.LastUsed = Stopwatch.GetTimestamp();
            close = e.CloseWhenIdle && e.InFlight == 0;
        }
        if (close) _ = e.CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        List<Entry> all;
        lock (_models)
        {
            all = [.. _models.Values];
            _models.Clear();
        }
        foreach (var e in all) await e.CloseAsync();
    }

    public sealed class Entry(OnnxModel model)
    {
        private DynamicBatcher? _batcher;
        public OnnxModel Model { get; } = model;
        /// <summary>Runs of an unbatched model in flight at once (model_instances); more calls wait their turn.</summary>
        public SemaphoreSlim Runs { get; } = new(Math.Max(1, model.Settings.Instances));
        public int InFlight;
        public long LastUsed;
        public bool CloseWhenIdle;

        public DynamicBatcher Batcher
        {
            get
            {
                lock (this) return _batcher ??= new DynamicBatcher(Model);
            }
        }

        public async Task CloseAsync()
        {
            DynamicBatcher? b;
            lock (this) b = _batcher;
            if (b is not null) await b.DisposeAsync();
            Model.Dispose();
        }
    }

    /// <summary>A hold on a resident model.</summary>
    public sealed class Lease(ModelCache cache, Entry entry, bool freshlyLoaded) : IDisposable
    {
        private int _released;
        public OnnxModel Model => entry.Model;
        public bool FreshlyLoaded { get; } = freshlyLoaded;

        /// <summary>Runs one call; <paramref name="cancel"/> stops its run (or takes it out of the batching queue).</summary>
        public async Task<InferenceResult> RunAsync(IReadOnlyList<Tensor> inputs, CallCancellation? cancel = null)
        {
            Model.Validate(inputs);
            if (Model.Batchable) return await entry.Batcher.SubmitAsync(inputs, cancel?.Token ?? default);
            // As many runs as model_instances at once: more would only oversubscribe ONNX Runtime's threads.
            await entry.Runs.WaitAsync(cancel?.Token ?? default);
            try
            {
                using var run = Model.Run(inputs, cancel?.RunOptions);
                return new InferenceResult(TensorBundle.Encode(run.Outputs), 1, inputs.Count > 0 && inputs[0].Shape.Length > 0 ? inputs[0].Shape[0] : 1);
            }
            finally { entry.Runs.Release(); }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) cache.Release(entry);
        }
    }
}

/// <summary>What the host's cancel message reaches: the call's own run options (terminate) and a token for queued calls.</summary>
public sealed class CallCancellation : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    public Microsoft.ML.OnnxRuntime.RunOptions RunOptions { get; } = new();
    public CancellationToken Token => _cts.Token;

    public void Cancel()
    {
        RunOptions.Terminate = true;
        _cts.Cancel();
    }

    public void Dispose()
    {
        RunOptions.Dispose();
        _cts.Dispose();
    }
}
