using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using OSForAI.Runtime.Data;

namespace OSForAI.Runtime.Catalog;

public enum CodeUploadKind { TarGz, Tar, SingleFile }

/// <summary>
/// Algorithm code: uploads are content-addressed (SHA-256 of the uploaded bytes), kept as a tar.gz
/// under data://.osforai/code/OWNER/NAME/HASH.tar.gz, and extracted on demand into a local cache
/// folder that workers load from. Archives may only hold plain files and folders inside the root.
/// </summary>
public sealed class CodeStore(LocalDataStore data, string cacheRoot)
{
    public const long MaxExtractedBytes = 2L * 1024 * 1024 * 1024;
    public const int MaxEntries = 100_000;

    public async Task<BuildRecord> IngestAsync(string owner, string name, Stream body, CodeUploadKind kind, string? fileName,
        long maxBytes, CancellationToken ct)
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
                await ExtractSafelyAsync(tar, staging, ct);
            }

            var manifest = ReadManifest(staging, kind == CodeUploadKind.SingleFile ? fileName : null);
            // Keep the canonical archive in the platform's own data space.
            var archivePath = new DataPath(DataPath.PlatformOwner, ["code", owner, name, hash + ".tar.gz"]);
            var archiveFile = Path.Combine(cacheRoot, ".archive-" + Guid.NewGuid().ToString("N"));
            try
            {
                await using (var outFile = File.Create(archiveFile))
                await using (var gz = new GZipStream(outFile, CompressionLevel.Fastest))
                    await TarFile.CreateFromDirectoryAsync(staging, gz, includeBaseDirectory: false, ct);
                await using var archive = File.OpenRead(archiveFile);
                await data.WriteAsync(archivePath, archive, long.MaxValue, ct);
            }
            finally { File.Delete(archiveFile); }

            var target = Path.Combine(cacheRoot, hash);
            if (!Directory.Exists(target))
            {
                try { Directory.Move(staging, target); }
                catch (IOException) when (Directory.Exists(target)) { }
            }
            return new BuildRecord(owner, name, hash, "data://" + archivePath, size, manifest, DateTimeOffset.UtcNow);
        }
        finally
        {
            File.Delete(upload);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The extracted code folder of a build, re-extracted from data:// when the cache lost it.</summary>
    public async Task<string> EnsureExtractedAsync(string buildHash, string codeUri, CancellationToken ct)
    {
        var target = Path.Combine(cacheRoot, buildHash);
        if (Directory.Exists(target)) return target;
        var staging = Path.Combine(cacheRoot, ".extract-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(staging);
            await using (var raw = data.OpenRead(DataPath.Parse(codeUri, null)))
            await using (var gz = new GZipStream(raw, CompressionMode.Decompress))
                await ExtractSafelyAsync(gz, staging, ct);
            try { Directory.Move(staging, target); }
            catch (IOException) when (Directory.Exists(target)) { }
            return target;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

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
        return manifest.Runtime == "onnx" ? ModelInspector.Complete(manifest, dir) : manifest;
    }

    /// <summary>Extracts plain files and folders only; rejects absolute paths, '..', links and devices; bounds size and count.</summary>
    internal static async Task ExtractSafelyAsync(Stream tar, string destination, CancellationToken ct)
    {
        var root = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        long total = 0;
        var count = 0;
        try
        {
            await using var reader = new TarReader(tar);
            while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
            {
                if (++count > MaxEntries) throw new CatalogException(CatalogError.Invalid, $"archive has more than {MaxEntries} entries");
                var name = entry.Name.Replace('\\', '/');
                while (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
                if (name.Length == 0 || name == ".") continue;
                if (name.StartsWith('/') || name.Split('/').Any(s => s == ".."))
                    throw new CatalogException(CatalogError.Invalid, $"archive entry '{entry.Name}' points outside the archive");
                var full = Path.GetFullPath(Path.Combine(root, name));
                if (!full.StartsWith(root, StringComparison.Ordinal) && full + Path.DirectorySeparatorChar != root)
                    throw new CatalogException(CatalogError.Invalid, $"archive entry '{entry.Name}' points outside the archive");
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(full);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        total += entry.Length;
                        if (total > MaxExtractedBytes) throw new CatalogException(CatalogError.Invalid, "archive expands to more than 2 GiB");
                        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                        await using (var fs = File.Create(full))
                            if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(fs, ct);
                        break;
                    case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                        break;
                    default:
                        throw new CatalogException(CatalogError.Invalid,
                            $"archive entry '{entry.Name}' is a {entry.EntryType}; only plain files and folders are allowed");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new CatalogException(CatalogError.Invalid, $"the upload is not a valid archive: {e.Message}");
        }
    }
}
