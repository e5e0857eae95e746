namespace OSForAI.WorkerProtocol;

/// <summary>The <c>type</c> of every worker-protocol frame (docs/worker-protocol.md), in one place.</summary>
public static class MessageTypes
{
    /// <summary>Worker → host, first frame: protocol version, runtime, worker id, the worker's nonce.</summary>
    public const string Hello = "hello";
    /// <summary>
    /// The handshake after <see cref="Hello"/>: host → worker (the host's nonce and proof), then worker → host (the
    /// worker's proof). See <see cref="WorkerAuth"/>.
    /// </summary>
    public const string Auth = "auth";
    /// <summary>Host → worker: load a version's code (or a model).</summary>
    public const string Load = "load";
    /// <summary>Worker → host: the load succeeded.</summary>
    public const string Loaded = "loaded";
    /// <summary>Host → worker: run one call.</summary>
    public const string Invoke = "invoke";
    /// <summary>Worker → host: a call's result.</summary>
    public const string Result = "result";
    /// <summary>Worker → host: a call or load failed.</summary>
    public const string Error = "error";
    /// <summary>Host → worker, no reply: give up a call.</summary>
    public const string Cancel = "cancel";
    /// <summary>Host → worker, no reply: exit.</summary>
    public const string Shutdown = "shutdown";
    /// <summary>Host → worker: report your state (in flight; a model worker adds its resident models and memory).</summary>
    public const string Ping = "ping";
    /// <summary>Worker → host: the answer to <see cref="Ping"/>.</summary>
    public const string Pong = "pong";
    /// <summary>Host → model worker: drop a resident model.</summary>
    public const string Unload = "unload";
    /// <summary>Model worker → host: the answer to <see cref="Unload"/> (whether the model was resident).</summary>
    public const string Unloaded = "unloaded";
    /// <summary>
    /// Host → model worker that cannot see the host's files (a pod): a build's archive (the payload), to unpack into the worker's
    /// own scratch folder, once per build.
    /// </summary>
    public const string Stage = "stage";
    /// <summary>Model worker → host: the build is unpacked; <c>path</c> is its folder, in which model paths are given.</summary>
    public const string Staged = "staged";
}

/// <summary>
/// What a connection to the host is for, as its <c>hello</c> says in <c>channel</c> (docs/worker-protocol.md, "Gateway
/// channels"). Absent means <see cref="Worker"/>.
/// </summary>
public static class HelloChannels
{
    /// <summary>The worker's own channel: frames both ways (load, invoke, results).</summary>
    public const string Worker = "worker";
    /// <summary>
    /// A worker in a pod reaching the gateway's HTTP API on behalf of the call it runs (composition, data): after the
    /// handshake the host relays the connection to the gateway, which accepts that call's token from it.
    /// </summary>
    public const string Gateway = "gateway";
}
