using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace OSForAI.Runtime.Catalog;

/// <summary>The algorithm.yaml that travels with the code.</summary>
public sealed record AlgorithmManifest
{
    public const string FileName = "algorithm.yaml";
    public static readonly IReadOnlySet<string> KnownRuntimes = new HashSet<string> { "python3" };

    public string Runtime { get; init; } = "python3";
    public string Entrypoint { get; init; } = "main:apply";
    public string Description { get; init; } = "";
    public int Concurrency { get; init; } = 1;
    [JsonPropertyName("timeout")] public int TimeoutSeconds { get; init; } = 300;
    public ResourceRequest Resources { get; init; } = new();
    public Visibility Visibility { get; init; } = Visibility.Public;
    public IReadOnlyList<string> Tags { get; init; } = [];
    public string? SampleInput { get; init; }
    public string? SampleOutput { get; init; }

    private sealed class Dto
    {
        public string? Runtime { get; set; }
        public string? Entrypoint { get; set; }
        public string? Description { get; set; }
        public int? Concurrency { get; set; }
        public int? Timeout { get; set; }
        public ResourcesDto? Resources { get; set; }
        public string? Visibility { get; set; }
        public List<string>? Tags { get; set; }
        public string? SampleInput { get; set; }
        public string? SampleOutput { get; set; }
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
        var entry = string.IsNullOrWhiteSpace(dto.Entrypoint) ? "main:apply" : dto.Entrypoint.Trim();
        if (!IsValidPythonEntrypoint(entry))
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: entrypoint '{entry}' must look like 'module:function'");
        var concurrency = dto.Concurrency ?? 1;
        if (concurrency is < 1 or > 256) throw new CatalogException(CatalogError.Invalid, $"{FileName}: concurrency must be between 1 and 256");
        var timeout = dto.Timeout ?? 300;
        if (timeout is < 1 or > 3000) throw new CatalogException(CatalogError.Invalid, $"{FileName}: timeout must be between 1 and 3000 seconds");
        var res = new ResourceRequest(dto.Resources?.Cpu ?? 1, dto.Resources?.MemoryMb ?? 512, dto.Resources?.GpuMemoryMb ?? 0);
        if (res.Cpu <= 0 || res.MemoryMb <= 0 || res.GpuMemoryMb < 0)
            throw new CatalogException(CatalogError.Invalid, $"{FileName}: resources must be positive");
        return new AlgorithmManifest
        {
            Runtime = runtime,
            Entrypoint = entry,
            Description = dto.Description ?? "",
            Concurrency = concurrency,
            TimeoutSeconds = timeout,
            Resources = res,
            Visibility = ParseVisibility(dto.Visibility ?? "public"),
            Tags = dto.Tags ?? [],
            SampleInput = dto.SampleInput,
            SampleOutput = dto.SampleOutput,
        };
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
