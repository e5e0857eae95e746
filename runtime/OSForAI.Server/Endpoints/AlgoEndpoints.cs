using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Data;
using OSForAI.Runtime.Jobs;
using OSForAI.Runtime.Workers;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>POST /v1/algo/{owner}/{name}[/{version}] — the Algorithmia-style call API (docs/api.md).</summary>
public static class AlgoEndpoints
{
    public static void MapAlgo(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/algo/{owner}/{name}/{version?}", CallAsync);
    }

    private static async Task CallAsync(HttpContext ctx, string owner, string name, string? version,
        KeyStore keys, CallService calls, JobStore jobs, JobRunner jobRunner, DataService data, IOptions<OsaiOptions> options)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var caller = Authentication.Require(ctx, keys, Scopes.Call);
            var query = CallQuery.Parse(ctx.Request.Query, options.Value.MaxTimeoutSeconds);
            var kind = InputKind(ctx.Request.ContentType);
            var target = calls.Resolve(owner, name, version, caller);
            DeprecationHeader.Mark(ctx, target);
            var deprecated = target.DeprecatedAt is not null;
            var body = await RequestBody.ReadAsync(ctx.Request, options.Value.MaxRequestBodyBytes, ctx.RequestAborted);
            ValidateInput(kind, body);
            var timeout = calls.TimeoutFor(target, query.TimeoutSeconds);

            if (query.Output == "void")
            {
                // Committed before we answer, so a restart cannot lose an accepted call.
                var job = jobs.Enqueue(owner, name, target.VersionLabel, caller.Owner, kind, body, (int)timeout.TotalSeconds,
                    caller.KeyId, caller.Grants.Select(g => g.ToString()).ToList());
                jobRunner.Notify();
                ctx.Response.StatusCode = StatusCodes.Status202Accepted;
                ctx.Response.ContentType = "application/json";
                await using var vw = new Utf8JsonWriter(ctx.Response.BodyWriter);
                vw.WriteStartObject();
                vw.WriteStartObject("result");
                vw.WriteString("async", "void");
                vw.WriteString("request_id", job.Id);
                vw.WriteEndObject();
                WriteMetadata(vw, "void", started, null, deprecated);
                vw.WriteEndObject();
                return;
            }

            var wantStdout = query.Stdout && (caller.IsAdmin || caller.Owner == owner);
            try
            {
                var result = await calls.CallAsync(target, kind, body, caller, timeout, ctx.RequestAborted,
                    traceId: TraceIdFrom(ctx.Request.Headers["traceparent"]), from: Authentication.CallChainOf(ctx));
                if (query.Output == "raw") await WriteRawAsync(ctx, result);
                else if (result.Body.Length > options.Value.MaxInlineResultBytes)
                    await WriteStoredAsync(ctx, await StoreResultAsync(data, caller, owner, name, result, ctx.RequestAborted), result, started, wantStdout, deprecated);
                else await WriteEnvelopeAsync(ctx, result, started, wantStdout, deprecated);
            }
            catch (AlgorithmCallException e)
            {
                await ApiErrors.WriteAsync(ctx, e, wantStdout ? e.Output : null);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            await ApiErrors.WriteAsync(ctx, e);
        }
    }

    internal sealed record CallQuery(int? TimeoutSeconds, bool Stdout, string? Output)
    {
        public static CallQuery Parse(IQueryCollection q, int maxTimeout)
        {
            int? timeout = null;
            if (q.TryGetValue("timeout", out var t))
            {
                if (!int.TryParse(t.ToString(), out var seconds) || seconds < 1 || seconds > maxTimeout)
                    throw ApiErrors.BadRequest($"timeout must be a whole number of seconds between 1 and {maxTimeout}");
                timeout = seconds;
            }
            var stdout = false;
            if (q.TryGetValue("stdout", out var s))
            {
                if (!bool.TryParse(s.ToString(), out stdout)) throw ApiErrors.BadRequest("stdout must be true or false");
            }
            string? output = null;
            if (q.TryGetValue("output", out var o))
            {
                output = o.ToString();
                if (output is not ("raw" or "void")) throw ApiErrors.BadRequest("output must be 'raw' or 'void'");
            }
            return new CallQuery(timeout, stdout, output);
        }
    }

    /// <summary>application/json → json, text/plain → text, application/octet-stream → binary; anything else is 415.</summary>
    internal static string InputKind(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
            throw ApiErrors.UnsupportedMediaType("a Content-Type is required: application/json, text/plain or application/octet-stream");
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType is null)
            throw ApiErrors.UnsupportedMediaType($"unreadable Content-Type '{contentType}'");
        var charset = media.CharSet?.Trim('"').ToLowerInvariant();
        if (charset is not (null or "utf-8" or "utf8"))
            throw ApiErrors.UnsupportedMediaType($"only UTF-8 text is accepted, not charset '{media.CharSet}'");
        return media.MediaType.ToLowerInvariant() switch
        {
            "application/json" => ContentKinds.Json,
            "text/plain" => ContentKinds.Text,
            "application/octet-stream" => ContentKinds.Binary,
            var other => throw ApiErrors.UnsupportedMediaType(
                $"Content-Type '{other}' is not supported: use application/json, text/plain or application/octet-stream"),
        };
    }

    internal static void ValidateInput(string kind, ReadOnlySpan<byte> body)
    {
        if (kind == ContentKinds.Json)
        {
            try
            {
                var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256 });
                while (reader.Read()) { }
                if (reader.BytesConsumed == 0) throw ApiErrors.BadRequest("the request body is empty; send a JSON value");
            }
            catch (JsonException e)
            {
                throw ApiErrors.BadRequest($"the request body is not valid JSON: {e.Message}");
            }
        }
        else if (kind == ContentKinds.Text && !Utf8.IsValid(body))
        {
            throw ApiErrors.BadRequest("the text/plain request body is not valid UTF-8");
        }
    }

    /// <summary>The trace id of a W3C traceparent header, or null.</summary>
    internal static string? TraceIdFrom(string? traceparent) =>
        traceparent is { Length: 55 } tp && tp[2] == '-' && tp[35] == '-' ? tp.Substring(3, 32) : null;

    private static async Task WriteEnvelopeAsync(HttpContext ctx, InvokeResult result, long started, bool withStdout, bool deprecated)
    {
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        await using (w)
        {
            w.WriteStartObject();
            switch (result.ContentKind)
            {
                case ContentKinds.Json:
                    w.WritePropertyName("result");
                    w.WriteRawValue(result.Body, skipInputValidation: false);
                    break;
                case ContentKinds.Text:
                    w.WriteString("result", result.Body);
                    break;
                default:
                    w.WriteBase64String("result", result.Body);
                    break;
            }
            WriteMetadata(w, result.ContentKind, started, withStdout ? result.Output : null, deprecated);
            w.WriteEndObject();
        }
    }

    /// <summary>
    /// A result too large to return inline is written to the caller's own data space,
    /// data://&lt;caller&gt;/.results/&lt;owner&gt;/&lt;name&gt;/&lt;id&gt;, and answered by reference.
    /// </summary>
    private static async Task<StorageUri> StoreResultAsync(DataService data, Principal caller, string owner, string name, InvokeResult result, CancellationToken ct)
    {
        var id = $"{DateTime.UtcNow:yyyyMMddTHHmmss}-{Guid.NewGuid():N}" + result.ContentKind switch
        {
            ContentKinds.Json => ".json",
            ContentKinds.Text => ".txt",
            _ => ".bin",
        };
        var (uri, connector) = data.Open($"data://{caller.Owner}/.results/{owner}/{name}/{id}", caller, write: true);
        await connector.WriteAsync(uri, new MemoryStream(result.Body, writable: false), result.Body.Length, ct);
        return uri;
    }

    /// <summary>The envelope of a stored result: the URI as a text result, and what it holds in metadata.stored.</summary>
    private static async Task WriteStoredAsync(HttpContext ctx, StorageUri uri, InvokeResult result, long started, bool withStdout, bool deprecated)
    {
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteString("result", uri.ToString());
        w.WriteStartObject("metadata");
        w.WriteString("content_type", ContentKinds.Text);
        w.WriteNumber("duration", Stopwatch.GetElapsedTime(started).TotalSeconds);
        w.WriteStartObject("stored");
        w.WriteString("uri", uri.ToString());
        w.WriteString("content_type", result.ContentKind is ContentKinds.Json or ContentKinds.Text ? result.ContentKind : ContentKinds.Binary);
        w.WriteNumber("size", result.Body.Length);
        w.WriteEndObject();
        if (deprecated) w.WriteBoolean("deprecated", true);
        if (withStdout) ApiErrors.WriteOutput(w, result.Output);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The envelope's metadata; <c>deprecated: true</c> (only then) when a deprecated version answered.</summary>
    private static void WriteMetadata(Utf8JsonWriter w, string kind, long started, CapturedOutput? output, bool deprecated)
    {
        w.WriteStartObject("metadata");
        w.WriteString("content_type", kind is ContentKinds.Json or ContentKinds.Text or "void" ? kind : ContentKinds.Binary);
        w.WriteNumber("duration", Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (deprecated) w.WriteBoolean("deprecated", true);
        if (output is not null) ApiErrors.WriteOutput(w, output);
        w.WriteEndObject();
    }

    private static async Task WriteRawAsync(HttpContext ctx, InvokeResult result)
    {
        ctx.Response.ContentType = result.ContentKind switch
        {
            ContentKinds.Json => "application/json",
            ContentKinds.Text => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        ctx.Response.ContentLength = result.Body.Length;
        await ctx.Response.Body.WriteAsync(result.Body, ctx.RequestAborted);
    }
}
