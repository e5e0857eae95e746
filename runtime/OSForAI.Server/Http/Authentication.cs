using OSForAI.Runtime.Auth;

namespace OSForAI.Server.Http;

/// <summary>Reads "Authorization: Simple &lt;key&gt;" (also "Bearer" or a bare key) and checks scopes.</summary>
public static class Authentication
{
    public static Principal Require(HttpContext ctx, KeyStore keys, Scopes scope)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (string.IsNullOrWhiteSpace(header))
            throw ApiErrors.Unauthorized("an API key is required: send 'Authorization: Simple <key>'");
        var key = header.Trim();
        foreach (var scheme in new[] { "Simple ", "Bearer " })
            if (key.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) { key = key[scheme.Length..].Trim(); break; }
        var principal = keys.Verify(key) ?? throw ApiErrors.Unauthorized("the API key is not valid or has been revoked");
        if (!principal.Has(scope))
            throw ApiErrors.Forbidden($"this API key lacks the '{scope.ToString().ToLowerInvariant()}' scope");
        return principal;
    }
}
