using System.Security.Cryptography;
using System.Text;

namespace OSForAI.WorkerProtocol;

/// <summary>
/// The arithmetic of the worker handshake (docs/worker-protocol.md, "hello" and "auth"): a mutual HMAC-SHA256
/// challenge-response over the per-worker secret, which never crosses the connection. Each side sends a fresh nonce of
/// 32 random bytes (64 lowercase hex digits); the host proves first with
/// <c>HMAC-SHA256(secret, "osai-host\n" + worker_nonce + "\n" + host_nonce)</c>, the worker answers with
/// <c>HMAC-SHA256(secret, "osai-worker\n" + host_nonce + "\n" + worker_nonce)</c>. The labels differ per direction, so
/// no proof made for one direction is valid in the other (no reflection), and both nonces are bound in both proofs, so a
/// proof recorded on one connection is worthless on the next (no replay). Proofs are lowercase hex, compared in
/// constant time.
/// </summary>
public static class WorkerAuth
{
    /// <summary>Random bytes per nonce.</summary>
    public const int NonceBytes = 32;

    /// <summary>The largest header a <c>hello</c> or <c>auth</c> frame may have (they carry no payload).</summary>
    public const int MaxHandshakeHeaderBytes = 16 * 1024;

    /// <summary>The label of the host's proof.</summary>
    public const string HostLabel = "osai-host";

    /// <summary>The label of the worker's proof.</summary>
    public const string WorkerLabel = "osai-worker";

    /// <summary>A fresh nonce: 32 bytes from the system's CSPRNG, as 64 lowercase hex digits.</summary>
    public static string NewNonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(NonceBytes));

    /// <summary>Whether <paramref name="value"/> has a nonce's form (64 lowercase hex digits).</summary>
    public static bool IsNonce(string? value)
    {
        if (value is not { Length: NonceBytes * 2 }) return false;
        foreach (var c in value)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }

    /// <summary>The host's proof: <c>HMAC-SHA256(secret, "osai-host\n" + workerNonce + "\n" + hostNonce)</c>, hex.</summary>
    public static string HostProof(string secret, string workerNonce, string hostNonce) => Proof(secret, HostLabel, workerNonce, hostNonce);

    /// <summary>The worker's proof: <c>HMAC-SHA256(secret, "osai-worker\n" + hostNonce + "\n" + workerNonce)</c>, hex.</summary>
    public static string WorkerProof(string secret, string hostNonce, string workerNonce) => Proof(secret, WorkerLabel, hostNonce, workerNonce);

    /// <summary>Whether <paramref name="presented"/> equals <paramref name="expected"/>, in time independent of where they differ.</summary>
    public static bool ProofMatches(string expected, string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.UTF8.GetBytes(presented));

    /// <summary>The label of <see cref="GatewayKey"/>.</summary>
    public const string GatewayLabel = "osai-gateway";

    /// <summary>
    /// The key a worker's gateway channels authenticate with instead of the worker's secret:
    /// <c>HMAC-SHA256(secret, "osai-gateway")</c>, hex. A worker keeps only this key after its handshake, so code that reads
    /// it out of the worker's memory can open gateway channels (which that code may use anyway) but cannot pose as the
    /// worker itself.
    /// </summary>
    public static string GatewayKey(string secret) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(GatewayLabel)));

    private static string Proof(string secret, string label, string first, string second) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(label + "\n" + first + "\n" + second)));
}
