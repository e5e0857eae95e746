using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace OSForAI.Runtime.Catalog;

/// <summary>The algorithm.yaml that travels with the code.</summary>
public sealed record AlgorithmManifest
{
    public const string FileName = "algorithm.yaml";
    public static readonly IReadOnlySet<string> KnownRuntimes = new HashSet<string> { "python3", "onnx" };

    public string Runtime { get; init; } = "python3";
    public string Entrypoint { get; init; } = "main:apply";
    public string Description { get; init; } = "";
    public int Concurrency { get; init; } = 1;
    [JsonPropertyName("timeout")] public int TimeoutSeconds { get; init; } = 300;
    public ResourceRequest Resources { get; init; } = new();
    /// <summary>Whether the algorithm may make outbound connections (through the host's egress proxy; see docs/security.md).</summary>
    public bool Network { get; init; }
    public Visibility Visibility { get; init; } = Visibility.Public;
    public IReadOnlyList<string> Tags { get; init; } = [];
    public string? SampleInput { get; init; }
    public string? SampleOutput { get; init; }
    /// <summary>Serving settings of a model runtime; the signature is filled in from the model file at upload.</summary>
    public ModelSpec? Model { get; init; }
    /// <summary>The labels file named by the manifest (onnx), relative to the code root.</summary>
    public string? LabelsFile { get; init; }

    private sealed class Dto
    {
        public string? Runtime { get; set; }
        public string? Entrypoint { get; set; }
        public string? Description { get; set; }
        public int? Concurrency { get; set; }
        public int? Timeout { get; set; }
        public ResourcesDto? Resources { get; set; }
        public bool? Network { get; set; }
        public string? Visibility { get; set; }
        public List<string>? Tags { get; set; }
        public string? SampleInput { get; set; }
        public string? SampleOutput { get; set; }
        // onnx
        public string? Model { get; set; }
        public string? Labels { get; set; }
        public string? BatchDimension { get; set; }
        public int? MaxBatchSize { get; set; }
        public double? MaxQueueDelayMs { get; set; }
        public int? ModelInstances { get; set; }
        public string? Device { get; set; }
        public int? IntraOpThreads { get; set; }
        public string? GraphOptimization { get; set; }
    }

    private sealed class ResourcesDto
    {
        public double? Cpu { get; set; }
        public int? MemoryMb { get; set; }
        public int? GpuMemoryMb { get; set; }
    }

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .IgnoreUnmatchedProperties()
        .Build();

    /// <summary>Parses and validates a manifest; throws <see cref="CatalogException"/> with a clear message.</summary>
    public static AlgorithmManifest Parse(string yaml)
    {
        Dto? dto;
        try { dto = Yaml.Deserialize<Dto>(yaml); }
        catch (YamlException e) { throw new CatalogException(CatalogError.Invalid, $"{FileName} is not valid YAML: {e.Message}"); }
        dto ??= new Dto();

        var runtime = string.IsNullOrWhiteSpace(dto.Runtime) ? null : dto.Runtime.Trim();
        if (runtime is null) throw new CatalogException(CatalogError.Invalid, $"{FileName} must name a runtime (e.g. 'runtime: python3')");
        if (!KnownRuntimes.Contains(runtime))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: unknown runtime '{runtime}' (known: {string.Join(", ", KnownRuntimes)})");
        string entry;
        ModelSpec? model = null;
        if (runtime == "onnx")
        {
            entry = RelativeFile(dto.Model ?? dto.Entrypoint ?? "model.onnx", "model");
            model = ParseModelSettings(dto);
        }
        else
        {
            entry = string.IsNullOrWhiteSpace(dto.Entrypoint) ? "main:apply" : dto.Entrypoint.Trim();
            if (!IsValidPythonEntrypoint(entry))
                throw new CatalogException(CatalogError.Invalid, $"{FileName}: entrypoint '{entry}' must look like 'module:function'");
        }
        // A model worker serves many calls at once (it batches or runs them in parallel itself).
        var concurrency = dto.Concurrency ?? (runtime == "onnx" ? 64 : 1);
        if (concurrency is < 1 or > 1024) throw new CatalogException(CatalogError.Invalid, $"{FileName}: concurrency must be between 1 and 1024");
        var timeout = dto.Timeout ?? 300;
        if (timeout is < 1 or > 3000) throw new CatalogException(CatalogError.Invalid, $"{FileName}: timeout must be between 1 and 3000 seconds");
        var res = new ResourceRequest(dto.Resources?.Cpu ?? 1, dto.Resources?.MemoryMb ?? 512, dto.Resources?.GpuMemoryMb ?? 0);
        if (!double.IsFinite(res.Cpu) || res.Cpu <= 0 || res.Cpu > MaxCpu)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.cpu must be a number above 0 and at most {MaxCpu}, not {Show(res.Cpu)}");
        if (res.MemoryMb is <= 0 or > MaxMemoryMb)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.memory_mb must be between 1 and {MaxMemoryMb}, not {res.MemoryMb}");
        if (res.GpuMemoryMb is < 0 or > MaxGpuMemoryMb)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.gpu_memory_mb must be between 0 and {MaxGpuMemoryMb}, not {res.GpuMemoryMb}");
        return new AlgorithmManifest
        {
            Runtime = runtime,
            Entrypoint = entry,
            Description = dto.Description ?? "",
            Concurrency = concurrency,
            TimeoutSeconds = timeout,
            Resources = res,
            Network = dto.Network ?? false,
            Visibility = ParseVisibility(dto.Visibility ?? "public"),
            Tags = dto.Tags ?? [],
            SampleInput = dto.SampleInput,
            SampleOutput = dto.SampleOutput,
            Model = model,
            LabelsFile = dto.Labels is null ? null : RelativeFile(dto.Labels, "labels"),
        };
    }

    private static ModelSpec ParseModelSettings(Dto dto)
    {
        var batchDim = dto.BatchDimension?.Trim().ToLowerInvariant();
        if (batchDim is not (null or "0" or "none"))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: batch_dimension must be 0 or none (only the first dimension can be batched), not '{dto.BatchDimension}'");
        var maxBatch = dto.MaxBatchSize ?? 1;
        if (maxBatch is < 1 or > 4096) throw new CatalogException(CatalogError.Invalid, $"{FileName}: max_batch_size must be between 1 and 4096");
        if (batchDim == "none" && maxBatch > 1) throw new CatalogException(CatalogError.Invalid, $"{FileName}: max_batch_size > 1 needs batch_dimension 0");
        var delay = dto.MaxQueueDelayMs ?? 0;
        if (delay is < 0 or > 10_000 || double.IsNaN(delay)) throw new CatalogException(CatalogError.Invalid, $"{FileName}: max_queue_delay_ms must be between 0 and 10000");
        var instances = dto.ModelInstances ?? 2;
        if (instances is < 1 or > 64) throw new CatalogException(CatalogError.Invalid, $"{FileName}: model_instances must be between 1 and 64");
        var device = (dto.Device ?? "auto").Trim().ToLowerInvariant();
        if (device is not ("auto" or "cpu" or "gpu")) throw new CatalogException(CatalogError.Invalid, $"{FileName}: device must be auto, cpu or gpu, not '{dto.Device}'");
        var threads = dto.IntraOpThreads ?? 0;
        if (threads is < 0 or > 256) throw new CatalogException(CatalogError.Invalid, $"{FileName}: intra_op_threads must be between 0 (automatic) and 256");
        var opt = (dto.GraphOptimization ?? "all").Trim().ToLowerInvariant();
        if (opt is not ("none" or "basic" or "extended" or "all"))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: graph_optimization must be none, basic, extended or all, not '{dto.GraphOptimization}'");
        return new ModelSpec { MaxBatchSize = maxBatch, MaxQueueDelayMs = delay, Instances = instances, Device = device, IntraOpThreads = threads, GraphOptimization = opt };
    }

    /// <summary>A file inside the code: relative, no '..', no backslashes.</summary>
    private static string RelativeFile(string path, string what)
    {
        var p = path.Trim();
        if (p.Length == 0 || p.StartsWith('/') || p.Contains('\\') || p.Split('/').Any(s => s is "" or "." or ".."))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: {what} '{path}' must be a relative path inside the code");
        return p;
    }

    /// <summary>Sanity ceilings of a declared resource request, whatever the node (the node's own size is checked at upload).</summary>
    public const double MaxCpu = 1024;
    public const int MaxMemoryMb = 4 * 1024 * 1024;
    public const int MaxGpuMemoryMb = 1024 * 1024;

    private static string Show(double d) => d.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Refuses a resource request no instance on this node could ever get: more CPU cores, memory or GPU memory than the node
    /// offers (OSForAI:Workers:Node; zero there means the machine's cores, 80% of its memory, and no GPU accounting).
    /// </summary>
    public static void RequireFits(ResourceRequest request, NodeCapacityOptions node)
    {
        var cpu = node.CpuCores > 0 ? node.CpuCores : Environment.ProcessorCount;
        var memory = node.MemoryMb > 0 ? node.MemoryMb : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8 / 1048576.0;
        if (request.Cpu > cpu)
            throw new CatalogException(CatalogError.Invalid,
                $"{FileName}: resources.cpu is {Show(request.Cpu)} but this node offers {Show(cpu)} cores (OSForAI:Workers:Node:CpuCores); no instance could ever start");
        if (request.MemoryMb > memory)
            throw new CatalogException(CatalogError.Invalid,
                $"{FileName}: resources.memory_mb is {request.MemoryMb} but this node offers {memory:0} MB (OSForAI:Workers:Node:MemoryMb); no instance could ever start");
        if (node.GpuMemoryMb > 0 && request.GpuMemoryMb > node.GpuMemoryMb)
            throw new CatalogException(CatalogError.Invalid,
                $"{FileName}: resources.gpu_memory_mb is {request.GpuMemoryMb} but this node offers {Show(node.GpuMemoryMb)} MB of GPU memory (OSForAI:Workers:Node:GpuMemoryMb); no instance could ever start");
    }

    public static Visibility ParseVisibility(string text) => text.Trim().ToLowerInvariant() switch
    {
        "public" => Visibility.Public,
        "private" => Visibility.Private,
        _ => throw new CatalogException(CatalogError.Invalid, $"visibility must be 'public' or 'private', not '{text}'"),
    };

    private static bool IsValidPythonEntrypoint(string entry)
    {
        var parts = entry.Split(':');
        if (parts.Length > 2) return false;
        return parts.All(p => p.Length > 0 && p.Split('.').All(IsIdentifier));
        static bool IsIdentifier(string s) =>
            s.Length > 0 && (char.IsLetter(s[0]) || s[0] == '_') && s.All(c => char.IsLetterOrDigit(c) || c == '_');
    }
}
