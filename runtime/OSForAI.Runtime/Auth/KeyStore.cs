using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Storage;

namespace OSForAI.Runtime.Auth;

public sealed record ApiKeyInfo(string Id, string Owner, string Name, Scopes Scopes, DateTimeOffset CreatedAt, bool Revoked,
    IReadOnlyList<DataGrant>? DataGrants = null)
{
    public IReadOnlyList<DataGrant> Grants => DataGrants ?? [];
}

/// <summary>
/// API keys look like "osai_&lt;id&gt;_&lt;secret&gt;". Only a per-key salt and HMAC-SHA256(salt, secret) are
/// stored. The secret carries 256 random bits, so a fast keyed hash is enough (no password stretching),
/// which keeps verification cheap on the hot path; verified keys are also cached in memory for
/// <see cref="CacheFor"/>, so a key revoked on another server sharing the state stops working here within that time
/// (at once on the server that revoked it).
/// </summary>
public sealed class KeyStore(Database db, TimeProvider clock)
{
    private const string Prefix = "osai_";
    /// <summary>How long a verified key is trusted without asking the state again.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, (Principal Principal, DateTimeOffset Until)> _verified = new(StringComparer.Ordinal);

    public (ApiKeyInfo Info, string Key) Create(string owner, Scopes scopes, string? name = null, IReadOnlyList<DataGrant>? grants = null)
    {
        Names.Require(owner, "owner");
        grants ??= [];
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var salt = RandomNumberGenerator.GetBytes(16);
        var info = new ApiKeyInfo(id, owner, name ?? "", scopes, clock.GetUtcNow(), false, grants);
        db.Execute("INSERT INTO api_keys(id, owner, name, scopes, salt, hash, created_at, data_grants) VALUES ($i, $o, $n, $s, $salt, $h, $t, $g)",
            ("$i", id), ("$o", owner), ("$n", info.Name), ("$s", string.Join(',', Principal.ScopeNames(scopes))),
            ("$salt", salt), ("$h", Hash(salt, secret)), ("$t", Database.Timestamp(info.CreatedAt)), ("$g", FormatGrants(grants)));
        return (info, $"{Prefix}{id}_{secret}");
    }

    /// <summary>Returns the principal of a valid, unrevoked key, or null.</summary>
    public Principal? Verify(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 200) return null;
        var now = clock.GetUtcNow();
        if (_verified.TryGetValue(key, out var cached) && now < cached.Until) return cached.Principal;
        if (Parse(key) is not var (id, secret)) return null;
        var row = db.Query("SELECT owner, scopes, salt, hash, data_grants FROM api_keys WHERE id=$i AND revoked_at IS NULL",
            r => (Owner: r.GetString(0), Scopes: r.GetString(1), Salt: r.GetBytes(2), Hash: r.GetBytes(3), Grants: r.GetString(4)), ("$i", id)).FirstOrDefault();
        if (row.Owner is null) return null;
        if (!CryptographicOperations.FixedTimeEquals(Hash(row.Salt, secret), row.Hash)) return null;
        var principal = new Principal(id, row.Owner, Principal.ParseScopes(row.Scopes.Split(',')), ParseGrants(row.Grants));
        if (_verified.Count > 10_000) _verified.Clear();
        _verified[key] = (principal, now + CacheFor);
        return principal;
    }

    /// <summary>The id and secret of a key in the osai_&lt;id&gt;_&lt;secret&gt; form, or null.</summary>
    private static (string Id, string Secret)? Parse(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var rest = key.AsSpan(Prefix.Length);
        var sep = rest.IndexOf('_');
        if (sep <= 0 || sep == rest.Length - 1) return null;
        return (rest[..sep].ToString(), rest[(sep + 1)..].ToString());
    }

    /// <summary>
    /// Makes <paramref name="key"/> (a key made elsewhere, e.g. by a deployment, in the osai_&lt;id&gt;_&lt;secret&gt; form with a
    /// secret of at least 32 characters) an admin key, once: replicas that start together with the same key store it once.
    /// Fails if a different key already has its id, or if it was revoked.
    /// </summary>
    public void EnsureAdminKey(string key, string name)
    {
        if (Parse(key) is not var (id, secret) || !id.All(char.IsAsciiHexDigitLower) || id.Length is < 8 or > 32 || secret.Length < 32 || key.Length > 200)
            throw new ArgumentException("an admin key must look like osai_<8 to 32 lowercase hex digits>_<a secret of at least 32 characters>");
        if (Verify(key) is { IsAdmin: true }) return;
        if (db.Query("SELECT revoked_at FROM api_keys WHERE id=$i", r => r.IsNull(0) ? "active" : "revoked", ("$i", id)).FirstOrDefault() is { } state)
            throw new InvalidOperationException(state == "revoked"
                ? $"the configured admin key (id {id}) has been revoked; configure a new one"
                : $"another key already has the id {id} of the configured admin key");
        var salt = RandomNumberGenerator.GetBytes(16);
        try
        {
            db.Execute("INSERT INTO api_keys(id, owner, name, scopes, salt, hash, created_at, data_grants) VALUES ($i, $o, $n, $s, $salt, $h, $t, '')",
                ("$i", id), ("$o", "admin"), ("$n", name), ("$s", string.Join(',', Principal.ScopeNames(Scopes.Admin | Scopes.Call | Scopes.Publish))),
                ("$salt", salt), ("$h", Hash(salt, secret)), ("$t", Database.Timestamp(clock.GetUtcNow())));
        }
        catch (DuplicateKeyException) when (Verify(key) is { IsAdmin: true }) { }   // another replica stored it first
    }

    public IReadOnlyList<ApiKeyInfo> List(string? owner = null) =>
        db.Query("SELECT id, owner, name, scopes, created_at, revoked_at, data_grants FROM api_keys WHERE (CAST($o AS TEXT) IS NULL OR owner=$o) ORDER BY created_at",
            r => new ApiKeyInfo(r.GetString(0), r.GetString(1), r.GetString(2), Principal.ParseScopes(r.GetString(3).Split(',')),
                DateTimeOffset.Parse(r.GetString(4)), !r.IsNull(5), ParseGrants(r.GetString(6))), ("$o", owner));

    private static string FormatGrants(IReadOnlyList<DataGrant> grants) => string.Join('\n', grants.Select(g => g.ToString()));

    private static IReadOnlyList<DataGrant> ParseGrants(string text) =>
        text.Length == 0 ? [] : text.Split('\n').Select(DataGrant.Parse).ToList();

    /// <summary>The key with this id if it exists and is not revoked, else null.</summary>
    public ApiKeyInfo? FindActive(string id) =>
        db.Query("SELECT id, owner, name, scopes, created_at, revoked_at, data_grants FROM api_keys WHERE id=$i AND revoked_at IS NULL",
            r => new ApiKeyInfo(r.GetString(0), r.GetString(1), r.GetString(2), Principal.ParseScopes(r.GetString(3).Split(',')),
                DateTimeOffset.Parse(r.GetString(4)), false, ParseGrants(r.GetString(6))), ("$i", id)).FirstOrDefault();

    public bool Revoke(string id)
    {
        var n = db.Execute("UPDATE api_keys SET revoked_at=$t WHERE id=$i AND revoked_at IS NULL", ("$t", Database.Timestamp(clock.GetUtcNow())), ("$i", id));
        foreach (var entry in _verified.Where(e => e.Value.Principal.KeyId == id).ToList()) _verified.TryRemove(entry.Key, out _);
        return n > 0;
    }

    private static byte[] Hash(byte[] salt, string secret) => HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
