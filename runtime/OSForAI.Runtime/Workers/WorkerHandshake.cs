using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// The host's side of the worker handshake, the same on every transport (docs/worker-protocol.md, "hello" and "auth"):
/// <code>
/// worker → host  {"type":"hello","protocol":1,"runtime":…,"runner":…,"pid":…,"worker_id":…,"nonce":NW}
/// host → worker  {"type":"auth","nonce":NH,"proof":HMAC-SHA256(secret, "osai-host\n" + NW + "\n" + NH)}
/// worker → host  {"type":"auth","proof":HMAC-SHA256(secret, "osai-worker\n" + NH + "\n" + NW)}
/// </code>
/// Both sides thereby prove they know the per-worker secret without sending it (<see cref="WorkerAuth"/>).
/// </summary>
public static class WorkerHandshake
{
    /// <summary>The worker-protocol version this host speaks.</summary>
    public const int Protocol = 1;

    /// <summary>
    /// Runs the handshake on a fresh connection and returns the worker's <c>hello</c>. <paramref name="secretForWorkerId"/>
    /// gives the secret of the worker id the hello names (null: no such worker, refused before the host proves anything).
    /// Reads exactly the two frames of the handshake, never past them, so the caller may wrap <paramref name="stream"/> in a
    /// buffer afterwards. Throws <see cref="AlgorithmCallException"/> (<see cref="ErrorTypes.Unavailable"/>) saying why when
    /// the peer fails it; cancellation (<paramref name="ct"/>: the caller's time limit) propagates as such.
    /// </summary>
    public static Task<Frame> AuthenticateAsync(Stream stream, Func<string?, string?> secretForWorkerId, CancellationToken ct) =>
        AuthenticateByHelloAsync(stream, hello => secretForWorkerId(hello.GetString("worker_id")), ct);

    /// <summary>
    /// As the overload by worker id, with the secret chosen by the whole <c>hello</c> (its <c>channel</c> too: a gateway
    /// channel proves <see cref="WorkerAuth.GatewayKey"/>, not the worker's secret).
    /// </summary>
    public static async Task<Frame> AuthenticateByHelloAsync(Stream stream, Func<Frame, string?> secretForHello, CancellationToken ct)
    {
        try
        {
            var hello = await ReadAsync(stream, "hello", ct);
            if (hello.Type != MessageTypes.Hello)
                throw Refused($"its first frame was '{Printable(hello.Type)}', not hello");
            if (hello.GetInt("protocol") != Protocol)
                throw Refused($"it speaks protocol {hello.GetInt("protocol")}, this host protocol {Protocol}");
            var workerNonce = hello.GetString("nonce");
            if (!WorkerAuth.IsNonce(workerNonce))
                throw Refused(hello.GetString("secret") is not null
                    ? "its hello carries a secret instead of a nonce (a runner from before the challenge-response handshake)"
                    : "its hello carries no valid nonce (64 lowercase hex digits)");
            var workerId = hello.GetString("worker_id");
            var secret = secretForHello(hello);
            if (string.IsNullOrEmpty(secret)) throw Refused($"no worker with id '{Printable(workerId)}' is expected here");

            var hostNonce = WorkerAuth.NewNonce();
            var challenge = Frame.Encode(w =>
            {
                w.WriteString("type", MessageTypes.Auth);
                w.WriteString("nonce", hostNonce);
                w.WriteString("proof", WorkerAuth.HostProof(secret, workerNonce!, hostNonce));
            }, []);
            await stream.WriteAsync(challenge, ct);
            await stream.FlushAsync(ct);

            var answer = await ReadAsync(stream, "auth", ct);
            if (answer.Type != MessageTypes.Auth) throw Refused($"it answered the host's auth with '{Printable(answer.Type)}'");
            if (!WorkerAuth.ProofMatches(WorkerAuth.WorkerProof(secret, hostNonce, workerNonce!), answer.GetString("proof")))
                throw Refused("its proof is wrong: it does not know the worker's secret");
            return hello;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or System.Net.Sockets.SocketException or ObjectDisposedException
                                      or NotSupportedException)
        {
            throw Refused("the connection broke: " + e.Message);
        }
    }

    private static async Task<Frame> ReadAsync(Stream stream, string expected, CancellationToken ct) =>
        await Frame.ReadAsync(stream, WorkerAuth.MaxHandshakeHeaderBytes, 0, ct)
        ?? throw Refused($"it closed the connection before its {expected}");

    private static AlgorithmCallException Refused(string why) =>
        new(ErrorTypes.Unavailable, "worker handshake failed: " + why);

    /// <summary>Peer-supplied text, cut short and without control characters, for messages and logs.</summary>
    internal static string Printable(string? text)
    {
        if (text is null) return "";
        var cut = text.Length > 64 ? text[..64] + "…" : text;
        return string.Create(cut.Length, cut, (span, s) =>
        {
            for (var i = 0; i < s.Length; i++) span[i] = char.IsControl(s[i]) ? '?' : s[i];
        });
    }
}
