using OSForAI.Data.Cloud;
using System.Net;
using Google;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Responses;
using Google.Cloud.Storage.V1;
using OSForAI.Data.Remote;
using GcsObject = Google.Apis.Storage.v1.Data.Object;

namespace OSForAI.Data.Gcs;

/// <summary>Makes gs:// connectors from <c>OSForAI:Data:Gs:&lt;label&gt;</c> settings.</summary>
public sealed class GcsConnectorFactory : IConnectorFactory
{
    private readonly Func<string, string?> _environment;

    public GcsConnectorFactory() : this(Environment.GetEnvironmentVariable) { }
    internal GcsConnectorFactory(Func<string, string?> environment) => _environment = environment;

    public string Scheme => "gs";
    public bool WorksUnconfigured => false;
    public IDataConnector Create(ConnectorSettings settings) => GcsConnector.Create(settings, _environment);
}

/// <summary>
/// Google Cloud Storage through the official client. gs://bucket/key; folders are key prefixes.
/// Writes are resumable uploads in <c>ChunkSizeBytes</c> chunks that GCS finalizes only with the last
/// chunk, so a failed upload leaves nothing. Reads stream a ranged <c>alt=media</c> GET through the
/// client's own (authenticated) HttpClient, so memory stays bounded whatever the object's size.
/// </summary>
public sealed class GcsConnector : IDataConnector, IDisposable
{
    public const int DefaultChunkSize = 8 * 1024 * 1024;
    private const string Store = "Google Cloud Storage";

    private readonly StorageClient _client;
    private readonly int _chunkSize;

    public GcsConnector(StorageClient client, int chunkSize = DefaultChunkSize)
    {
        if (chunkSize <= 0 || chunkSize % UploadObjectOptions.MinimumChunkSize != 0)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), $"must be a positive multiple of {UploadObjectOptions.MinimumChunkSize}");
        _client = client;
        _chunkSize = chunkSize;
    }

    /// <summary>
    /// Settings: Credentials=WorkloadIdentity (GKE Workload Identity: tokens of the service account bound to the pod's Kubernetes
    /// service account, from the metadata server, at GCE_METADATA_HOST when that is set), or CredentialsJson (or CredentialsJsonFile:
    /// a service-account key), or AccessToken (an OAuth token), or AnonymousAccess=true (public buckets, emulators); Endpoint (a base
    /// URI, for emulators); ChunkSizeBytes (upload chunk, a multiple of 256 KiB, default 8 MiB).
    /// </summary>
    public static GcsConnector Create(ConnectorSettings settings) => Create(settings, Environment.GetEnvironmentVariable);

    /// <param name="environment">Reads process environment variables (GCE_METADATA_HOST).</param>
    public static GcsConnector Create(ConnectorSettings settings, Func<string, string?> environment)
    {
        var builder = new StorageClientBuilder();
        if (settings.Get("Endpoint") is { } endpoint)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
                throw new DataException(DataError.NotConfigured, $"{settings.Key}:// Endpoint must be an absolute http(s) URI");
            builder.BaseUri = ServiceBaseUri(baseUri);
        }
        if (settings.Credentials == CredentialSource.WorkloadIdentity)
            builder.GoogleCredential = MetadataServer(environment);
        else if (settings.Secret("CredentialsJson") is { } json)
            builder.GoogleCredential = ServiceAccount(json, settings);
        else if (settings.Secret("AccessToken") is { } token)
            builder.Credential = GoogleCredential.FromAccessToken(token);
        else if (settings.Flag("AnonymousAccess", false))
            builder.UnauthenticatedAccess = true;
        else
            settings.RequireSecret("CredentialsJson");

        var chunk = settings.Long("ChunkSizeBytes", DefaultChunkSize);
        if (chunk % UploadObjectOptions.MinimumChunkSize != 0 || chunk > 1L << 30)
            throw new DataException(DataError.NotConfigured,
                $"{settings.Key}:// ChunkSizeBytes must be a multiple of {UploadObjectOptions.MinimumChunkSize} (256 KiB), at most 1 GiB");
        return new GcsConnector(builder.Build(), (int)chunk);
    }

    /// <summary>"http://host:port" or ".../storage/v1" → the JSON API base the client expects (with a trailing slash).</summary>
    private static string ServiceBaseUri(Uri endpoint)
    {
        var text = endpoint.AbsoluteUri.TrimEnd('/');
        return text.EndsWith("/storage/v1", StringComparison.Ordinal) ? text + "/" : text + "/storage/v1/";
    }

    public const string MetadataHostVariable = "GCE_METADATA_HOST";

    /// <summary>
    /// The pod's identity from the metadata server: on GKE with Workload Identity, the GKE metadata server answers with tokens of the
    /// IAM service account that the pod's Kubernetes service account may impersonate (roles/iam.workloadIdentityUser).
    /// </summary>
    private static GoogleCredential MetadataServer(Func<string, string?> environment)
    {
        var host = environment(MetadataHostVariable) is { Length: > 0 } h ? h.Trim() : "metadata.google.internal";
        if (Uri.CheckHostName(host.Split(':')[0]) == UriHostNameType.Unknown)
            throw new DataException(DataError.NotConfigured, $"{MetadataHostVariable} must be a host name or host:port");
        var tokenUrl = $"http://{host}/computeMetadata/v1/instance/service-accounts/default/token";
        var identityUrl = $"http://{host}/computeMetadata/v1/instance/service-accounts/default/identity";
        return GoogleCredential.FromComputeCredential(new ComputeCredential(new ComputeCredential.Initializer(tokenUrl, identityUrl)));
    }

    private static GoogleCredential ServiceAccount(string json, ConnectorSettings settings)
    {
        try { return CredentialFactory.FromJson<ServiceAccountCredential>(json).ToGoogleCredential(); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or Newtonsoft.Json.JsonException)
        {
            // The exception text may quote the key; never pass it on.
            throw new DataException(DataError.NotConfigured, $"{settings.Key}:// CredentialsJson is not a valid service-account key");
        }
    }

    public bool CanWrite => true;

    public void Dispose() => _client.Dispose();

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.Segments.Count == 0 || uri.IsDirectory) return null;
        var o = await GetAsync(uri, ct);
        return o is null ? null : Info(o);
    }

    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct)
    {
        var page = await ListPageAsync(uri, uri.KeyPrefix, delimiter: null, pageSize: 1, token: null, ct, missingBucketIsEmpty: true);
        if (page is null) return false;
        return uri.IsContainerRoot || page.Items?.Count > 0 || page.Prefixes?.Count > 0;
    }

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, ByteRange? range, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var o = await GetAsync(uri, ct) ?? throw NotFound(uri);
        var info = Info(o);
        var served = RemoteSupport.Served(range, info.Size);
        if (info.Size == 0 || served is { Length: 0 }) return new ObjectStream(Stream.Null, info, served);

        var url = $"{_client.Service.BaseUri}b/{Uri.EscapeDataString(uri.Container)}/o/{Uri.EscapeDataString(uri.Key)}?alt=media&generation={o.Generation}";
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (served is { } s) request.Headers.Range = RemoteSupport.RangeHeader(s);
        HttpResponseMessage response;
        try { response = await _client.Service.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct); }
        catch (Exception e) when (Map(e, uri, "read", ct) is { } mapped) { throw mapped; }
        if (!response.IsSuccessStatusCode || served is not null && response.StatusCode != HttpStatusCode.PartialContent)
        {
            var status = response.StatusCode;
            response.Dispose();
            throw FromStatus(status, uri, "read");
        }
        var body = await response.Content.ReadAsStreamAsync(ct);
        return new ObjectStream(new UpstreamReadStream(body, response, uri.ToString()), info, served);
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        var source = new SourceStream(content);
        try
        {
            var options = new UploadObjectOptions { ChunkSize = _chunkSize };
            var o = await _client.UploadObjectAsync(uri.Container, uri.Key, "application/octet-stream", source, options, ct);
            return Info(o);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The session is never finalized, so GCS shows nothing of it (unfinished sessions expire).
            RemoteSupport.ThrowIfSourceFailed(source);
            throw Map(e, uri, "write", ct) ?? throw new DataException(DataError.Upstream, $"{Store} failed to write {uri}", e);
        }
    }

    public async Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        RemoteSupport.RequireObject(uri);
        try { return await DeleteIfPresentAsync(uri.Container, uri.Key, ct); }
        catch (Exception e) when (Map(e, uri, "delete", ct) is { } mapped) { throw mapped; }
    }

    public async Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        // One GCS page per call: maxResults counts items and prefixes together, so a page never
        // exceeds pageSize. Folders come first within each page; the marker is GCS's page token.
        var prefix = uri.KeyPrefix;
        var page = await ListPageAsync(uri, prefix, "/", Math.Clamp(pageSize, 1, 1000), marker, ct, missingBucketIsEmpty: false);
        var folders = (page!.Prefixes ?? []).Select(p => p[prefix.Length..].TrimEnd('/')).Where(n => n.Length > 0).ToList();
        var files = (page.Items ?? []).Where(o => o.Name != prefix && !o.Name.EndsWith('/')).Select(Info).ToList();
        return new ListPage(folders, files, string.IsNullOrEmpty(page.NextPageToken) ? null : page.NextPageToken);
    }

    /// <summary>GCS has no directories: a folder exists while an object has its prefix.</summary>
    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct) => Task.CompletedTask;

    public async Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        if (uri.IsContainerRoot)
            throw new DataException(DataError.NotSupported, "a whole bucket cannot be deleted through gs://");
        var prefix = uri.KeyPrefix;
        try
        {
            // Every object under the prefix, recursively. "folder/" placeholder objects (as the console
            // makes) are removed with the folder but not counted as files.
            if (!force)
            {
                var placeholders = new List<string>();
                await foreach (var o in _client.ListObjectsAsync(uri.Container, prefix).WithCancellation(ct))
                {
                    if (!o.Name.EndsWith('/'))
                        throw new DataException(DataError.NotEmpty, $"{uri} is not empty; delete it with force to remove its contents");
                    placeholders.Add(o.Name);
                }
                foreach (var name in placeholders) await DeleteIfPresentAsync(uri.Container, name, ct);
                return 0;
            }
            var deleted = 0;
            await foreach (var o in _client.ListObjectsAsync(uri.Container, prefix).WithCancellation(ct))
                if (await DeleteIfPresentAsync(uri.Container, o.Name, ct) && !o.Name.EndsWith('/')) deleted++;
            return deleted;
        }
        catch (Exception e) when (e is not DataException && Map(e, uri, "delete", ct) is { } mapped) { throw mapped; }
    }

    private async Task<bool> DeleteIfPresentAsync(string bucket, string name, CancellationToken ct)
    {
        try
        {
            await _client.DeleteObjectAsync(bucket, name, cancellationToken: ct);
            return true;
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.NotFound) { return false; }
    }

    private async Task<GcsObject?> GetAsync(StorageUri uri, CancellationToken ct)
    {
        try { return await _client.GetObjectAsync(uri.Container, uri.Key, cancellationToken: ct); }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.NotFound) { return null; }
        catch (Exception e) when (Map(e, uri, "read", ct) is { } mapped) { throw mapped; }
    }

    /// <summary>One raw page of a listing (items and prefixes); null when the bucket is missing and that is allowed.</summary>
    private async Task<Google.Apis.Storage.v1.Data.Objects?> ListPageAsync(StorageUri uri, string prefix, string? delimiter, int pageSize,
        string? token, CancellationToken ct, bool missingBucketIsEmpty)
    {
        var options = new ListObjectsOptions { Delimiter = delimiter, PageSize = pageSize, PageToken = token };
        try
        {
            await using var pages = _client.ListObjectsAsync(uri.Container, prefix.Length == 0 ? null : prefix, options)
                .AsRawResponses().GetAsyncEnumerator(ct);
            return await pages.MoveNextAsync() ? pages.Current : new Google.Apis.Storage.v1.Data.Objects();
        }
        catch (GoogleApiException e) when (missingBucketIsEmpty && e.HttpStatusCode == HttpStatusCode.NotFound) { return null; }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.NotFound)
        {
            throw new DataException(DataError.NotFound, $"the bucket {uri.Container} does not exist");
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.BadRequest && token is not null)
        {
            throw new DataException(DataError.BadPath, "the listing marker is malformed or expired");
        }
        catch (Exception e) when (Map(e, uri, "list", ct) is { } mapped) { throw mapped; }
    }

    private static ObjectInfo Info(GcsObject o)
    {
        var slash = o.Name.LastIndexOf('/');
        return new ObjectInfo(o.Name[(slash + 1)..], (long)(o.Size ?? 0), o.ETag, o.UpdatedDateTimeOffset, o.ContentType);
    }

    private static DataException NotFound(StorageUri uri) => new(DataError.NotFound, $"{uri} was not found");

    private static DataException FromStatus(HttpStatusCode status, StorageUri uri, string action) => status switch
    {
        HttpStatusCode.NotFound => NotFound(uri),
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
            new(DataError.Forbidden, $"the gs credentials were refused for bucket {uri.Container}"),
        HttpStatusCode.PreconditionFailed => new(DataError.Conflict, $"{uri} changed during the {action}"),
        HttpStatusCode.TooManyRequests => new(DataError.Upstream, $"{Store} is rate-limiting requests; try again later"),
        _ => new(DataError.Upstream, $"{Store} failed to {action} {uri} (HTTP {(int)status})"),
    };

    /// <summary>The DataException for a client failure; null for cancellation by the caller (let it through).</summary>
    private static DataException? Map(Exception e, StorageUri uri, string action, CancellationToken ct) => e switch
    {
        DataException d => d,
        OperationCanceledException when ct.IsCancellationRequested => null,
        GoogleApiException g => FromStatus(g.HttpStatusCode, uri, action),
        TokenResponseException => new DataException(DataError.Forbidden, $"the gs credentials were refused for bucket {uri.Container}"),
        _ when RemoteSupport.IsTransport(e, ct) => RemoteSupport.Unreachable(Store, e),
        _ => null,
    };
}
