using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Amazon.Runtime;

namespace OSForAI.Data.S3;

/// <summary>
/// Short-lived AWS credentials from the container credentials endpoint: what EKS Pod Identity gives a pod whose service account is
/// associated with an IAM role. The EKS Pod Identity webhook puts the endpoint in <c>AWS_CONTAINER_CREDENTIALS_FULL_URI</c> (the
/// node-local agent, http://169.254.170.23/v1/credentials) and a projected service-account token in the file named by
/// <c>AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE</c>, which is sent as the Authorization header. The file is read again for every
/// refresh (the kubelet rotates the token); credentials are renewed before they expire. Nothing long-lived is ever configured.
/// </summary>
internal sealed class PodIdentityCredentials : RefreshingAWSCredentials
{
    public const string FullUriVariable = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    public const string TokenFileVariable = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    public const string TokenVariable = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        Timeout = TimeSpan.FromSeconds(5),
    };

    private readonly Uri _endpoint;
    private readonly string? _tokenFile;
    private readonly string? _token;
    private readonly string _key;

    private PodIdentityCredentials(string key, Uri endpoint, string? tokenFile, string? token)
    {
        _key = key;
        _endpoint = endpoint;
        _tokenFile = tokenFile;
        _token = token;
        // Renew five minutes before the credentials expire (they last an hour or more).
        PreemptExpiryTime = TimeSpan.FromMinutes(5);
    }

    /// <summary>The credentials the pod's environment names; a clear NotConfigured error when it names none.</summary>
    public static PodIdentityCredentials FromEnvironment(ConnectorSettings settings, Func<string, string?> environment)
    {
        var fullUri = Blank(environment(FullUriVariable)) ?? throw new DataException(DataError.NotConfigured,
            $"{settings.Key}:// is set to Credentials=WorkloadIdentity but this process has no {FullUriVariable}: on EKS, install the " +
            "eks-pod-identity-agent add-on and associate the pod's service account with an IAM role (docs/data.md)");
        if (!Uri.TryCreate(fullUri, UriKind.Absolute, out var endpoint) || !IsAllowedEndpoint(endpoint))
            throw new DataException(DataError.NotConfigured,
                $"{FullUriVariable} must be an http(s) URL on loopback or the EKS Pod Identity agent's link-local address (169.254.170.23, fd00:ec2::23) or ECS's (169.254.170.2)");
        var tokenFile = Blank(environment(TokenFileVariable));
        var token = tokenFile is null ? Blank(environment(TokenVariable)) : null;
        return new PodIdentityCredentials(settings.Key, endpoint, tokenFile, token);
    }

    /// <summary>Only the node-local agent (or loopback): the token must never be sent anywhere else.</summary>
    private static bool IsAllowedEndpoint(Uri uri)
    {
        if (uri.Scheme is not ("http" or "https")) return false;
        if (uri.Scheme == "https") return true;
        return IPAddress.TryParse(uri.IdnHost, out var ip)
            ? IPAddress.IsLoopback(ip) || ip.Equals(IPAddress.Parse("169.254.170.23")) || ip.Equals(IPAddress.Parse("169.254.170.2"))
              || ip.Equals(IPAddress.Parse("fd00:ec2::23"))
            : uri.IdnHost == "localhost";
    }

    protected override CredentialsRefreshState GenerateNewCredentials() => GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _endpoint);
        if (AuthorizationToken() is { } token) request.Headers.TryAddWithoutValidation("Authorization", token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        try { response = await Http.SendAsync(request); }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new DataException(DataError.Upstream, $"{_key}:// could not reach the pod identity endpoint {_endpoint.GetLeftPart(UriPartial.Authority)}: {e.Message}");
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
                throw new DataException(DataError.Upstream,
                    $"{_key}:// the pod identity endpoint answered {(int)response.StatusCode}: {Message(body)}");
            try
            {
                using var doc = JsonDocument.Parse(body);
                var root = doc.RootElement;
                var credentials = new ImmutableCredentials(
                    root.GetProperty("AccessKeyId").GetString(), root.GetProperty("SecretAccessKey").GetString(), root.GetProperty("Token").GetString());
                var expiration = root.GetProperty("Expiration").GetDateTime().ToUniversalTime();
                return new CredentialsRefreshState(credentials, expiration);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new DataException(DataError.Upstream, $"{_key}:// the pod identity endpoint's answer is not AWS container credentials");
            }
        }
    }

    private string? AuthorizationToken()
    {
        if (_tokenFile is null) return _token;
        try { return File.ReadAllText(_tokenFile).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException(DataError.NotConfigured, $"{_key}:// cannot read the pod identity token file named by {TokenFileVariable}");
        }
    }

    /// <summary>The endpoint's error message, if it sent a JSON one (never the token: it is not in the answer).</summary>
    private static string Message(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
                foreach (var name in new[] { "message", "Message" })
                    if (doc.RootElement.TryGetProperty(name, out var m) && m.ValueKind == JsonValueKind.String) return m.GetString()!;
        }
        catch (JsonException) { }
        return body.Length > 200 ? body[..200] : body;
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
