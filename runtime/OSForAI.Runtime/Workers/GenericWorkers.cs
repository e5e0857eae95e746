using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Generic (not yet specialized) workers kept warm per runtime kind, and the cap on live workers of all kinds. A start takes a
/// warm one when there is one (the fast path: a load instead of a process start) and tops the pool up behind it.
/// </summary>
internal sealed class GenericWorkers(IWorkerHost host, int warmPerKind, int maxWorkers, ILogger log, TimeProvider clock, CancellationToken stopping)
{
    private readonly ConcurrentDictionary<string, Kind> _kinds = new();
    private int _live, _spawning;
    private long _freshStarts;

    public int Live => Volatile.Read(ref _live);
    public long FreshStarts => Interlocked.Read(ref _freshStarts);
    public int Idle => _kinds.Values.Sum(k => k.Idle.Count);

    /// <summary>Starts warm workers until <c>warmPerKind</c> are idle or starting for <paramref name="runtime"/>.</summary>
    public void Replenish(string runtime)
    {
        if (stopping.IsCancellationRequested) return;
        var kind = _kinds.GetOrAdd(runtime, _ => new Kind());
        while (kind.Idle.Count + Volatile.Read(ref kind.Starting) < warmPerKind && TryReserve())
        {
            Interlocked.Increment(ref kind.Starting);
            _ = Task.Run(async () =>
            {
                try
                {
                    kind.Idle.Enqueue(await SpawnAsync(runtime, null, null));
                    // Started while the pool was being disposed: nobody else will stop it.
                    if (stopping.IsCancellationRequested)
                        while (kind.Idle.TryDequeue(out var late)) late.Kill("the server is stopping");
                }
                catch (Exception e) { log.LogWarning("could not start a warm {Runtime} worker: {Message}", runtime, e.Message); }
                finally { Interlocked.Decrement(ref kind.Starting); }
            });
        }
    }

    /// <summary>Takes over a worker that was already running (adopted from a previous server).</summary>
    public void Adopt(WorkerConnection conn)
    {
        Interlocked.Increment(ref _live);
        _ = conn.Exited.ContinueWith(_ => Interlocked.Decrement(ref _live), TaskScheduler.Default);
        _kinds.GetOrAdd(conn.Runtime, _ => new Kind()).Idle.Enqueue(conn);
    }

    /// <summary>
    /// A generic worker for <paramref name="runtime"/>: a warm one, else a fresh one. When the worker cap is reached it asks
    /// <paramref name="makeRoom"/> to stop an idle instance, and gives up after 30 s.
    /// </summary>
    public async Task<WorkerConnection> ObtainAsync(string runtime, Catalog.ResourceRequest resources, IProgress<string>? pending, Func<bool> makeRoom)
    {
        var kind = _kinds.GetOrAdd(runtime, _ => new Kind());
        var dedicated = host.NeedsDedicatedWorker(resources);
        try
        {
            while (!dedicated && kind.Idle.TryDequeue(out var warm))
                if (warm.IsAlive) return warm;
            var waitUntil = clock.GetUtcNow() + TimeSpan.FromSeconds(30);
            while (!TryReserve())
            {
                if (!makeRoom() && clock.GetUtcNow() > waitUntil)
                    throw new AlgorithmCallException(ErrorTypes.Unavailable, $"all {maxWorkers} workers are busy; retry shortly");
                if (!dedicated && kind.Idle.TryDequeue(out var freed) && freed.IsAlive) return freed;
                await Task.Delay(20, stopping);
            }
            return await SpawnAsync(runtime, dedicated ? resources : null, pending);
        }
        finally { Replenish(runtime); }
    }

    /// <summary>Every idle worker, taken out of the pool (at shutdown).</summary>
    public List<WorkerConnection> TakeAll()
    {
        var all = new List<WorkerConnection>();
        foreach (var k in _kinds.Values) while (k.Idle.TryDequeue(out var c)) all.Add(c);
        return all;
    }

    private bool TryReserve()
    {
        while (true)
        {
            var s = Volatile.Read(ref _spawning);
            if (Volatile.Read(ref _live) + s >= maxWorkers) return false;
            if (Interlocked.CompareExchange(ref _spawning, s + 1, s) == s) return true;
        }
    }

    /// <summary>Starts a worker; the caller has reserved a slot with <see cref="TryReserve"/>.</summary>
    private async Task<WorkerConnection> SpawnAsync(string runtime, Catalog.ResourceRequest? resources, IProgress<string>? pending)
    {
        try
        {
            var report = pending ?? new Progress<string>();
            var conn = resources is not null ? await host.StartAsync(runtime, resources, report, stopping) : await host.StartAsync(runtime, report, stopping);
            Interlocked.Increment(ref _freshStarts);
            Interlocked.Increment(ref _live);
            _ = conn.Exited.ContinueWith(_ => Interlocked.Decrement(ref _live), TaskScheduler.Default);
            return conn;
        }
        finally { Interlocked.Decrement(ref _spawning); }
    }

    private sealed class Kind
    {
        public ConcurrentQueue<WorkerConnection> Idle { get; } = new();
        public int Starting;
    }
}
