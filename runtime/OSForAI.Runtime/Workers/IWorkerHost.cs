namespace OSForAI.Runtime.Workers;

/// <summary>
/// Starts generic workers. Backends (child process, sandbox, container, pod) hide behind this; the scheduler never sees it: the
/// pool turns its outcomes into scheduler events (ready, pending with a reason, failed with a reason, exited).
/// </summary>
public interface IWorkerHost
{
    IReadOnlyCollection<string> RuntimeKinds { get; }

    /// <summary>Starts one generic worker of <paramref name="runtime"/> and returns it after its hello.</summary>
    /// <exception cref="WorkerStartException">The worker could not start; the message says why (e.g. an image that cannot be pulled).</exception>
    Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct);

    /// <summary>
    /// Starts one generic worker, reporting on <paramref name="pending"/> why it is still waiting when that takes long enough to tell
    /// callers (a pod waiting for a node: "Unschedulable: 0/3 nodes have nvidia.com/gpu"). A process starts at once and says nothing.
    /// </summary>
    Task<WorkerConnection> StartAsync(string runtime, IProgress<string> pending, CancellationToken ct) => StartAsync(runtime, ct);

    /// <summary>
    /// The server is stopping and <paramref name="idle"/> is an idle generic worker: stop it, or (a host whose workers outlive
    /// their server, as pods do) let it go for the next server to adopt.
    /// </summary>
    Task ReleaseAsync(WorkerConnection idle) => idle.ShutdownAsync(TimeSpan.FromSeconds(1));

    /// <summary>How many generic workers to keep warm per runtime kind, given the configured WarmGenericWorkers.</summary>
    int WarmGenericWorkers(int configured) => configured;

    /// <summary>
    /// Whether a version declaring <paramref name="resources"/> needs a worker made for it rather than a warm generic one (a pod is
    /// sized when it is made: a GPU version needs a pod that requests a GPU). Processes are limited at load: never.
    /// </summary>
    bool NeedsDedicatedWorker(Catalog.ResourceRequest resources) => false;

    /// <summary>Starts a worker sized for <paramref name="resources"/> (see <see cref="NeedsDedicatedWorker"/>).</summary>
    Task<WorkerConnection> StartAsync(string runtime, Catalog.ResourceRequest resources, IProgress<string> pending, CancellationToken ct) =>
        StartAsync(runtime, pending, ct);

    /// <summary>
    /// Starts a worker sized for <paramref name="resources"/> with <paramref name="environment"/> added to its own (a model
    /// worker's device and memory budget, <see cref="ModelServingOptions.WorkerEnvironment"/>).
    /// </summary>
    Task<WorkerConnection> StartAsync(string runtime, Catalog.ResourceRequest resources, IReadOnlyDictionary<string, string> environment,
        IProgress<string> pending, CancellationToken ct) =>
        throw new WorkerStartException($"this worker host cannot start {runtime} workers with an environment of their own");

    /// <summary>
    /// How many model workers placed on a GPU (<see cref="NeedsDedicatedWorker"/> with GPU memory) to keep warm, started with the
    /// server and never stopped for being idle: a host with a GPU pool says (the pool's WarmPods); a process host has none.
    /// </summary>
    int WarmGpuModelWorkers => 0;

    /// <summary>
    /// Workers a previous server left running that this one may take over (pods that survive a gateway restart), each with the
    /// instance it was specialized as, if any. Process workers die with their server: none.
    /// </summary>
    Task<IReadOnlyList<AdoptedWorker>> AdoptAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<AdoptedWorker>>([]);
}

/// <summary>A worker found running at start; <paramref name="InstanceKey"/> is the version it serves, null for a generic one.</summary>
public sealed record AdoptedWorker(WorkerConnection Connection, string? InstanceKey);

/// <summary>Passes a host's "still pending, because…" straight on (no synchronisation context, unlike Progress).</summary>
internal sealed class PendingReport(Action<string> report) : IProgress<string>
{
    public void Report(string value) => report(value);
}

/// <summary>A worker could not be started, for a reason callers should see.</summary>
public sealed class WorkerStartException(string message, Exception? inner = null) : Exception(message, inner);
