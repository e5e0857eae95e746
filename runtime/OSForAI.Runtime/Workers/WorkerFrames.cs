using OSForAI.Runtime.Catalog;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers;

/// <summary>The two requests the pool sends a code worker, written and read in one place: load a version, invoke a call.</summary>
internal static class WorkerFrames
{
    /// <summary>How a call's error names a failed load (a build's check names the worker's message alone).</summary>
    public const string LoadFailed = "the algorithm failed to load: ";

    /// <summary>Loads <paramref name="v"/> into a generic worker; throws the worker's error (LoadError by default) when it does not load.</summary>
    /// <param name="codeDir">Where the worker sees the build, or null to send <paramref name="archive"/> (the build's .tar.gz) with the request.</param>
    /// <param name="envDir">Where the worker sees the build's Python environment, or null when it has none.</param>
    public static async Task LoadAsync(WorkerConnection conn, VersionRecord v, string? codeDir, ReadOnlyMemory<byte> archive, string? egress,
        string? envDir, int stdoutLimit, CancellationToken ct)
    {
        var reply = await conn.RequestAsync(MessageTypes.Load, w =>
        {
            w.WriteString("algorithm", v.FullName);
            w.WriteString("version", v.VersionLabel);
            w.WriteString("build", v.Build);
            if (codeDir is not null) w.WriteString("code_dir", codeDir);
            else w.WriteString("code_archive", "tar.gz");
            if (egress is not null) w.WriteString("egress", egress);
            if (envDir is not null) w.WriteString("env_dir", envDir);
            if (v.SystemPackages) w.WriteBoolean("system_packages", true);
            w.WriteString("entrypoint", v.Entrypoint);
            w.WriteNumber("concurrency", v.Concurrency);
            w.WriteNumber("stdout_limit", stdoutLimit);
        }, codeDir is null ? archive : default, ct);
        if (reply.Type != MessageTypes.Loaded)
            throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.LoadError,
                LoadFailed + (reply.GetString("message") ?? reply.Type), reply.GetString("stacktrace"));
    }

    /// <summary>Runs one call; the algorithm's own errors come back as <see cref="AlgorithmCallException"/>.</summary>
    public static async Task<InvokeResult> InvokeAsync(WorkerConnection conn, InvokeRequest request, TimeSpan timeout, CancellationToken ct)
    {
        var reply = await conn.RequestAsync(MessageTypes.Invoke, w =>
        {
            w.WriteString("content_type", request.ContentKind);
            w.WriteNumber("timeout_ms", (long)timeout.TotalMilliseconds);
            w.WriteStartObject("context");
            w.WriteString("trace_id", request.Context.TraceId);
            w.WriteString("caller", request.Context.Caller);
            w.WriteNumber("depth", request.Context.Depth);
            w.WriteNumber("deadline_unix_ms", request.Context.Deadline.ToUnixTimeMilliseconds());
            if (request.Context.Token is { } token) w.WriteString("token", token);
            if (request.Context.JobId is { } jobId) w.WriteString("job_id", jobId);
            w.WriteEndObject();
        }, request.Body, ct);
        return reply.Type switch
        {
            MessageTypes.Result => new InvokeResult(reply.GetString("content_type") ?? ContentKinds.Binary, reply.Payload,
                OutputOf(reply), reply.GetDouble("duration_ms")),
            MessageTypes.Error => throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.AlgorithmError,
                reply.GetString("message") ?? "the algorithm failed", reply.GetString("stacktrace"), OutputOf(reply)),
            _ => throw new AlgorithmCallException(ErrorTypes.ProtocolError, $"the worker answered an invoke with '{reply.Type}'"),
        };
    }

    private static CapturedOutput OutputOf(Frame reply) => new(
        reply.GetString("stdout"), reply.GetBool("stdout_truncated"), reply.GetString("stderr"), reply.GetBool("stderr_truncated"));
}
