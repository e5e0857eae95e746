using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Azure.Storage.Blobs;
using OSForAI.Testing;

namespace OSForAI.Tests.Support;

// Real storage servers for the connector tests: the npm emulators (tests/Shared/Emulators.cs) run on
// free loopback ports with temporary data folders. Each is an xunit collection fixture, stopped when
// its collection is done.

/// <summary>s3rver (npm s3rver) on loopback, with one bucket made at start.</summary>
public sealed class S3Emulator : IAsyncLifetime
{
    /// <summary>s3rver's well-known development credentials.</summary>
    public const string AccessKeyId = "S3RVER", SecretAccessKey = "S3RVER";
    public const string Bucket = "osforai-test";

    private EmulatorProcess? _process;
    public int Port => _process?.Port ?? throw new InvalidOperationException("the S3 emulator is not running");
    public string ServiceUrl => $"http://127.0.0.1:{Port}";

    /// <remarks>
    /// s3rver quirks: it checks the access key id but not SigV4 signatures (so a wrong secret is
    /// accepted); its continuation tokens use DES, which Node 17+ only offers with the OpenSSL
    /// legacy provider; and its delimiter listing misses a folder that holds only sub-folders.
    /// </remarks>
    public async Task InitializeAsync() => _process = await EmulatorProcess.StartAsync("s3rver",
        (port, dir) => ["-d", dir, "-a", "127.0.0.1", "-p", port.ToString(), "--configure-bucket", Bucket, "--silent"], TimeSpan.FromSeconds(60),
        new Dictionary<string, string> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" });

    /// <summary>Settings for an s3 connector on this emulator; 5 MiB parts so 12 MiB objects really go multipart.</summary>
    public Dictionary<string, string?> S3Settings() => new()
    {
        ["ServiceUrl"] = ServiceUrl,
        ["Region"] = "us-east-1",
        ["AccessKeyId"] = AccessKeyId,
        ["SecretAccessKey"] = SecretAccessKey,
        ["PartSizeBytes"] = (5 * 1024 * 1024).ToString(),
    };

    /// <summary>A plain SDK client, for setting up and checking what the connector cannot.</summary>
    public AmazonS3Client Client() => new(new BasicAWSCredentials(AccessKeyId, SecretAccessKey),
        new AmazonS3Config { ServiceURL = ServiceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    public async Task CreateBucketAsync(string name)
    {
        using var s3 = Client();
        await s3.PutBucketAsync(new PutBucketRequest { BucketName = name });
    }

    public async Task DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
    }
}

/// <summary>azurite's blob service (npm azurite) on loopback, with one container made at start.</summary>
public sealed class AzureEmulator : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account.</summary>
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    public const string Container = "osforai-test";

    private EmulatorProcess? _process;
    public int Port => _process?.Port ?? throw new InvalidOperationException("the Azure emulator is not running");
    public string BlobEndpoint => $"http://127.0.0.1:{Port}/{AccountName}";
    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    public async Task InitializeAsync()
    {
        // --skipApiVersionCheck: the SDK speaks a newer service version than the emulator knows.
        _process = await EmulatorProcess.StartAsync("azurite-blob",
            (port, dir) => ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", dir, "--skipApiVersionCheck", "--silent"],
            TimeSpan.FromSeconds(90));
        await CreateContainerAsync(Container);
    }

    /// <summary>Settings for an azure connector on this emulator; 4 MiB blocks so 12 MiB objects really go in blocks.</summary>
    public Dictionary<string, string?> AzureSettings() => new()
    {
        ["ConnectionString"] = ConnectionString,
        ["BlockSizeBytes"] = (4 * 1024 * 1024).ToString(),
    };

    public BlobServiceClient Client() => new(ConnectionString);

    public async Task CreateContainerAsync(string name) => await Client().GetBlobContainerClient(name).CreateIfNotExistsAsync();

    public async Task DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class S3EmulatorCollection : ICollectionFixture<S3Emulator>
{
    public const string Name = "S3 emulator";
}

[CollectionDefinition(Name)]
public sealed class AzureEmulatorCollection : ICollectionFixture<AzureEmulator>
{
    public const string Name = "Azure emulator";
}
