using System.Diagnostics;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Inference;
using OSForAI.Runtime.Workers;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime;

/// <summary>The call path below the gateway: resolve a version for a caller, then run it on the pool.</summary>
public sealed class CallService(CatalogStore catalog, WorkerPool pool, ModelWorkerPool models, CallTokens tokens,
    CallGraphPrewarmer prewarmer, IOptions<OsaiOptions> options)
{
    private readonly OsaiOptions _options = options.Value;

    /// <summary>Resolves owner/name[/version] for the caller; throws <see cref="CatalogException"/>.</summary>
    public VersionRecord Resolve(string owner, string name, string? versionText, Principal caller)
    {
        if (!VersionSpec.TryParse(versionText, out var spec, out var error))
            throw new CatalogException(CatalogError.Invalid, error!);
        if (!Names.IsValid(owner) || !Names.IsValid(name))
            throw new CatalogException(CatalogError.NotFound, $"algorithm {owner}/{name} not found");
        return catalog.Resolve(owner, name, spec, caller);
    }

    /// <summary>The timeout for a call: what the caller asked for, else the version's, capped by the server maximum.</summary>
    public TimeSpan TimeoutFor(VersionRecord version, int? requestedSeconds) =>
        TimeSpan.FromSeconds(Math.Min(requestedSeconds ?? version.TimeoutSeconds, _options.MaxTimeoutSeconds));

    /// <summary>
    /// Runs a call. <paramref name="from"/> is set when an algorithm makes the call (composition): the call then
    /// continues its caller's trace, path and deadline, one level deeper; cycles and excessive depth are refused.
    /// <paramref name="jobId"/> is set when the call runs an asynchronous job: the algorithm sees it in its context.
    /// </summary>
    public Task<InvokeResult> CallAsync(VersionRecord version, string contentKind, ReadOnlyMemory<byte> body, Principal caller,
        TimeSpan timeout, CancellationToken ct, string? traceId = null, CallChain? from = null, string? jobId = null)
    {
        var context = ContextFor(version, caller, ref timeout, traceId, from) with { JobId = jobId };
        prewarmer.OnCall(version, from);
        if (version.Runtime == ModelWorkerPool.Runtime) return CallModelAsync(version, contentKind, body, context, timeout, ct);
        return pool.InvokeAsync(version, new InvokeRequest(contentKind, body, context), timeout, ct);
    }

    private CallContext ContextFor(VersionRecord version, Principal caller, ref TimeSpan timeout, string? traceId, CallChain? from)
    {
        var now = DateTimeOffset.UtcNow;
        var path = from?.Path ?? [];
        if (path.Contains(version.FullName))
            throw new AlgorithmCallException(ErrorTypes.CallCycle,
                $"{version.FullName} is already on this call's path ({string.Join(" -> ", path)} -> {version.FullName}); algorithms may not call themselves in a cycle");
        var depth = from is null ? 0 : from.Depth + 1;
        if (depth > _options.MaxCallDepth)
            throw new AlgorithmCallException(ErrorTypes.CallDepthExceeded,
                $"calling {version.FullName} would nest algorithm calls {depth} deep; the limit is {_options.MaxCallDepth} ({string.Join(" -> ", path)})");
        var deadline = now + timeout;
        if (from is not null && from.Deadline < deadline)
        {
            // A composed call never outlives its caller.
            deadline = from.Deadline;
            timeout = deadline - now;
            if (timeout <= TimeSpan.Zero) throw new AlgorithmCallException(ErrorTypes.Timeout, "the calling algorithm's deadline has passed");
        }
        var trace = from?.TraceId ?? traceId ?? ActivityTraceId.CreateRandom().ToHexString();
        var owner = from?.Owner ?? caller.Owner;
        // Models never call out, so only code runtimes get a call token.
        var callId = CallContext.NewCallId();
        var token = version.Runtime == ModelWorkerPool.Runtime ? null
            : tokens.Issue(new CallChain(owner, trace, depth, [.. path, version.FullName], deadline, version.InstanceKey, now,
                from?.Grants ?? caller.Grants.Select(g => g.ToString()).ToList(), callId));
        return new CallContext(trace, owner, depth, deadline, callId, token);
    }

    /// <summary>A model called through the v1 API: JSON arrays in, JSON arrays (and top labels) out.</summary>
    private async Task<InvokeResult> CallModelAsync(VersionRecord v, string contentKind, ReadOnlyMemory<byte> body, CallContext context,
        TimeSpan timeout, CancellationToken ct)
    {
        if (contentKind != ContentKinds.Json)
            throw new AlgorithmCallException(ErrorTypes.InputError,
                $"{v.FullName} is an ONNX model: send its inputs as application/json, or use the Open Inference Protocol at /v2/models/{v.Owner}.{v.Name}/infer");
        IReadOnlyList<Tensor> inputs;
        try { inputs = OipCodec.ParseV1Input(body, v.Model!.Inputs); }
        catch (InferenceRequestException e) { throw new AlgorithmCallException(ErrorTypes.InputError, e.Message); }
        var reply = await models.InferAsync(v, inputs, timeout, context, ct);
        try { return new InvokeResult(ContentKinds.Json, OipCodec.EncodeV1Output(reply.Outputs, v.Model.Labels), CapturedOutput.None, reply.DurationMs); }
        catch (InferenceOutputException e) { throw new AlgorithmCallException(ErrorTypes.SerializationError, e.Message); }
    }
}
