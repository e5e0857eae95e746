using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using OSForAI.Stacks;
using OSForAI.Testing;
using OSForAI.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Tests.Infrastructure;

/// <summary>What every stack's tests share: running the CLI in-process, reading its YAML, golden files, broken copies of a project.</summary>
internal static class StackHarness
{
    public static string RepoRoot => Repository.Root;

    public sealed record Result(int Code, string Out, string Err);

    /// <summary>Runs <see cref="StacksCli.Run"/> as Pulumi would, with PULUMI_STACK set to <paramref name="pulumiStack"/> (or unset).</summary>
    public static Result Run(string[] args, string? pulumiStack = null, string? currentDirectory = null)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = StacksCli.Run(args, stdout, stderr, name => name == "PULUMI_STACK" ? pulumiStack : null, currentDirectory ?? RepoRoot);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Synthesizes a program that must succeed silently, and parses it.</summary>
    public static YamlMappingNode Synth(string cloud, string stack, string projectDir)
    {
        var r = Run(["synth", cloud, "--stack", stack, "--project-dir", projectDir]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("", r.Err);
        var doc = new YamlStream();
        doc.Load(new StringReader(r.Out));
        return (YamlMappingNode)doc.Documents[0].RootNode;
    }

    public static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node)[key];
    public static string Text(YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;

    public static IEnumerable<(string Name, YamlMappingNode Node)> Resources(YamlMappingNode root, string type) =>
        Map(root, "resources").Children
            .Select(kv => (Name: ((YamlScalarNode)kv.Key).Value!, Node: (YamlMappingNode)kv.Value))
            .Where(r => Text(r.Node, "type") == type);

    /// <summary>
    /// Compares a synthesized program with Golden/<paramref name="name"/> byte for byte; with OSAI_UPDATE_GOLDEN=1 it
    /// rewrites the file instead (review the diff before committing it).
    /// </summary>
    public static void MatchesGolden(string name, string actual)
    {
        var file = Path.Combine(RepoRoot, "tests", "OSForAI.Tests", "Infrastructure", "Golden", name);
        if (Environment.GetEnvironmentVariable("OSAI_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, actual);
        }
        Assert.True(File.Exists(file), $"{file} is missing; create it with OSAI_UPDATE_GOLDEN=1");
        Assert.True(File.ReadAllText(file) == actual,
            $"the synthesized dev program differs from {file}; if the change is intended, regenerate it with OSAI_UPDATE_GOLDEN=1 and review the diff");
    }

    /// <summary>The program must break none of the providers' schemas (<see cref="SharedData.StackSchemas"/>).</summary>
    public static void HasNoSchemaViolations(PulumiProgram program)
    {
        var violations = ProgramValidator.Validate(program, PulumiSchema.Load(SharedData.StackSchemas));
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    /// <summary>A copy of a stack project whose dev stack has keys changed (null: removed, nested lines included).</summary>
    public sealed class TempProject : IDisposable
    {
        public TempProject(string projectDir, string projectName, params (string Key, string? Value)[] changes)
        {
            Dir = Path.Combine(Path.GetTempPath(), "osforai-stack-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Dir);
            File.Copy(Path.Combine(projectDir, "Pulumi.yaml"), Path.Combine(Dir, "Pulumi.yaml"));
            var lines = File.ReadAllLines(Path.Combine(projectDir, "Pulumi.dev.yaml")).ToList();
            foreach (var (key, value) in changes)
            {
                var prefix = $"  {projectName}:{key}:";
                var i = lines.FindIndex(l => l.StartsWith(prefix, StringComparison.Ordinal));
                Assert.True(i >= 0, $"Pulumi.dev.yaml has no {key}");
                // Drop the entry's nested lines (a secure value, an object).
                while (i + 1 < lines.Count && lines[i + 1].StartsWith("    ", StringComparison.Ordinal)) lines.RemoveAt(i + 1);
                if (value is null) lines.RemoveAt(i);
                else lines[i] = $"{prefix} {value}";
            }
            File.WriteAllLines(Path.Combine(Dir, "Pulumi.dev.yaml"), lines);
        }

        public string Dir { get; }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }
}
