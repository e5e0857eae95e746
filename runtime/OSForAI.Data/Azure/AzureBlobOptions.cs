using Azure.Core.Pipeline;
using Azure.Storage;
using Azure.Storage.Blobs;

namespace OSForAI.Data.Azure;

/// <summary>
/// The settings of one azure[+label] connector: a ConnectionString, or AccountName + AccountKey
/// (with BlobEndpoint for a non-public cloud or an emulator), or AccountName + Credentials=WorkloadIdentity (Azure workload
/// identity: <see cref="WorkloadIdentityCredential"/>, no key anywhere). BlockSizeBytes sizes the staged blocks.
/// </summary>
internal static class AzureBlobOptions
{
    public const int DefaultBlockSize = 8 * 1024 * 1024;
    public const int MinBlockSize = 256 * 1024;
    public const int MaxBlockSize = 1024 * 1024 * 1024;

    /// <param name="environment">Reads process environment variables (the workload identity webhook's AZURE_*).</param>
    /// <param name="handler">The HTTP handler of the storage and token requests (tests: one that trusts a test certificate); null: the default.</param>
    public static BlobServiceClient Client(ConnectorSettings settings, Func<string, string?> environment, Func<HttpMessageHandler>? handler = null)
    {
        var options = new BlobClientOptions();
        if (handler is not null) options.Transport = new HttpClientTransport(handler());
        // The storage SDK's default backs off for ~30 s before giving up on an unreachable account;
        // a data request should fail sooner. Short exponential backoff, as the AWS SDK's standard mode.
        options.Retry.MaxRetries = 3;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(10);
        if (settings.Secret("ConnectionString") is { } connectionString)
        {
            try { return new BlobServiceClient(connectionString, options); }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                // The parser's message may quote the string; ours must not.
                throw new DataException(DataError.NotConfigured, $"{Setting(settings, "ConnectionString")} is not a valid Azure Storage connection string");
            }
        }
        var account = settings.Get("AccountName");
        if (account is not null && settings.Credentials == CredentialSource.WorkloadIdentity)
        {
            var http = new HttpClient(handler?.Invoke() ?? new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(30) };
            return new BlobServiceClient(Endpoint(settings, account),
                WorkloadIdentityCredential.FromEnvironment(settings, environment, http, TimeProvider.System), options);
        }
        if (account is null)
            throw new DataException(DataError.NotConfigured,
                $"{settings.Key}:// has no credentials configured; set {Setting(settings, "ConnectionString")}, or {Setting(settings, "AccountName")} and AccountKey (or their ...File forms)");
        var key = settings.RequireSecret("AccountKey");
        try { return new BlobServiceClient(Endpoint(settings, account), new StorageSharedKeyCredential(account, key), options); }
        catch (FormatException)
        {
            throw new DataException(DataError.NotConfigured, $"{Setting(settings, "AccountKey")} is not a valid (base64) account key");
        }
    }

    private static Uri Endpoint(ConnectorSettings settings, string account)
    {
        var endpoint = settings.Get("BlobEndpoint") ?? $"https://{account}.blob.core.windows.net";
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new DataException(DataError.NotConfigured, $"{Setting(settings, "BlobEndpoint")} must be an absolute http(s) URL");
        // The storage client sends bearer tokens over TLS only.
        if (settings.Credentials == CredentialSource.WorkloadIdentity && uri.Scheme != "https")
            throw new DataException(DataError.NotConfigured, $"{Setting(settings, "BlobEndpoint")} must be https with Credentials=WorkloadIdentity (tokens travel over TLS only)");
        return uri;
    }

    public static int BlockSize(ConnectorSettings settings)
    {
        var size = settings.Long("BlockSizeBytes", DefaultBlockSize);
        return size is >= MinBlockSize and <= MaxBlockSize ? (int)size
            : throw new DataException(DataError.NotConfigured, $"{Setting(settings, "BlockSizeBytes")} must be between {MinBlockSize} and {MaxBlockSize}");
    }

    private static string Setting(ConnectorSettings settings, string name) => $"OSForAI:Data:Azure:{settings.Label ?? "default"}:{name}";
}
