using OSForAI.Stacks;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The bring-your-own-cluster stack (root Pulumi.yaml, project "osforai") through the CLI entry point the compiler runs.
/// Golden/byo-dev.yaml is the exact dev program; regenerate deliberately with
/// <c>OSAI_UPDATE_GOLDEN=1 dotnet test tests/OSForAI.Tests --filter "FullyQualifiedName~ByoStackTests"</c>.
/// </summary>
public sealed class ByoStackTests
{
    private static readonly string RepoRoot = FindRepoRoot();
    private static readonly string GoldenFile = Path.Combine(RepoRoot, "tests", "OSForAI.Tests", "Infrastructure", "Golden", "byo-dev.yaml");

    private sealed record Result(int Code, string Out, string Err);

    private static Result Run(string[] args, string? currentDirectory = null)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = StacksCli.Run(args, stdout, stderr, _ => null, currentDirectory ?? RepoRoot);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    private static YamlMappingNode Synth(string? projectDir = null)
    {
        var r = Run(["synth", "byo", "--stack", "dev", "--project-dir", projectDir ?? RepoRoot]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("", r.Err);
        var doc = new YamlStream();
        doc.Load(new StringReader(r.Out));
        return (YamlMappingNode)doc.Documents[0].RootNode;
    }

    private static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node)[key];
    private static string Text(YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;
    private static IEnumerable<YamlMappingNode> Resources(YamlMappingNode root) => Map(root, "resources").Children.Values.Cast<YamlMappingNode>();

    [Fact]
    public void The_program_declares_the_parity_outputs_with_a_secret_kubeconfig()
    {
        var root = Synth();
        Assert.Equal("osforai", Text(root, "name"));
        Assert.Equal("yaml", Text(root, "runtime"));
        var outputs = Map(root, "outputs");
        Assert.Equal("http://${osforai-runtime-gateway-service.status.loadBalancer.ingress[0].hostname}", Text(outputs, "gatewayUrl"));
        Assert.Equal("${dataStore}", Text(outputs, "bucketUri"));
        Assert.Equal("${kubeconfig}", Text(Map(outputs, "kubeconfig"), "fn::secret"));
        var config = Map(root, "config");
        Assert.Equal("true", Text(Map(config, "kubeconfig"), "secret"));
        Assert.Equal("true", Text(Map(config, "dataStoreSettings"), "secret"));
    }

    [Fact]
    public void The_kubernetes_provider_uses_the_kubeconfig_key_and_there_are_no_cloud_resources()
    {
        var root = Synth();
        var providers = Resources(root).Where(r => Text(r, "type").StartsWith("pulumi:providers:", StringComparison.Ordinal)).ToList();
        var provider = Assert.Single(providers);
        Assert.Equal("pulumi:providers:kubernetes", Text(provider, "type"));
        Assert.Equal("${kubeconfig}", Text(Map(provider, "properties"), "kubeconfig"));
        Assert.All(Resources(root), r => Assert.Matches("^(kubernetes:|pulumi:providers:kubernetes$)", Text(r, "type")));
        Assert.DoesNotContain("fn::invoke", File.ReadAllText(GoldenFile));
    }

    [Fact]
    public void Connector_settings_reach_the_runtime_under_the_store_uris_scheme_and_label()
    {
        var r = Run(["synth", "byo", "--stack", "dev"]);
        Assert.Equal(0, r.Code);
        Assert.Contains("OSForAI__DataStore: ${dataStore}", r.Out);
        Assert.Contains("prefix: OSForAI__Data__${dataStoreScheme}__${dataStoreLabel}__", r.Out);
        Assert.Contains("fn::secret: ${dataStoreSettings}", r.Out);
        // No node selectors on someone else's cluster.
        Assert.DoesNotContain("osforai.dev/pool", r.Out);
    }

    [Fact]
    public void Synth_time_choices_come_from_the_stack_file()
    {
        using var project = new TempProject(("devicePlugin", "false"), ("loadBalancerAddress", "ip"));
        var root = Synth(project.Dir);
        Assert.DoesNotContain(Resources(root), r => Text(r, "type") == "kubernetes:helm.sh/v3:Release");
        Assert.EndsWith(".ip}", Text(Map(root, "outputs"), "gatewayUrl"));
        // Without a stack (Pulumi asking for plugins): the defaults.
        var none = Run(["synth", "byo"]);
        Assert.Equal(0, none.Code);
        Assert.Contains("nvidia-device-plugin", none.Out);
    }

    [Theory]
    [InlineData("kubeconfig", null, "is required")]
    [InlineData("runtimeImage", null, "is required")]
    [InlineData("dataStore", null, "is required")]
    [InlineData("dataStore", "s3://bucket/osforai", "no connector label")]
    [InlineData("dataStore", "ftp+x://bucket/osforai", "cannot hold data://")]
    [InlineData("dataStore", "not a uri", "not a store URI")]
    [InlineData("gatewayMinReplicas", "3", "more than gatewayMaxReplicas")]
    [InlineData("gatewayMaxReplicas", "two", "must be an integer")]
    [InlineData("namespace", "OSForAI_ns", "not a Kubernetes namespace")]
    [InlineData("loadBalancerAddress", "dns", "'hostname' or 'ip'")]
    [InlineData("devicePlugin", "maybe", "true or false")]
    [InlineData("dataStoreSettings", "plain", "must be an object")]
    public void A_bad_stack_value_fails_synth_naming_the_key_and_prints_no_program(string key, string? value, string message)
    {
        using var project = new TempProject((key, value));
        var r = Run(["synth", "byo", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"osforai:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void The_project_is_the_repository_root_and_validate_accepts_the_committed_stacks()
    {
        var fromTests = Run(["synth", "byo", "--stack", "dev"], Path.Combine(RepoRoot, "tests"));
        Assert.True(fromTests.Code == 0, fromTests.Err);
        Assert.Equal(Run(["synth", "byo", "--stack", "dev"]).Out, fromTests.Out);
        var v = Run(["validate", "byo"]);
        Assert.True(v.Code == 0, v.Err);
        Assert.Contains("stacks dev valid", v.Out);
    }

    [SkippableFact]
    public void The_byo_program_has_no_schema_violations()
    {
        var folder = OSForAI.Tests.Support.SharedData.PulumiSchema;
        Skip.If(folder is null, OSForAI.Tests.Support.SharedData.PulumiSchemaSkipReason);
        foreach (var program in new[]
        {
            OSForAI.Components.Byo.ByoStackProgram.Build(),
            OSForAI.Components.Byo.ByoStackProgram.Build("osforai", devicePlugin: false, OSForAI.Components.Kubernetes.LoadBalancerAddress.Ip),
        })
        {
            var violations = OSForAI.Components.Validation.ProgramValidator.Validate(program, OSForAI.Components.Validation.PulumiSchema.Load(folder));
            Assert.True(violations.Count == 0, string.Join("\n", violations));
        }
    }

    [Fact]
    public void The_dev_program_matches_the_golden_file_byte_for_byte()
    {
        var r = Run(["synth", "byo", "--stack", "dev"]);
        Assert.Equal(0, r.Code);
        if (Environment.GetEnvironmentVariable("OSAI_UPDATE_GOLDEN") == "1") File.WriteAllText(GoldenFile, r.Out);
        Assert.True(File.Exists(GoldenFile), $"{GoldenFile} is missing; create it with OSAI_UPDATE_GOLDEN=1");
        Assert.True(File.ReadAllText(GoldenFile) == r.Out,
            $"the synthesized dev program differs from {GoldenFile}; if the change is intended, regenerate it with OSAI_UPDATE_GOLDEN=1 and review the diff");
    }

    /// <summary>A copy of the root project whose dev stack has keys changed (null: removed).</summary>
    private sealed class TempProject : IDisposable
    {
        public TempProject(params (string Key, string? Value)[] changes)
        {
            Dir = Path.Combine(Path.GetTempPath(), "osforai-byo-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Dir);
            File.Copy(Path.Combine(RepoRoot, "Pulumi.yaml"), Path.Combine(Dir, "Pulumi.yaml"));
            var lines = File.ReadAllLines(Path.Combine(RepoRoot, "Pulumi.dev.yaml")).ToList();
            foreach (var (key, value) in changes)
            {
                var prefix = $"  osforai:{key}:";
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

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OSForAI.sln"))) return dir.FullName;
        throw new InvalidOperationException("OSForAI.sln not found above the test binaries");
    }
}
