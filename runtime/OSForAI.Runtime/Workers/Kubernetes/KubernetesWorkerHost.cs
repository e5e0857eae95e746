using System.Security.Cryptography;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Catalog;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers.Kubernetes;

/// <summary>Where worker pods' connections arrive: each expected worker id with its secret, authenticated before it is handed over.</summary>
public interface IPodChannels : IDisposable
{
    /// <summary>What pods dial: tcp:HOST:PORT.</summary>
    string Address { get; }
    void Expect(string workerId, string secret);
    void Forget(string workerId);
    /// <summary>The authenticated connection of <paramref name="workerId"/> and its hello, once the pod has dialled in.</summary>
    Task<(Stream Stream, Frame Hello)> WaitForAsync(string workerId, CancellationToken ct);
}

/// <summary>
/// Workers as Kubernetes pods (OSForAI:Workers:Host = Kubernetes). A start creates a worker pod (<see cref="PodSpecs"/>) in its
/// pool, follows its status while it is pending (reported to the scheduler, which tells waiting callers), fails with the cluster's
/// reason when it cannot start (an image that cannot be pulled, a container that keeps crashing), and returns the worker once the
/// pod has dialled back to this gateway and passed the mutual authentication. Stopping a worker deletes its pod. A restarted
/// gateway adopts the generic pods of its server that dial back, and deletes those that do not, so none is leaked or duplicated.
/// </summary>
public sealed class KubernetesWorkerHost : IWorkerHost, IDisposable
{
    private readonly KubernetesWorkerOptions _o;
    private readonly IKubernetes _api;
    private readonly IPodChannels _channels;
    private readonly ILogger<KubernetesWorkerHost> _log;
    private readonly TimeProvider _clock;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _released = new();
    private long _counter;

    public KubernetesWorkerHost(IOptions<OsaiOptions> options, IPodChannels channels, ILogger<KubernetesWorkerHost> log, TimeProvider clock)
        : this(options.Value.Workers.Kubernetes, Connect(options.Value.Workers.Kubernetes), channels, log, clock) { }

    public KubernetesWorkerHost(KubernetesWorkerOptions options, IKubernetes api, IPodChannels channels, ILogger<KubernetesWorkerHost> log, TimeProvider clock)
    {
        _o = options;
        _api = api;
        _channels = channels;
        _log = log;
        _clock = clock;
        // Generic code workers; model workers (onnx) are started by ModelWorkerPool, with an environment of their own.
        RuntimeKinds = [.. options.Images.Keys.Where(k => k != ModelWorkerPool.Runtime)];
    }

    public static IKubernetes Connect(KubernetesWorkerOptions o) => new k8s.Kubernetes(o.ServiceAccountInCluster
        ? KubernetesClientConfiguration.InClusterConfig()
        : KubernetesClientConfiguration.BuildConfigFromConfigFile(o.Kubeconfig));

    public IReadOnlyCollection<string> RuntimeKinds { get; }

    public Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct) => StartPodAsync(runtime, null, null, ct);

    public Task<WorkerConnection> StartAsync(string runtime, IProgress<string> pending, CancellationToken ct) => StartPodAsync(runtime, null, pending, ct);

    public Task<WorkerConnection> StartAsync(string runtime, ResourceRequest resources, IProgress<string> pending, CancellationToken ct) =>
        StartPodAsync(runtime, resources, pending, ct);

    public Task<WorkerConnection> StartAsync(string runtime, ResourceRequest resources, IReadOnlyDictionary<string, string> environment,
        IProgress<string> pending, CancellationToken ct) => StartPodAsync(runtime, resources, pending, ct, environment);

    /// <summary>Warm GPU model pods: the gpu pool's WarmPods.</summary>
    public int WarmGpuModelWorkers => _o.Pools.TryGetValue("gpu", out var gpu) ? gpu.WarmPods : 0;

    /// <summary>Warm generic pods: the cpu pool's WarmPods (a GPU pod is made for its version, so the GPU pool can stay at zero).</summary>
    public int WarmGenericWorkers(int configured) => _o.Pools.TryGetValue("cpu", out var cpu) ? cpu.WarmPods : configured;

    /// <summary>A generic pod has the default size in the cpu pool: a version that needs a GPU or more than that gets a pod of its own.</summary>
    public bool NeedsDedicatedWorker(ResourceRequest resources) =>
        PodSpecs.Placement(resources, _o).Gpus > 0 || resources.Cpu > _o.DefaultCpu || resources.MemoryMb > _o.DefaultMemoryMb;

    /// <summary>Starts a worker pod sized for <paramref name="resources"/> (null: a generic pod of the default size in the cpu pool).</summary>
    private async Task<WorkerConnection> StartPodAsync(string runtime, ResourceRequest? resources, IProgress<string>? pending, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!_o.Images.TryGetValue(runtime, out var image)) throw new WorkerStartException($"no worker image is configured for runtime kind {runtime}");
        var id = $"w{Interlocked.Increment(ref _counter)}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var (pool, gpus) = PodSpecs.Placement(resources, _o);
        var pod = PodSpecs.WorkerPod(new PodRequest(id, runtime, pool, image, secret, GatewayAddress, _o.ServerId,
            Math.Max(_o.DefaultCpu, resources?.Cpu ?? 0), Math.Max(_o.DefaultMemoryMb, resources?.MemoryMb ?? 0), gpus, _o.Pools[pool], environment,
            _o.OwnerPodName.Length > 0 ? (_o.OwnerPodName, _o.OwnerPodUid) : null));
        var name = pod.Metadata.Name;
        _channels.Expect(id, secret);
        using var startTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        startTimeout.CancelAfter(_o.StartTimeout);
        // Waiting before the pod exists: a pod that dials back at once is let in.
        var connect = _channels.WaitForAsync(id, startTimeout.Token);
        try
        {
            try { await _api.CoreV1.CreateNamespacedPodAsync(pod, _o.Namespace, cancellationToken: ct); }
            catch (HttpOperationException e) { throw new WorkerStartException($"the cluster refused the worker pod {name}: {e.Response?.Content ?? e.Message}", e); }
            string? lastReason = null;
            while (!connect.IsCompleted)
            {
                var done = await Task.WhenAny(connect, Task.Delay(TimeSpan.FromMilliseconds(250), _clock, CancellationToken.None));
                if (done == connect) break;
                V1Pod status;
                try { status = await _api.CoreV1.ReadNamespacedPodAsync(name, _o.Namespace, cancellationToken: startTimeout.Token); }
                catch (OperationCanceledException) { break; }
                catch (HttpOperationException e) when (e.Response?.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    throw new WorkerStartException($"the worker pod {name} was deleted before it connected");
                }
                if (PodSpecs.FailureReason(status) is { } failure) throw new WorkerStartException(failure);
                if (PodSpecs.PendingReason(status) is { } reason && reason != lastReason)
                {
                    lastReason = reason;
                    pending?.Report($"pod {name}: {reason}");
                }
            }
            (Stream Stream, Frame Hello) channel;
            try { channel = await connect; }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new WorkerStartException($"the worker pod {name} did not connect within {_o.StartTimeout.TotalSeconds:0} s" +
                    (lastReason is null ? "" : $" ({lastReason})"));
            }
            return Connection(id, runtime, name, channel.Stream);
        }
        catch
        {
            startTimeout.Cancel();
            _ = connect.ContinueWith(t => { if (t.IsCompletedSuccessfully) t.Result.Stream.Dispose(); }, TaskScheduler.Default);
            _channels.Forget(id);
            _ = DeletePodAsync(name);
            throw;
        }
    }

    /// <summary>This server's worker pods that dial back after a restart, as generic workers; those that do not are deleted.</summary>
    public async Task<IReadOnlyList<AdoptedWorker>> AdoptAsync(CancellationToken ct)
    {
        V1PodList pods;
        try { pods = await _api.CoreV1.ListNamespacedPodAsync(_o.Namespace, labelSelector: PodSpecs.SelectorFor(_o.ServerId), cancellationToken: ct); }
        catch (HttpOperationException e)
        {
            _log.LogWarning("could not list this server's worker pods: {Message}", e.Response?.Content ?? e.Message);
            return [];
        }
        var adopted = await Task.WhenAll(pods.Items.Select(p => AdoptOneAsync(p, ct)));
        return [.. adopted.OfType<AdoptedWorker>()];
    }

    private async Task<AdoptedWorker?> AdoptOneAsync(V1Pod pod, CancellationToken ct)
    {
        var name = pod.Metadata.Name;
        var env = pod.Spec?.Containers?.FirstOrDefault()?.Env ?? [];
        var labels = pod.Metadata.Labels ?? new Dictionary<string, string>();
        var id = labels.TryGetValue(PodSpecs.WorkerLabel, out var w) ? w : null;
        var secret = env.FirstOrDefault(e => e.Name == "OSAI_WORKER_SECRET")?.Value;
        var runtime = labels.TryGetValue(PodSpecs.RuntimeLabel, out var r) ? r : null;
        // Its container restarting (even in back-off) is expected: its worker exited when the old gateway went away.
        if (id is null || secret is null || runtime is null || pod.Metadata.DeletionTimestamp is not null
            || PodSpecs.FailureReason(pod, crashLoopFails: false) is not null)
        {
            await DeletePodAsync(name);
            return null;
        }
        _channels.Expect(id!, secret!);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(TimeSpan.FromSeconds(30));   // its container restarts and dials back once its old gateway is gone
        try
        {
            var (stream, _) = await _channels.WaitForAsync(id!, wait.Token);
            _log.LogInformation("adopted worker pod {Pod}", name);
            return new AdoptedWorker(Connection(id!, runtime!, name, stream), null);
        }
        catch (OperationCanceledException)
        {
            _channels.Forget(id!);
            await DeletePodAsync(name);
            return null;
        }
    }

    private string GatewayAddress => _o.GatewayAddress.Length > 0 ? _o.GatewayAddress : _channels.Address;

    private WorkerConnection Connection(string id, string runtime, string podName, Stream stream)
    {
        var buffered = new BufferedStream(stream, 64 * 1024);
        return new WorkerConnection(id, runtime, 0, buffered, stream, () =>
        {
            _channels.Forget(id);
            if (!_released.ContainsKey(id)) _ = DeletePodAsync(podName);
        }, () => null, _log, new PodEnvironment());
    }

    /// <summary>
    /// A stopping gateway lets its idle generic pods go instead of deleting them: their worker sees its connection end and exits,
    /// the container restarts and dials the next gateway, which adopts the pod (or deletes it if it does not come back).
    /// </summary>
    public async Task ReleaseAsync(WorkerConnection idle)
    {
        _released[idle.Id] = true;
        await idle.DisposeAsync();
    }

    private async Task DeletePodAsync(string name)
    {
        try { await _api.CoreV1.DeleteNamespacedPodAsync(name, _o.Namespace, new V1DeleteOptions { GracePeriodSeconds = 2 }); }
        catch (HttpOperationException e) when (e.Response?.StatusCode == System.Net.HttpStatusCode.NotFound) { }
        catch (Exception e) { _log.LogWarning("could not delete worker pod {Pod}: {Message}", name, e.Message); }
    }

    public void Dispose() => _channels.Dispose();

    /// <summary>
    /// A pod's side: its limits are its resource requests, set when it was made; its network is the cluster's (policy, not us).
    /// A pod does not see the gateway's files: its builds travel in the load request.
    /// </summary>
    private sealed class PodEnvironment : IWorkerEnvironment
    {
        public string? ExposeBuild(string codeDir) => null;

        /// <summary>A pod sees none of the gateway's files: a build's Python environment is staged into it (WorkerPool).</summary>
        public bool SeesHostFiles => false;
        public void Limit(ResourceRequest resources, int maxProcesses) { }
        public AlgorithmCallException? DeathCause() => null;
        public string? OpenEgress() => null;
        public void Dispose() { }
    }
}
