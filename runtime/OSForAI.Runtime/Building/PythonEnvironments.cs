using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using OSForAI.Runtime.Catalog;
using OSForAI.Data;
using OSForAI.Runtime.Data;
using OSForAI.Runtime.Workers;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Building;

/// <summary>
/// The Python environments of builds: a build with a requirements.txt runs with the packages it names, installed by pip into
/// a folder of their own and shared by every build whose requirements resolve to the same packages.
/// <list type="number">
/// <item>requirements.txt may only name packages (PEP 508 names, versions, extras, markers) and pin their hashes
/// (<c>--hash=sha256:…</c>, pip's hash-checking mode: a lock). Index options, URLs, paths and editable installs are refused:
/// where packages come from is the server's setting (OSForAI:Build:Python), never the upload's.</item>
/// <item>pip resolves them (<c>--dry-run --report</c>) to exact files: name, version and the archive's SHA-256. The hash of
/// that list, the interpreter's version and the platform names the environment. Wheels only (<c>--only-binary :all:</c>): no
/// package's own code runs while pip has the network, so the network it needs reaches pip alone.</item>
/// <item>An environment already there (this machine), or stored (<c>data://.osforai/envs/HASH.tar.gz</c>, from another
/// replica), is used as it is: ten versions with the same requirements install once. Otherwise pip installs exactly the
/// resolved files (<c>--no-deps</c>, each with its hash) into a staging folder, which is then renamed into place and stored.</item>
/// </list>
/// Both pip runs are build steps (<see cref="IBuildSandbox"/>): sandboxed like user code, with the network. Workers see the
/// environments read-only in place (the process host binds this folder into every sandbox): loading one copies nothing.
/// </summary>
public sealed class PythonEnvironments
{
    public const string RequirementsFile = "requirements.txt";
    /// <summary>Changes when the layout of an environment folder changes, so old environments are not mistaken for new ones.</summary>
    private const string Layout = "osai-python-env/1";
    /// <summary>The file in each environment that lists what was installed (for people reading the folder).</summary>
    public const string ManifestFile = "osai-environment.txt";
    /// <summary>Ceilings of an environment archive unpacked on another machine or in a pod.</summary>
    public const long MaxExtractedBytes = 32L * 1024 * 1024 * 1024;
    public const int MaxEntries = 1_000_000;

    private static readonly UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly IBuildSandbox _sandbox;
    private readonly IDataConnector _store;
    private readonly OsaiOptions _options;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _installs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _fetches = new(StringComparer.Ordinal);
    private long _installCount;

    public PythonEnvironments(IBuildSandbox sandbox, IDataConnector platformData, OsaiOptions options, ILogger<PythonEnvironments> log)
    {
        _sandbox = sandbox;
        _store = platformData;
        _options = options;
        _log = log;
        CreateRoot(Root);
        // What a build left when its server stopped mid-way is of no use to anyone.
        if (Directory.Exists(WorkRoot))
            foreach (var left in Directory.EnumerateDirectories(WorkRoot))
                try { Directory.Delete(left, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogWarning(e, "could not remove {Path}", left); }
        Directory.CreateDirectory(WorkRoot);
    }

    public string Root => _options.EnvironmentsRoot;

    /// <summary>
    /// Where builds work (pip's scratch folders, environments being installed or fetched): beside <see cref="Root"/> on the same
    /// file system, so a finished environment is renamed into place, but not inside it, since every worker sees Root.
    /// </summary>
    private string WorkRoot => Path.Combine(_options.Home, "build-work");

    /// <summary>How many environments pip installed on this server since it started (a cached one installs nothing).</summary>
    public long Installs => Interlocked.Read(ref _installCount);

    /// <summary>Where environment <paramref name="hash"/> lives on this machine (whether or not it is there yet).</summary>
    public string PathOf(string hash) => IsHash(hash) ? Path.Combine(Root, hash) : throw new ArgumentException($"'{hash}' is not an environment hash", nameof(hash));

    public static bool IsHash(string? s) => s is { Length: 64 } && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>Makes the environments folder, open to workers' uids (they read it through a read-only bind).</summary>
    public static void CreateRoot(string root)
    {
        if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(root); return; }
        Directory.CreateDirectory(root, Readable);
        File.SetUnixFileMode(root, Readable);
    }

    private static StorageUri StoredUri(string hash) => StorageUri.Parse($"data://{DataPath.PlatformOwner}/envs/{hash}.tar.gz");

    // ---------------------------------------------------------------------------------------------------------------------
    // requirements.txt
    // ---------------------------------------------------------------------------------------------------------------------

    private static readonly Regex Requirement = new(
        @"^(?<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?<extras>\[[A-Za-z0-9._,\s-]*\])?\s*(?<spec>(?:\(?\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*,?\s*\)?)*)\s*(?:;(?<marker>.*))?$",
        RegexOptions.CultureInvariant);

    private static readonly Regex HashOption = new(@"^--hash[=\s]\s*(?<algo>sha256|sha384|sha512):(?<hex>[0-9a-fA-F]+)$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Checks requirements.txt and returns its requirements, one line each as pip will read them; refuses anything that is not
    /// a package requirement (with the line and why). An empty list means no environment is needed.
    /// </summary>
    public static IReadOnlyList<string> ParseRequirements(string text)
    {
        var result = new List<string>();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var number = i + 1;
            var line = lines[i];
            // A backslash at the end joins the next line (pip's continuation).
            while (line.EndsWith('\\') && i + 1 < lines.Length) line = line[..^1] + " " + lines[++i];
            var hash = line.IndexOf(" #", StringComparison.Ordinal);
            if (line.TrimStart().StartsWith('#')) continue;
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;
            string Fail(string why) => throw new CatalogException(CatalogError.Invalid, $"{RequirementsFile} line {number}: `{Show(line)}`: {why}");
            if (line.StartsWith('-'))
                Fail("options are not allowed here; where packages come from is the server's setting (OSForAI:Build:Python), " +
                     "and a lock is written as pinned requirements with --hash after each (name==1.2.3 --hash=sha256:…)");
            // The requirement, then any --hash options.
            var parts = Regex.Split(line, @"\s+(?=--)");
            var req = parts[0].Trim();
            var hashes = new List<string>();
            foreach (var option in parts.Skip(1))
            {
                var m = HashOption.Match(option.Trim());
                if (!m.Success) Fail($"'{Show(option.Trim())}' is not allowed: the only option after a requirement is --hash=sha256:HEX");
                hashes.Add($"--hash={m.Groups["algo"].Value}:{m.Groups["hex"].Value.ToLowerInvariant()}");
            }
            var beforeMarker = req.Split(';', 2)[0];
            if (beforeMarker.Contains("://", StringComparison.Ordinal) || beforeMarker.Contains('@') || beforeMarker.Contains('/')
                || beforeMarker.Contains('\\') || beforeMarker.StartsWith('.') || beforeMarker.StartsWith('~') || beforeMarker.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
                Fail("only package names are allowed (with versions, extras and markers), not URLs or paths: put code you need in the upload itself");
            if (!Requirement.IsMatch(req))
                Fail("not a package requirement (e.g. `requests`, `numpy>=1.24,<2`, `pandas[excel]==2.1.4`)");
            result.Add(hashes.Count == 0 ? req : req + " " + string.Join(' ', hashes));
        }
        return result;
    }

    private static string Show(string s) => s.Length > 120 ? s[..120] + "…" : s;

    // ---------------------------------------------------------------------------------------------------------------------
    // building
    // ---------------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The environment for <paramref name="requirements"/> (from <see cref="ParseRequirements"/>): resolved, then found or
    /// installed. Returns its hash, or null when there is nothing to install. A failure (pip's) throws
    /// <see cref="BuildFailedException"/> with pip's error; the whole output is in <paramref name="log"/>.
    /// </summary>
    public async Task<string?> PrepareAsync(IReadOnlyList<string> requirements, BuildLog log, CancellationToken ct)
    {
        if (requirements.Count == 0) return null;
        var work = Path.Combine(WorkRoot, "work-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var index = IndexSettings();
            log.Line($"requirements.txt: {requirements.Count} requirement{(requirements.Count == 1 ? "" : "s")}; packages from {index.Description}");
            await File.WriteAllTextAsync(Path.Combine(work, "requirements.txt"), string.Join('\n', requirements) + "\n", ct);

            // 1. Resolve to exact files.
            log.Line("resolving with pip (sandboxed; wheels only) ...");
            var report = Path.Combine(work, "report.json");
            await RunPipAsync(index, [work], log, "could not resolve requirements.txt", ct,
                "--dry-run", "--ignore-installed", "--report", report, "--target", Path.Combine(work, "dry-run"),
                "--cache-dir", Path.Combine(work, "cache"), "-r", Path.Combine(work, "requirements.txt"));
            var resolved = ReadReport(report);
            if (resolved.Packages.Count == 0) return null;
            var hash = resolved.Hash;
            log.Line($"resolved to {resolved.Packages.Count} package{(resolved.Packages.Count == 1 ? "" : "s")}: " +
                     string.Join(", ", resolved.Packages.Select(p => $"{p.Name}=={p.Version}")));

            // 2. Already there, stored by another replica, or installed now (once, however many builds want it at once).
            if (Directory.Exists(PathOf(hash)))
            {
                log.Line($"environment {hash[..12]}: cached (installed before; not installed again)");
                return hash;
            }
            if (await ExistsInStoreAsync(hash, ct))
            {
                log.Line($"environment {hash[..12]}: fetching the stored copy (installed on another server)");
                await EnsureLocalAsync(hash, ct);
                return hash;
            }
            var install = _installs.GetOrAdd(hash, h => new Lazy<Task>(() => InstallAsync(h, resolved, index, work, log, CancellationToken.None)));
            var mine = true;
            if (install.IsValueCreated) { mine = false; log.Line($"environment {hash[..12]}: another build is installing it; waiting for that"); }
            try { await install.Value.WaitAsync(ct); }
            finally { if (install.Value.IsCompleted) _installs.TryRemove(new KeyValuePair<string, Lazy<Task>>(hash, install)); }
            if (!mine) log.Line($"environment {hash[..12]}: ready");
            return hash;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogWarning(e, "could not remove the build folder {Path}", work); }
        }
    }

    private async Task InstallAsync(string hash, Resolved resolved, Index index, string work, BuildLog log, CancellationToken ct)
    {
        if (Directory.Exists(PathOf(hash))) return;
        log.Line($"environment {hash[..12]}: installing {resolved.Packages.Count} package{(resolved.Packages.Count == 1 ? "" : "s")} ...");
        var pins = Path.Combine(work, "pins.txt");
        var withHashes = resolved.Packages.All(p => p.Sha256 is not null);
        await File.WriteAllLinesAsync(pins, resolved.Packages.Select(p =>
            $"{p.Name} @ {p.Url}" + (p.Sha256 is { } h ? $" --hash=sha256:{h}" : "")), ct);
        var staging = Path.Combine(WorkRoot, "install-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            string[] args = ["--no-deps", "--target", staging, "--cache-dir", Path.Combine(work, "cache"), "-r", pins];
            await RunPipAsync(index, [work, staging], log, "could not install the resolved packages", ct,
                withHashes ? ["--require-hashes", .. args] : args);
            Interlocked.Increment(ref _installCount);
            await File.WriteAllTextAsync(Path.Combine(staging, ManifestFile),
                $"# {Layout} {hash}\n# {resolved.Interpreter}\n" + string.Join('\n', resolved.Lines) + "\n", ct);
            MakeReadable(staging);
            try { Directory.Move(staging, PathOf(hash)); }
            catch (IOException) when (Directory.Exists(PathOf(hash))) { }
            log.Line($"environment {hash[..12]}: installed in {started.Elapsed.TotalSeconds:0.0} s ({FormatBytes(SizeOf(PathOf(hash)))})");
        }
        finally
        {
            if (Directory.Exists(staging))
                try { Directory.Delete(staging, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogWarning(e, "could not remove {Path}", staging); }
        }
        // Stored beside the builds so that other replicas (and worker pods) get it without installing it again.
        try
        {
            var stored = System.Diagnostics.Stopwatch.StartNew();
            await StoreAsync(hash, ct);
            log.Line($"environment {hash[..12]}: stored for other servers in {stored.Elapsed.TotalSeconds:0.0} s");
        }
        catch (Exception e) when (e is IOException or DataException)
        {
            _log.LogWarning(e, "environment {Hash} could not be stored; other servers will install it themselves", hash);
            log.Line($"environment {hash[..12]}: could not be stored for other servers ({e.Message}); they will install it themselves");
        }
    }

    private async Task RunPipAsync(Index index, string[] writable, BuildLog log, string what, CancellationToken ct, params string[] args)
    {
        string[] command =
        [
            _options.Workers.PythonPath, "-I", "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-color",
            "--progress-bar", "off", "--only-binary", ":all:", .. index.Arguments, .. args,
        ];
        var errors = new List<string>();
        var result = await _sandbox.RunStepAsync(new BuildStep(command, index.ReadOnlyPaths, writable, Network: true, index.Environment,
            (long)_options.Build.MemoryMb * 1024 * 1024, _options.Build.Timeout), line =>
        {
            log.Line("  " + line);
            if (line.StartsWith("ERROR:", StringComparison.Ordinal) || line.Contains("No module named pip", StringComparison.Ordinal)) errors.Add(line);
        }, ct);
        if (result.Succeeded) return;
        var reason = result.TimedOut ? $"pip ran past the build's time limit ({_options.Build.Timeout.TotalSeconds:0} s, OSForAI:Build:Timeout)"
            : result.OutOfMemory ? $"pip ran out of memory ({_options.Build.MemoryMb} MB, OSForAI:Build:MemoryMb)"
            : errors.Count > 0 ? string.Join(" ", errors.Take(3))
            : $"pip exited with status {result.ExitCode}";
        if (errors.Any(e => e.Contains("Permission denied", StringComparison.Ordinal)) && index.ReadOnlyPaths.Count > 0)
            reason += " (pip runs under a sandbox uid of its own: find-links folders must be readable by other users, e.g. chmod o+rX)";
        if (errors.Any(e => e.Contains("No module named pip", StringComparison.Ordinal)))
            reason += $" (the server needs pip for {_options.Workers.PythonPath}: on Debian, apt-get install python3-pip)";
        throw new BuildFailedException($"pip {what}: {reason}");
    }

    private sealed record Package(string Name, string Version, string Url, string? Sha256);

    private sealed record Resolved(IReadOnlyList<Package> Packages, string Interpreter, IReadOnlyList<string> Lines, string Hash);

    /// <summary>The exact files pip chose, and the environment's hash: the layout, the interpreter and platform, and each file.</summary>
    private static Resolved ReadReport(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var packages = new List<Package>();
        foreach (var item in root.GetProperty("install").EnumerateArray())
        {
            var meta = item.GetProperty("metadata");
            var info = item.GetProperty("download_info");
            string? sha = null;
            if (info.TryGetProperty("archive_info", out var archive))
            {
                if (archive.TryGetProperty("hashes", out var hs) && hs.TryGetProperty("sha256", out var h256)) sha = h256.GetString();
                else if (archive.TryGetProperty("hash", out var h) && h.GetString() is { } text && text.StartsWith("sha256=", StringComparison.Ordinal)) sha = text[7..];
            }
            packages.Add(new Package(Canonical(meta.GetProperty("name").GetString()!), meta.GetProperty("version").GetString()!,
                info.GetProperty("url").GetString()!, sha?.ToLowerInvariant()));
        }
        packages.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var env = root.GetProperty("environment");
        string E(string name) => env.TryGetProperty(name, out var v) ? v.GetString() ?? "" : "";
        var interpreter = $"{E("implementation_name")} {E("implementation_version")} {E("sys_platform")} {E("platform_machine")}";
        var lines = packages.Select(p => $"{p.Name}=={p.Version} " + (p.Sha256 is { } s ? "sha256:" + s : "url:" + p.Url)).ToList();
        var key = $"{Layout}\n{interpreter}\n{string.Join('\n', lines)}\n";
        return new Resolved(packages, interpreter, lines, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))));
    }

    private static string Canonical(string name) => Regex.Replace(name, "[-_.]+", "-").ToLowerInvariant();

    /// <summary>Where pip looks for packages, as arguments, environment variables and the local folders its sandbox must see.</summary>
    private sealed record Index(IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, IReadOnlyList<string> ReadOnlyPaths, string Description);

    private static readonly string[] IndexVariables = ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"];
    private static readonly string[] ProxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

    private Index IndexSettings()
    {
        var py = _options.Build.Python;
        var args = new List<string>();
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        var paths = new List<string>();
        // The server's own pip and proxy settings pass on; its index settings only when the server sets none of its own.
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var name = (string)e.Key;
            if (e.Value is not string value) continue;
            if ((name.StartsWith("PIP_", StringComparison.Ordinal) && name is not ("PIP_CACHE_DIR" or "PIP_TARGET" or "PIP_REQUIREMENT" or "PIP_CONSTRAINT"
                    or "PIP_SRC" or "PIP_PREFIX" or "PIP_ROOT" or "PIP_USER" or "PIP_REPORT" or "PIP_NO_DEPS" or "PIP_ONLY_BINARY" or "PIP_NO_BINARY")
                 && !(py.IsConfigured && IndexVariables.Contains(name)))
                || ProxyVariables.Contains(name))
                env[name] = value;
        }
        if (env.TryGetValue("PIP_CONFIG_FILE", out var config) && Path.IsPathRooted(config) && File.Exists(config)) paths.Add(config);
        string description;
        if (py.IsConfigured)
        {
            if (py.NoIndex) args.Add("--no-index");
            if (py.IndexUrl.Length > 0) args.AddRange(["--index-url", py.IndexUrl]);
            foreach (var u in py.ExtraIndexUrls) args.AddRange(["--extra-index-url", u]);
            foreach (var f in py.FindLinks) args.AddRange(["--find-links", f]);
            paths.AddRange(py.FindLinks.Select(LocalFolder).OfType<string>());
            description = string.Join(", ", new[]
            {
                py.NoIndex ? "no index" : py.IndexUrl.Length > 0 ? py.IndexUrl : "the default index",
                py.ExtraIndexUrls.Count > 0 ? "extra indexes " + string.Join(" ", py.ExtraIndexUrls) : null,
                py.FindLinks.Count > 0 ? "find-links " + string.Join(" ", py.FindLinks) : null,
            }.OfType<string>()) + " (OSForAI:Build:Python)";
        }
        else
        {
            if (env.TryGetValue("PIP_FIND_LINKS", out var links))
                paths.AddRange(links.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(LocalFolder).OfType<string>());
            description = "the machine's pip configuration";
        }
        return new Index(args, env, paths.Distinct().ToList(), description);
    }

    /// <summary>The local folder behind a find-links entry (a path or file: URL) that exists here, else null.</summary>
    private static string? LocalFolder(string entry)
    {
        var path = entry.StartsWith("file:", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(entry, UriKind.Absolute, out var u) ? u.LocalPath : entry;
        return Path.IsPathRooted(path) && Directory.Exists(path) ? Path.GetFullPath(path) : null;
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // storing and fetching
    // ---------------------------------------------------------------------------------------------------------------------

    private async Task<bool> ExistsInStoreAsync(string hash, CancellationToken ct)
    {
        try { return await _store.StatAsync(StoredUri(hash), ct) is not null; }
        catch (DataException e)
        {
            _log.LogWarning(e, "could not look for environment {Hash} in the store", hash);
            return false;
        }
    }

    private async Task StoreAsync(string hash, CancellationToken ct)
    {
        var file = Path.Combine(WorkRoot, "archive-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var outFile = File.Create(file))
            await using (var gz = new GZipStream(outFile, CompressionLevel.Fastest))
                await TarFile.CreateFromDirectoryAsync(PathOf(hash), gz, includeBaseDirectory: false, ct);
            await using var archive = File.OpenRead(file);
            await _store.WriteAsync(StoredUri(hash), archive, archive.Length, ct);
        }
        finally { File.Delete(file); }
    }

    /// <summary>
    /// The folder of environment <paramref name="hash"/> on this machine, unpacked from the store when this machine has not got
    /// it (a build made on another replica). Concurrent callers share one fetch.
    /// </summary>
    public async Task<string> EnsureLocalAsync(string hash, CancellationToken ct)
    {
        var target = PathOf(hash);
        if (Directory.Exists(target)) return target;
        var fetch = _fetches.GetOrAdd(hash, h => new Lazy<Task<string>>(() => FetchAsync(h)));
        try { return await fetch.Value.WaitAsync(ct); }
        finally { if (fetch.Value.IsCompleted) _fetches.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(hash, fetch)); }
    }

    private async Task<string> FetchAsync(string hash)
    {
        var target = PathOf(hash);
        if (Directory.Exists(target)) return target;
        var staging = Path.Combine(WorkRoot, "fetch-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(staging);
            await using (var stored = await _store.OpenReadAsync(StoredUri(hash), null, CancellationToken.None))
            await using (var gz = new GZipStream(stored.Content, CompressionMode.Decompress))
                await SafeArchive.ExtractAsync(gz, staging, MaxExtractedBytes, MaxEntries, CancellationToken.None);
            MakeReadable(staging);
            try { Directory.Move(staging, target); }
            catch (IOException) when (Directory.Exists(target)) { }
            return target;
        }
        catch (DataException e) when (e.Kind == DataError.NotFound)
        {
            throw new AlgorithmCallException(ErrorTypes.LoadError,
                $"the Python environment {hash[..12]} of this build is gone from the store; upload the code again to rebuild it");
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The stored archive of an environment (for a worker that cannot see this machine's files: a pod).</summary>
    public async Task<byte[]> ReadArchiveAsync(string hash, CancellationToken ct)
    {
        await using var stored = await _store.OpenReadAsync(StoredUri(hash), null, ct);
        using var buffer = new MemoryStream();
        await stored.Content.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    /// <summary>Folders 0755, files 0644 (0755 when executable): workers read environments under uids of their own.</summary>
    private static void MakeReadable(string root)
    {
        if (OperatingSystem.IsWindows()) return;
        File.SetUnixFileMode(root, Readable);
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            if (entry.LinkTarget is not null) continue;
            if (entry is DirectoryInfo) entry.UnixFileMode = Readable;
            else entry.UnixFileMode = (entry.UnixFileMode & UnixFileMode.UserExecute) != 0 ? Readable
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }
    }

    public static long SizeOf(string dir) =>
        Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;

    private static string FormatBytes(long n) => n >= 1 << 20 ? $"{n / 1048576.0:0.0} MB" : $"{n / 1024.0:0.0} KB";
}
