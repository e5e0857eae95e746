using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OSForAI.Server;

namespace OSForAI.Tests.Gateway;

/// <summary>
/// The stacks' gateway certificate: Kestrel's HTTPS endpoint from configuration (Kestrel:Endpoints:Https with PEM Certificate:Path and
/// KeyPath, which the stacks set as environment variables from the mounted kubernetes.io/tls Secret) replaces the plain HTTP address.
/// </summary>
public sealed class HttpsEndpointTests
{
    [Fact]
    public async Task An_https_endpoint_from_configuration_serves_with_the_pem_certificate_instead_of_http()
    {
        var home = Path.Combine(Path.GetTempPath(), "osai-https-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(home);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=osforai-gateway", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(home, "tls.crt");
        var keyPath = Path.Combine(home, "tls.key");
        await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

        await using var server = await OsaiServer.StartAsync(new ServerStartOptions
        {
            Home = home, Host = "127.0.0.1", Port = 0,
            Settings = new Dictionary<string, string?>
            {
                ["OSForAI:Workers:WarmGenericWorkers"] = "0",
                ["Kestrel:Endpoints:Https:Url"] = "https://127.0.0.1:0",
                ["Kestrel:Endpoints:Https:Certificate:Path"] = certPath,
                ["Kestrel:Endpoints:Https:Certificate:KeyPath"] = keyPath,
            },
        });
        Assert.StartsWith("https://127.0.0.1:", server.Url);

        X509Certificate2? served = null;
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => { served = cert is null ? null : X509CertificateLoader.LoadCertificate(cert.RawData); return true; },
        };
        using var client = new HttpClient(handler);
        Assert.True((await client.GetAsync(server.Url + "/health")).IsSuccessStatusCode);
        Assert.Equal(certificate.Thumbprint, served?.Thumbprint);
        // Plain HTTP on the same port is not served.
        using var plain = new HttpClient();
        // (Kestrel answers 400 "requires TLS", or the connection fails).
        bool plainServed;
        try { plainServed = (await plain.GetAsync(server.Url.Replace("https://", "http://", StringComparison.Ordinal) + "/health")).IsSuccessStatusCode; }
        catch (HttpRequestException) { plainServed = false; }
        Assert.False(plainServed);
    }
}
