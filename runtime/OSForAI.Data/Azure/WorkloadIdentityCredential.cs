using System.Text.Json;
using Azure.Core;

namespace OSForAI.Data.Azure;

/// <summary>
/// Microsoft Entra ID tokens for Azure workload identity: the pod's projected service-account token (a JWT that the cluster's OIDC
/// issuer signed) is exchanged at the tenant's token endpoint for an access token of the user-assigned identity whose federated
/// credential trusts that service account (OAuth 2.0 client credentials with a JWT-bearer client assertion). The AKS workload
/// identity webhook gives the pod <c>AZURE_FEDERATED_TOKEN_FILE</c>, <c>AZURE_CLIENT_ID</c>, <c>AZURE_TENANT_ID</c> and
/// <c>AZURE_AUTHORITY_HOST</c>; the connector settings ClientId and TenantId may name them instead. The token file is read again for
/// every exchange (the kubelet rotates it); an access token is kept until five minutes before it expires.
/// </summary>
internal sealed class WorkloadIdentityCredential : TokenCredential
{
    public const string TokenFileVariable = "AZURE_FEDERATED_TOKEN_FILE";
    public const string ClientIdVariable = "AZURE_CLIENT_ID";
    public const string TenantIdVariable = "AZURE_TENANT_ID";
    public const string AuthorityHostVariable = "AZURE_AUTHORITY_HOST";
    public const string DefaultAuthorityHost = "https://login.microsoftonline.com/";
    private const string AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(5);

    private readonly string _key;
    private readonly Uri _tokenEndpoint;
    private readonly string _clientId;
    private readonly string _tokenFile;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, AccessToken> _tokens = new(StringComparer.Ordinal);

    private WorkloadIdentityCredential(string key, Uri tokenEndpoint, string clientId, string tokenFile, HttpClient http, TimeProvider time)
    {
        _key = key;
        _tokenEndpoint = tokenEndpoint;
        _clientId = clientId;
        _tokenFile = tokenFile;
        _http = http;
        _time = time;
    }

    public static WorkloadIdentityCredential FromEnvironment(ConnectorSettings settings, Func<string, string?> environment, HttpClient http,
        TimeProvider time)
    {
        string Require(string setting, string variable) => settings.Get(setting) ?? Blank(environment(variable)) ?? throw new DataException(
            DataError.NotConfigured,
            $"{settings.Key}:// is set to Credentials=WorkloadIdentity but neither OSForAI:Data:Azure:{settings.Label ?? "default"}:{setting} nor " +
            $"{variable} is set: on AKS, enable workload identity, give the pod's service account the azure.workload.identity/client-id " +
            "annotation and the pod the azure.workload.identity/use label (docs/data.md)");
        var clientId = Require("ClientId", ClientIdVariable);
        var tenantId = Require("TenantId", TenantIdVariable);
        var tokenFile = Blank(environment(TokenFileVariable)) ?? throw new DataException(DataError.NotConfigured,
            $"{settings.Key}:// is set to Credentials=WorkloadIdentity but {TokenFileVariable} is not set (the workload identity webhook " +
            "sets it for pods labelled azure.workload.identity/use=true)");
        var authority = Blank(environment(AuthorityHostVariable)) ?? DefaultAuthorityHost;
        if (!Uri.TryCreate(authority, UriKind.Absolute, out var host) || !(host.Scheme == "https" || host.Scheme == "http" && host.IsLoopback))
            throw new DataException(DataError.NotConfigured, $"{AuthorityHostVariable} must be an https URL (http only on loopback)");
        if (tenantId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.')))
            throw new DataException(DataError.NotConfigured, $"{settings.Key}:// TenantId must be a tenant id or domain name");
        var endpoint = new Uri(new Uri(host.AbsoluteUri.TrimEnd('/') + "/"), $"{tenantId}/oauth2/v2.0/token");
        return new WorkloadIdentityCredential(settings.Key, endpoint, clientId, tokenFile, http, time);
    }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var scope = string.Join(' ', requestContext.Scopes);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_tokens.TryGetValue(scope, out var cached) && cached.ExpiresOn - RenewBefore > _time.GetUtcNow()) return cached;
            var token = await ExchangeAsync(scope, cancellationToken);
            _tokens[scope] = token;
            return token;
        }
        finally { _gate.Release(); }
    }

    private async Task<AccessToken> ExchangeAsync(string scope, CancellationToken ct)
    {
        string assertion;
        try { assertion = (await File.ReadAllTextAsync(_tokenFile, ct)).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException(DataError.NotConfigured, $"{_key}:// cannot read the federated token file named by {TokenFileVariable}");
        }
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = _clientId,
            ["scope"] = scope,
            ["client_assertion_type"] = AssertionType,
            ["client_assertion"] = assertion,
        });
        HttpResponseMessage response;
        var started = _time.GetUtcNow();
        try { response = await _http.PostAsync(_tokenEndpoint, form, ct); }
        catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new DataException(DataError.Upstream, $"{_key}:// could not reach the Entra ID token endpoint {_tokenEndpoint.GetLeftPart(UriPartial.Authority)}: {e.Message}");
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            JsonElement root;
            try { root = JsonDocument.Parse(body).RootElement; }
            catch (JsonException) { root = default; }
            if (!response.IsSuccessStatusCode)
            {
                // Entra's error_description names the cause (AADSTS700211: no matching federated identity record, ...); the assertion is not in it.
                var why = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error_description", out var d) ? d.GetString() : null;
                throw new DataException(DataError.Upstream, $"{_key}:// the workload identity token exchange was refused ({(int)response.StatusCode}): {why ?? "no reason given"}");
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("access_token", out var t) || t.GetString() is not { Length: > 0 } accessToken)
                throw new DataException(DataError.Upstream, $"{_key}:// the Entra ID token endpoint's answer has no access_token");
            var lifetime = root.TryGetProperty("expires_in", out var e) ? Seconds(e) : 3600;
            return new AccessToken(accessToken, started + TimeSpan.FromSeconds(lifetime));
        }
    }

    /// <summary>expires_in is a number of seconds, sent as a JSON number or string.</summary>
    private static long Seconds(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) ? n
        : e.ValueKind == JsonValueKind.String && long.TryParse(e.GetString(), out var s) ? s
        : 3600;

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
