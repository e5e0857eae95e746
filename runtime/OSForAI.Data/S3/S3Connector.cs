using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using OSForAI.Data.Cloud;
using S3ByteRange = Amazon.S3.Model.ByteRange;

namespace OSForAI.Data.S3;

/// <summary>Makes s3[+label]:// connectors (settings: see <see cref="S3Options"/>).</summary>
public sealed class S3ConnectorFactory : IConnectorFactory
{
    private readonly Func<string, string?> _environment;

    public S3ConnectorFactory() : this(Environment.GetEnvironmentVariable) { }
    internal S3ConnectorFactory(Func<string, string?> environment) => _environment = environment;

    public string Scheme => "s3";
    /// <summary>The unlabelled set may come from the standard AWS_* variables alone.</summary>
    public bool WorksUnconfigured => true;
    public IDataConnector Create(ConnectorSettings settings) => new S3Connector(S3Options.From(settings, _environment));
}

/// <summary>
/// s3://bucket/key on AWS S3 or any S3-compatible store. Directories are key prefixes. Uploads
/// above the multipart threshold use a multipart upload that is aborted on any failure, so an
/// object is only ever replaced whole.
/// </summary>
public sealed class S3Connector : IDataConnector, IDisposable
{
    private const int MaxParts = 10_000;
    private const int DeleteBatch = 1000;

    private readonly S3Options _options;
    private readonly AmazonS3Client _s3;

    internal S3Connector(S3Options options)
    {
        _options = options;
        _s3 = new AmazonS3Client(options.Credentials, options.ClientConfig());
    }

    public bool CanWrite => true;

    /// <summary>The SDK client, for tests that watch which requests are sent.</summary>
    internal AmazonS3Client Client => _s3;

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.IsContainerRoot) return null;
        try
        {
            var m = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = uri.Container, Key = uri.Key }, ct);
            return new ObjectInfo(uri.Name, m.ContentLength, m.ETag, Utc(m.LastModified), m.Headers.ContentType);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return null; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct)
    {
        try
        {
            var page = await ListKeysAsync(uri.Container, uri.KeyPrefix, null, 1, ct);
            return uri.IsContainerRoot || page.S3Objects is { Count: > 0 };
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket") { return false; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, Data.ByteRange? range, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = uri.Container, Key = ObjectKey(uri) };
        if (range is { } r)
        {
            if (r.Length is <= 0) throw new DataException(DataError.BadPath, "an empty byte range was requested");
            request.ByteRange = r.Length is { } length ? new S3ByteRange(r.Offset, r.Offset + length - 1) : new S3ByteRange($"bytes={r.Offset}-");
        }
        GetObjectResponse response;
        try { response = await _s3.GetObjectAsync(request, ct); }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }

        var size = response.ContentLength;
        Data.ByteRange? served = null;
        if (range is { } asked)
        {
            if (TotalFromContentRange(response.ContentRange) is not { } total)
            {
                response.Dispose();
                throw new DataException(DataError.Upstream, $"the store ignored the byte range requested for {uri}");
            }
            size = total;
            served = new Data.ByteRange(asked.Offset, response.ContentLength);
        }
        var info = new ObjectInfo(uri.Name, size, response.ETag, Utc(response.LastModified), response.Headers.ContentType);
        return new ObjectStream(new UpstreamReadStream(response.ResponseStream, response, uri.ToString()), info, served);
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        var key = ObjectKey(uri);
        // A known length may need bigger parts to stay within S3's 10,000-part limit.
        var partSize = length is { } l && l > (long)_options.PartSize * MaxParts
            ? (int)Math.Min(S3Options.MaxPartSize, (l + MaxParts - 1) / MaxParts)
            : _options.PartSize;
        using var chunks = await ChunkedContent.ReadFirstAsync(content, partSize, ct);
        if (chunks.IsSingleChunk && chunks.First.Count <= _options.MultipartThreshold)
        {
            var first = chunks.First;
            using var body = new MemoryStream(first.Array!, first.Offset, first.Count, writable: false);
            try
            {
                var put = await _s3.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = uri.Container, Key = key, InputStream = body, AutoCloseStream = false, UseChunkEncoding = false,
                }, ct);
                return new ObjectInfo(uri.Name, first.Count, put.ETag, null);
            }
            catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
        }
        return await MultipartAsync(uri, key, chunks, partSize, ct);
    }

    private async Task<ObjectInfo> MultipartAsync(StorageUri uri, string key, ChunkedContent chunks, int partSize, CancellationToken ct)
    {
        string uploadId;
        try
        {
            uploadId = (await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = uri.Container, Key = key }, ct)).UploadId;
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }

        try
        {
            var parts = new List<PartETag>();
            var total = await chunks.UploadAllAsync(async (index, chunk) =>
            {
                if (index >= MaxParts)
                    throw new DataException(DataError.TooLarge, $"the object is larger than S3's {MaxParts} parts of {partSize} bytes (raise PartSizeBytes, or send the length)");
                using var body = new MemoryStream(chunk.Array!, chunk.Offset, chunk.Count, writable: false);
                var part = await _s3.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = uri.Container, Key = key, UploadId = uploadId, PartNumber = index + 1,
                    InputStream = body, PartSize = chunk.Count, UseChunkEncoding = false,
                }, ct);
                parts.Add(new PartETag(part));
            }, ct);
            var done = await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = uri.Container, Key = key, UploadId = uploadId, PartETags = parts,
            }, ct);
            return new ObjectInfo(uri.Name, total, done.ETag, null);
        }
        catch (Exception e)
        {
            // Whatever failed (the store, the content stream, cancellation), the parts must not linger.
            await AbortQuietlyAsync(uri.Container, key, uploadId);
            if (!chunks.ContentFailed && IsStoreFailure(e, ct)) throw Map(e, uri);
            throw;
        }
    }

    private async Task AbortQuietlyAsync(string bucket, string key, string uploadId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId }, timeout.Token);
        }
        catch (Exception) { /* best effort: the store's lifecycle rules clean up what is left */ }
    }

    public async Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.IsContainerRoot || await StatAsync(uri, ct) is null) return false;
        try
        {
            await _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = uri.Container, Key = uri.Key }, ct);
            return true;
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        var prefix = uri.KeyPrefix;
        try
        {
            return await Listing.PageAsync(marker, pageSize, async (token, max) =>
            {
                var page = await _s3.ListObjectsV2Async(new ListObjectsV2Request
                {
                    BucketName = uri.Container, Prefix = prefix, Delimiter = "/", MaxKeys = max, ContinuationToken = token,
                }, ct);
                var folders = (page.CommonPrefixes ?? []).Select(p => Listing.ChildName(p, prefix)).OfType<string>().ToList();
                var files = (page.S3Objects ?? [])
                    .Where(o => !o.Key.EndsWith('/'))
                    .Select(o => Listing.ChildName(o.Key, prefix) is { } name ? new ObjectInfo(name, o.Size ?? 0, o.ETag, Utc(o.LastModified)) : null)
                    .OfType<ObjectInfo>().ToList();
                return new UpstreamPage(folders, files, page.IsTruncated == true ? page.NextContinuationToken : null);
            });
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    // Note: s3rver (the emulator the tests use) misses a folder that holds only sub-folders in
    // delimiter listings (e.g. "d1/" when the only key is "d1/d2/x"). Real S3 does not, so we do
    // not work around it here (that would mean scanning every key under the prefix).

    /// <summary>Nothing to do: S3 directories are key prefixes and exist while they hold objects.</summary>
    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct) => Task.CompletedTask;

    public async Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        if (uri.IsContainerRoot) throw new DataException(DataError.NotSupported, $"a whole bucket cannot be deleted through {_options.Key}://");
        var prefix = uri.KeyPrefix;
        try
        {
            var page = await ListKeysAsync(uri.Container, prefix, null, DeleteBatch, ct);
            if (page.S3Objects is not { Count: > 0 }) throw new DataException(DataError.NotFound, $"no such directory: {uri}");
            if (!force) throw new DataException(DataError.NotEmpty, $"{uri} is not empty (delete it with force to remove its contents)");
            var deleted = 0;
            while (true)
            {
                if (page.S3Objects is { Count: > 0 } objects)
                    deleted += await DeleteBatchAsync(uri, objects.Select(o => o.Key).ToList(), deleted, ct);
                if (page.IsTruncated != true) return deleted;
                page = await ListKeysAsync(uri.Container, prefix, page.NextContinuationToken, DeleteBatch, ct);
            }
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    /// <summary>Deletes up to 1000 keys in one request; returns how many went.</summary>
    private async Task<int> DeleteBatchAsync(StorageUri uri, List<string> keys, int deletedBefore, CancellationToken ct)
    {
        DeleteObjectsResponse result;
        try
        {
            result = await _s3.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = uri.Container, Quiet = true, Objects = keys.Select(k => new KeyVersion { Key = k }).ToList(),
            }, ct);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotImplemented || e.ErrorCode is "NotImplemented" or "InvalidArgument")
        {
            // Some S3-compatible stores have no multi-object delete (GCS's XML API long answered
            // 501 NotImplemented or 400 InvalidArgument): delete one at a time.
            foreach (var key in keys)
                await _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = uri.Container, Key = key }, ct);
            return keys.Count;
        }
        var errors = result.DeleteErrors ?? [];
        if (errors.Count == 0) return keys.Count;
        var deleted = deletedBefore + keys.Count - errors.Count;
        throw errors.Any(x => x.Code == "AccessDenied") ? Refused()
            : new DataException(DataError.Upstream, $"the store could not delete {errors.Count} objects under {uri} ({deleted} were deleted)");
    }

    private Task<ListObjectsV2Response> ListKeysAsync(string bucket, string prefix, string? token, int max, CancellationToken ct) =>
        _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, MaxKeys = max, ContinuationToken = token }, ct);

    private static string ObjectKey(StorageUri uri) => uri.IsContainerRoot
        ? throw new DataException(DataError.BadPath, $"{uri} names a bucket, not an object")
        : uri.Key;

    /// <summary>"bytes 0-99/1234" → 1234.</summary>
    private static long? TotalFromContentRange(string? contentRange)
    {
        var slash = contentRange?.LastIndexOf('/') ?? -1;
        return slash > 0 && long.TryParse(contentRange![(slash + 1)..], out var total) ? total : null;
    }

    private static DateTimeOffset? Utc(DateTime? t) => t is { } v
        ? new DateTimeOffset(v.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(v, DateTimeKind.Utc) : v.ToUniversalTime())
        : null;

    /// <summary>Failures of the store or the way to it; our own DataExceptions and the caller's cancellation pass through.</summary>
    private static bool IsStoreFailure(Exception e, CancellationToken ct) =>
        e is AmazonServiceException or AmazonClientException || StoreErrors.IsTransport(e, ct);

    private DataException Refused(Exception? inner = null) => new(DataError.Forbidden, $"the {_options.Key} credentials were refused by the store", inner);

    /// <summary>A caller-safe error: the store's status and error code at most, never its response body or our credentials.</summary>
    private DataException Map(Exception e, StorageUri uri)
    {
        if (e is AmazonServiceException s && s.StatusCode != 0)
        {
            var code = StoreErrors.SafeCode(s.ErrorCode);
            return (code, s.StatusCode) switch
            {
                ("NoSuchBucket", _) => new(DataError.NotFound, $"the bucket '{uri.Container}' does not exist ({_options.Key})", e),
                ("NoSuchKey", _) or (_, HttpStatusCode.NotFound) => new(DataError.NotFound, $"no such object: {uri}", e),
                ("AccessDenied" or "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "InvalidToken" or "ExpiredToken", _) or (_, HttpStatusCode.Forbidden)
                    => Refused(e),
                ("PermanentRedirect" or "AuthorizationHeaderMalformed" or "IllegalLocationConstraintException", _) => new(DataError.NotConfigured,
                    $"the bucket '{uri.Container}' is not in the region configured for {_options.Key} ({_options.Region})", e),
                ("InvalidRange", _) or (_, HttpStatusCode.RequestedRangeNotSatisfiable) => new(DataError.BadPath, $"the byte range is outside {uri}", e),
                ("InvalidBucketName", _) => new(DataError.BadPath, $"'{uri.Container}' is not a valid bucket name", e),
                ("EntityTooLarge", _) => new(DataError.TooLarge, $"the object is too large for the store", e),
                (_, HttpStatusCode.Conflict) => new(DataError.Conflict, $"the store reported a conflict on {uri}{(code is null ? "" : $" ({code})")}", e),
                _ => new(DataError.Upstream, $"the store failed on {uri} ({(int)s.StatusCode}{(code is null ? "" : " " + code)})", e),
            };
        }
        return new DataException(DataError.Upstream, $"the store behind {_options.Key}:// could not be reached", e);
    }

    public void Dispose() => _s3.Dispose();
}
