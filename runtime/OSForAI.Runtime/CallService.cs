using System.Diagnostics;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Inference;
using OSForAI.Runtime.Workers;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime;

/// <summary>The call path below the gateway: resolve a version for a caller, then run it on the pool.</summary>
public sealed class CallService(CatalogStore catalog, WorkerPool pool, ModelWorkerPool models, IOptions<OsaiOptions> options)
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

    public Task<InvokeResult> CallAsync(VersionRecord version, string contentKind, ReadOnlyMemory<byte> body, Principal caller,
        TimeSpan timeout, CancellationToken ct, string? traceId = null, int depth = 0)
    {
        var context = new CallContext(traceId ?? ActivityTraceId.CreateRandom().ToHexString(), caller.Owner, depth,
            DateTimeOffset.UtcNow + timeout);
        if (version.Runtime == ModelWorkerPool.Runtime) return CallModelAsync(version, contentKind, body, context, timeout, ct);
        return pool.InvokeAsync(version, new InvokeRequest(contentKind, body, context), timeout, ct);
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
        List<Tensor> outputs;
        try { outputs = TensorBundle.Decode(reply.Bundle); }
        catch (InvalidDataException e) { throw new AlgorithmCallException(ErrorTypes.ProtocolError, "the model worker sent malformed outputs: " + e.Message); }
        try { return new InvokeResult(ContentKinds.Json, OipCodec.EncodeV1Output(outputs, v.Model.Labels), CapturedOutput.None, reply.DurationMs); }
        catch (InferenceOutputException e) { throw new AlgorithmCallException(ErrorTypes.SerializationError, e.Message); }
    }
}
