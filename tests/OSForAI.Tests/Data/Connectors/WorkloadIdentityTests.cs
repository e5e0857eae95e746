// Workload identity: the cloud connectors with no key in their settings, taking the pod's identity the way EKS Pod Identity, Azure
// workload identity and GKE Workload Identity hand it out. The storage side is real where a server runs here (s3rver; azurite over
// HTTPS with its OAuth check); the identity side — the EKS Pod Identity agent, Entra ID's token endpoint, the GKE metadata server —
// cannot run here, so each is an in-process fake on loopback that follows the provider's documented wire format and checks what the
// connector sends (the projected token, the client assertion, the Metadata-Flavor header).
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Azure.Storage;
using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Http;
using OSForAI.Data.Azure;
using OSForAI.Data.Gcs;
using OSForAI.Data.S3;
using OSForAI.Testing;
using OSForAI.Tests.Data.Connectors.Fakes;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Data.Connectors.ConnectorTestSupport;

namespace OSForAI.Tests.Data.Connectors;

internal static class IdentityTestSupport
{
    public static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public static async Task<string> RoundTripAsync(IDataConnector connector, StorageUri file, string text)
    {
        await connector.WriteAsync(file, new MemoryStream(Encoding.UTF8.GetBytes(text)), null, Ct);
        await using var o = await connector.OpenReadAsync(file, null, Ct);
        using var reader = new StreamReader(o.Content);
        return await reader.ReadToEndAsync();
    }

    public static string TempFile(string content)
    {
        var path = Path.Combine(Path.GetTempPath(), "osai-token-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }
}

[Collection(S3EmulatorCollection.Name)]
public sealed class S3PodIdentityTests(S3Emulator emulator) : IAsyncLifetime
{
    private LoopbackHost _agent = null!;
    private readonly string _tokenFile = IdentityTestSupport.TempFile("projected-token-1");
    private readonly List<string?> _seen = [];
    /// <summary>How long the agent's credentials last: within the five-minute renewal window, every request renews them.</summary>
    private TimeSpan _lifetime = TimeSpan.FromHours(1);
    private (int Status, string Body)? _refusal;

    public async Task InitializeAsync() => _agent = await LoopbackHost.StartAsync(async ctx =>
    {
        lock (_seen) _seen.Add(ctx.Request.Headers.Authorization.ToString());
        if (_refusal is { } r)
        {
            ctx.Response.StatusCode = r.Status;
            await ctx.Response.WriteAsync(r.Body);
            return;
        }
        // The agent answers the token holder with the associated role's session credentials; s3rver knows one access key.
        await ctx.Response.WriteAsJsonAsync(new Dictionary<string, string>
        {
            ["AccessKeyId"] = S3Emulator.AccessKeyId, ["SecretAccessKey"] = S3Emulator.SecretAccessKey, ["Token"] = "session-token",
            ["Expiration"] = DateTime.UtcNow.Add(_lifetime).ToString("yyyy-MM-ddTHH:mm:ssZ"),
        });
    });

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        File.Delete(_tokenFile);
    }

    private Dictionary<string, string?> Environment() => new()
    {
        [PodIdentityCredentials.FullUriVariable] = new Uri(_agent.BaseUri, "v1/credentials").AbsoluteUri,
        [PodIdentityCredentials.TokenFileVariable] = _tokenFile,
    };

    private static S3Connector Connector(Func<string, string?> environment, string credentials = "WorkloadIdentity", string? label = "platform")
    {
        var settings = new Dictionary<string, string?>
        {
            ["ServiceUrl"] = "", ["Region"] = "us-east-1", ["Credentials"] = credentials,
        };
        return (S3Connector)new S3ConnectorFactory(environment).Create(new ConnectorSettings("s3", label, settings));
    }

    private S3Connector Connector(string serviceUrl)
    {
        var env = Environment();
        var settings = new Dictionary<string, string?> { ["ServiceUrl"] = serviceUrl, ["Region"] = "us-east-1", ["Credentials"] = "WorkloadIdentity" };
        return (S3Connector)new S3ConnectorFactory(name => env.GetValueOrDefault(name)).Create(new ConnectorSettings("s3", "platform", settings));
    }

    private StorageUri NewFile() => StorageUri.Parse($"s3+platform://{S3Emulator.Bucket}/pod-identity/{Guid.NewGuid():N}.txt");

    [Fact]
    public async Task A_labelled_store_with_no_keys_uses_the_pods_identity_and_sends_the_projected_token()
    {
        using var connector = Connector(emulator.ServiceUrl);
        Assert.Equal("through pod identity", await IdentityTestSupport.RoundTripAsync(connector, NewFile(), "through pod identity"));
        lock (_seen) Assert.Equal(["projected-token-1"], _seen.Distinct());
        // The credentials last an hour: one fetch served both requests.
        lock (_seen) Assert.Single(_seen);
    }

    [Fact]
    public async Task Credentials_near_expiry_are_renewed_with_the_token_file_as_it_is_then()
    {
        _lifetime = TimeSpan.FromMinutes(2);
        using var connector = Connector(emulator.ServiceUrl);
        await IdentityTestSupport.RoundTripAsync(connector, NewFile(), "one");
        File.WriteAllText(_tokenFile, "projected-token-2"); // the kubelet rotated the token
        await IdentityTestSupport.RoundTripAsync(connector, NewFile(), "two");
        lock (_seen)
        {
            Assert.Contains("projected-token-1", _seen);
            Assert.Equal("projected-token-2", _seen[^1]);
        }
    }

    [Fact]
    public async Task A_refusing_agent_fails_the_request_with_its_reason()
    {
        _refusal = (400, """{"code":"AccessDeniedException","message":"no pod identity association for this service account"}""");
        using var connector = Connector(emulator.ServiceUrl);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => IdentityTestSupport.RoundTripAsync(connector, NewFile(), "x"));
        var data = e as DataException ?? e.InnerException as DataException ?? Assert.IsType<DataException>(e.InnerException?.InnerException);
        Assert.Contains("no pod identity association", data.Message);
        Assert.DoesNotContain("projected-token", data.Message);
    }

    [Fact]
    public void Without_the_agents_variables_the_error_says_what_to_install()
    {
        var e = Assert.Throws<DataException>(() => Connector(_ => null));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains(PodIdentityCredentials.FullUriVariable, e.Message);
        Assert.Contains("eks-pod-identity-agent", e.Message);
    }

    [Theory]
    [InlineData("http://example.com/v1/credentials")]
    [InlineData("http://10.0.0.7/v1/credentials")]
    [InlineData("file:///etc/passwd")]
    public void The_token_is_sent_only_to_the_agent_or_loopback(string uri)
    {
        var e = Assert.Throws<DataException>(() => Connector(n => n == PodIdentityCredentials.FullUriVariable ? uri : null));
        Assert.Contains("link-local", e.Message);
    }

    [Fact]
    public void An_unknown_credential_source_is_a_configuration_error_naming_the_choices()
    {
        var e = Assert.Throws<DataException>(() => Connector(_ => null, credentials: "Podidentity"));
        Assert.Contains("OSForAI:Data:S3:platform:Credentials", e.Message);
        Assert.Contains("WorkloadIdentity", e.Message);
    }
}

/// <summary>
/// azurite's blob service over HTTPS with <c>--oauth basic</c>: it accepts a bearer token only over TLS, and checks the token's
/// issuer (an Entra ID one), audience (storage) and lifetime — so a token that did not come from the exchange is refused.
/// </summary>
public sealed class AzureWorkloadIdentityTests : IAsyncLifetime
{
    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string ClientId = "5f2c0a4e-0d7b-4c34-9c5e-9c3c0c0a1b2c";
    private const string Container = "wi-test";

    private EmulatorProcess _azurite = null!;
    private LoopbackHost _entra = null!;
    private X509Certificate2 _certificate = null!;
    private string _certDir = null!;
    private readonly string _tokenFile = IdentityTestSupport.TempFile("federated-sa-token-1");
    private readonly List<Dictionary<string, string>> _exchanges = [];

    public async Task InitializeAsync()
    {
        _certDir = Directory.CreateTempSubdirectory("osai-azurite-tls-").FullName;
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(Path.Combine(_certDir, "cert.pem"), _certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_certDir, "key.pem"), rsa.ExportPkcs8PrivateKeyPem());
        _azurite = await EmulatorProcess.StartAsync("azurite-blob", (port, dir) =>
            ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", dir, "--skipApiVersionCheck", "--silent",
             "--oauth", "basic", "--cert", Path.Combine(_certDir, "cert.pem"), "--key", Path.Combine(_certDir, "key.pem")],
            TimeSpan.FromSeconds(90));
        _entra = await LoopbackHost.StartAsync(TokenEndpoint);
        // The container, made with the account key (which azurite still accepts) over the same TLS.
        var admin = new BlobServiceClient(new Uri(BlobEndpoint), new StorageSharedKeyCredential(AzureEmulator.AccountName, AzureEmulator.AccountKey),
            new BlobClientOptions { Transport = new Azure.Core.Pipeline.HttpClientTransport(Handler()) });
        await admin.GetBlobContainerClient(Container).CreateIfNotExistsAsync();
    }

    public async Task DisposeAsync()
    {
        await _entra.DisposeAsync();
        await _azurite.DisposeAsync();
        _certificate.Dispose();
        Directory.Delete(_certDir, recursive: true);
        File.Delete(_tokenFile);
    }

    private string BlobEndpoint => $"https://127.0.0.1:{_azurite.Port}/{AzureEmulator.AccountName}";

    /// <summary>Trusts the test's own certificate, and nothing else.</summary>
    private HttpMessageHandler Handler() => new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == _certificate.GetCertHashString() },
    };

    /// <summary>Entra ID's v2 token endpoint, as the client-credentials grant with a federated assertion uses it.</summary>
    private async Task TokenEndpoint(HttpContext ctx)
    {
        var form = (await ctx.Request.ReadFormAsync()).ToDictionary(kv => kv.Key, kv => kv.Value.ToString());
        lock (_exchanges) _exchanges.Add(form);
        Assert.Equal($"/{Tenant}/oauth2/v2.0/token", ctx.Request.Path.Value);
        if (form.GetValueOrDefault("client_assertion") != File.ReadAllText(_tokenFile) || form.GetValueOrDefault("client_id") != ClientId)
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new Dictionary<string, string>
            {
                ["error"] = "invalid_client",
                ["error_description"] = "AADSTS700211: No matching federated identity record found for presented assertion issuer.",
            });
            return;
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        static string Part(object o) => Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(o)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var token = Part(new { alg = "none", typ = "JWT" }) + "." + Part(new Dictionary<string, object>
        {
            ["aud"] = "https://storage.azure.com", ["iss"] = $"https://sts.windows.net/{Tenant}/", ["iat"] = now, ["nbf"] = now - 60,
            ["exp"] = now + 3600, ["appid"] = ClientId, ["tid"] = Tenant,
        }) + ".";
        await ctx.Response.WriteAsJsonAsync(new Dictionary<string, object>
        {
            ["token_type"] = "Bearer", ["expires_in"] = 3599, ["access_token"] = token,
        });
    }

    private AzureBlobConnector Connector(string? tokenFile = null)
    {
        var env = new Dictionary<string, string?>
        {
            [WorkloadIdentityCredential.TokenFileVariable] = tokenFile ?? _tokenFile,
            [WorkloadIdentityCredential.ClientIdVariable] = ClientId,
            [WorkloadIdentityCredential.TenantIdVariable] = Tenant,
            [WorkloadIdentityCredential.AuthorityHostVariable] = _entra.BaseUri.AbsoluteUri,
        };
        var settings = new Dictionary<string, string?>
        {
            ["AccountName"] = AzureEmulator.AccountName, ["BlobEndpoint"] = BlobEndpoint, ["Credentials"] = "WorkloadIdentity",
        };
        return (AzureBlobConnector)new AzureBlobConnectorFactory(n => env.GetValueOrDefault(n), Handler)
            .Create(new ConnectorSettings("azure", "platform", settings));
    }

    private static StorageUri NewFile() => StorageUri.Parse($"azure+platform://{Container}/wi/{Guid.NewGuid():N}.txt");

    [Fact]
    public async Task The_federated_token_is_exchanged_for_a_storage_token_that_the_account_accepts()
    {
        var connector = Connector();
        Assert.Equal("via workload identity", await IdentityTestSupport.RoundTripAsync(connector, NewFile(), "via workload identity"));
        lock (_exchanges)
        {
            // One exchange served every request (the token lasts an hour), for the storage audience, as a JWT-bearer client assertion.
            var exchange = Assert.Single(_exchanges);
            Assert.Equal("client_credentials", exchange["grant_type"]);
            Assert.Equal("https://storage.azure.com/.default", exchange["scope"]);
            Assert.Equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", exchange["client_assertion_type"]);
        }
    }

    [Fact]
    public async Task A_refused_exchange_fails_the_request_with_entras_reason_and_never_the_assertion()
    {
        var wrong = IdentityTestSupport.TempFile("token-of-another-service-account");
        try
        {
            var connector = Connector(wrong);
            var e = await Assert.ThrowsAsync<DataException>(() => IdentityTestSupport.RoundTripAsync(connector, NewFile(), "x"));
            Assert.Contains("AADSTS700211", e.Message);
            Assert.DoesNotContain("token-of-another", e.Message);
        }
        finally { File.Delete(wrong); }
    }

    [Fact]
    public void Tokens_are_never_configured_for_plain_http()
    {
        var settings = new Dictionary<string, string?>
        {
            ["AccountName"] = AzureEmulator.AccountName, ["BlobEndpoint"] = $"http://127.0.0.1:{_azurite.Port}/{AzureEmulator.AccountName}",
            ["Credentials"] = "WorkloadIdentity", ["ClientId"] = ClientId, ["TenantId"] = Tenant,
        };
        var e = Assert.Throws<DataException>(() => new AzureBlobConnectorFactory(_ => null).Create(new ConnectorSettings("azure", "platform", settings)));
        Assert.Contains("must be https", e.Message);
    }

    [Fact]
    public void Without_the_webhooks_variables_the_error_says_how_to_enable_workload_identity()
    {
        var settings = new Dictionary<string, string?> { ["AccountName"] = "acct", ["Credentials"] = "WorkloadIdentity" };
        var e = Assert.Throws<DataException>(() => new AzureBlobConnectorFactory(_ => null).Create(new ConnectorSettings("azure", "platform", settings)));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("azure.workload.identity", e.Message);
    }
}

public sealed class GcsWorkloadIdentityTests : IAsyncLifetime
{
    private const string Token = "ya29.workload-identity-token";
    private FakeGcsServer _gcs = null!;
    private LoopbackHost _metadata = null!;
    private int _tokenRequests;

    public async Task InitializeAsync()
    {
        _gcs = await FakeGcsServer.StartAsync([GcsFixture.Bucket], requiredToken: Token);
        // The GKE metadata server: it answers only requests that carry Metadata-Flavor: Google.
        _metadata = await LoopbackHost.StartAsync(async ctx =>
        {
            ctx.Response.Headers["Metadata-Flavor"] = "Google";
            if (ctx.Request.Headers["Metadata-Flavor"] != "Google" || ctx.Request.Path != "/computeMetadata/v1/instance/service-accounts/default/token")
            {
                ctx.Response.StatusCode = 403;
                return;
            }
            Interlocked.Increment(ref _tokenRequests);
            await ctx.Response.WriteAsJsonAsync(new Dictionary<string, object> { ["access_token"] = Token, ["expires_in"] = 3599, ["token_type"] = "Bearer" });
        });
    }

    public async Task DisposeAsync()
    {
        Assert.True(_gcs.Host.Failures.IsEmpty, "the fake failed: " + string.Join("\n", _gcs.Host.Failures));
        await _metadata.DisposeAsync();
        await _gcs.DisposeAsync();
    }

    [Fact]
    public async Task Tokens_come_from_the_metadata_server_and_no_key_is_configured()
    {
        var host = _metadata.BaseUri.Authority;
        using var connector = GcsConnector.Create(Settings("gs", ("Endpoint", _gcs.BaseUri.AbsoluteUri), ("Credentials", "WorkloadIdentity")),
            n => n == GcsConnector.MetadataHostVariable ? host : null);
        var file = StorageUri.Parse($"gs://{GcsFixture.Bucket}/wi/{Guid.NewGuid():N}.txt");
        Assert.Equal("via the metadata server", await IdentityTestSupport.RoundTripAsync(connector, file, "via the metadata server"));
        Assert.True(_tokenRequests >= 1, "the metadata server was never asked for a token");
    }
}
