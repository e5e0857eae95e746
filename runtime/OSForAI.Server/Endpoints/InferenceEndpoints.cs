using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Inference;
using OSForAI.Runtime.Workers;
using OSForAI.Server.Http;
using OSForAI.WorkerProtocol;

namespace OSForAI.Server.Endpoints;

/// <summary>
/// The Open Inference Protocol v2 over REST (KServe/Triton clients), with the binary tensor data and
/// model repository extensions. Models are catalog algorithms of runtime onnx named "owner.name";
/// versions are catalog versions. Errors are {"error": "..."} (see ApiErrors). docs/inference.md.
/// </summary>
public static class InferenceEndpoints
{
    public const string HeaderLength = "Inference-Header-Content-Length";
    public static readonly string[] Extensions = ["binary_tensor_data", "model_repository", "classification"];

    public static void MapInference(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/health/live", () => Results.Json(new { live = true }));
        app.MapGet("/v2/health/ready", () => Results.Json(new { ready = true }));
        app.MapGet("/v2", () => Results.Json(new
        {
            name = "osforai",
            version = typeof(InferenceEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            extensions = Extensions,
        }));

        app.MapGet("/v2/models/{model}", (HttpContext c, string model, KeyStore k, ModelService m, CatalogStore cat, ModelWorkerPool w) =>
            Handle(c, () => Metadata(c, model, null, k, m, cat, w)));
        app.MapGet("/v2/models/{model}/versions/{version}", (HttpContext c, string model, string version, KeyStore k, ModelService m, CatalogStore cat, ModelWorkerPool w) =>
            Handle(c, () => Metadata(c, model, version, k, m, cat, w)));
        app.MapGet("/v2/models/{model}/ready", (HttpContext c, string model, KeyStore k, ModelService m) =>
            Handle(c, () => ReadyAsync(c, model, null, k, m)));
        app.MapGet("/v2/models/{model}/versions/{version}/ready", (HttpContext c, string model, string version, KeyStore k, ModelService m) =>
            Handle(c, () => ReadyAsync(c, model, version, k, m)));
        app.MapPost("/v2/models/{model}/infer", (HttpContext c, string model, KeyStore k, ModelService m, CallService calls, IOptions<OsaiOptions> o) =>
            Handle(c, () => InferAsync(c, model, null, k, m, calls, o.Value)));
        app.MapPost("/v2/models/{model}/versions/{version}/infer", (HttpContext c, string model, string version, KeyStore k, ModelService m, CallService calls, IOptions<OsaiOptions> o) =>
            Handle(c, () => InferAsync(c, model, version, k, m, calls, o.Value)));

        app.MapPost("/v2/repository/index", (HttpContext c, KeyStore k, ModelService m, CatalogStore cat, IOptions<OsaiOptions> o) =>
            Handle(c, () => IndexAsync(c, k, m, cat, o.Value)));
        app.MapPost("/v2/repository/models/{model}/load", (HttpContext c, string model, KeyStore k, ModelService m, IOptions<OsaiOptions> o) =>
            Handle(c, () => LoadAsync(c, model, k, m, o.Value)));
        app.MapPost("/v2/repository/models/{model}/unload", (HttpContext c, string model, KeyStore k, ModelService m, IOptions<OsaiOptions> o) =>
            Handle(c, () => UnloadAsync(c, model, k, m, o.Value)));
    }

    private static async Task Handle(HttpContext ctx, Func<Task> handler)
    {
        try { await handler(); }
        catch (InferenceRequestException e) { await ApiErrors.WriteAsync(ctx, ApiErrors.BadRequest(e.Message)); }
        catch (InferenceOutputException e)
        {
            ApiErrors.LogFault(ctx, e);
            await ApiErrors.WriteAsync(ctx, new ApiException(500, e.Message, "OutputError"));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            await ApiErrors.WriteAsync(ctx, e);
        }
    }

    private static Task Metadata(HttpContext ctx, string model, string? version, KeyStore keys, ModelService models, CatalogStore catalog, ModelWorkerPool workers)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var v = models.Resolve(model, version, caller);
        DeprecationHeader.Mark(ctx, v);
        var spec = v.Model!;
        var privileged = catalog.IsPrivileged(caller, v.Owner, v.Name);
        var versions = version is not null
            ? [v.VersionLabel]
            : catalog.ListVersions(v.Owner, v.Name).Where(x => x.Visibility == Visibility.Public || privileged).Select(x => x.VersionLabel).ToArray();
        var facts = workers.LastFacts(v);
        return Results.Json(new
        {
            name = model,
            versions,
            platform = "onnxruntime_onnx",
            inputs = spec.Inputs.Select(TensorMetadata),
            outputs = spec.Outputs.Select(TensorMetadata),
            parameters = new
            {
                version = v.VersionLabel,
                deprecated = v.DeprecatedAt is not null ? true : (bool?)null,
                max_batch_size = spec.MaxBatchSize,
                device_preference = spec.Device,
                device = facts?.Device,
                device_fallback_reason = facts?.FallbackReason,
                labels = spec.Labels?.Count,
            },
        }, ServerJson.Options).ExecuteAsync(ctx);
    }

    private static object TensorMetadata(TensorSpec t) => new { name = t.Name, datatype = t.Type.Name(), shape = t.Shape };

    private static async Task ReadyAsync(HttpContext ctx, string model, string? version, KeyStore keys, ModelService models)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var v = models.Resolve(model, version, caller);
        if (models.IsUnloaded(v))
            throw new ApiException(400, $"model {model} {v.VersionLabel} was unloaded; load it with POST /v2/repository/models/{model}/load", "NotReady");
        try { await models.LoadAsync(v, ctx.RequestAborted); }
        catch (AlgorithmCallException e) { throw new ApiException(400, $"model {model} {v.VersionLabel} is not ready: {e.Message}", "NotReady"); }
        await Results.Json(new { name = model, version = v.VersionLabel, ready = true }).ExecuteAsync(ctx);
    }

    private static async Task InferAsync(HttpContext ctx, string model, string? version, KeyStore keys, ModelService models, CallService calls, OsaiOptions options)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var v = models.Resolve(model, version, caller);
        DeprecationHeader.Mark(ctx, v);
        long? headerLength = null;
        if (ctx.Request.Headers.TryGetValue(HeaderLength, out var hl))
        {
            if (!long.TryParse(hl.ToString(), out var n) || n < 0)
                throw ApiErrors.BadRequest($"{HeaderLength} must be a non-negative whole number, not '{hl}'");
            headerLength = n;
        }
        else if (ctx.Request.ContentType is { Length: > 0 } ct && !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw ApiErrors.UnsupportedMediaType($"Content-Type '{ct}' needs the {HeaderLength} header (binary tensor data); otherwise send application/json");
        }
        var body = await RequestBody.ReadAsync(ctx.Request, options.MaxRequestBodyBytes, ctx.RequestAborted);
        var spec = v.Model!;
        var request = OipCodec.ParseInferRequest(body, headerLength, spec.Inputs, spec.Outputs);
        var outcome = await models.InferAsync(v, request.Inputs, caller, calls.TimeoutFor(v, null), ctx.RequestAborted,
            AlgoEndpoints.TraceIdFrom(ctx.Request.Headers["traceparent"]));
        var encoded = OipCodec.EncodeInferResponse(model, v.VersionLabel, request, outcome.Outputs, spec.Labels);
        if (encoded.InferenceHeaderLength is { } jsonLength)
        {
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.Headers[HeaderLength] = jsonLength.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = encoded.Body.Length;
        await ctx.Response.Body.WriteAsync(encoded.Body, ctx.RequestAborted);
    }

    private static async Task IndexAsync(HttpContext ctx, KeyStore keys, ModelService models, CatalogStore catalog, OsaiOptions options)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var readyOnly = false;
        using (var body = await ReadOptionalObjectAsync(ctx, options))
        {
            if (body is not null && body.RootElement.TryGetProperty("ready", out var r))
                readyOnly = r.ValueKind == JsonValueKind.True ? true : r.ValueKind == JsonValueKind.False ? false
                    : throw ApiErrors.BadRequest("'ready' must be true or false");
        }
        var resident = await models.ResidentAsync(ctx.RequestAborted);
        var entries = new List<object>();
        foreach (var a in catalog.ListAlgorithms())
        {
            var privileged = catalog.IsPrivileged(caller, a.Owner, a.Name);
            foreach (var v in catalog.ListVersions(a.Owner, a.Name))
            {
                if (v.Runtime != ModelWorkerPool.Runtime || (v.Visibility != Visibility.Public && !privileged)) continue;
                var isReady = resident.Contains(v.InstanceKey);
                if (readyOnly && !isReady) continue;
                entries.Add(new
                {
                    name = ModelService.ModelNameOf(v),
                    version = v.VersionLabel,
                    state = isReady ? "READY" : "UNAVAILABLE",
                    reason = isReady ? "" : models.IsUnloaded(v) ? "unloaded" : "not loaded; loads on the first request",
                });
            }
        }
        await Results.Json(entries).ExecuteAsync(ctx);
    }

    /// <summary>Optional body {"parameters": {"version": "1.2.*"}} picks the version; latest otherwise.</summary>
    private static async Task<string?> VersionFromBodyAsync(HttpContext ctx, OsaiOptions options)
    {
        using var body = await ReadOptionalObjectAsync(ctx, options);
        if (body is null || !body.RootElement.TryGetProperty("parameters", out var p) || p.ValueKind != JsonValueKind.Object) return null;
        if (!p.TryGetProperty("version", out var ver)) return null;
        return ver.ValueKind == JsonValueKind.String ? ver.GetString() : throw ApiErrors.BadRequest("parameters.version must be a string");
    }

    /// <summary>The request's JSON object, or null for an empty body; anything else is a 400.</summary>
    private static async Task<JsonDocument?> ReadOptionalObjectAsync(HttpContext ctx, OsaiOptions options)
    {
        var body = await RequestBody.ReadAsync(ctx.Request, options.MaxRequestBodyBytes, ctx.RequestAborted);
        if (body.Length == 0) return null;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body); }
        catch (JsonException e) { throw ApiErrors.BadRequest("the request body is not valid JSON: " + e.Message); }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw ApiErrors.BadRequest("the request body must be a JSON object");
    }

    private static async Task LoadAsync(HttpContext ctx, string model, KeyStore keys, ModelService models, OsaiOptions options)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var v = models.Resolve(model, await VersionFromBodyAsync(ctx, options), caller);
        var started = Stopwatch.GetTimestamp();
        var facts = await models.LoadAsync(v, ctx.RequestAborted);
        await Results.Json(new
        {
            name = model,
            version = v.VersionLabel,
            device = facts.Device,
            device_fallback_reason = facts.FallbackReason,
            resident_bytes = facts.ResidentBytes,
            load_ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds,
        }, ServerJson.Options).ExecuteAsync(ctx);
    }

    private static async Task UnloadAsync(HttpContext ctx, string model, KeyStore keys, ModelService models, OsaiOptions options)
    {
        var caller = Authentication.Require(ctx, keys, Scopes.Call);
        var v = models.Resolve(model, await VersionFromBodyAsync(ctx, options), caller);
        // Unloading affects every caller of the model: only its owner and admins may.
        if (!caller.IsAdmin && caller.Owner != v.Owner)
            throw ApiErrors.Forbidden($"only the owner of {model} or an admin may unload it");
        var wasResident = await models.UnloadAsync(v, ctx.RequestAborted);
        await Results.Json(new { name = model, version = v.VersionLabel, unloaded = wasResident }).ExecuteAsync(ctx);
    }
}
