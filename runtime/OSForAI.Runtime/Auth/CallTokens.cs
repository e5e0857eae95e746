using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OSForAI.Runtime.Auth;

/// <summary>
/// Where a composed call comes from: the original caller (whose rights it carries, call scope only), the trace,
/// how deep it is, which algorithms are already on the path (for cycle detection), its remaining deadline, and
/// which version made it when (so the scheduler can learn the call graph). <see cref="Grants"/> are the original
/// caller's data grants, delegated unchanged down the chain (an algorithm never reaches more data than its caller).
/// <see cref="CallId"/> names the one call the token was issued for: <see cref="CallDelegation"/> accepts the token only
/// while that call is in flight, and only from the worker running it.
/// </summary>
public sealed record CallChain(string Owner, string TraceId, int Depth, IReadOnlyList<string> Path, DateTimeOffset Deadline,
    string? CallerKey = null, DateTimeOffset? CallerStartedAt = null, IReadOnlyList<string>? Grants = null, string? CallId = null);

/// <summary>
/// Short-lived tokens that let an algorithm call other algorithms through the gateway on behalf of its
/// caller: "osai_call.{payload}.{mac}", HMAC-SHA256 with a secret of this server process, valid until the
/// invocation's deadline, and in practice much shorter: the gateway also asks <see cref="CallDelegation"/>. They carry the call scope only, so composition can never publish or administer; they
/// also reach data with the caller's own data space and grants.
/// </summary>
public sealed class CallTokens
{
    public const string Prefix = "osai_call.";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);

    public string Issue(CallChain chain)
    {
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(chain, Json));
        return Prefix + payload + "." + Base64Url(HMACSHA256.HashData(_secret, Encoding.ASCII.GetBytes(payload)));
    }

    /// <summary>The chain of a valid, unexpired token; null otherwise.</summary>
    public CallChain? Verify(string token, DateTimeOffset now)
    {
        if (!token.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var parts = token[Prefix.Length..].Split('.');
        if (parts.Length != 2) return null;
        var expected = HMACSHA256.HashData(_secret, Encoding.ASCII.GetBytes(parts[0]));
        byte[] mac;
        try { mac = FromBase64Url(parts[1]); }
        catch (FormatException) { return null; }
        if (!CryptographicOperations.FixedTimeEquals(expected, mac)) return null;
        CallChain? chain;
        try { chain = JsonSerializer.Deserialize<CallChain>(FromBase64Url(parts[0]), Json); }
        catch (Exception e) when (e is JsonException or FormatException) { return null; }
        return chain is not null && chain.Deadline > now ? chain : null;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string s)
    {
        var b = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b.PadRight(b.Length + (4 - b.Length % 4) % 4, '='));
    }
}
