using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using OSForAI.Runtime.Data;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Catalog;

public enum CodeUploadKind { TarGz, Tar, SingleFile }

/// <summary>
/// Algorithm code: uploads are content-addressed (SHA-256 of the uploaded bytes), kept as a tar.gz
/// under data://.osforai/code/OWNER/NAME/HASH.tar.gz — in whatever store data:// lives in (<paramref name="platformData"/>:
/// the local data folder, or OSForAI:DataStore, e.g. the stack's bucket, so every replica and worker pod can load every
/// build) — and extracted on demand into a local cache folder that workers load from; local disk is only a cache.
/// Archives may only hold plain files and folders inside the root.
/// An upload may expand to at most <paramref name="maxExpandedBytes"/> in at most <paramref name="maxEntries"/> entries
/// (OsaiOptions.MaxCodeExpandedBytes, MaxCodeEntries); builds already stored are re-extracted under the hard ceilings
/// below, so lowering the quota never breaks a version that was accepted before.
/// </summary>
public sealed class CodeStore(IDataConnector platformData, string cacheRoot, long maxExpandedBytes = CodeStore.MaxExtractedBytes,
    int maxEntries = CodeStore.MaxEntries)
{
    public const long MaxExtractedBytes = 2L * 1024 * 1024 * 1024;
    public const int MaxEntries = 100_000;

    /// <summary>
    /// Stores an upload as a build (not built yet: see Building.BuildService). <paramref name="validate"/> sees the manifest and
    /// the unpacked upload's folder before anything is stored and may refuse it (throw <see cref="CatalogException"/>).
    /// </summary>
    public async Task<BuildRecord> IngestAsync(string owner, string name, Stream body, CodeUploadKind kind, string? fileName,
        long maxBytes, CancellationToken ct, Action<AlgorithmManifest, string>? validate = null)
    {
        Directory.CreateDirectory(cacheRoot);
        var upload = Path.Combine(cacheRoot, ".upload-" + Guid.NewGuid().ToString("N"));
        var staging = upload + ".d";
        try
        {
            string hash;
            long size = 0;
            await using (var fs = File.Create(upload))
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    size += n;
                    if (size > maxBytes) throw new CatalogException(CatalogError.TooLarge, $"code upload is larger than the limit of {maxBytes} bytes");
                    sha.AppendData(buffer, 0, n);
                    await fs.WriteAsync(buffer.AsMemory(0, n), ct);
                }
                hash = Convert.ToHexStringLower(sha.GetHashAndReset());
            }
            if (size == 0) throw new CatalogException(CatalogError.Invalid, "code upload is empty");

            Directory.CreateDirectory(staging);
            if (kind == CodeUploadKind.SingleFile)
            {
                var fn = DataPath.ValidSegmentOrThrow(fileName ?? "", "file name");
                File.Copy(upload, Path.Combine(staging, fn));
            }
            else
            {
                await using var raw = File.OpenRead(upload);
                await using Stream tar = kind == CodeUploadKind.TarGz ? new GZipStream(raw, CompressionMode.Decompress) : raw;
                await ExtractSafelyAsync(tar, staging, maxExpandedBytes, maxEntries, ct);
            }

            var manifest = ReadManifest(staging, kind == CodeUploadKind.SingleFile ? fileName : null);
            validate?.Invoke(manifest, staging);
            // Keep the canonical archive in the platform's own data space, and a copy in the cache.
            var archiveUri = StorageUri.Parse($"data://{DataPath.PlatformOwner}/code/{owner}/{name}/{hash}.tar.gz");
            var archiveFile = Path.Combine(cacheRoot, ".archive-" + Guid.NewGuid().ToString("N"));
            try
            {
                await using (var outFile = File.Create(archiveFile))
                await using (var gz = new GZipStream(outFile, CompressionLevel.Fastest))
                    await TarFile.CreateFromDirectoryAsync(staging, gz, includeBaseDirectory: false, ct);
                await using (var archive = File.OpenRead(archiveFile))
                    await platformData.WriteAsync(archiveUri, archive, archive.Length, ct);
                KeepCachedArchive(archiveFile, hash);
            }
            finally { File.Delete(archiveFile); }

            var target = Path.Combine(cacheRoot, hash);
            if (!Directory.Exists(target))
            {
                try { Directory.Move(staging, target); }
                catch (IOException) when (Directory.Exists(target)) { }
            }
            return new BuildRecord(owner, name, hash, archiveUri.ToString(), size, manifest, DateTimeOffset.UtcNow);
        }
        finally
        {
            File.Delete(upload);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>A build's archive (.tar.gz) as stored, for a worker that cannot see the extracted folder (a pod).</summary>
    public async Task<byte[]> ReadArchiveAsync(string buildHash, string codeUri, CancellationToken ct) =>
        await File.ReadAllBytesAsync(await EnsureArchiveAsync(buildHash, codeUri, ct), ct);

    /// <summary>The extracted code folder of a build, re-extracted from data:// when the cache lost it.</summary>
    public async Task<string> EnsureExtractedAsync(string buildHash, string codeUri, CancellationToken ct)
    {
        var target = Path.Combine(cacheRoot, buildHash);
        if (Directory.Exists(target)) return target;
        var staging = Path.Combine(cacheRoot, ".extract-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(staging);
            await using (var raw = File.OpenRead(await EnsureArchiveAsync(buildHash, codeUri, ct)))
            await using (var gz = new GZipStream(raw, CompressionMode.Decompress))
                await ExtractSafelyAsync(gz, staging, MaxExtractedBytes, MaxEntries, ct);
            try { Directory.Move(staging, target); }
            catch (IOException) when (Directory.Exists(target)) { }
            return target;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private string CachedArchivePath(string buildHash) => Path.Combine(cacheRoot, buildHash + ".tar.gz");

    private void KeepCachedArchive(string file, string buildHash)
    {
        try { File.Copy(file, CachedArchivePath(buildHash), overwrite: false); }
        catch (IOException) when (File.Exists(CachedArchivePath(buildHash))) { }
    }

    /// <summary>The build's archive in the local cache, fetched from the store (data://) when the cache does not have it.</summary>
    private async Task<string> EnsureArchiveAsync(string buildHash, string codeUri, CancellationToken ct)
    {
        if (!IsHash(buildHash)) throw new ArgumentException($"'{buildHash}' is not a build hash", nameof(buildHash));
        var cached = CachedArchivePath(buildHash);
        if (File.Exists(cached)) return cached;
        Directory.CreateDirectory(cacheRoot);
        var download = Path.Combine(cacheRoot, ".fetch-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var stored = await OpenStoredAsync(buildHash, codeUri, ct))
            await using (var file = File.Create(download))
                await stored.Content.CopyToAsync(file, ct);
            KeepCachedArchive(download, buildHash);
            return cached;
        }
        finally { File.Delete(download); }
    }

    /// <summary>The stored archive; one the store no longer has belongs to a build deleted (with its version) after the call was resolved.</summary>
    private async Task<ObjectStream> OpenStoredAsync(string buildHash, string codeUri, CancellationToken ct)
    {
        try { return await platformData.OpenReadAsync(StorageUri.Parse(codeUri), null, ct); }
        catch (DataException e) when (e.Kind == DataError.NotFound)
        {
            throw new Workers.AlgorithmCallException(Workers.ErrorTypes.Unavailable,
                $"build {buildHash} was deleted, with its version, after this call had been routed to it");
        }
    }

    private static bool IsHash(string s) => s.Length == 64 && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    private static AlgorithmManifest ReadManifest(string dir, string? singleFileName)
    {
        var path = Path.Combine(dir, AlgorithmManifest.FileName);
        AlgorithmManifest manifest;
        if (File.Exists(path)) manifest = AlgorithmManifest.Parse(File.ReadAllText(path));
        else if (singleFileName is not null && singleFileName.EndsWith(".py", StringComparison.Ordinal))
        {
            var module = Path.GetFileNameWithoutExtension(singleFileName);
            manifest = AlgorithmManifest.Parse($"runtime: python3\nentrypoint: {module}:apply\n");
        }
        else if (singleFileName is not null && singleFileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            manifest = AlgorithmManifest.Parse($"runtime: onnx\nmodel: {System.Text.Json.JsonSerializer.Serialize(singleFileName)}\n");
        else throw new CatalogException(CatalogError.Invalid, $"the code has no {AlgorithmManifest.FileName} at its root");
        // What the files alone show (a model file that is not ONNX, batching its shapes do not allow) is refused here, at upload;
        // whether the model loads is the build's to find out (Building.BuildService).
        return manifest.Runtime == "onnx" ? ModelInspector.Complete(manifest, dir) : manifest;
    }

    /// <summary>
    /// Removes a deleted build's code: its archive in the data store and, unless <paramref name="keepCache"/> (another algorithm has a
    /// build with the same hash), this server's cached folder and archive. A worker that loaded the build keeps its own links or copy.
    /// Returns whether the store had the archive.
    /// </summary>
    public async Task<bool> DeleteBuildAsync(string buildHash, string codeUri, bool keepCache, CancellationToken ct)
    {
        if (!IsHash(buildHash)) throw new ArgumentException($"'{buildHash}' is not a build hash", nameof(buildHash));
        var stored = await platformData.DeleteAsync(StorageUri.Parse(codeUri), ct);
        if (keepCache) return stored;
        var folder = Path.Combine(cacheRoot, buildHash);
        if (Directory.Exists(folder))
        {
            // Out of the way first, so that a concurrent extraction never sees half a folder.
            var doomed = Path.Combine(cacheRoot, ".deleted-" + Guid.NewGuid().ToString("N"));
            try
            {
                Directory.Move(folder, doomed);
                Directory.Delete(doomed, recursive: true);
            }
            catch (DirectoryNotFoundException) { }
        }
        File.Delete(CachedArchivePath(buildHash));
        return stored;
    }

    /// <summary>Extracts an upload or a stored build (see <see cref="SafeArchive"/>); a refusal is the upload's fault (Invalid).</summary>
    internal static async Task ExtractSafelyAsync(Stream tar, string destination, long maxBytes, int maxEntries, CancellationToken ct)
    {
        try { await SafeArchive.ExtractAsync(tar, destination, maxBytes, maxEntries, ct); }
        catch (UnsafeArchiveException e) { throw new CatalogException(CatalogError.Invalid, e.Message); }
    }
}
