using Azure.Storage;
using Azure.Storage.Blobs;

namespace OSForAI.Data.Azure;

/// <summary>
/// The settings of one azure[+label] connector: a ConnectionString, or AccountName + AccountKey
/// (with BlobEndpoint for a non-public cloud or an emulator). BlockSizeBytes sizes the staged blocks.
/// </summary>
internal static class AzureBlobOptions
{
    public const int DefaultBlockSize = 8 * 1024 * 1024;
    public const int MinBlockSize = 256 * 1024;
    public const int MaxBlockSize = 1024 * 1024 * 1024;

    public static BlobServiceClient Client(ConnectorSettings settings)
    {
        var options = new BlobClientOptions();
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
        if (account is null)
            throw new DataException(DataError.NotConfigured,
                $"{settings.Key}:// has no credentials configured; set {Setting(settings, "ConnectionString")}, or {Setting(settings, "AccountName")} and AccountKey (or their ...File forms)");
        var key = settings.RequireSecret("AccountKey");
        var endpoint = settings.Get("BlobEndpoint") ?? $"https://{account}.blob.core.windows.net";
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new DataException(DataError.NotConfigured, $"{Setting(settings, "BlobEndpoint")} must be an absolute http(s) URL");
        try { return new BlobServiceClient(uri, new StorageSharedKeyCredential(account, key), options); }
        catch (FormatException)
        {
            throw new DataException(DataError.NotConfigured, $"{Setting(settings, "AccountKey")} is not a valid (base64) account key");
        }
    }

    public static int BlockSize(ConnectorSettings settings)
    {
        var size = settings.Long("BlockSizeBytes", DefaultBlockSize);
        return size is >= MinBlockSize and <= MaxBlockSize ? (int)size
            : throw new DataException(DataError.NotConfigured, $"{Setting(settings, "BlockSizeBytes")} must be between {MinBlockSize} and {MaxBlockSize}");
    }

    private static string Setting(ConnectorSettings settings, string name) => $"OSForAI:Data:Azure:{settings.Label ?? "default"}:{name}";
}
