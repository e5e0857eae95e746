using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OSForAI.Runtime.Building;
using OSForAI.Runtime.Workers;
using OSForAI.Testing;

namespace OSForAI.Benchmarks;

/// <summary>
/// `builds` (issue 16): what a build costs and what a Python environment costs a cold start, in one run on one server whose pip
/// finds packages only in a local wheelhouse of wheels written here (OSForAI:Build:Python:NoIndex + FindLinks; the package index
/// is not reachable from these machines). Measures, K rounds each:
/// 1. build time of a version without requirements (the import check alone: the baseline), of a version whose small
///    requirements install a new environment (first), and of one whose requirements resolve to an environment already there
///    (cached: other code, same requirements);
/// 2. the same for a ~50 MB environment (a package of 30 × 1 MiB data files and 2000 modules, compiled by pip at install);
/// 3. cold start — the first call, which specializes a warm generic worker — of K versions using the 50 MB environment against
///    K versions without one, alternating; and, as the cost an environment would add if a worker had to get its own copy, copying
///    the environment's folder and hard-linking it file by file, timed on the same machine in the same run.
/// </summary>
internal static class BuildBenchmark
{
    private const string Owner = "bench";

    public static async Task<int> RunAsync(string[] args)
    {
        int rounds = 5, cold = 10;
        string? output = null;
        for (var i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--cold": cold = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = args[++i]; break;
                default: Console.Error.WriteLine("usage: builds [--rounds K] [--cold K] [--out FILE]"); return 2;
            }
        var wheelhouse = Directory.CreateTempSubdirectory("osai-bench-wheels-").FullName;
        // pip runs as a sandbox uid: the wheelhouse must be readable by others.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(wheelhouse, (UnixFileMode)0b111_101_101);
        try
        {
            Program.Log("builds: writing the wheelhouse");
            Wheels.Module(wheelhouse, "benchbase", "1.0", "BASE = 1\n");
            for (var i = 0; i < rounds; i++)
                Wheels.Module(wheelhouse, $"benchdep{i}", "1.0", $"import benchbase\nVALUE = benchbase.BASE + {i}\n", "benchbase");
            WriteFatWheel(wheelhouse);

            await using var server = await BenchServer.StartAsync(new Dictionary<string, string?>
            {
                ["OSForAI:Build:Python:NoIndex"] = "true",
                ["OSForAI:Build:Python:FindLinks:0"] = wheelhouse,
                ["OSForAI:Workers:WarmGenericWorkers"] = "2",
                ["OSForAI:Workers:MaxWorkers"] = (2 * cold + 16).ToString(CultureInfo.InvariantCulture),
            });
            var pool = server.Services.GetRequiredService<WorkerPool>();
            var environments = server.Services.GetRequiredService<PythonEnvironments>();
            await WaitIdleAsync(pool, 2);
            var md = new StringBuilder();

            // 1 + 2. Build times.
            var none = new List<double>();
            var first = new List<double>();
            var cached = new List<double>();
            for (var i = 0; i < rounds; i++)
            {
                none.Add(await BuildMsAsync(server, "plain", Code($"# {i}\ndef apply(x):\n    return x\n"), pool));
                first.Add(await BuildMsAsync(server, "deps", Code($"import benchdep{i}\n\ndef apply(x):\n    return benchdep{i}.VALUE\n", $"benchdep{i}\n"), pool));
                cached.Add(await BuildMsAsync(server, "deps", Code($"# again {i}\nimport benchdep{i}\n\ndef apply(x):\n    return benchdep{i}.VALUE + 1\n", $"benchdep{i}==1.0\n"), pool));
            }
            var fatFirst = await BuildMsAsync(server, "fat", Code("import benchfat\n\ndef apply(x):\n    return benchfat.NAME\n", "benchfat\n"), pool);
            var fatCached = new List<double>();
            for (var i = 0; i < rounds; i++)
                fatCached.Add(await BuildMsAsync(server, "fat", Code($"# {i}\nimport benchfat\n\ndef apply(x):\n    return benchfat.NAME\n", "benchfat\n"), pool));
            var installs = environments.Installs;
            Program.Log($"builds: {installs} environments installed");

            md.Append("| build | n | p50 ms | p90 ms | mean ms | vs no requirements |\n|---|---:|---:|---:|---:|---:|\n");
            var baseline = Summary.Of(none);
            void Row(string label, IReadOnlyCollection<double> xs)
            {
                var s = Summary.Of(xs);
                md.Append(string.Create(CultureInfo.InvariantCulture,
                    $"| {label} | {s.Count} | {s.P50:0} | {s.P90:0} | {s.Mean:0} | {s.P50 / baseline.P50:0.00}× |\n"));
            }
            Row("no requirements.txt (import check only)", none);
            Row("small requirements, new environment (resolve + install 2 wheels)", first);
            Row("small requirements, cached environment (resolve + hit)", cached);
            Row("~50 MB environment, first (resolve + install + store)", [fatFirst]);
            Row("~50 MB environment, cached", fatCached);

            // 3. Cold start with and without the 50 MB environment.
            var fatHash = (await LatestBuildAsync(server, "fat")).GetProperty("environment").GetString()!;
            var envDir = environments.PathOf(fatHash);
            var envBytes = PythonEnvironments.SizeOf(envDir);
            var envFiles = Directory.EnumerateFiles(envDir, "*", SearchOption.AllDirectories).Count();
            for (var i = 0; i < cold; i++)
            {
                await PublishAsync(server, "coldplain", $"1.0.{i}", Code($"# {i}\nimport json\n\ndef apply(x):\n    return x\n"), pool);
                await PublishAsync(server, "coldfat", $"1.0.{i}", Code($"# {i}\nimport benchfat\n\ndef apply(x):\n    return x\n", "benchfat\n"), pool);
            }
            using var client = Http.Client(server.Url, server.Key);
            var plainFirst = new List<double>();
            var fatFirstCall = new List<double>();
            var warm = new List<double>();
            for (var i = 0; i < cold; i++)
                foreach (var (name, into) in new[] { ("coldplain", plainFirst), ("coldfat", fatFirstCall) })
                {
                    await WaitIdleAsync(pool, 2);
                    await Task.Delay(100);
                    var t0 = Stopwatch.GetTimestamp();
                    await Measure.CallOk(client, $"/v1/algo/{Owner}/{name}/1.0.{i}");
                    into.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
                    if (name == "coldfat")
                    {
                        t0 = Stopwatch.GetTimestamp();
                        await Measure.CallOk(client, $"/v1/algo/{Owner}/{name}/1.0.{i}");
                        warm.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
                    }
                }
            var (copyMs, linkMs) = CopyCosts(envDir);
            var p = Summary.Of(plainFirst);
            var f = Summary.Of(fatFirstCall);
            var w = Summary.Of(warm);
            md.Append(string.Create(CultureInfo.InvariantCulture,
                $"\nThe ~50 MB environment: {envBytes / 1048576.0:0.0} MiB in {envFiles} files.\n\n"));
            md.Append("| first call (specializes a warm generic worker) | n | p50 ms | p90 ms | mean ms | vs without |\n|---|---:|---:|---:|---:|---:|\n");
            md.Append(string.Create(CultureInfo.InvariantCulture, $"| version without an environment | {p.Count} | {p.P50:0.0} | {p.P90:0.0} | {p.Mean:0.0} | 1.00× |\n"));
            md.Append(string.Create(CultureInfo.InvariantCulture, $"| version with the ~50 MB environment | {f.Count} | {f.P50:0.0} | {f.P90:0.0} | {f.Mean:0.0} | {f.P50 / p.P50:0.00}× |\n"));
            md.Append(string.Create(CultureInfo.InvariantCulture, $"| (warm call of it, for reference) | {w.Count} | {w.P50:0.0} | {w.P90:0.0} | {w.Mean:0.0} | |\n"));
            md.Append(string.Create(CultureInfo.InvariantCulture,
                $"\nWhat a copy would have cost each cold start, measured on the same folder in this run: copying it {copyMs:0} ms, hard-linking it file by file {linkMs:0} ms.\n"));
            md.Append(string.Create(CultureInfo.InvariantCulture, $"\nEnvironments installed by pip during the run: {installs} (1 per distinct requirement set).\n"));

            Console.Out.Write(md);
            if (output is not null) await File.WriteAllTextAsync(output, md.ToString());
            return 0;
        }
        finally
        {
            Directory.Delete(wheelhouse, recursive: true);
        }
    }

    private static Dictionary<string, string> Code(string main, string? requirements = null)
    {
        var files = BenchServer.Python(main);
        if (requirements is not null) files[PythonEnvironments.RequirementsFile] = requirements;
        return files;
    }

    /// <summary>A wheel of ~50 MB installed: 30 files of 1 MiB of random bytes (incompressible) and 2000 small modules.</summary>
    private static void WriteFatWheel(string folder)
    {
        var files = new Dictionary<string, byte[]> { ["benchfat/__init__.py"] = "NAME = 'fat'\n"u8.ToArray() };
        for (var i = 0; i < 30; i++) files[$"benchfat/data/blob{i:00}.bin"] = RandomNumberGenerator.GetBytes(1 << 20);
        var module = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 80).Select(j => $"def f{j}(x):\n    return x + {j}\n\n")));
        for (var i = 0; i < 2000; i++) files[$"benchfat/mods/m{i:0000}.py"] = module;
        files["benchfat/mods/__init__.py"] = [];
        Wheels.Write(folder, "benchfat", "1.0", files);
    }

    /// <summary>Uploads and builds; returns the build's wall time as the client sees it (the upload is a few KB).</summary>
    private static async Task<double> BuildMsAsync(BenchServer server, string name, Dictionary<string, string> files, WorkerPool pool)
    {
        await WaitIdleAsync(pool, 2);
        var created = await server.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = Owner, name });
        if (created.StatusCode != HttpStatusCode.Conflict) created.EnsureSuccessStatusCode();
        var content = new ByteArrayContent(AlgorithmFiles.TarGz(files)) { Headers = { ContentType = new MediaTypeHeaderValue("application/gzip") } };
        var t0 = Stopwatch.GetTimestamp();
        var r = await server.Admin.PostAsync($"/v1/algorithms/{Owner}/{name}/builds", content);
        var ms = Measure.Ms(t0, Stopwatch.GetTimestamp());
        var build = await r.Content.ReadFromJsonAsync<JsonElement>();
        if (r.StatusCode != HttpStatusCode.Created || build.GetProperty("status").GetString() != "succeeded")
            throw new InvalidOperationException($"build of {name} failed: {build}");
        return ms;
    }

    private static async Task<JsonElement> LatestBuildAsync(BenchServer server, string name)
    {
        var info = await server.Admin.GetFromJsonAsync<JsonElement>($"/v1/algorithms/{Owner}/{name}");
        var hash = info.GetProperty("builds")[0].GetProperty("build").GetString();
        return await server.Admin.GetFromJsonAsync<JsonElement>($"/v1/algorithms/{Owner}/{name}/builds/{hash}");
    }

    private static async Task PublishAsync(BenchServer server, string name, string version, Dictionary<string, string> files, WorkerPool pool)
    {
        await BuildMsAsync(server, name, files, pool);
        var build = await LatestBuildAsync(server, name);
        var pub = await server.Admin.PostAsJsonAsync($"/v1/algorithms/{Owner}/{name}/versions", new { build = build.GetProperty("build").GetString(), version });
        pub.EnsureSuccessStatusCode();
    }

    /// <summary>Copying the environment's folder, and mirroring it with a hard link per file: what a per-worker copy would cost.</summary>
    private static (double CopyMs, double LinkMs) CopyCosts(string envDir)
    {
        var scratch = Directory.CreateTempSubdirectory("osai-bench-copy-").FullName;
        try
        {
            var t0 = Stopwatch.GetTimestamp();
            Mirror(envDir, Path.Combine(scratch, "copy"), link: false);
            var copy = Measure.Ms(t0, Stopwatch.GetTimestamp());
            t0 = Stopwatch.GetTimestamp();
            Mirror(envDir, Path.Combine(scratch, "link"), link: true);
            return (copy, Measure.Ms(t0, Stopwatch.GetTimestamp()));
        }
        finally { Directory.Delete(scratch, recursive: true); }
    }

    private static void Mirror(string from, string to, bool link)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(to, Path.GetRelativePath(from, file));
            if (!link) File.Copy(file, dest);
            else if (HardLink(file, dest) != 0) throw new IOException($"link {file} failed");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int HardLink(string target, string path);

    private static async Task WaitIdleAsync(WorkerPool pool, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (pool.Stats.GenericIdle < count && DateTime.UtcNow < until) await Task.Delay(50);
    }
}
