using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>
/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding, as PostgreSQL uses it: the user name in the
/// messages is left empty (the server takes the one from the startup message).
/// </summary>
public sealed class ScramSha256
{
    public const string Mechanism = "SCRAM-SHA-256";
    private const string Gs2Header = "n,,";
    private readonly string _password;
    private readonly string _clientFirstBare;
    private readonly string _clientNonce;
    private byte[]? _expectedServerSignature;

    /// <param name="user">The name in the client-first message (empty for PostgreSQL).</param>
    /// <param name="clientNonce">A fresh random nonce; given only by tests that replay a published exchange.</param>
    public ScramSha256(string password, string user = "", string? clientNonce = null)
    {
        _password = password;
        _clientNonce = clientNonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        _clientFirstBare = $"n={user.Replace("=", "=3D").Replace(",", "=2C")},r={_clientNonce}";
    }

    public string ClientFirstMessage => Gs2Header + _clientFirstBare;

    /// <summary>Answers the server-first message with the client-final message (the proof).</summary>
    public string ClientFinalMessage(string serverFirst)
    {
        var attributes = Attributes(serverFirst);
        var nonce = attributes.GetValueOrDefault('r') ?? throw Failed("the server's first message has no nonce");
        if (!nonce.StartsWith(_clientNonce, StringComparison.Ordinal)) throw Failed("the server's nonce does not extend the client's");
        var salt = Convert.FromBase64String(attributes.GetValueOrDefault('s') ?? throw Failed("the server's first message has no salt"));
        if (!int.TryParse(attributes.GetValueOrDefault('i'), NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1)
            throw Failed("the server's first message has no valid iteration count");

        var saltedPassword = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(SaslPrep(_password)), salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(saltedPassword, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var withoutProof = $"c={Convert.ToBase64String(Encoding.ASCII.GetBytes(Gs2Header))},r={nonce}";
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{serverFirst},{withoutProof}");
        var signature = HMACSHA256.HashData(storedKey, authMessage);
        var proof = new byte[clientKey.Length];
        for (var i = 0; i < proof.Length; i++) proof[i] = (byte)(clientKey[i] ^ signature[i]);
        _expectedServerSignature = HMACSHA256.HashData(HMACSHA256.HashData(saltedPassword, "Server Key"u8), authMessage);
        return $"{withoutProof},p={Convert.ToBase64String(proof)}";
    }

    /// <summary>Checks the server-final message: the server proves it knew the password too.</summary>
    public void VerifyServerFinal(string serverFinal)
    {
        var attributes = Attributes(serverFinal);
        if (attributes.TryGetValue('e', out var error)) throw Failed($"the server refused the proof: {error}");
        if (_expectedServerSignature is null) throw Failed("the server's final message came before the client's");
        var signature = attributes.GetValueOrDefault('v') ?? throw Failed("the server's final message has no signature");
        if (!CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(signature), _expectedServerSignature))
            throw Failed("the server's signature is wrong (it does not know the password)");
    }

    private static Dictionary<char, string> Attributes(string message) =>
        message.Split(',').Where(p => p.Length >= 2 && p[1] == '=').GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[2..]);

    // SASLprep (RFC 4013) as far as PostgreSQL needs it: non-ASCII spaces become spaces and the text is NFKC-normalised.
    // Like PostgreSQL, a password that cannot be prepared is used as it is.
    private static string SaslPrep(string password)
    {
        if (password.All(char.IsAscii)) return password;
        try
        {
            var mapped = new string(password.Select(c => char.IsWhiteSpace(c) && !char.IsAscii(c) ? ' ' : c).Where(c => c != '\u00AD').ToArray());
            return mapped.Normalize(NormalizationForm.FormKC);
        }
        catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException)
        {
            return password;
        }
    }

    private static PostgresProtocolException Failed(string message) => new("SCRAM-SHA-256 authentication failed: " + message);
}
