using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace OSForAI.DevCluster;

/// <summary>A watch event as it goes on the wire.</summary>
internal sealed record WatchEvent(long ResourceVersion, string Type, string Namespace, JsonObject Object);

/// <summary>One open watch: its filter and the channel its events go to.</summary>
internal sealed class Watcher(string? ns, Func<JsonObject, bool> filter)
{
    public string? Namespace { get; } = ns;
    public Func<JsonObject, bool> Filter { get; } = filter;
    public Channel<WatchEvent> Events { get; } = Channel.CreateUnbounded<WatchEvent>();
}

/// <summary>A dev node: name, labels, taints and allocatable resources.</summary>
internal sealed record DevNode(string Name, Dictionary<string, string> Labels, (string Key, string Value, string Effect)[] Taints, Dictionary<string, decimal> Allocatable, DateTime Created);

/// <summary>A pod and what the "kubelet" knows of it.</summary>
internal sealed class PodEntry
{
    public required string Namespace { get; init; }
    public required string Name { get; init; }
    public required JsonObject Pod { get; set; }
    public long Sequence { get; init; }
    public string? Node { get; set; }
    public string? Ip { get; set; }
    public bool Deleting { get; set; }
    public string? UnschedulableMessage { get; set; }
    public Process? Process { get; set; }
    public int? ProcessId { get; set; }
    /// <summary>The current container's output (swapped, under the cluster's lock, when a new container starts).</summary>
    public StringBuilder Log { get; set; } = new();
    /// <summary>The output of the container before the current one (what <c>previous=true</c> reads).</summary>
    public string PreviousLog { get; set; } = "";
    public CancellationTokenSource Life { get; } = new();
    public Task Lifecycle { get; set; } = Task.CompletedTask;
    public int RestartCount { get; set; }
    public string Phase { get; set; } = "Pending";
    public bool Ready { get; set; }
    public DateTime? StartTime { get; set; }
    public JsonObject? State { get; set; }
    public JsonObject? LastState { get; set; }
    public Dictionary<string, decimal> Requests { get; init; } = [];

    public string Container => (string)Pod["spec"]!["containers"]![0]!["name"]!;
    public string Image => (string)Pod["spec"]!["containers"]![0]!["image"]!;
    public string RestartPolicy => (string?)Pod["spec"]!["restartPolicy"] ?? "Always";
}

/// <summary>All the dev cluster's objects, its scheduler and its "kubelet" (local processes).
/// One lock guards everything; every change bumps the global resourceVersion and emits a watch event.</summary>
internal sealed partial class ClusterState : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly DevClusterOptions _options;
    private readonly Dictionary<(string, string), PodEntry> _pods = [];
    private readonly Dictionary<string, JsonObject> _namespaces = new(StringComparer.Ordinal);
    private readonly List<WatchEvent> _history = [];
    private readonly List<Watcher> _watchers = [];
    private readonly HashSet<int> _ipsInUse = [];
    private readonly string _workRoot = Path.Combine(Path.GetTempPath(), "osforai-dev-cluster-" + Guid.NewGuid().ToString("N")[..8]);
    private long _resourceVersion = 1;
    private long _sequence;
    private long _historyStart = 1;
    private bool _disposed;

    public ClusterState(DevClusterOptions options)
    {
        _options = options;
        var now = DateTime.UtcNow;
        var nodes = new List<DevNode>
        {
            new("dev-cpu-0", NodeLabels("dev-cpu-0", "cpu"), [], new() { ["cpu"] = 64, ["memory"] = 256m * 1024 * 1024 * 1024, ["pods"] = 110, ["ephemeral-storage"] = 100m * 1024 * 1024 * 1024 }, now),
        };
        for (var i = 0; i < options.GpuNodes; i++)
            nodes.Add(new($"dev-gpu-{i}", NodeLabels($"dev-gpu-{i}", "gpu"), [("nvidia.com/gpu", "true", "NoSchedule")],
                new() { ["cpu"] = 64, ["memory"] = 256m * 1024 * 1024 * 1024, ["pods"] = 110, ["ephemeral-storage"] = 100m * 1024 * 1024 * 1024, ["nvidia.com/gpu"] = 1 }, now));
        Nodes = nodes;
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
            _namespaces[ns] = NewNamespace(ns, now);
    }

    public IReadOnlyList<DevNode> Nodes { get; }

    public long ResourceVersion { get { lock (_gate) return _resourceVersion; } }

    private static Dictionary<string, string> NodeLabels(string name, string pool) => new()
    {
        ["kubernetes.io/hostname"] = name,
        ["kubernetes.io/os"] = "linux",
        ["kubernetes.io/arch"] = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "amd64",
        ["osforai.dev/pool"] = pool,
    };

    internal static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private JsonObject NewNamespace(string name, DateTime now) => new()
    {
        ["kind"] = "Namespace",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["uid"] = Guid.NewGuid().ToString(),
            ["resourceVersion"] = _resourceVersion.ToString(CultureInfo.InvariantCulture),
            ["creationTimestamp"] = Time(now),
            ["labels"] = new JsonObject { ["kubernetes.io/metadata.name"] = name },
        },
        ["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") },
        ["status"] = new JsonObject { ["phase"] = "Active" },
    };

    // ---------------------------------------------------------------- namespaces

    public IReadOnlyList<JsonObject> ListNamespaces()
    {
        lock (_gate) return _namespaces.Values.Select(n => n.DeepClone().AsObject()).ToList();
    }

    public JsonObject GetNamespace(string name)
    {
        lock (_gate)
            return _namespaces.TryGetValue(name, out var ns) ? ns.DeepClone().AsObject() : throw NotFound("namespaces", name);
    }

    public JsonObject CreateNamespace(JsonObject body)
    {
        var name = (string?)body["metadata"]?["name"];
        if (name is null)
            throw Invalid("Namespace", "", "namespaces", [FieldError.Required("metadata.name")]);
        if (Validation.DnsLabelProblem(name) is { } problem)
            throw Invalid("Namespace", name, "namespaces", [FieldError.Invalid("metadata.name", name, problem)]);
        lock (_gate)
        {
            if (_namespaces.ContainsKey(name)) throw AlreadyExists("namespaces", name);
            _resourceVersion++;
            var ns = NewNamespace(name, DateTime.UtcNow);
            _namespaces[name] = ns;
            return ns.DeepClone().AsObject();
        }
    }

    // ---------------------------------------------------------------- pods: API

    public JsonObject CreatePod(string ns, JsonObject pod)
    {
        var errors = Validation.Pod(pod);
        var name = (string?)pod["metadata"]?["name"];
        if ((string?)pod["metadata"]?["namespace"] is { } bodyNs && bodyNs != ns)
            errors.Add(FieldError.Invalid("metadata.namespace", bodyNs, "the namespace of the provided object does not match the namespace sent on the request"));
        if (errors.Count > 0)
            throw Invalid("Pod", name ?? (string?)pod["metadata"]?["generateName"] ?? "", "pods", errors);

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_namespaces.ContainsKey(ns)) throw NotFound("namespaces", ns);
            if (name is null)
            {
                var prefix = (string)pod["metadata"]!["generateName"]!;
                do name = prefix + RandomSuffix(); while (_pods.ContainsKey((ns, name)));
            }
            if (_pods.ContainsKey((ns, name))) throw AlreadyExists("pods", name);

            var now = DateTime.UtcNow;
            var stored = pod.DeepClone().AsObject();
            stored["kind"] = "Pod";
            stored["apiVersion"] = "v1";
            var metadata = stored["metadata"]!.AsObject();
            metadata["name"] = name;
            metadata["namespace"] = ns;
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = Time(now);
            metadata.Remove("resourceVersion");
            var spec = stored["spec"]!.AsObject();
            spec["restartPolicy"] ??= "Always";
            spec["terminationGracePeriodSeconds"] ??= 30;
            spec["schedulerName"] = "default-scheduler";
            var container = spec["containers"]![0]!.AsObject();
            var image = (string)container["image"]!;
            container["imagePullPolicy"] ??= image.Contains(':') && !image.EndsWith(":latest", StringComparison.Ordinal) ? "IfNotPresent" : "Always";
            stored.Remove("status");
            foreach (var item in (container["env"] as JsonArray ?? []).OfType<JsonObject>())
                if (item["valueFrom"]?["fieldRef"] is JsonObject fieldRef)
                    fieldRef["apiVersion"] ??= "v1"; // defaulted as the API server does

            var entry = new PodEntry
            {
                Namespace = ns,
                Name = name,
                Pod = stored,
                Sequence = ++_sequence,
                Requests = Requests(container),
            };
            entry.State = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" } };
            _pods[(ns, name)] = entry;
            RebuildStatus(entry);
            Emit("ADDED", entry);
            Schedule();
            if (OwnersAllGone(entry)) _ = Task.Run(() => CollectOrphan(entry));
            return Snapshot(entry);
        }
    }

    /// <summary>Whether the pod names owner pods and none of them exists (owners of other kinds are not modelled here).</summary>
    private bool OwnersAllGone(PodEntry entry)
    {
        var owners = (entry.Pod["metadata"]?["ownerReferences"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(r => (string?)r["kind"] == "Pod").Select(r => (string?)r["uid"]).ToList();
        return owners.Count > 0 && !_pods.Values.Any(p => p.Namespace == entry.Namespace && owners.Contains((string?)p.Pod["metadata"]?["uid"]));
    }

    private void CollectOrphan(PodEntry entry)
    {
        try { DeletePod(entry.Namespace, entry.Name, null); }
        catch (Exception e) when (e is not OutOfMemoryException) { }   // deleted meanwhile
    }

    private static string RandomSuffix()
    {
        const string alphabet = "bcdfghjklmnpqrstvwxz2456789";
        return string.Concat(Enumerable.Range(0, 5).Select(_ => alphabet[Random.Shared.Next(alphabet.Length)]));
    }

    private static Dictionary<string, decimal> Requests(JsonObject container)
    {
        var result = new Dictionary<string, decimal>(StringComparer.Ordinal);
        var resources = container["resources"] as JsonObject;
        foreach (var kind in new[] { "limits", "requests" }) // requests default to limits
            if (resources?[kind] is JsonObject map)
                foreach (var (name, value) in map)
                    if (Quantity.TryParse(value?.ToString(), out var q))
                        result[name] = q;
        return result;
    }

    public JsonObject GetPod(string ns, string name)
    {
        lock (_gate) return Snapshot(Find(ns, name));
    }

    public (IReadOnlyList<JsonObject> Items, long ResourceVersion) ListPods(string? ns, Func<JsonObject, bool> filter)
    {
        lock (_gate)
            return (_pods.Values.Where(p => ns is null || p.Namespace == ns).OrderBy(p => p.Namespace).ThenBy(p => p.Name)
                .Select(Snapshot).Where(filter).ToList(), _resourceVersion);
    }

    public string Log(string ns, string name, bool previous)
    {
        lock (_gate)
        {
            var entry = Find(ns, name);
            if (previous)
                return entry.RestartCount > 0 ? entry.PreviousLog
                    : throw ApiException.BadRequest($"previous terminated container \"{entry.Container}\" in pod \"{name}\" not found");
            string log;
            lock (entry.Log) log = entry.Log.ToString();
            if (entry.ProcessId is null && log.Length == 0)
                throw ApiException.BadRequest($"container \"{entry.Container}\" in pod \"{name}\" is waiting to start: {(string?)entry.State?["waiting"]?["reason"] ?? "ContainerCreating"}");
            return log;
        }
    }

    /// <summary>Merge patch of metadata.labels and metadata.annotations (merge-patch and strategic-merge-patch
    /// agree on maps: a null value removes the key). Anything else in the patch is refused.</summary>
    public JsonObject PatchPod(string ns, string name, JsonObject patch)
    {
        var errors = new List<FieldError>();
        foreach (var (key, value) in patch)
        {
            if (key == "metadata" && value is JsonObject meta)
            {
                foreach (var (mk, mv) in meta)
                {
                    if (mk is "labels" or "annotations")
                    {
                        if (mv is not JsonObject map) { errors.Add(FieldError.Invalid($"metadata.{mk}", mv?.ToJsonString() ?? "null", "must be an object")); continue; }
                        foreach (var (lk, lv) in map)
                        {
                            if (Validation.LabelKeyProblem(lk) is { } kp) errors.Add(FieldError.Invalid($"metadata.{mk}", lk, kp));
                            if (lv is not null && lv.GetValueKind() != System.Text.Json.JsonValueKind.String)
                                errors.Add(FieldError.Invalid($"metadata.{mk}[{lk}]", lv.ToJsonString(), "must be a string or null"));
                            else if (lv is not null && mk == "labels" && Validation.LabelValueProblem((string)lv!) is { } vp)
                                errors.Add(FieldError.Invalid("metadata.labels", (string)lv!, vp));
                        }
                    }
                    else if (mk is not ("name" or "namespace" or "resourceVersion" or "uid"))
                        errors.Add(FieldError.Unsupported($"metadata.{mk}", "the OSForAI dev cluster patches only metadata.labels and metadata.annotations"));
                }
            }
            else if (key is not ("apiVersion" or "kind"))
                errors.Add(FieldError.Unsupported(key, "the OSForAI dev cluster patches only metadata.labels and metadata.annotations"));
        }
        if (errors.Count > 0) throw Invalid("Pod", name, "pods", errors);
        lock (_gate)
        {
            var entry = Find(ns, name);
            if (patch["metadata"]?["resourceVersion"] is { } rv && (string?)rv != (string?)entry.Pod["metadata"]!["resourceVersion"])
                throw new ApiException(409, "Conflict", $"Operation cannot be fulfilled on pods \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    new JsonObject { ["name"] = name, ["kind"] = "pods" });
            var metadata = entry.Pod["metadata"]!.AsObject();
            foreach (var mk in new[] { "labels", "annotations" })
            {
                if (patch["metadata"]?[mk] is not JsonObject map) continue;
                var target = metadata[mk] as JsonObject ?? new JsonObject();
                foreach (var (lk, lv) in map)
                {
                    if (lv is null) target.Remove(lk);
                    else target[lk] = (string)lv!;
                }
                metadata[mk] = target;
            }
            Emit("MODIFIED", entry);
            return Snapshot(entry);
        }
    }

    /// <summary>Graceful delete: marks the pod (MODIFIED), then SIGTERM, SIGKILL after the grace period
    /// (capped by <see cref="DevClusterOptions.MaxGracePeriod"/>), then removes it (DELETED).</summary>
    public JsonObject DeletePod(string ns, string name, long? gracePeriodSeconds)
    {
        PodEntry entry;
        JsonObject snapshot;
        TimeSpan grace;
        lock (_gate)
        {
            entry = Find(ns, name);
            var seconds = gracePeriodSeconds ?? Validation.Long(entry.Pod["spec"]!["terminationGracePeriodSeconds"]) ?? 30;
            grace = TimeSpan.FromSeconds(Math.Max(0, seconds)) < _options.MaxGracePeriod ? TimeSpan.FromSeconds(Math.Max(0, seconds)) : _options.MaxGracePeriod;
            if (entry.Deleting) return Snapshot(entry);
            entry.Deleting = true;
            var metadata = entry.Pod["metadata"]!.AsObject();
            metadata["deletionTimestamp"] = Time(DateTime.UtcNow.AddSeconds(seconds));
            metadata["deletionGracePeriodSeconds"] = seconds;
            Emit("MODIFIED", entry);
            snapshot = Snapshot(entry);
        }
        _ = Task.Run(() => TerminateAsync(entry, grace));
        return snapshot;
    }

    private async Task TerminateAsync(PodEntry entry, TimeSpan grace)
    {
        entry.Life.Cancel();
        try { await entry.Lifecycle.ConfigureAwait(false); } catch (Exception e) when (e is not OutOfMemoryException) { }
        await StopProcessAsync(entry, grace).ConfigureAwait(false);
        lock (_gate)
        {
            if (!_pods.Remove((entry.Namespace, entry.Name))) return;
            if (entry.Ip is { } ip) _ipsInUse.Remove(int.Parse(ip.Split('.')[3], CultureInfo.InvariantCulture));
            entry.Ready = false;
            RebuildStatus(entry);
            Emit("DELETED", entry);
            Schedule();
        }
        CollectDependents(entry);
    }

    /// <summary>
    /// The garbage collector's part for pods: once a pod is gone, the pods of its namespace that name it (by uid) in their
    /// ownerReferences are deleted too (background propagation); so is a new pod whose owner pods do not exist.
    /// </summary>
    private void CollectDependents(PodEntry owner)
    {
        var uid = (string?)owner.Pod["metadata"]?["uid"];
        if (uid is null) return;
        List<string> dependents;
        lock (_gate)
        {
            dependents = [.. _pods.Values
                .Where(p => p.Namespace == owner.Namespace && !p.Deleting
                    && p.Pod["metadata"]?["ownerReferences"] is JsonArray refs
                    && refs.Any(r => (string?)r?["uid"] == uid))
                .Select(p => p.Name)];
        }
        foreach (var name in dependents)
        {
            PodEntry dependent;
            lock (_gate) { if (!_pods.TryGetValue((owner.Namespace, name), out dependent!)) continue; }
            CollectOrphan(dependent);
        }
    }

    // ---------------------------------------------------------------- watch

    public Watcher Watch(string? ns, Func<JsonObject, bool> filter, string? resourceVersion, out List<WatchEvent> initial)
    {
        var watcher = new Watcher(ns, filter);
        lock (_gate)
        {
            initial = [];
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
            {
                foreach (var entry in _pods.Values.Where(p => ns is null || p.Namespace == ns).OrderBy(p => p.Sequence))
                {
                    var snap = Snapshot(entry);
                    if (filter(snap)) initial.Add(new WatchEvent(_resourceVersion, "ADDED", entry.Namespace, snap));
                }
            }
            else
            {
                if (!long.TryParse(resourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var since))
                    throw ApiException.BadRequest($"invalid resource version \"{resourceVersion}\"");
                if (since < _historyStart - 1)
                    throw new ApiException(410, "Expired", $"too old resource version: {since} ({_historyStart - 1})");
                initial.AddRange(_history.Where(e => e.ResourceVersion > since && (ns is null || e.Namespace == ns) && filter(e.Object)));
            }
            _watchers.Add(watcher);
        }
        return watcher;
    }

    public void Unwatch(Watcher watcher)
    {
        lock (_gate) _watchers.Remove(watcher);
        watcher.Events.Writer.TryComplete();
    }

    private void Emit(string type, PodEntry entry)
    {
        _resourceVersion++;
        entry.Pod["metadata"]!["resourceVersion"] = _resourceVersion.ToString(CultureInfo.InvariantCulture);
        var ev = new WatchEvent(_resourceVersion, type, entry.Namespace, Snapshot(entry));
        _history.Add(ev);
        if (_history.Count > 10_000)
        {
            _history.RemoveRange(0, 1_000);
            _historyStart = _history[0].ResourceVersion;
        }
        foreach (var w in _watchers)
            if ((w.Namespace is null || w.Namespace == entry.Namespace) && w.Filter(ev.Object))
                w.Events.Writer.TryWrite(ev);
    }

    private static JsonObject Snapshot(PodEntry entry) => entry.Pod.DeepClone().AsObject();

    private PodEntry Find(string ns, string name) =>
        _pods.TryGetValue((ns, name), out var entry) ? entry : throw NotFound("pods", name);

    // ---------------------------------------------------------------- test hooks

    public int? ProcessId(string ns, string name)
    {
        lock (_gate) return _pods.TryGetValue((ns, name), out var e) ? e.ProcessId : null;
    }

    public IReadOnlyList<int> AllProcessIds()
    {
        lock (_gate) return _pods.Values.Where(p => p.ProcessId is not null).Select(p => p.ProcessId!.Value).ToList();
    }

    // ---------------------------------------------------------------- errors

    internal static ApiException NotFound(string kind, string name) =>
        new(404, "NotFound", $"{kind} \"{name}\" not found", new JsonObject { ["name"] = name, ["kind"] = kind });

    private static ApiException AlreadyExists(string kind, string name) =>
        new(409, "AlreadyExists", $"{kind} \"{name}\" already exists", new JsonObject { ["name"] = name, ["kind"] = kind });

    internal static ApiException Invalid(string kind, string name, string plural, IReadOnlyList<FieldError> errors)
    {
        var list = errors.Count == 1 ? errors[0].Message : "[" + string.Join(", ", errors.Select(e => e.Message)) + "]";
        var causes = new JsonArray();
        foreach (var e in errors)
            causes.Add(new JsonObject { ["reason"] = e.Reason, ["message"] = e.Message[(e.Field.Length + 2)..], ["field"] = e.Field });
        return new ApiException(422, "Invalid", $"{kind} \"{name}\" is invalid: {list}",
            new JsonObject { ["name"] = name, ["kind"] = plural, ["causes"] = causes });
    }

    public async ValueTask DisposeAsync()
    {
        List<PodEntry> pods;
        lock (_gate)
        {
            _disposed = true;
            pods = [.. _pods.Values];
            foreach (var w in _watchers) w.Events.Writer.TryComplete();
            _watchers.Clear();
        }
        foreach (var p in pods) p.Life.Cancel();
        await Task.WhenAll(pods.Select(async p =>
        {
            try { await p.Lifecycle.ConfigureAwait(false); } catch (Exception e) when (e is not OutOfMemoryException) { }
            await StopProcessAsync(p, TimeSpan.Zero).ConfigureAwait(false);
        })).ConfigureAwait(false);
        try { Directory.Delete(_workRoot, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
