using System.Text.Json;
using Microsoft.Extensions.Logging;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Data;
using OSForAI.Runtime.Workers;

namespace OSForAI.Server.Http;

/// <summary>A failure to report to the caller as an Algorithmia-style error envelope.</summary>
public sealed class ApiException(int status, string message, string errorType, string? stacktrace = null) : Exception(message)
{
    public int Status { get; } = status;
    public string ErrorType { get; } = errorType;
    public string? Stacktrace { get; } = stacktrace;
}

public static class ApiErrors
{
    public static ApiException BadRequest(string message) => new(400, message, "BadRequest");
    public static ApiException Unauthorized(string message) => new(401, message, "Unauthorized");
    public static ApiException Forbidden(string message) => new(403, message, "Forbidden");
    public static ApiException NotFound(string message) => new(404, message, "NotFound");
    public static ApiException UnsupportedMediaType(string message) => new(415, message, "UnsupportedMediaType");
    public static ApiException TooLarge(long limit) => new(413, $"request body is larger than the limit of {limit} bytes; pass large data by URI", "PayloadTooLarge");

    /// <summary>Maps runtime failures onto HTTP statuses; anything unknown is a 500 without internals.</summary>
    public static ApiException From(Exception e) => e switch
    {
        ApiException a => a,
        CatalogException c => new ApiException(c.Kind switch
        {
            CatalogError.Invalid => 400,
            CatalogError.NotFound => 404,
            CatalogError.Forbidden => 403,
            CatalogError.Conflict => 409,
            CatalogError.TooLarge => 413,
            CatalogError.Gone => 410,
            _ => 500,
        }, c.Message, c.Kind.ToString()),
        DataException d => new ApiException(d.Kind switch
        {
            DataError.BadPath => 400,
            DataError.Forbidden => 403,
            DataError.NotFound => 404,
            DataError.Conflict => 409,
            DataError.NotEmpty => 409,
            DataError.TooLarge => 413,
            DataError.QuotaExceeded => 413,
            DataError.NotConfigured => 400,
            DataError.NotSupported => 405,
            DataError.Upstream => 502,
            _ => 500,
        }, d.Message, d.Kind.ToString()),
        AlgorithmCallException a => new ApiException(a.ErrorType switch
        {
            ErrorTypes.AlgorithmError or ErrorTypes.SerializationError or ErrorTypes.InputError or ErrorTypes.LoadError
                or ErrorTypes.OutOfMemory or ErrorTypes.CallCycle or ErrorTypes.CallDepthExceeded => 400,
            ErrorTypes.Timeout => 504,
            ErrorTypes.QueueFull => 429,
            ErrorTypes.Unavailable => 503,
            ErrorTypes.ProtocolError => 502,
            _ => 500,
        }, a.Message, a.ErrorType, a.AlgorithmStacktrace),
        Runtime.Storage.StateUnavailableException => new ApiException(503, "the server's state database cannot be reached right now; retry shortly", "StateUnavailable"),
        BadHttpRequestException b when b.StatusCode == 413 => new ApiException(413, "request body is too large", "PayloadTooLarge"),
        BadHttpRequestException b => new ApiException(b.StatusCode, b.Message, "BadRequest"),
        _ => new ApiException(500, "internal server error", "InternalError"),
    };

    /// <summary>metadata.stdout (always) and metadata.stderr (when the algorithm wrote any), with truncation flags.</summary>
    public static void WriteOutput(Utf8JsonWriter w, CapturedOutput output)
    {
        w.WriteString("stdout", output.Stdout ?? "");
        if (output.StdoutTruncated) w.WriteBoolean("stdout_truncated", true);
        if (output.Stderr is null) return;
        w.WriteString("stderr", output.Stderr);
        if (output.StderrTruncated) w.WriteBoolean("stderr_truncated", true);
    }

    /// <summary>
    /// Answers a failure with its envelope. Anything that becomes a 500 is a fault of the server, not of the request:
    /// it is logged with its exception (the caller sees no internals).
    /// </summary>
    public static Task WriteAsync(HttpContext ctx, Exception e, CapturedOutput? output = null)
    {
        var api = From(e);
        if (api.Status == 500 || e is Runtime.Storage.StateUnavailableException) LogFault(ctx, e);
        return WriteAsync(ctx, api, output);
    }

    /// <summary>Logs a request that failed inside the server, with its exception.</summary>
    public static void LogFault(HttpContext ctx, Exception e) =>
        ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OSForAI.Server.Errors")
            .LogError(e, "{Method} {Path} failed with an internal error", ctx.Request.Method, ctx.Request.Path.Value);

    public static async Task WriteAsync(HttpContext ctx, ApiException e, CapturedOutput? output = null)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.StatusCode = e.Status;
        ctx.Response.ContentType = "application/json";
        if (e.Status == 429) ctx.Response.Headers.RetryAfter = "1";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        if (ctx.Request.Path.StartsWithSegments("/v2"))
        {
            // Open Inference Protocol errors are {"error": "<message>"}.
            w.WriteStartObject();
            w.WriteString("error", e.Message);
            w.WriteEndObject();
            await w.FlushAsync();
            return;
        }
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", e.Message);
        w.WriteString("error_type", e.ErrorType);
        if (e.Stacktrace is not null) w.WriteString("stacktrace", e.Stacktrace);
        w.WriteEndObject();
        if (output is not null)
        {
            w.WriteStartObject("metadata");
            WriteOutput(w, output);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        await w.FlushAsync();
    }
}
