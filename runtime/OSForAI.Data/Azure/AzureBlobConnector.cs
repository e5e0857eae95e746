using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using OSForAI.Data.Cloud;

namespace OSForAI.Data.Azure;

/// <summary>Makes azure[+label]:// (and azureblob://) connectors (settings: see <see cref="AzureBlobOptions"/>).</summary>
public sealed class AzureBlobConnectorFactory : IConnectorFactory
{
    private readonly Func<string, string?> _environment;
    private readonly Func<HttpMessageHandler>? _handler;

    public AzureBlobConnectorFactory() : this(Environment.GetEnvironmentVariable) { }
    /// <param name="handler">Tests: the HTTP handler of storage and token requests (one that trusts the emulator's certificate).</param>
    internal AzureBlobConnectorFactory(Func<string, string?> environment, Func<HttpMessageHandler>? handler = null)
    {
        _environment = environment;
        _handler = handler;
    }

    public string Scheme => "azure";
    public bool WorksUnconfigured => false;
    public IDataConnector Create(ConnectorSettings settings) =>
        new AzureBlobConnector(settings.Key, AzureBlobOptions.Client(settings, _environment, _handler), AzureBlobOptions.BlockSize(settings));
}

/// <summary>
/// azure://container/blob on Azure Blob Storage (block blobs). Directories are name prefixes.
/// Large writes stage blocks and commit the block list at the end; uncommitted blocks are never
/// visible, so a failed upload leaves the previous blob as it was.
/// </summary>
public sealed class AzureBlobConnector : IDataConnector
{
    private const int MaxBlocks = 50_000;
    private const int DeleteParallelism = 8;
    private const int DeleteBatch = 1000;

    private readonly string _key;
    private readonly BlobServiceClient _service;
    private readonly int _blockSize;

    internal AzureBlobConnector(string key, BlobServiceClient service, int blockSize)
    {
        _key = key;
        _service = service;
        _blockSize = blockSize;
    }

    public bool CanWrite => true;

    private BlobContainerClient Container(StorageUri uri) => _service.GetBlobContainerClient(uri.Container);
    private BlockBlobClient Blob(StorageUri uri) => Container(uri).GetBlockBlobClient(ObjectKey(uri));

    public async Task<ObjectInfo?> StatAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.IsContainerRoot) return null;
        try
        {
            BlobProperties p = await Blob(uri).GetPropertiesAsync(cancellationToken: ct);
            return IsFolderMarker(p.Metadata) ? null : new ObjectInfo(uri.Name, p.ContentLength, p.ETag.ToString("H"), p.LastModified, p.ContentType);
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<bool> DirectoryExistsAsync(StorageUri uri, CancellationToken ct)
    {
        try
        {
            if (uri.IsContainerRoot) return await Container(uri).ExistsAsync(ct);
            var blobs = Container(uri).GetBlobsAsync(new GetBlobsOptions { Prefix = uri.KeyPrefix }, ct);
            await foreach (var page in blobs.AsPages(null, 1))
                return page.Values.Count > 0;
            return false;
        }
        catch (RequestFailedException e) when (e.ErrorCode == "ContainerNotFound") { return false; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<ObjectStream> OpenReadAsync(StorageUri uri, Data.ByteRange? range, CancellationToken ct)
    {
        var blob = Blob(uri);
        if (range is { Length: <= 0 }) throw new DataException(DataError.BadPath, "an empty byte range was requested");
        BlobDownloadStreamingResult result;
        try
        {
            var options = new BlobDownloadOptions { Range = range is { } r ? new HttpRange(r.Offset, r.Length) : default };
            result = (await blob.DownloadStreamingAsync(options, ct)).Value;
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }

        var d = result.Details;
        var size = d.ContentLength;
        Data.ByteRange? served = null;
        if (range is { } asked)
        {
            if (TotalFromContentRange(d.ContentRange) is not { } total)
            {
                result.Dispose();
                throw new DataException(DataError.Upstream, $"the store ignored the byte range requested for {uri}");
            }
            size = total;
            served = new Data.ByteRange(asked.Offset, d.ContentLength);
        }
        var info = new ObjectInfo(uri.Name, size, d.ETag.ToString("H"), d.LastModified, d.ContentType);
        return new ObjectStream(new UpstreamReadStream(result.Content, result, uri.ToString()), info, served);
    }

    public async Task<ObjectInfo> WriteAsync(StorageUri uri, Stream content, long? length, CancellationToken ct)
    {
        var blob = Blob(uri);
        // A known length may need bigger blocks to stay within the 50,000-block limit.
        var blockSize = length is { } l && l > (long)_blockSize * MaxBlocks
            ? (int)Math.Min(AzureBlobOptions.MaxBlockSize, (l + MaxBlocks - 1) / MaxBlocks)
            : _blockSize;
        using var chunks = await ChunkedContent.ReadFirstAsync(content, blockSize, ct);
        try
        {
            if (chunks.IsSingleChunk)
            {
                var first = chunks.First;
                using var body = new MemoryStream(first.Array!, first.Offset, first.Count, writable: false);
                BlobContentInfo put = await blob.UploadAsync(body, new BlobUploadOptions(), ct);
                return new ObjectInfo(uri.Name, first.Count, put.ETag.ToString("H"), put.LastModified);
            }
            // Fresh, equal-length block ids per upload, so concurrent uploads never share blocks.
            var upload = Guid.NewGuid().ToString("N");
            var ids = new List<string>();
            var total = await chunks.UploadAllAsync(async (index, chunk) =>
            {
                if (index >= MaxBlocks)
                    throw new DataException(DataError.TooLarge, $"the object is larger than Azure's {MaxBlocks} blocks of {blockSize} bytes (raise BlockSizeBytes, or send the length)");
                var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{upload}-{index:D6}"));
                using var body = new MemoryStream(chunk.Array!, chunk.Offset, chunk.Count, writable: false);
                await blob.StageBlockAsync(id, body, new BlockBlobStageBlockOptions(), ct);
                ids.Add(id);
            }, ct);
            BlobContentInfo committed = await blob.CommitBlockListAsync(ids, new CommitBlockListOptions(), ct);
            return new ObjectInfo(uri.Name, total, committed.ETag.ToString("H"), committed.LastModified);
        }
        catch (Exception e) when (!chunks.ContentFailed && IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<bool> DeleteAsync(StorageUri uri, CancellationToken ct)
    {
        if (uri.IsContainerRoot) return false;
        try { return await Blob(uri).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct); }
        catch (RequestFailedException e) when (e.Status == 404) { return false; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    public async Task<ListPage> ListAsync(StorageUri uri, string? marker, int pageSize, CancellationToken ct)
    {
        var prefix = uri.KeyPrefix;
        var container = Container(uri);
        try
        {
            return await Listing.PageAsync(marker, pageSize, async (token, max) =>
            {
                var items = container.GetBlobsByHierarchyAsync(
                    new GetBlobsByHierarchyOptions { Delimiter = "/", Prefix = prefix, Traits = BlobTraits.Metadata }, ct);
                await foreach (var page in items.AsPages(token, max))
                {
                    var folders = page.Values.Where(i => i.IsPrefix).Select(i => Listing.ChildName(i.Prefix, prefix)).OfType<string>().ToList();
                    var files = page.Values.Where(i => i.IsBlob && !IsFolderMarker(i.Blob.Metadata))
                        .Select(i => Listing.ChildName(i.Blob.Name, prefix) is { } name && !i.Blob.Name.EndsWith('/')
                            ? new ObjectInfo(name, i.Blob.Properties.ContentLength ?? 0, i.Blob.Properties.ETag?.ToString("H"), i.Blob.Properties.LastModified)
                            : null)
                        .OfType<ObjectInfo>().ToList();
                    return new UpstreamPage(folders, files, page.ContinuationToken);
                }
                return new UpstreamPage([], [], null);
            });
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    /// <summary>Nothing to do: blob directories are name prefixes and exist while they hold blobs.</summary>
    public Task CreateDirectoryAsync(StorageUri uri, CancellationToken ct) => Task.CompletedTask;

    public async Task<int> DeleteDirectoryAsync(StorageUri uri, bool force, CancellationToken ct)
    {
        if (uri.IsContainerRoot) throw new DataException(DataError.NotSupported, $"a whole container cannot be deleted through {_key}://");
        var container = Container(uri);
        try
        {
            var deleted = 0;
            var first = true;
            var blobs = container.GetBlobsAsync(new GetBlobsOptions { Prefix = uri.KeyPrefix }, ct);
            await foreach (var page in blobs.AsPages(null, DeleteBatch))
            {
                if (first)
                {
                    if (page.Values.Count == 0) break;
                    if (!force) throw new DataException(DataError.NotEmpty, $"{uri} is not empty (delete it with force to remove its contents)");
                    first = false;
                }
                var removed = 0;
                await Parallel.ForEachAsync(page.Values, new ParallelOptions { MaxDegreeOfParallelism = DeleteParallelism, CancellationToken = ct },
                    async (item, token) =>
                    {
                        if (await container.DeleteBlobIfExistsAsync(item.Name, DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: token))
                            Interlocked.Increment(ref removed);
                    });
                deleted += removed;
            }
            return first ? throw new DataException(DataError.NotFound, $"no such directory: {uri}") : deleted;
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Map(e, uri); }
    }

    /// <summary>Hierarchical-namespace accounts keep each directory as an empty marker blob.</summary>
    private static bool IsFolderMarker(IDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue("hdi_isfolder", out var v) && string.Equals(v, "true", StringComparison.OrdinalIgnoreCase);

    private static string ObjectKey(StorageUri uri) => uri.IsContainerRoot
        ? throw new DataException(DataError.BadPath, $"{uri} names a container, not a blob")
        : uri.Key;

    private static long? TotalFromContentRange(string? contentRange)
    {
        var slash = contentRange?.LastIndexOf('/') ?? -1;
        return slash > 0 && long.TryParse(contentRange![(slash + 1)..], out var total) ? total : null;
    }

    private static bool IsStoreFailure(Exception e, CancellationToken ct) => e is RequestFailedException || StoreErrors.IsTransport(e, ct);

    /// <summary>A caller-safe error: the status and error code at most, never the response body (which the SDK's message quotes).</summary>
    private DataException Map(Exception e, StorageUri uri)
    {
        if (e is AggregateException { InnerExceptions: [.., var last] } && !StoreErrors.IsTransport(e, CancellationToken.None))
            return Map(last, uri);
        if (e is not RequestFailedException { Status: > 0 } r)
            return new DataException(DataError.Upstream, $"the store behind {_key}:// could not be reached", e);
        var code = StoreErrors.SafeCode(r.ErrorCode);
        return (code, r.Status) switch
        {
            ("ContainerNotFound", _) => new(DataError.NotFound, $"the container '{uri.Container}' does not exist ({_key})", e),
            (_, 404) => new(DataError.NotFound, $"no such object: {uri}", e),
            (_, 403) or (_, 401) => new(DataError.Forbidden, $"the {_key} credentials were refused by the store", e),
            ("InvalidRange", _) or (_, 416) => new(DataError.BadPath, $"the byte range is outside {uri}", e),
            ("InvalidResourceName" or "OutOfRangeInput" or "InvalidUri", _) => new(DataError.BadPath, $"the store does not accept the name {uri}", e),
            ("RequestBodyTooLarge", _) or (_, 413) => new(DataError.TooLarge, "the object is too large for the store", e),
            (_, 409) or (_, 412) => new(DataError.Conflict, $"the store reported a conflict on {uri}{(code is null ? "" : $" ({code})")}", e),
            _ => new(DataError.Upstream, $"the store failed on {uri} ({r.Status}{(code is null ? "" : " " + code)})", e),
        };
    }
}
