using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

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

    /// <summary>Whether a python3 algorithm also sees the host's own site-packages (Debian's python3-numpy and the like).</summary>
    public bool SystemPackages { get; init; }

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
        public bool? SystemPackages { get; set; }
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

    /// <summary>Parses and validates a manifest; throws <see cref="CatalogException"/> with a clear message.</summary>
    public static AlgorithmManifest Parse(string yaml)
    {
        var (dto, given) = ManifestReader.Read(yaml);

        var runtime = string.IsNullOrWhiteSpace(dto.Runtime) ? null : dto.Runtime.Trim();
        if (runtime is null) throw new CatalogException(CatalogError.Invalid, $"{FileName} must name a runtime (e.g. 'runtime: python3')");
        if (!KnownRuntimes.Contains(runtime))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: unknown runtime '{runtime}' (known: {string.Join(", ", KnownRuntimes)})");
        ManifestReader.RequireKeysFit(given, runtime);
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
        if (concurrency is < 1 or > 1024) throw new CatalogException(CatalogError.Invalid, $"{FileName}: concurrency must be between 1 and 1024, not {concurrency}");
        var timeout = dto.Timeout ?? 300;
        if (timeout is < 1 or > 3000) throw new CatalogException(CatalogError.Invalid, $"{FileName}: timeout must be between 1 and 3000 seconds, not {timeout}");
        var res = new ResourceRequest(dto.Resources?.Cpu ?? 1, dto.Resources?.MemoryMb ?? 512, dto.Resources?.GpuMemoryMb ?? 0);
        if (!double.IsFinite(res.Cpu) || res.Cpu <= 0 || res.Cpu > MaxCpu)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.cpu must be a number above 0 and at most {MaxCpu}, not {Show(res.Cpu)}");
        if (res.MemoryMb is <= 0 or > MaxMemoryMb)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.memory_mb must be between 1 and {MaxMemoryMb}, not {res.MemoryMb}");
        if (res.GpuMemoryMb is < 0 or > MaxGpuMemoryMb)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources.gpu_memory_mb must be between 0 and {MaxGpuMemoryMb}, not {res.GpuMemoryMb}");
        Visibility visibility;
        try { visibility = ParseVisibility(dto.Visibility ?? "public"); }
        catch (CatalogException e) { throw new CatalogException(CatalogError.Invalid, $"{FileName}: {e.Message}"); }
        return new AlgorithmManifest
        {
            Runtime = runtime,
            Entrypoint = entry,
            Description = dto.Description ?? "",
            Concurrency = concurrency,
            TimeoutSeconds = timeout,
            Resources = res,
            Network = dto.Network ?? false,
            Visibility = visibility,
            Tags = dto.Tags ?? [],
            SampleInput = dto.SampleInput,
            SampleOutput = dto.SampleOutput,
            Model = model,
            LabelsFile = dto.Labels is null ? null : RelativeFile(dto.Labels, "labels"),
            SystemPackages = dto.SystemPackages ?? false,
        };
    }

    /// <summary>
    /// Reads algorithm.yaml strictly: every key must be one the manifest knows (an unknown one is an error that suggests the
    /// nearest known key, or says where the key belongs), no key twice, and every value of its key's type, the key named in
    /// the error. The YAML is walked as nodes rather than bound by a serializer, so each error can say which key and line.
    /// </summary>
    private static class ManifestReader
    {
        private enum Kind { Text, Integer, Number, Boolean, TextList, Mapping }

        private sealed record Key(string Name, Kind Kind, string? Runtime = null);

        private static readonly Key[] TopKeys =
        [
            new("runtime", Kind.Text), new("entrypoint", Kind.Text), new("description", Kind.Text), new("concurrency", Kind.Integer),
            new("timeout", Kind.Integer), new("resources", Kind.Mapping), new("network", Kind.Boolean), new("visibility", Kind.Text),
            new("tags", Kind.TextList), new("sample_input", Kind.Text), new("sample_output", Kind.Text),
            new("system_packages", Kind.Boolean, "python3"),
            new("model", Kind.Text, "onnx"), new("labels", Kind.Text, "onnx"), new("batch_dimension", Kind.Text, "onnx"),
            new("max_batch_size", Kind.Integer, "onnx"), new("max_queue_delay_ms", Kind.Number, "onnx"),
            new("model_instances", Kind.Integer, "onnx"), new("device", Kind.Text, "onnx"), new("intra_op_threads", Kind.Integer, "onnx"),
            new("graph_optimization", Kind.Text, "onnx"),
        ];

        private static readonly Key[] ResourceKeys = [new("cpu", Kind.Number), new("memory_mb", Kind.Integer), new("gpu_memory_mb", Kind.Integer)];

        /// <summary>The manifest's values, and the top-level keys it gave (for <see cref="RequireKeysFit"/>).</summary>
        public static (Dto Values, HashSet<string> Given) Read(string yaml)
        {
            var stream = new YamlStream();
            try { stream.Load(new StringReader(yaml)); }
            catch (YamlException e) { throw new CatalogException(CatalogError.Invalid, $"{FileName} is not valid YAML: {e.Message}"); }
            var dto = new Dto();
            var given = new HashSet<string>(StringComparer.Ordinal);
            if (stream.Documents.Count == 0 || IsNull(stream.Documents[0].RootNode)) return (dto, given);
            if (stream.Documents.Count > 1) throw Invalid($"{FileName} must hold one YAML document, not {stream.Documents.Count}");
            if (stream.Documents[0].RootNode is not YamlMappingNode root)
                throw Invalid($"{FileName} must be a mapping of keys to values (e.g. 'runtime: python3'), not {Describe(stream.Documents[0].RootNode)}");
            var errors = new List<string>();
            foreach (var (name, value) in Entries(root, TopKeys, ResourceKeys, "", errors))
            {
                given.Add(name);
                switch (name)
                {
                    case "runtime": dto.Runtime = Text(name, value); break;
                    case "entrypoint": dto.Entrypoint = Text(name, value); break;
                    case "description": dto.Description = Text(name, value); break;
                    case "concurrency": dto.Concurrency = Integer(name, value); break;
                    case "timeout": dto.Timeout = Integer(name, value); break;
                    case "network": dto.Network = Boolean(name, value); break;
                    case "visibility": dto.Visibility = Text(name, value); break;
                    case "tags": dto.Tags = TextList(name, value); break;
                    case "sample_input": dto.SampleInput = Text(name, value); break;
                    case "sample_output": dto.SampleOutput = Text(name, value); break;
                    case "system_packages": dto.SystemPackages = Boolean(name, value); break;
                    case "model": dto.Model = Text(name, value); break;
                    case "labels": dto.Labels = Text(name, value); break;
                    case "batch_dimension": dto.BatchDimension = Text(name, value); break;
                    case "max_batch_size": dto.MaxBatchSize = Integer(name, value); break;
                    case "max_queue_delay_ms": dto.MaxQueueDelayMs = Number(name, value); break;
                    case "model_instances": dto.ModelInstances = Integer(name, value); break;
                    case "device": dto.Device = Text(name, value); break;
                    case "intra_op_threads": dto.IntraOpThreads = Integer(name, value); break;
                    case "graph_optimization": dto.GraphOptimization = Text(name, value); break;
                    case "resources":
                        if (IsNull(value)) break;
                        if (value is not YamlMappingNode map)
                            throw Invalid($"{FileName}: resources must be a mapping (e.g. 'resources:' then '  memory_mb: 512' on the next line), not {Describe(value)}");
                        var r = new ResourcesDto();
                        foreach (var (sub, v) in Entries(map, ResourceKeys, TopKeys, "resources.", errors))
                        {
                            var full = "resources." + sub;
                            switch (sub)
                            {
                                case "cpu": r.Cpu = Number(full, v); break;
                                case "memory_mb": r.MemoryMb = Integer(full, v); break;
                                case "gpu_memory_mb": r.GpuMemoryMb = Integer(full, v); break;
                            }
                        }
                        dto.Resources = r;
                        break;
                }
            }
            if (errors.Count > 0) throw Invalid(string.Join("; ", errors));
            return (dto, given);
        }

        /// <summary>Refuses keys of another runtime (max_batch_size on a python3 algorithm), which it would never use.</summary>
        public static void RequireKeysFit(HashSet<string> given, string runtime)
        {
            var wrong = TopKeys.Where(k => k.Runtime is { } r && r != runtime && given.Contains(k.Name)).ToList();
            if (wrong.Count > 0)
                throw Invalid(string.Join("; ", wrong.Select(k => $"{FileName}: `{k.Name}` applies to runtime {k.Runtime} only, and this algorithm's runtime is {runtime}")));
        }

        /// <summary>The known entries of <paramref name="map"/>; unknown and repeated keys go to <paramref name="errors"/>.</summary>
        private static IEnumerable<(string Name, YamlNode Value)> Entries(
            YamlMappingNode map, Key[] known, Key[] otherLevel, string prefix, List<string> errors)
        {
            // (A key given twice is refused by the YAML parser already: "Duplicate key".)
            foreach (var (k, v) in map.Children)
            {
                if (k is not YamlScalarNode { Value: { } name })
                {
                    errors.Add($"{FileName}: keys must be plain words, not {Describe(k)} (line {k.Start.Line})");
                    continue;
                }
                if (!known.Any(x => x.Name == name))
                {
                    errors.Add(Unknown(name, prefix, known, otherLevel, k.Start.Line));
                    continue;
                }
                yield return (name, v);
            }
        }

        private static string Unknown(string name, string prefix, Key[] known, Key[] otherLevel, long line)
        {
            var where = $"{FileName}: unknown key `{prefix}{name}` (line {line})";
            var normalized = name.Trim().Replace('-', '_').ToLowerInvariant();
            if (known.FirstOrDefault(k => k.Name == normalized) is { } exact) return $"{where}: did you mean `{prefix}{exact.Name}`?";
            if (otherLevel.Any(k => k.Name == normalized))
                return prefix.Length == 0
                    ? $"{where}: `{normalized}` belongs under `resources:`"
                    : $"{where}: `{normalized}` is a top-level key, not one under `resources:`";
            var best = known.Select(k => (k.Name, Distance: EditDistance(normalized, k.Name))).OrderBy(x => x.Distance).First();
            if (best.Distance <= Math.Max(1, Math.Min(3, best.Name.Length / 3))) return $"{where}: did you mean `{prefix}{best.Name}`?";
            return $"{where}; the keys here are {string.Join(", ", known.Select(k => k.Name))}";
        }

        /// <summary>Levenshtein distance, with a swap of two neighbouring letters counted as one edit (optimal string alignment).</summary>
        internal static int EditDistance(string a, string b)
        {
            var d = new int[a.Length + 1, b.Length + 1];
            for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
            for (var j = 0; j <= b.Length; j++) d[0, j] = j;
            for (var i = 1; i <= a.Length; i++)
                for (var j = 1; j <= b.Length; j++)
                {
                    var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                    if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            return d[a.Length, b.Length];
        }

        private static bool IsNull(YamlNode node) =>
            node is YamlScalarNode s && s.Style == ScalarStyle.Plain
            && (s.Value is null or "" or "~" or "null" or "Null" or "NULL");

        private static string Describe(YamlNode node) => node switch
        {
            YamlMappingNode => "a mapping",
            YamlSequenceNode => "a list",
            YamlScalarNode s => $"'{s.Value}'",
            _ => "that",
        };

        private static string? Text(string key, YamlNode node)
        {
            if (IsNull(node)) return null;
            if (node is YamlScalarNode s) return s.Value;
            throw Invalid($"{FileName}: `{key}` must be text, not {Describe(node)} (line {node.Start.Line}){(key.StartsWith("sample_", StringComparison.Ordinal) ? "; quote JSON samples: sample_input: '{\"x\": 1}'" : "")}");
        }

        private static int? Integer(string key, YamlNode node)
        {
            var text = Text(key, node);
            if (text is null) return null;
            if (int.TryParse(text.Trim(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)) return n;
            throw Invalid($"{FileName}: `{key}` must be a whole number, not '{text}' (line {node.Start.Line})");
        }

        private static double? Number(string key, YamlNode node)
        {
            var text = Text(key, node);
            if (text is null) return null;
            if (double.TryParse(text.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n) && double.IsFinite(n)) return n;
            throw Invalid($"{FileName}: `{key}` must be a number, not '{text}' (line {node.Start.Line})");
        }

        private static bool? Boolean(string key, YamlNode node)
        {
            var text = Text(key, node);
            if (text is null) return null;
            return text.Trim().ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                _ => throw Invalid($"{FileName}: `{key}` must be true or false, not '{text}' (line {node.Start.Line})"),
            };
        }

        private static List<string>? TextList(string key, YamlNode node)
        {
            if (IsNull(node)) return null;
            if (node is not YamlSequenceNode seq)
                throw Invalid($"{FileName}: `{key}` must be a list (e.g. [vision, demo]), not {Describe(node)} (line {node.Start.Line})");
            return seq.Children.Select(c => c is YamlScalarNode { Value: { } v } ? v
                : throw Invalid($"{FileName}: every item of `{key}` must be text, not {Describe(c)} (line {c.Start.Line})")).ToList();
        }

        private static CatalogException Invalid(string message) => new(CatalogError.Invalid, message);
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
