using System.IO.Compression;
using System.Text.Json.Nodes;
using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Stacks;

/// <summary>
/// Cuts the provider mini-schemas (shared/pulumi-schema) down to what some programs use: every resource and function
/// of the modules they use (aws:eks, kubernetes:apps, …; so a resource that only some option adds is there too), with
/// every object type and resource their definitions refer to, copied unchanged and in the source order. <see cref="PulumiSchema.Load"/> reads the result like the full folder, so the repository's own CI can
/// validate the stacks' programs without the 4 MB of shared data.
/// </summary>
public static class SchemaTrimmer
{
    /// <summary>The compact JSON text of each package the programs use, by package name.</summary>
    public static SortedDictionary<string, string> Trim(string schemaFolder, IEnumerable<PulumiProgram> programs)
    {
        var schema = PulumiSchema.Load(schemaFolder);
        var resources = new HashSet<string>(StringComparer.Ordinal);
        var functions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var program in programs)
        {
            foreach (var r in program.Resources)
                resources.Add(schema.FindResource(r.Type)?.Token ?? throw Unknown("resource type", r.Type));
            var doc = new YamlStream();
            doc.Load(new StringReader(program.ToYaml()));
            foreach (var token in InvokedFunctions(doc.Documents[0].RootNode))
                functions.Add(schema.FindFunction(token)?.Token ?? throw Unknown("function", token));
        }

        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var package in resources.Concat(functions).Select(PulumiSchema.PackageOf).Distinct(StringComparer.Ordinal))
            result[package] = TrimPackage(ReadPackage(schemaFolder, package), resources, functions).ToJsonString();
        return result;
    }

    /// <summary>Writes <see cref="Trim"/>'s packages as gzipped <c>&lt;package&gt;.json.gz</c> files into <paramref name="outputFolder"/>.</summary>
    public static IReadOnlyList<string> Write(string schemaFolder, IEnumerable<PulumiProgram> programs, string outputFolder)
    {
        Directory.CreateDirectory(outputFolder);
        var written = new List<string>();
        foreach (var (package, json) in Trim(schemaFolder, programs))
        {
            var file = Path.Combine(outputFolder, package + ".json.gz");
            using (var stream = File.Create(file))
            using (var zip = new GZipStream(stream, CompressionLevel.SmallestSize))
                zip.Write(System.Text.Encoding.UTF8.GetBytes(json));
            written.Add(file);
        }
        return written;
    }

    private static InvalidOperationException Unknown(string what, string token) =>
        new($"the schema folder has no {what} '{token}'; validate the program first");

    /// <summary>The function tokens of a program's YAML: <c>fn::invoke</c>'s <c>function</c>, and the shorthand <c>fn::&lt;token&gt;</c>.</summary>
    private static IEnumerable<string> InvokedFunctions(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    var name = ((YamlScalarNode)key).Value!;
                    if (name == "fn::invoke" && value is YamlMappingNode invoke &&
                        invoke.Children.TryGetValue(new YamlScalarNode("function"), out var function))
                        yield return ((YamlScalarNode)function).Value!;
                    else if (name.StartsWith("fn::", StringComparison.Ordinal) && name.IndexOf(':', 4) > 0)
                        yield return name[4..];
                    foreach (var token in InvokedFunctions(value)) yield return token;
                }
                break;
            case YamlSequenceNode list:
                foreach (var item in list.Children)
                    foreach (var token in InvokedFunctions(item)) yield return token;
                break;
        }
    }

    private static JsonObject ReadPackage(string folder, string package)
    {
        var gz = Path.Combine(folder, package + ".json.gz");
        if (!File.Exists(gz)) return (JsonObject)JsonNode.Parse(File.ReadAllBytes(Path.Combine(folder, package + ".json")))!;
        using var file = File.OpenRead(gz);
        using var unzip = new GZipStream(file, CompressionMode.Decompress);
        return (JsonObject)JsonNode.Parse(unzip)!;
    }

    /// <summary>The package with only the used resources and functions, those their types refer to, and those types.</summary>
    private static JsonObject TrimPackage(JsonObject source, IReadOnlySet<string> usedResources, IReadOnlySet<string> usedFunctions)
    {
        var sourceResources = source["resources"] as JsonObject ?? [];
        var sourceFunctions = source["functions"] as JsonObject ?? [];
        var sourceTypes = source["types"] as JsonObject ?? [];
        // Whole modules, so that a resource a stack creates only with some option set (not in any stack file) is there too.
        var modules = usedResources.Concat(usedFunctions).Select(Module).ToHashSet(StringComparer.Ordinal);
        var resources = sourceResources.Select(kv => kv.Key).Where(t => modules.Contains(Module(t))).ToHashSet(StringComparer.Ordinal);
        var functionsKept = sourceFunctions.Select(kv => kv.Key).Where(t => modules.Contains(Module(t))).ToHashSet(StringComparer.Ordinal);
        var types = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<JsonNode?>();
        foreach (var token in resources) pending.Push(sourceResources[token]);
        foreach (var token in functionsKept) pending.Push(sourceFunctions[token]);

        // Everything a definition can refer to: object types by "ref", resources by a resource typeref's "token".
        while (pending.TryPop(out var node))
        {
            switch (node)
            {
                case JsonObject obj:
                    var kind = Text(obj, "kind");
                    if (kind == "object" && Text(obj, "ref") is { } name && sourceTypes.ContainsKey(name) && types.Add(name))
                        pending.Push(sourceTypes[name]);
                    if (kind == "resource" && Text(obj, "token") is { } token && sourceResources.ContainsKey(token) && resources.Add(token))
                        pending.Push(sourceResources[token]);
                    foreach (var (_, child) in obj) pending.Push(child);
                    break;
                case JsonArray array:
                    foreach (var child in array) pending.Push(child);
                    break;
            }
        }

        // A token's package and module: "aws:eks" of aws:eks/nodeGroup:NodeGroup, "kubernetes:apps" of kubernetes:apps/v1:Deployment.
        static string Module(string token) => token.StartsWith(PulumiSchema.ProviderPrefix, StringComparison.Ordinal)
            ? token : string.Join(':', token.Split(':')[..2]).Split('/')[0];
        // A typeref's string member; a property of that name (a Kubernetes type's "kind") is an object instead.
        static string? Text(JsonObject obj, string key) => obj[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        static JsonObject Pick(JsonObject from, IReadOnlySet<string> keys) =>
            new(from.Where(kv => keys.Contains(kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
        var trimmed = new JsonObject();
        foreach (var (key, value) in source)
            if (key is not ("resources" or "functions" or "types")) trimmed[key] = value?.DeepClone();
        trimmed["resources"] = Pick(sourceResources, resources);
        trimmed["functions"] = Pick(sourceFunctions, functionsKept);
        trimmed["types"] = Pick(sourceTypes, types);
        return trimmed;
    }
}
