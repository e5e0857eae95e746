using OSForAI.Runtime.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace OSForAI.Server.Http;

/// <summary>Reads "Authorization: Simple &lt;key&gt;" (also "Bearer" or a bare key) and checks scopes.</summary>
public static class Authentication
{
    private const string CallChainItem = "osai.call-chain";

    /// <summary>The composed-call chain when the request came from an algorithm (authenticated with a call token).</summary>
    public static CallChain? CallChainOf(HttpContext ctx) => ctx.Items.TryGetValue(CallChainItem, out var c) ? c as CallChain : null;

    public static Principal Require(HttpContext ctx, KeyStore keys, Scopes scope)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (string.IsNullOrWhiteSpace(header))
            throw ApiErrors.Unauthorized("an API key is required: send 'Authorization: Simple <key>'");
        var key = header.Trim();
        foreach (var scheme in new[] { "Simple ", "Bearer " })
            if (key.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) { key = key[scheme.Length..].Trim(); break; }
        if (key.StartsWith(CallTokens.Prefix, StringComparison.Ordinal))
        {
            // An algorithm acting on its caller's behalf: the caller's identity and data grants, call scope only.
            var chain = ctx.RequestServices.GetRequiredService<CallTokens>().Verify(key, DateTimeOffset.UtcNow)
                ?? throw ApiErrors.Unauthorized("the call token is not valid or has expired");
            if (!ctx.RequestServices.GetRequiredService<CallDelegation>().Allows(chain.CallId, ctx.Connection.RemoteIpAddress, ctx.Connection.RemotePort))
                throw ApiErrors.Unauthorized("a call token is valid only from the worker running its call, and only while that call is in flight");
            if (scope is not (Scopes.Call or Scopes.None)) throw ApiErrors.Forbidden("a call token may only call algorithms and use data");
            ctx.Items[CallChainItem] = chain;
            return new Principal("call", chain.Owner, Scopes.Call, (chain.Grants ?? []).Select(DataGrant.Parse).ToList());
        }
        var principal = keys.Verify(key) ?? throw ApiErrors.Unauthorized("the API key is not valid or has been revoked");
        if (!principal.Has(scope))
            throw ApiErrors.Forbidden($"this API key lacks the '{scope.ToString().ToLowerInvariant()}' scope");
        return principal;
    }
}
