using OSForAI.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The bring-your-own-cluster stack (root Pulumi.yaml, project "osforai") through the CLI entry point the compiler runs.
/// Golden/byo-dev.yaml is the exact dev program; regenerate deliberately with
/// <c>OSAI_UPDATE_GOLDEN=1 dotnet test tests/OSForAI.Tests --filter "FullyQualifiedName~ByoStackTests"</c>.
/// </summary>
public sealed class ByoStackTests
{
    private static YamlMappingNode Synth(string? projectDir = null) => StackHarness.Synth("byo", "dev", projectDir ?? RepoRoot);

    /// <summary>A copy of the root project whose dev stack has keys changed (null: removed).</summary>
    private static TempProject Project(params (string Key, string? Value)[] changes) => new(RepoRoot, "osforai", changes);

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
        // Kubernetes objects, and the random provider's generated admin key (no cloud account involved).
        Assert.All(Resources(root), r => Assert.Matches("^(kubernetes:|random:|pulumi:providers:kubernetes$)", Text(r, "type")));
        Assert.DoesNotContain("fn::invoke", Run(["synth", "byo", "--stack", "dev"]).Out);
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
        using var project = Project(("devicePlugin", "false"), ("loadBalancerAddress", "ip"));
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
        using var project = Project((key, value));
        var r = Run(["synth", "byo", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"osforai:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void The_project_is_the_repository_root_and_validate_accepts_the_committed_stacks()
    {
        var fromTests = Run(["synth", "byo", "--stack", "dev"], currentDirectory: Path.Combine(RepoRoot, "tests"));
        Assert.True(fromTests.Code == 0, fromTests.Err);
        Assert.Equal(Run(["synth", "byo", "--stack", "dev"]).Out, fromTests.Out);
        var v = Run(["validate", "byo"]);
        Assert.True(v.Code == 0, v.Err);
        Assert.Contains("stacks dev valid", v.Out);
    }

    [Fact]
    public void The_byo_program_has_no_schema_violations()
    {
        foreach (var program in new[]
        {
            OSForAI.Components.Byo.ByoStackProgram.Build(),
            OSForAI.Components.Byo.ByoStackProgram.Build("osforai", devicePlugin: false, OSForAI.Components.Kubernetes.LoadBalancerAddress.Ip),
        })
            HasNoSchemaViolations(program);
    }

    [Fact]
    public void The_dev_program_matches_the_golden_file_byte_for_byte()
    {
        var r = Run(["synth", "byo", "--stack", "dev"]);
        Assert.Equal(0, r.Code);
        MatchesGolden("byo-dev.yaml", r.Out);
    }
}
