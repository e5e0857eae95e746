using System.Diagnostics;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Inference;

/// <summary>Outputs of one inference, with where and how it ran.</summary>
public sealed record InferenceOutcome(IReadOnlyList<Tensor> Outputs, InferenceReply Reply);

/// <summary>
/// Model serving below the gateway: maps Open Inference Protocol model names onto catalog versions
/// and runs inferences, loads and unloads on the model workers. Model names are "owner.name" (names
/// cannot contain dots); versions are catalog versions, version ranges (1.*) or build hashes.
/// </summary>
public sealed class ModelService(CallService calls, ModelWorkerPool workers)
{
    // Versions unloaded through the repository API: not ready until loaded again (an inference loads them too).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _unloaded = new();

    public bool IsUnloaded(VersionRecord v) => _unloaded.ContainsKey(v.InstanceKey);

    /// <summary>"alice.resnet" → ("alice", "resnet"); null when the name has no single dot.</summary>
    public static (string Owner, string Name)? ParseModelName(string model)
    {
        var dot = model.IndexOf('.');
        if (dot <= 0 || dot != model.LastIndexOf('.') || dot == model.Length - 1) return null;
        return (model[..dot], model[(dot + 1)..]);
    }

    public static string ModelNameOf(VersionRecord v) => $"{v.Owner}.{v.Name}";

    /// <summary>Resolves a model for a caller; throws <see cref="CatalogException"/> (404) for unknown models and non-model algorithms.</summary>
    public VersionRecord Resolve(string model, string? version, Principal caller)
    {
        var parsed = ParseModelName(model)
            ?? throw new CatalogException(CatalogError.NotFound, $"model '{model}' not found: model names have the form owner.name");
        var v = calls.Resolve(parsed.Owner, parsed.Name, version, caller);
        if (v.Runtime != ModelWorkerPool.Runtime || v.Model is null)
            throw new CatalogException(CatalogError.NotFound, $"'{model}' is a {v.Runtime} algorithm, not a model; call it through /v1/algo/{parsed.Owner}/{parsed.Name}");
        return v;
    }

    public async Task<InferenceOutcome> InferAsync(VersionRecord version, IReadOnlyList<Tensor> inputs, Principal caller, TimeSpan timeout,
        CancellationToken ct, string? traceId = null)
    {
        var context = new CallContext(traceId ?? ActivityTraceId.CreateRandom().ToHexString(), caller.Owner, 0, DateTimeOffset.UtcNow + timeout,
            CallContext.NewCallId());
        var reply = await workers.InferAsync(version, inputs, timeout, context, ct);
        _unloaded.TryRemove(version.InstanceKey, out _);
        return new InferenceOutcome(reply.Outputs, reply);
    }

    public async Task<ModelFacts> LoadAsync(VersionRecord version, CancellationToken ct)
    {
        var facts = await workers.LoadAsync(version, ct);
        _unloaded.TryRemove(version.InstanceKey, out _);
        return facts;
    }

    public Task<bool> UnloadAsync(VersionRecord version, CancellationToken ct)
    {
        _unloaded[version.InstanceKey] = true;
        return workers.UnloadAsync(version, ct);
    }

    /// <summary>Instance keys of every model resident in a worker now.</summary>
    public async Task<HashSet<string>> ResidentAsync(CancellationToken ct) =>
        (await workers.StatsAsync(ct)).SelectMany(s => s.Models).ToHashSet(StringComparer.Ordinal);
}
