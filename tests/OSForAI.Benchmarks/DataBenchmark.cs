using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using OSForAI.Testing;

namespace OSForAI.Benchmarks;

/// <summary>
/// Data streaming benchmark (docs/benchmarks.md, "Data streaming"): PUT and GET of one large object through the
/// gateway's /v1/connector API vs the store's SDK called directly, against the same emulator in the same run
/// (s3rver for S3, azurite for Azure Blob). Each round measures both paths back to back, alternating which goes
/// first. Content is generated as it is sent (never held whole in memory) and every download is hashed and checked.
/// </summary>
internal static class DataBenchmark
{
    public const string Usage = """
        usage: osforai-bench data [--mib N] [--rounds R] [--out FILE] [--only s3,azure] [--settle S]
          --mib N       object size in MiB (default 256)
          --rounds R    measured rounds per store; each round does gateway and direct PUT, then GET (default 3)
          --out FILE    also write the markdown report to FILE
          --only LIST   stores to measure: s3, azure (default both)
          --settle S    wait up to S seconds for other processes to go idle first (default 20; 0: don't)
        """;

    private const int PartSize = 8 * 1024 * 1024;
    private const string Bucket = "osforai-bench";
    private const string Container = "osforai-bench";
    private const string S3Key = "S3RVER"; // s3rver's well-known development credentials
    private const string AzureAccount = "devstoreaccount1";
    private const string AzureAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private enum Path { Gateway, Direct }

    /// <summary>One timed transfer: wall seconds and the CPU-seconds this process and the emulators (its children) used meanwhile.</summary>
    private sealed record Sample(string Store, string Direction, Path Path, int Round, double Seconds, CpuSplit Cpu, long Bytes)
    {
        public double MiBps => Bytes / 1048576.0 / Seconds;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        string? outPath = null;
        var mib = 256;
        var rounds = 3;
        var settle = 20.0;
        var stores = new List<string> { "s3", "azure" };
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int(int min) => int.TryParse(Next(), CultureInfo.InvariantCulture, out var v) && v >= min ? v : throw new ArgumentException($"{args[i - 1]} needs a whole number ≥ {min}");
                switch (args[i])
                {
                    case "--out": outPath = Next(); break;
                    case "--mib": mib = Int(1); break;
                    case "--rounds": rounds = Int(1); break;
                    case "--settle": settle = double.TryParse(Next(), CultureInfo.InvariantCulture, out var s) && s >= 0 ? s : throw new ArgumentException("--settle needs a number of seconds ≥ 0"); break;
                    case "--only":
                        stores = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
                        if (stores.Count == 0 || stores.Any(x => x is not ("s3" or "azure"))) throw new ArgumentException("--only takes a list of s3,azure");
                        break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var size = mib * 1024L * 1024;
        var samples = new List<Sample>();
        var notes = new List<string>();
        string? failure = null;
        var started = DateTimeOffset.UtcNow;
        var loadBefore = MachineInfo.ReadLoadAverage();
        using var cpu = new CpuMonitor(TimeSpan.FromSeconds(1));
        var emulatorDir = EmulatorPackages.EnsureInstalled();
        var versions = string.Join(", ", new[] { "s3rver", "azurite" }.Select(p => $"{p} {PackageVersion(emulatorDir, p)}"));
        EmulatorProcess? s3rver = null, azurite = null;
        try
        {
            Log("starting s3rver and azurite");
            if (stores.Contains("s3"))
                s3rver = await EmulatorProcess.StartAsync("s3rver",
                    (port, dir) => ["-d", dir, "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "--configure-bucket", Bucket, "--silent"],
                    TimeSpan.FromSeconds(60), new Dictionary<string, string> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" });
            if (stores.Contains("azure"))
                azurite = await EmulatorProcess.StartAsync("azurite-blob",
                    (port, dir) => ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(CultureInfo.InvariantCulture), "--location", dir, "--skipApiVersionCheck", "--silent"],
                    TimeSpan.FromSeconds(90));

            var settings = new Dictionary<string, string?>
            {
                ["OSForAI:MaxDataUploadBytes"] = Math.Max(size + 1, 1024L * 1024 * 1024).ToString(CultureInfo.InvariantCulture),
            };
            string? s3Url = null, azureConnection = null;
            if (s3rver is not null)
            {
                s3Url = $"http://127.0.0.1:{s3rver.Port}";
                settings["OSForAI:Data:S3:default:ServiceUrl"] = s3Url;
                settings["OSForAI:Data:S3:default:Region"] = "us-east-1";
                settings["OSForAI:Data:S3:default:AccessKeyId"] = S3Key;
                settings["OSForAI:Data:S3:default:SecretAccessKey"] = S3Key;
                settings["OSForAI:Data:S3:default:PartSizeBytes"] = PartSize.ToString(CultureInfo.InvariantCulture);
            }
            if (azurite is not null)
            {
                azureConnection = $"DefaultEndpointsProtocol=http;AccountName={AzureAccount};AccountKey={AzureAccountKey};" +
                                  $"BlobEndpoint=http://127.0.0.1:{azurite.Port}/{AzureAccount};";
                settings["OSForAI:Data:Azure:default:ConnectionString"] = azureConnection;
                settings["OSForAI:Data:Azure:default:BlockSizeBytes"] = PartSize.ToString(CultureInfo.InvariantCulture);
            }
            await using var server = await BenchServer.StartAsync(settings);
            using var gateway = Http.Client(server.Url, server.Key, TimeSpan.FromMinutes(30));

            var settled = await Program.SettleAsync(cpu, TimeSpan.FromSeconds(settle));
            if (settled > 1) notes.Add($"waited {settled:0} s for other processes to go idle before measuring");
            var foreign0 = cpu.Now.Foreign;
            cpu.ResetTop();

            if (s3Url is not null)
            {
                using var s3 = new AmazonS3Client(new BasicAWSCredentials(S3Key, S3Key), S3Config(s3Url));
                var direct = new DirectS3(s3, Bucket);
                await MeasureStoreAsync("s3", $"/v1/connector/s3/{Bucket}", direct, gateway, size, rounds, cpu, samples);
            }
            if (azureConnection is not null)
            {
                var service = new BlobServiceClient(azureConnection, AzureClientOptions());
                var container = service.GetBlobContainerClient(Container);
                await container.CreateIfNotExistsAsync();
                var direct = new DirectAzure(container);
                await MeasureStoreAsync("azure", $"/v1/connector/azure/{Container}", direct, gateway, size, rounds, cpu, samples);
            }
            var foreign = cpu.Now.Foreign - foreign0;
            if (!double.IsNaN(foreign))
                notes.Add($"other processes (not this one, not the emulators) used {foreign:0.0} CPU-s while measuring" +
                          (cpu.Top(3) is { Length: > 0 } top ? $" (busiest: {top})" : ""));
        }
        catch (Exception e)
        {
            failure = e.ToString();
            Log("FAILED: " + e);
        }
        finally
        {
            if (s3rver is not null) await s3rver.DisposeAsync();
            if (azurite is not null) await azurite.DisposeAsync();
        }

        var report = Render(samples, notes, failure, mib, rounds, stores, versions, started, loadBefore);
        Console.Out.Write(report);
        if (outPath is not null)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(outPath))!);
            await File.WriteAllTextAsync(outPath, report);
        }
        return failure is null ? 0 : 1;
    }

    /// <summary>The SDK settings the gateway's S3 connector uses (runtime/OSForAI.Data/S3/S3Options.cs), so only the path differs.</summary>
    private static AmazonS3Config S3Config(string serviceUrl) => new()
    {
        ServiceURL = serviceUrl,
        ForcePathStyle = true,
        AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    };

    /// <summary>The client options the gateway's Azure connector uses (runtime/OSForAI.Data/Azure/AzureBlobOptions.cs).</summary>
    private static BlobClientOptions AzureClientOptions()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 3;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(10);
        return options;
    }

    private static async Task MeasureStoreAsync(string store, string gatewayPrefix, IDirectStore direct, HttpClient gateway,
        long size, int rounds, CpuMonitor cpu, List<Sample> samples)
    {
        // Warm-up (not measured): JIT, connections, and a multipart upload on each path.
        Log($"{store}: warm-up (2 parts each way on each path)");
        var warm = 2L * PartSize + 1;
        await GatewayPutAsync(gateway, $"{gatewayPrefix}/bench/warm-gateway.bin", warm, seed: 1);
        await direct.PutAsync("bench/warm-direct.bin", new GeneratedStream(warm, seed: 1), warm);
        var warmHash = GeneratedStream.HashOf(warm, seed: 1);
        Check(store, "warm-up", await GatewayGetAsync(gateway, $"{gatewayPrefix}/bench/warm-gateway.bin", warm), warmHash);
        Check(store, "warm-up", await direct.GetHashAsync("bench/warm-direct.bin"), warmHash);

        for (var round = 0; round < rounds; round++)
        {
            // Fresh content each round and path, so a stale object from an earlier round cannot pass the check.
            var seeds = new Dictionary<Path, int> { [Path.Gateway] = 100 + 2 * round, [Path.Direct] = 101 + 2 * round };
            var hashes = seeds.ToDictionary(kv => kv.Key, kv => GeneratedStream.HashOf(size, kv.Value));
            var order = round % 2 == 0 ? new[] { Path.Gateway, Path.Direct } : [Path.Direct, Path.Gateway];
            string Key(Path p) => p == Path.Gateway ? "bench/gateway.bin" : "bench/direct.bin";

            foreach (var p in order)
            {
                var s = await TimedAsync(store, "PUT", p, round, size, cpu, () => p == Path.Gateway
                    ? GatewayPutAsync(gateway, $"{gatewayPrefix}/{Key(p)}", size, seeds[p])
                    : direct.PutAsync(Key(p), new GeneratedStream(size, seeds[p]), size));
                samples.Add(s);
            }
            foreach (var p in order)
            {
                byte[] got = [];
                var s = await TimedAsync(store, "GET", p, round, size, cpu, async () =>
                {
                    got = p == Path.Gateway ? await GatewayGetAsync(gateway, $"{gatewayPrefix}/{Key(p)}", size) : await direct.GetHashAsync(Key(p));
                });
                Check(store, $"round {round + 1} {p}", got, hashes[p]);
                samples.Add(s);
            }
            Log($"{store} round {round + 1}: " + string.Join(", ", samples.Where(x => x.Store == store && x.Round == round)
                .Select(x => $"{x.Direction} {x.Path} {x.MiBps:0} MiB/s")));
        }
        await direct.DeleteAsync("bench/warm-direct.bin");
        await direct.DeleteAsync("bench/gateway.bin");
        await direct.DeleteAsync("bench/direct.bin");
        await direct.DeleteAsync("bench/warm-gateway.bin");
    }

    private static async Task<Sample> TimedAsync(string store, string direction, Path path, int round, long bytes, CpuMonitor cpu, Func<Task> run)
    {
        var c0 = cpu.Now;
        var t0 = Stopwatch.GetTimestamp();
        await run();
        var seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return new Sample(store, direction, path, round, seconds, cpu.Now - c0, bytes);
    }

    private static void Check(string store, string what, byte[] got, byte[] expected)
    {
        if (!got.AsSpan().SequenceEqual(expected))
            throw new InvalidOperationException($"{store} {what}: the downloaded SHA-256 {Convert.ToHexString(got)} is not the uploaded {Convert.ToHexString(expected)}");
    }

    private static async Task GatewayPutAsync(HttpClient gateway, string path, long size, int seed)
    {
        using var content = new StreamContent(new GeneratedStream(size, seed), 256 * 1024);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = size;
        using var response = await gateway.PutAsync(path, content);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"gateway PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        if (doc.RootElement.GetProperty("size").GetInt64() != size)
            throw new InvalidOperationException($"gateway PUT {path}: stored {doc.RootElement.GetProperty("size")} bytes, sent {size}");
    }

    private static async Task<byte[]> GatewayGetAsync(HttpClient gateway, string path, long size)
    {
        using var response = await gateway.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"gateway GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        if (response.Content.Headers.ContentLength != size)
            throw new InvalidOperationException($"gateway GET {path}: Content-Length {response.Content.Headers.ContentLength}, expected {size}");
        await using var body = await response.Content.ReadAsStreamAsync();
        return await HashAsync(body);
    }

    /// <summary>The baseline: what an application would do with the store's own SDK, with the gateway's part size.</summary>
    private interface IDirectStore
    {
        Task PutAsync(string key, Stream content, long size);
        Task<byte[]> GetHashAsync(string key);
        Task DeleteAsync(string key);
    }

    /// <summary>
    /// AWSSDK.S3: one PutObject when the object fits a part, else a multipart upload of <see cref="PartSize"/> parts, each read
    /// from the content into a reused buffer and then sent (UseChunkEncoding=false, which s3rver needs); GET is GetObject's
    /// response stream into SHA-256.
    /// </summary>
    private sealed class DirectS3(AmazonS3Client s3, string bucket) : IDirectStore
    {
        private readonly byte[] _buffer = new byte[PartSize];

        public async Task PutAsync(string key, Stream content, long size)
        {
            var n = await FillAsync(content, _buffer);
            if (n < PartSize)
            {
                using var body = new MemoryStream(_buffer, 0, n, writable: false);
                await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, InputStream = body, AutoCloseStream = false, UseChunkEncoding = false });
                return;
            }
            var uploadId = (await s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = key })).UploadId;
            try
            {
                var parts = new List<PartETag>();
                for (var number = 1; n > 0; number++, n = await FillAsync(content, _buffer))
                {
                    using var body = new MemoryStream(_buffer, 0, n, writable: false);
                    var part = await s3.UploadPartAsync(new UploadPartRequest
                    {
                        BucketName = bucket, Key = key, UploadId = uploadId, PartNumber = number, InputStream = body, PartSize = n, UseChunkEncoding = false,
                    });
                    parts.Add(new PartETag(part));
                }
                await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId, PartETags = parts });
            }
            catch
            {
                await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId });
                throw;
            }
        }

        public async Task<byte[]> GetHashAsync(string key)
        {
            using var response = await s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key });
            return await HashAsync(response.ResponseStream);
        }

        public Task DeleteAsync(string key) => s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key });
    }

    /// <summary>
    /// Azure.Storage.Blobs: one Upload when the object fits a block, else BlockBlobClient.StageBlock of <see cref="PartSize"/>
    /// blocks (read into a reused buffer, then sent) and CommitBlockList, as the gateway's connector does; GET is
    /// BlobClient.DownloadStreamingAsync's content into SHA-256.
    /// </summary>
    private sealed class DirectAzure(BlobContainerClient container) : IDirectStore
    {
        private readonly byte[] _buffer = new byte[PartSize];

        public async Task PutAsync(string key, Stream content, long size)
        {
            var blob = container.GetBlockBlobClient(key);
            var n = await FillAsync(content, _buffer);
            if (n < PartSize)
            {
                using var body = new MemoryStream(_buffer, 0, n, writable: false);
                await blob.UploadAsync(body, new Azure.Storage.Blobs.Models.BlobUploadOptions());
                return;
            }
            var upload = Guid.NewGuid().ToString("N");
            var ids = new List<string>();
            for (var index = 0; n > 0; index++, n = await FillAsync(content, _buffer))
            {
                var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{upload}-{index:D6}"));
                using var body = new MemoryStream(_buffer, 0, n, writable: false);
                await blob.StageBlockAsync(id, body);
                ids.Add(id);
            }
            await blob.CommitBlockListAsync(ids);
        }

        public async Task<byte[]> GetHashAsync(string key)
        {
            var result = (await container.GetBlobClient(key).DownloadStreamingAsync()).Value;
            using (result)
                return await HashAsync(result.Content);
        }

        public Task DeleteAsync(string key) => container.GetBlobClient(key).DeleteIfExistsAsync();
    }

    /// <summary>
    /// SHA-256 of a download, read in 1 MiB pieces: SHA256.HashDataAsync reads 4 KiB at a time, which on these loopback
    /// sockets means one receive call per 4 KiB and makes the client, not the path measured, a large share of the CPU.
    /// </summary>
    private static async Task<byte[]> HashAsync(Stream content)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1024 * 1024];
        int n;
        while ((n = await content.ReadAsync(buffer)) > 0) hash.AppendData(buffer, 0, n);
        return hash.GetHashAndReset();
    }

    private static async Task<int> FillAsync(Stream content, byte[] buffer)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await content.ReadAsync(buffer.AsMemory(filled));
            if (n == 0) break;
            filled += n;
        }
        return filled;
    }

    private static string PackageVersion(string dir, string package)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(dir, "node_modules", package, "package.json")));
            return doc.RootElement.GetProperty("version").GetString() ?? "?";
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException) { return "?"; }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static string Render(List<Sample> samples, List<string> notes, string? failure, int mib, int rounds, List<string> stores,
        string versions, DateTimeOffset started, string? loadBefore)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double v, string f = "0") => double.IsNaN(v) || double.IsInfinity(v) ? "–" : v.ToString(f, inv);
        var sb = new StringBuilder();
        void L(string line = "") => sb.Append(line).Append('\n');
        L($"### Data streaming, {started:yyyy-MM-dd HH:mm} UTC");
        L();
        L($"- Command: `dotnet run -c Release --project tests/OSForAI.Benchmarks -- data --mib {mib} --rounds {rounds}" +
          (stores.Count < 2 ? $" --only {string.Join(",", stores)}" : "") + "`");
        L($"- Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; " +
          $"load average before: {loadBefore ?? "n/a"}, after: {MachineInfo.ReadLoadAverage() ?? "n/a"}");
        L($"- {mib} MiB object, {rounds} rounds per store (gateway and direct back to back, order alternating), 8 MiB parts/blocks on both paths; emulators {versions}");
        foreach (var n in notes) L($"- {n}");
        L();
        L("| store | direction | path | MiB/s median | min–max | per round | CPU-s of this process | CPU-s of the emulator | emulator busy (cores) |");
        L("|---|---|---|---:|---:|---|---:|---:|---:|");
        foreach (var g in samples.GroupBy(s => (s.Store, s.Direction, s.Path)))
        {
            var rates = g.Select(s => s.MiBps).ToList();
            L($"| {g.Key.Store} | {g.Key.Direction} | {(g.Key.Path == Path.Gateway ? "gateway" : "SDK direct")} | {F(Median(rates))} | {F(rates.Min())}–{F(rates.Max())} | " +
              $"{string.Join(", ", rates.Select(r => F(r)))} | {F(Median(g.Select(s => s.Cpu.Self)), "0.00")} | {F(Median(g.Select(s => s.Cpu.Children)), "0.00")} | " +
              $"{F(Median(g.Select(s => s.Cpu.Children / s.Seconds)), "0.00")} |");
        }
        L();
        L("| store | direction | gateway ÷ direct (medians) | per-round ratios | goal ≥ 0.8 | extra CPU-s of this process per GiB through the gateway |");
        L("|---|---|---:|---|---|---:|");
        foreach (var g in samples.GroupBy(s => (s.Store, s.Direction)))
        {
            var gw = g.Where(s => s.Path == Path.Gateway).ToList();
            var dr = g.Where(s => s.Path == Path.Direct).ToList();
            var ratio = Median(gw.Select(s => s.MiBps)) / Median(dr.Select(s => s.MiBps));
            var perRound = gw.Join(dr, a => a.Round, b => b.Round, (a, b) => a.MiBps / b.MiBps).Select(r => F(r, "0.00"));
            var gib = mib / 1024.0;
            var extra = (Median(gw.Select(s => s.Cpu.Self)) - Median(dr.Select(s => s.Cpu.Self))) / gib;
            L($"| {g.Key.Store} | {g.Key.Direction} | {F(ratio, "0.00")} | {string.Join(", ", perRound)} | {(double.IsNaN(ratio) ? "–" : ratio >= 0.8 ? "**met**" : "**missed**")} | {F(extra, "0.0")} |");
        }
        L();
        L("CPU-s are medians per transfer (user + system), from /proc: \"this process\" is the client, the gateway and the direct SDK " +
          "calls (whichever ran); \"the emulator\" is the Node process serving it, and \"emulator busy\" its CPU-s ÷ the transfer's wall time " +
          "(1.0 or more: its JavaScript thread is saturated; file I/O runs on libuv's worker threads besides).");
        if (failure is not null)
        {
            L();
            L("**FAILED**:");
            L("```");
            L(failure.Trim());
            L("```");
        }
        return sb.ToString();
    }

    private static void Log(string message) => Console.Error.WriteLine($"[data {DateTime.Now:HH:mm:ss}] {message}");
}
