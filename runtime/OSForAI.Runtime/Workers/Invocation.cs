namespace OSForAI.Runtime.Workers;

/// <summary>Input kinds of the v1 API and the worker protocol.</summary>
public static class ContentKinds
{
    public const string Json = "json";
    public const string Text = "text";
    public const string Binary = "binary";
}

/// <summary>
/// Travels with a call into the worker and on to composed calls: <paramref name="Token"/> lets the algorithm call
/// others and reach data through its worker's gateway socket on its caller's behalf, while the call
/// <paramref name="CallId"/> is in flight on that worker (see CallTokens and CallDelegation).
/// </summary>
public sealed record CallContext(string TraceId, string Caller, int Depth, DateTimeOffset Deadline, string CallId, string? Token = null)
{
    /// <summary>The asynchronous job this call runs, if it runs one (the same on every attempt: jobs run at least once).</summary>
    public string? JobId { get; init; }

    /// <summary>A fresh, unguessable id for one call.</summary>
    public static string NewCallId() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
}

public sealed record InvokeRequest(string ContentKind, ReadOnlyMemory<byte> Body, CallContext Context);

/// <summary>What the algorithm returned, with what it printed during the call (stderr only if it wrote any).</summary>
public sealed record InvokeResult(string ContentKind, byte[] Body, CapturedOutput Output, double DurationMs);

/// <summary>An invocation's captured stdout and stderr, each cut at the stdout limit.</summary>
public sealed record CapturedOutput(string? Stdout, bool StdoutTruncated, string? Stderr, bool StderrTruncated)
{
    public static readonly CapturedOutput None = new(null, false, null, false);
}

/// <summary>Error types surfaced to callers in the error envelope.</summary>
public static class ErrorTypes
{
    public const string AlgorithmError = "AlgorithmError";
    public const string SerializationError = "SerializationError";
    public const string InputError = "InputError";
    public const string LoadError = "LoadError";
    public const string Timeout = "AlgorithmTimeout";
    public const string Crashed = "AlgorithmCrashed";
    public const string QueueFull = "QueueFull";
    public const string Unavailable = "WorkerUnavailable";
    public const string ProtocolError = "ProtocolError";
    public const string CallCycle = "CallCycle";
    public const string CallDepthExceeded = "CallDepthExceeded";
    public const string OutOfMemory = "AlgorithmOutOfMemory";
}

/// <summary>A call that did not produce a result: what the algorithm or the platform said, safe to show the caller.</summary>
public sealed class AlgorithmCallException(string errorType, string message, string? stacktrace = null, CapturedOutput? output = null)
    : Exception(message)
{
    public string ErrorType { get; } = errorType;
    public string? AlgorithmStacktrace { get; } = stacktrace;
    public CapturedOutput Output { get; } = output ?? CapturedOutput.None;
}
