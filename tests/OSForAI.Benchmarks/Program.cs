using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OSForAI.Runtime.Workers;

namespace OSForAI.Benchmarks;

/// <summary>
/// One-shot loopback benchmark of OSForAI (see docs/benchmarks.md):
/// 1. warm no-op call latency vs a raw Kestrel endpoint, 2. throughput of a no-op Python algorithm,
/// 3. cold start by specializing a warm generic worker, 4. fresh worker process start.
/// </summary>
internal static class Program
{
    private const string Owner = "bench";

    private static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "models") return await ModelBenchmark.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "data") return await DataBenchmark.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "pods") return await PodBenchmark.RunAsync(args[1..]);
        if (args.Length > 0 && args[0] == "builds") return await BuildBenchmark.RunAsync(args[1..]);
        BenchOptions o;
        try { o = BenchOptions.Parse(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(BenchOptions.Usage);
            return 2;
        }
        if (o.Help)
        {
            Console.WriteLine(BenchOptions.Usage);
            return 0;
        }

        var total = Stopwatch.StartNew();
        var r = new Results { Options = o, Machine = await MachineInfo.CollectAsync(o.Python) };
        using var cpu = new CpuMonitor(TimeSpan.FromMilliseconds(500));
        r.SettleSeconds = await SettleAsync(cpu, TimeSpan.FromSeconds(o.Settle));
        var foreignAtStart = cpu.Now.Foreign;
        cpu.ResetTop();
        var measured = Stopwatch.StartNew();
        try
        {
            await RunAsync(o, r, cpu);
        }
        catch (Exception e)
        {
            r.Failure = e.ToString();
            Log("FAILED: " + e);
        }
        r.TotalSeconds = total.Elapsed.TotalSeconds;
        r.ForeignCpuSeconds = cpu.Now.Foreign - foreignAtStart;
        r.MeasuredSeconds = measured.Elapsed.TotalSeconds;
        r.ForeignTop = cpu.Top(4);
        r.LoadAverageAfter = MachineInfo.ReadLoadAverage();

        var markdown = Report.Render(r);
        Console.Out.Write(markdown);
        if (o.Out is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            await File.WriteAllTextAsync(path, markdown);
            Log($"report written to {path}");
        }
        return r.Failure is null ? 0 : 1;
    }

    private static async Task RunAsync(BenchOptions o, Results r, CpuMonitor cpu)
    {
        async Task Part(string name, Func<Task> body)
        {
            var cpu0 = cpu.Now.Foreign;
            var t0 = Stopwatch.GetTimestamp();
            try { await body(); }
            finally { r.Parts[name] = (Stopwatch.GetElapsedTime(t0).TotalSeconds, cpu.Now.Foreign - cpu0); }
        }

        var noop = BenchServer.Python("def apply(x):\n    return x\n");

        // Server A: latency, cold start, fresh start. Enough warm generic workers for the cold-start
        // series, and room for every specialized version to stay alive.
        var warmGeneric = o.WarmGeneric;
        var settingsA = new Dictionary<string, string?>
        {
            ["OSForAI:Workers:PythonPath"] = o.Python,
            ["OSForAI:Workers:Sandbox"] = o.Sandbox,
            ["OSForAI:Workers:WarmGenericWorkers"] = warmGeneric.ToString(CultureInfo.InvariantCulture),
            ["OSForAI:Workers:MaxWorkers"] = Math.Max(64, o.Cold + warmGeneric + 8).ToString(CultureInfo.InvariantCulture),
        };
        byte[] envelope;
        await using (var a = await BenchServer.StartAsync(settingsA))
        {
            var pool = a.Services.GetRequiredService<WorkerPool>();
            await WaitForGenericIdleAsync(pool, warmGeneric, TimeSpan.FromSeconds(30));
            await a.PublishAsync(Owner, "noop", "1.0.0", noop);
            using var osai = Http.Client(a.Url, a.Key);
            const string noopPath = "/v1/algo/bench/noop/1.0.0";
            await Measure.CallOk(osai, noopPath); // specializes the version
            envelope = await Measure.CallOk(osai, noopPath); // a warm call's envelope
            r.Envelope = Encoding.UTF8.GetString(envelope);
            Log($"OSForAI no-op envelope: {r.Envelope}");

            // 1. Warm latency.
            if (o.Runs("latency")) await Part("latency", async () =>
            {
                await using var raw = await RawServer.StartAsync(envelope);
                using var rawClient = Http.Client(raw.Url, a.Key);
                Log($"latency: {o.Warmup} warm-up + {o.Requests} sequential calls each (raw Kestrel, OSForAI)");
                var (rawMs, osaiMs) = await Measure.SequentialPairAsync(rawClient, noopPath, osai, noopPath, o.Warmup, o.Requests);
                r.RawLatency = Summary.Of(rawMs);
                r.OsaiLatency = Summary.Of(osaiMs);
                Log($"  raw p50 {r.RawLatency.P50:0.000} ms, OSForAI p50 {r.OsaiLatency.P50:0.000} ms");
            });

            // 3. Cold start: each version's first call specializes a warm generic worker.
            if (o.Runs("cold")) await Part("cold", () => ColdStartAsync(o, r, a, osai, pool));

            // 4. Fresh worker start, straight through the worker host.
            if (o.Runs("fresh")) await Part("fresh", () => FreshStartAsync(o, r, a));
        }

        // 2. Throughput: the raw baseline, then each (instances × concurrency) configuration on its own server.
        if (o.Runs("throughput")) await Part("throughput", () => ThroughputAsync(o, r, envelope, cpu));
    }

    private static async Task ColdStartAsync(BenchOptions o, Results r, BenchServer a, HttpClient osai, WorkerPool pool)
    {
        var warmGeneric = o.WarmGeneric;
        Log($"cold start: publishing {o.Cold} versions");
        for (var i = 0; i < o.Cold; i++)
            await a.PublishAsync(Owner, "cold", $"1.0.{i}", BenchServer.Python($"# variant {i}\ndef apply(x):\n    return x\n"));
        var first = new List<double>();
        var second = new List<double>();
        var fromGeneric = 0;
        var stats0 = pool.Stats;
        for (var i = 0; i < o.Cold; i++)
        {
            var refilled = await WaitForGenericIdleAsync(pool, warmGeneric, TimeSpan.FromSeconds(15));
            await Task.Delay(50); // let the refill's process start settle
            var before = pool.Stats;
            var path = $"/v1/algo/bench/cold/1.0.{i}";
            var t0 = Stopwatch.GetTimestamp();
            await Measure.CallOk(osai, path);
            first.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
            var after = pool.Stats;
            if (refilled && after.ColdStarts == before.ColdStarts + 1 && after.FreshStarts == before.FreshStarts) fromGeneric++;
            // The warm reference: same version, once the pool has refilled (the refill's process start competes for CPU).
            await WaitForGenericIdleAsync(pool, warmGeneric, TimeSpan.FromSeconds(15));
            await Task.Delay(50);
            t0 = Stopwatch.GetTimestamp();
            await Measure.CallOk(osai, path);
            second.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
        }
        var stats1 = pool.Stats;
        r.ColdFirst = Summary.Of(first);
        r.ColdSecond = Summary.Of(second);
        r.ColdFromGeneric = fromGeneric;
        r.ColdSpecializations = stats1.ColdStarts - stats0.ColdStarts;
        Log($"  first call p50 {r.ColdFirst.P50:0.0} ms, second call p50 {r.ColdSecond.P50:0.000} ms; {fromGeneric}/{o.Cold} served by an idle generic worker");
    }

    private static async Task FreshStartAsync(BenchOptions o, Results r, BenchServer a)
    {
        var host = a.Services.GetRequiredService<IWorkerHost>();
        Log($"fresh start: {o.Fresh} worker starts (+1 discarded)");
        await using (await host.StartAsync("python3", CancellationToken.None)) { }
        var fresh = new List<double>();
        for (var i = 0; i < o.Fresh; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var conn = await host.StartAsync("python3", CancellationToken.None);
            fresh.Add(Measure.Ms(t0, Stopwatch.GetTimestamp()));
            await conn.DisposeAsync();
            await Task.Delay(20);
        }
        r.Fresh = Summary.Of(fresh);
        Log($"  p50 {r.Fresh.P50:0.0} ms");
    }

    private static async Task ThroughputAsync(BenchOptions o, Results r, byte[] envelope, CpuMonitor cpu)
    {
        var duration = TimeSpan.FromSeconds(o.Seconds);
        var warm = TimeSpan.FromSeconds(o.LoadWarmupSeconds);
        await using (var raw = await RawServer.StartAsync(envelope))
        {
            using var client = Http.Client(raw.Url, "x");
            Log($"throughput: raw Kestrel, {o.Clients} clients, {o.Seconds} s");
            var c0 = cpu.Now;
            r.RawLoad = await Measure.LoadAsync(client, "/v1/algo/bench/noop/1.0.0", o.Clients, warm, duration);
            r.RawLoadCpu = cpu.Now - c0;
            Log($"  {r.RawLoad.PerSecond:0} calls/s");
        }
        foreach (var (instances, concurrency) in o.Configs)
        {
            var settings = new Dictionary<string, string?>
            {
                ["OSForAI:Workers:PythonPath"] = o.Python,
                ["OSForAI:Workers:Sandbox"] = o.Sandbox,
                ["OSForAI:Workers:WarmGenericWorkers"] = "2",
                ["OSForAI:Workers:MaxWorkers"] = Math.Max(32, instances + 4).ToString(CultureInfo.InvariantCulture),
                ["OSForAI:Workers:MaxInstancesPerVersion"] = instances.ToString(CultureInfo.InvariantCulture),
            };
            await using var s = await BenchServer.StartAsync(settings);
            var pool = s.Services.GetRequiredService<WorkerPool>();
            await s.PublishAsync(Owner, "noop", "1.0.0", BenchServer.Python("def apply(x):\n    return x\n", $"concurrency: {concurrency}\n"));
            using var client = Http.Client(s.Url, s.Key);
            Log($"throughput: OSForAI {instances} instances x concurrency {concurrency}, {o.Clients} clients, {o.Seconds} s");
            var before = pool.Stats;
            var c0 = cpu.Now;
            var load = await Measure.LoadAsync(client, "/v1/algo/bench/noop/1.0.0", o.Clients, warm, duration);
            var used = cpu.Now - c0;
            var after = pool.Stats;
            r.Loads.Add(new ConfigLoad(instances, concurrency, load, after.Instances, after.LiveWorkers, after.Calls - before.Calls, used));
            Log($"  {load.PerSecond:0} calls/s, {load.Errors} errors, {after.Instances} instances live");
        }
    }

    /// <summary>
    /// Waits (up to <paramref name="max"/>) until other processes are nearly idle for a second, e.g. the build
    /// nodes a preceding `dotnet run` leaves busy for a few seconds. Returns the seconds waited.
    /// </summary>
    internal static async Task<double> SettleAsync(CpuMonitor cpu, TimeSpan max)
    {
        if (max <= TimeSpan.Zero || double.IsNaN(cpu.Now.Foreign)) return 0;
        var t0 = Stopwatch.GetTimestamp();
        while (true)
        {
            var before = cpu.Now.Foreign;
            await Task.Delay(1000);
            var busy = cpu.Now.Foreign - before;
            var waited = Stopwatch.GetElapsedTime(t0);
            if (busy < 0.05) return waited.TotalSeconds;
            if (waited >= max)
            {
                Log($"other processes are still busy ({busy:0.00} CPUs); starting anyway");
                return waited.TotalSeconds;
            }
            Log($"waiting for other processes to settle ({busy:0.00} CPUs busy)");
        }
    }

    /// <summary>Waits until the pool holds at least <paramref name="count"/> idle generic workers; false on time-out.</summary>
    private static async Task<bool> WaitForGenericIdleAsync(WorkerPool pool, int count, TimeSpan timeout)
    {
        var until = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (pool.Stats.GenericIdle < count)
        {
            if (Stopwatch.GetTimestamp() > until) return false;
            await Task.Delay(5);
        }
        return true;
    }

    public static void Log(string line) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {line}");
}

internal sealed class BenchOptions
{
    public string? Out { get; private set; }
    public int Requests { get; private set; } = 5000;
    public int Warmup { get; private set; } = 500;
    public double Seconds { get; private set; } = 10;
    public double LoadWarmupSeconds { get; private set; } = 2;
    public int Clients { get; private set; } = 32;
    public int Cold { get; private set; } = 20;
    public int Fresh { get; private set; } = 20;
    public int WarmGeneric { get; private set; } = 4;
    public double Settle { get; private set; } = 20;
    public string Python { get; private set; } = "/usr/bin/python3";
    public string Sandbox { get; private set; } = "auto";
    public List<(int Instances, int Concurrency)> Configs { get; private set; } = [(4, 4), (2, 8), (1, 16)];
    public bool Help { get; private set; }
    public IReadOnlySet<string> Parts { get; private set; } = AllParts;

    private static readonly IReadOnlySet<string> AllParts = new HashSet<string> { "latency", "throughput", "cold", "fresh" };

    public bool Runs(string part) => Parts.Contains(part);

    public const string Usage = """
        usage: dotnet run -c Release --project tests/OSForAI.Benchmarks -- [options]
          --out FILE          also write the markdown report to FILE (default: stdout only)
          --requests N        measured sequential calls per target for latency (default 5000)
          --warmup N          warm-up calls per target before the latency series (default 500)
          --seconds S         measured seconds per throughput run (default 10)
          --load-warmup S     warm-up seconds before each throughput run (default 2)
          --clients N         concurrent client loops for throughput (default 32)
          --configs LIST      throughput configurations, instances x concurrency (default 4x4,2x8,1x16)
          --cold K            versions whose first call is timed for cold start (default 20)
          --fresh K           timed fresh worker starts (default 20)
          --warm-generic N    warm generic workers kept for the cold-start series (default 4)
          --python PATH       Python interpreter for the workers (default /usr/bin/python3)
          --sandbox MODE      worker sandbox: auto, bubblewrap or none (default auto, as the server)
          --only LIST         run only some parts: latency,throughput,cold,fresh (default all)
          --settle S          wait up to S seconds for other processes to go idle first (default 20; 0: don't)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int(int min) => int.TryParse(Next(), CultureInfo.InvariantCulture, out var v) && v >= min ? v : throw new ArgumentException($"{args[i - 1]} needs a whole number ≥ {min}");
            double Dbl() => double.TryParse(Next(), CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{args[i - 1]} needs a positive number");
            switch (args[i])
            {
                case "--out": o.Out = Next(); break;
                case "--requests": o.Requests = Int(1); break;
                case "--warmup": o.Warmup = Int(0); break;
                case "--seconds": o.Seconds = Dbl(); break;
                case "--load-warmup": o.LoadWarmupSeconds = Dbl(); break;
                case "--clients": o.Clients = Int(1); break;
                case "--cold": o.Cold = Int(1); break;
                case "--fresh": o.Fresh = Int(1); break;
                case "--warm-generic": o.WarmGeneric = Int(1); break;
                case "--python": o.Python = Next(); break;
                case "--sandbox": o.Sandbox = Next(); break;
                case "--settle": o.Settle = double.TryParse(Next(), CultureInfo.InvariantCulture, out var settle) && settle >= 0 ? settle : throw new ArgumentException("--settle needs a number of seconds ≥ 0"); break;
                case "--configs": o.Configs = ParseConfigs(Next()); break;
                case "--only":
                    var parts = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
                    if (parts.Count == 0 || parts.Except(AllParts).FirstOrDefault() is { } bad)
                        throw new ArgumentException($"--only takes a list of {string.Join(",", AllParts)}");
                    o.Parts = parts;
                    break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        return o;
    }

    private static List<(int, int)> ParseConfigs(string text)
    {
        var list = new List<(int, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var xy = part.Split('x');
            if (xy.Length != 2 || !int.TryParse(xy[0], out var inst) || !int.TryParse(xy[1], out var conc) || inst < 1 || conc < 1)
                throw new ArgumentException($"--configs: '{part}' should look like 4x4 (instances x concurrency)");
            list.Add((inst, conc));
        }
        return list.Count > 0 ? list : throw new ArgumentException("--configs needs at least one configuration");
    }
}

internal sealed record ConfigLoad(int Instances, int Concurrency, LoadResult Load, int InstancesLive, int LiveWorkers, long PoolCalls, CpuSplit Cpu);

internal sealed class Results
{
    public required BenchOptions Options { get; init; }
    public required MachineInfo Machine { get; init; }
    public string? Envelope { get; set; }
    public Summary? RawLatency { get; set; }
    public Summary? OsaiLatency { get; set; }
    public LoadResult? RawLoad { get; set; }
    /// <summary>CPU used during the raw load run (warm-up included).</summary>
    public CpuSplit RawLoadCpu { get; set; }
    public List<ConfigLoad> Loads { get; } = [];
    public Summary? ColdFirst { get; set; }
    public Summary? ColdSecond { get; set; }
    public int ColdFromGeneric { get; set; }
    public long ColdSpecializations { get; set; }
    public Summary? Fresh { get; set; }
    public string? Failure { get; set; }
    public double TotalSeconds { get; set; }
    public string? LoadAverageAfter { get; set; }
    public double SettleSeconds { get; set; }
    public double MeasuredSeconds { get; set; }
    /// <summary>CPU-seconds used by other processes during the whole run (NaN where not measurable).</summary>
    public double ForeignCpuSeconds { get; set; } = double.NaN;
    public string? ForeignTop { get; set; }
    /// <summary>Per part: wall seconds and CPU-seconds used by other processes meanwhile.</summary>
    public Dictionary<string, (double Wall, double Foreign)> Parts { get; } = [];
}

internal sealed record MachineInfo(int Cpus, string? CpuModel, string Os, string Dotnet, string? Python, DateTimeOffset Date, string? LoadAverage)
{
    /// <summary>The 1/5/15-minute load averages (Linux), to show whether something else was busy.</summary>
    public static string? ReadLoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null; }
        catch (IOException) { return null; }
    }

    public static async Task<MachineInfo> CollectAsync(string python)
    {
        string? model = null;
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (IOException) { }
        string? pyVersion = null;
        try
        {
            var psi = new ProcessStartInfo(python, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var text = (await p.StandardOutput.ReadToEndAsync()) + (await p.StandardError.ReadToEndAsync());
            await p.WaitForExitAsync();
            pyVersion = text.Trim();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { }
        return new MachineInfo(Environment.ProcessorCount, model, RuntimeInformation.OSDescription + " " + RuntimeInformation.OSArchitecture,
            RuntimeInformation.FrameworkDescription, pyVersion, DateTimeOffset.UtcNow, ReadLoadAverage());
    }
}
