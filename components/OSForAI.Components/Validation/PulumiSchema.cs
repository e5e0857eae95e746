using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json;

namespace OSForAI.Components.Validation;

/// <summary>
/// The provider mini-schemas of a folder (shared/pulumi-schema: one <c>&lt;package&gt;.json</c> or
/// <c>&lt;package&gt;.json.gz</c> per package). A package is read the first time one of its tokens is looked up, and
/// kept for the life of the process (per folder), so many validations pay for each file once.
/// </summary>
public sealed class PulumiSchema
{
    public const string ProviderPrefix = "pulumi:providers:";

    private static readonly ConcurrentDictionary<string, PulumiSchema> Cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<PackageSchema?>> _packages = new(StringComparer.Ordinal);

    private PulumiSchema(string folder)
    {
        Folder = folder;
        AvailablePackages = Directory.EnumerateFiles(folder)
            .Select(Path.GetFileName)
            .Select(f => f!.EndsWith(".json.gz", StringComparison.Ordinal) ? f[..^8] : f.EndsWith(".json", StringComparison.Ordinal) ? f[..^5] : null)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The schemas of <paramref name="folder"/>; the same instance (and already-read packages) for the same folder.</summary>
    public static PulumiSchema Load(string folder)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"no Pulumi schema folder at {full}");
        return Cache.GetOrAdd(full, f => new PulumiSchema(f));
    }

    public string Folder { get; }
    /// <summary>Package names with a schema file in the folder (aws, azure-native, gcp, kubernetes, …).</summary>
    public IReadOnlyList<string> AvailablePackages { get; }

    /// <summary>A package's schema (read on first use), or null when the folder has no file for it.</summary>
    public PackageSchema? Package(string name) =>
        _packages.GetOrAdd(name, n => new Lazy<PackageSchema?>(() => ReadPackage(n), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    /// <summary>The package a token belongs to: its first segment, or the third for <c>pulumi:providers:&lt;pkg&gt;</c>.</summary>
    public static string PackageOf(string token) =>
        token.StartsWith(ProviderPrefix, StringComparison.Ordinal) ? token[ProviderPrefix.Length..] : token.Split(':')[0];

    /// <summary>
    /// The spellings a token may have in the schema, most literal first: the token itself; <c>pkg:Type</c> as
    /// <c>pkg:index:Type</c>; and the YAML short form <c>pkg:module:Type</c> as <c>pkg:module/type:Type</c>
    /// (the type name with its first letter lower-cased, as the SDKs name their files).
    /// </summary>
    public static IEnumerable<string> Spellings(string token)
    {
        yield return token;
        if (token.StartsWith(ProviderPrefix, StringComparison.Ordinal)) yield break;
        var parts = token.Split(':');
        if (parts.Length == 2) parts = [parts[0], "index", parts[1]];
        else if (parts.Length != 3) yield break;
        var (pkg, module, name) = (parts[0], parts[1], parts[2]);
        if (name.Length == 0) yield break;
        var threePart = $"{pkg}:{module}:{name}";
        if (threePart != token) yield return threePart;
        if (!module.Contains('/')) yield return $"{pkg}:{module}/{char.ToLowerInvariant(name[0])}{name[1..]}:{name}";
    }

    /// <summary>The canonical token of a resource (short forms normalised), or null when the schema has no such resource.</summary>
    public string? CanonicalResourceToken(string token) => FindResource(token)?.Token;

    public ResourceSchema? FindResource(string token)
    {
        var pkg = Package(PackageOf(token));
        if (pkg is null) return null;
        foreach (var t in Spellings(token))
            if (pkg.Resources.TryGetValue(t, out var r)) return r;
        return null;
    }

    public FunctionSchema? FindFunction(string token)
    {
        var pkg = Package(PackageOf(token));
        if (pkg is null) return null;
        foreach (var t in Spellings(token))
            if (pkg.Functions.TryGetValue(t, out var f)) return f;
        return null;
    }

    private PackageSchema? ReadPackage(string name)
    {
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains("..", StringComparison.Ordinal)) return null;
        var gz = Path.Combine(Folder, name + ".json.gz");
        var plain = Path.Combine(Folder, name + ".json");
        byte[] bytes;
        if (File.Exists(gz))
        {
            using var file = File.OpenRead(gz);
            using var unzip = new GZipStream(file, CompressionMode.Decompress);
            using var buffer = new MemoryStream();
            unzip.CopyTo(buffer);
            bytes = buffer.ToArray();
        }
        else if (File.Exists(plain)) bytes = File.ReadAllBytes(plain);
        else return null;
        using var doc = JsonDocument.Parse(bytes);
        return new PackageSchema(doc.RootElement, name);
    }
}

/// <summary>One package's resources, functions and object types, read from its mini-schema document.</summary>
public sealed class PackageSchema
{
    private readonly Dictionary<string, IReadOnlyDictionary<string, SchemaProperty>> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SchemaType> _objectRefs = new(StringComparer.Ordinal);

    internal PackageSchema(JsonElement root, string fallbackName)
    {
        Name = root.TryGetProperty("package", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : fallbackName;
        Version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

        if (root.TryGetProperty("types", out var types))
            foreach (var t in types.EnumerateObject())
            {
                var props = Properties(t.Value);
                foreach (var (property, values) in SchemaSupplements.EnumsFor(Name, t.Name))
                    if (props.TryGetValue(property, out var prop))
                        props[property] = prop with { Type = SchemaType.EnumOf(values) };
                _types[t.Name] = props;
            }

        var resources = new Dictionary<string, ResourceSchema>(StringComparer.Ordinal);
        if (root.TryGetProperty("resources", out var rs))
            foreach (var r in rs.EnumerateObject())
            {
                var isComponent = Flag(r.Value, "component");
                var outputs = Outputs(r.Value);
                // The README says id (custom resources) and urn are always in the outputs; make sure of it.
                outputs.TryAdd("urn", SchemaType.String);
                if (!isComponent) outputs.TryAdd("id", SchemaType.String);
                resources[r.Name] = new ResourceSchema(r.Name, this, InputsOf(r.Value), outputs, isComponent, Flag(r.Value, "overlay"));
            }
        Resources = resources;

        var functions = new Dictionary<string, FunctionSchema>(StringComparer.Ordinal);
        if (root.TryGetProperty("functions", out var fs))
            foreach (var f in fs.EnumerateObject())
                functions[f.Name] = new FunctionSchema(f.Name, this, InputsOf(f.Value), Outputs(f.Value),
                    f.Value.TryGetProperty("returns", out var ret) ? Type(ret) : null);
        Functions = functions;
    }

    public string Name { get; }
    public string Version { get; }
    public IReadOnlyDictionary<string, ResourceSchema> Resources { get; }
    public IReadOnlyDictionary<string, FunctionSchema> Functions { get; }
    public IEnumerable<string> TypeNames => _types.Keys;

    /// <summary>An object type's properties by its name in this package (e.g. <c>inputs.eks.NodeGroupTaint</c>), or null.</summary>
    public IReadOnlyDictionary<string, SchemaProperty>? FindType(string name) => _types.GetValueOrDefault(name);

    public override string ToString() => $"{Name}@{Version}";

    private static bool Flag(JsonElement e, string name) => e.TryGetProperty(name, out var f) && f.ValueKind == JsonValueKind.True;

    private IReadOnlyDictionary<string, SchemaProperty> InputsOf(JsonElement e) =>
        e.TryGetProperty("inputs", out var inputs) ? Properties(inputs) : new Dictionary<string, SchemaProperty>();

    private Dictionary<string, SchemaProperty> Properties(JsonElement e)
    {
        var props = new Dictionary<string, SchemaProperty>(StringComparer.Ordinal);
        if (e.ValueKind != JsonValueKind.Object) return props;
        foreach (var p in e.EnumerateObject())
            props[p.Name] = new SchemaProperty(p.Name,
                p.Value.TryGetProperty("type", out var t) ? Type(t) : SchemaType.Any,
                Flag(p.Value, "required"), Flag(p.Value, "plain"));
        return props;
    }

    private Dictionary<string, SchemaType> Outputs(JsonElement e)
    {
        var outputs = new Dictionary<string, SchemaType>(StringComparer.Ordinal);
        if (e.TryGetProperty("outputs", out var o) && o.ValueKind == JsonValueKind.Object)
            foreach (var p in o.EnumerateObject()) outputs[p.Name] = Type(p.Value);
        return outputs;
    }

    private SchemaType Type(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("kind", out var k)) return SchemaType.Any;
        SchemaType Child(string name) => e.TryGetProperty(name, out var c) ? Type(c) : SchemaType.Any;
        switch (k.GetString())
        {
            case "string": return SchemaType.String;
            case "number": return SchemaType.Number;
            case "boolean": return SchemaType.Boolean;
            case "asset": return SchemaType.Asset;
            case "archive": return SchemaType.Archive;
            case "array": return SchemaType.ArrayOf(Child("items"));
            case "map": return SchemaType.MapOf(Child("values"));
            case "object":
                if (!e.TryGetProperty("ref", out var r) || r.GetString() is not { } name) return SchemaType.MapOf(SchemaType.Any);
                if (!_objectRefs.TryGetValue(name, out var obj)) _objectRefs[name] = obj = SchemaType.ObjectRef(name, this);
                return obj;
            case "enum":
                var values = new List<object>();
                if (e.TryGetProperty("values", out var vs))
                    foreach (var v in vs.EnumerateArray())
                        switch (v.ValueKind)
                        {
                            case JsonValueKind.String: values.Add(v.GetString()!); break;
                            case JsonValueKind.Number: values.Add(v.GetDouble()); break;
                            case JsonValueKind.True: values.Add(true); break;
                            case JsonValueKind.False: values.Add(false); break;
                        }
                return SchemaType.EnumOf(values);
            case "union":
                return e.TryGetProperty("of", out var of) ? SchemaType.UnionOf(of.EnumerateArray().Select(Type).ToList()) : SchemaType.Any;
            case "resource":
                return SchemaType.ResourceOf(e.TryGetProperty("token", out var token) ? token.GetString() : null);
            default: return SchemaType.Any; // "any", and kinds this reader does not know
        }
    }
}
