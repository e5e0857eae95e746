using System.Text.RegularExpressions;
using OSForAI.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The AWS stack as Pulumi would get it: synthesized through the same CLI entry point the compiler command runs
/// (<see cref="StacksCli.Run"/>), from the real stacks/aws project and from broken copies of it.
/// <para>
/// Golden file: Golden/aws-dev.yaml is the exact program for the dev stack. When a change to the components is
/// meant to change the program, regenerate it deliberately with
/// <c>OSAI_UPDATE_GOLDEN=1 dotnet test tests/OSForAI.Tests --filter "FullyQualifiedName~AwsStackTests"</c>
/// and review the diff before committing it.
/// </para>
/// </summary>
public sealed partial class AwsStackTests
{
    private static readonly string AwsProject = Path.Combine(RepoRoot, "stacks", "aws");

    private static YamlMappingNode Synth(string stack) => StackHarness.Synth("aws", stack, AwsProject);

    /// <summary>A copy of stacks/aws whose dev stack has keys changed (null: removed).</summary>
    private static TempProject Project(params (string Key, string? Value)[] changes) => new(AwsProject, "osforai-aws", changes);

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_program_declares_the_parity_outputs_with_a_secret_kubeconfig(string stack)
    {
        var root = Synth(stack);
        Assert.Equal("yaml", Text(root, "runtime"));
        Assert.Equal("osforai-aws", Text(root, "name"));
        var outputs = Map(root, "outputs");
        Assert.StartsWith("http://${", Text(outputs, "gatewayUrl"));
        Assert.EndsWith(".status.loadBalancer.ingress[0].hostname}", Text(outputs, "gatewayUrl"));
        Assert.StartsWith("s3://${", Text(outputs, "bucketUri"));
        Assert.Equal("${osforai-kubeconfig}", Text(Map(outputs, "kubeconfig"), "fn::secret"));
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_gpu_pool_scales_from_zero_with_the_gpu_taint_and_pool_label(string stack)
    {
        var root = Synth(stack);
        var gpu = Resources(root, "aws:eks/nodeGroup:NodeGroup").Single(r => Text(Map(Map(r.Node, "properties"), "labels"), "osforai.dev/pool") == "gpu").Node;
        var props = Map(gpu, "properties");
        Assert.Equal("AL2023_x86_64_NVIDIA", Text(props, "amiType"));
        Assert.Equal("${gpuMinNodes}", Text(Map(props, "scalingConfig"), "minSize"));
        Assert.Equal("0", Text(Map(Map(root, "config"), "gpuMinNodes"), "default"));
        Assert.Contains("osforai-aws:gpuMinNodes: 0", File.ReadAllText(Path.Combine(AwsProject, $"Pulumi.{stack}.yaml")));
        var taint = (YamlMappingNode)((YamlSequenceNode)props["taints"]).Single();
        Assert.Equal(("nvidia.com/gpu", "true", "NO_SCHEDULE"), (Text(taint, "key"), Text(taint, "value"), Text(taint, "effect")));
        Assert.Contains("scalingConfig.desiredSize", ((YamlSequenceNode)Map(gpu, "options")["ignoreChanges"]).Select(n => n.ToString()));

        var system = Resources(root, "aws:eks/nodeGroup:NodeGroup").Single(r => Text(Map(Map(r.Node, "properties"), "labels"), "osforai.dev/pool") == "system").Node;
        Assert.False(Map(system, "properties").Children.ContainsKey("taints"));
    }

    [Fact]
    public void The_gpu_asg_carries_the_node_template_tags_the_cluster_autoscaler_needs_to_scale_from_zero()
    {
        var root = Synth("dev");
        var gpuName = Resources(root, "aws:eks/nodeGroup:NodeGroup").Single(r => r.Name.Contains("gpu")).Name;
        var tags = Resources(root, "aws:autoscaling/tag:Tag").Select(r => Map(r.Node, "properties")).ToList();
        Assert.All(tags, t => Assert.Equal($"${{{gpuName}.resources[0].autoscalingGroups[0].name}}", Text(t, "autoscalingGroupName")));
        var byKey = tags.ToDictionary(t => Text(Map(t, "tag"), "key"), t => Map(t, "tag"));
        Assert.Equal("gpu", Text(byKey["k8s.io/cluster-autoscaler/node-template/label/osforai.dev/pool"], "value"));
        Assert.Equal("true:NoSchedule", Text(byKey["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"], "value"));
        Assert.Equal("${gpusPerNode}", Text(Map(byKey["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"], "value"), "fn::toJSON"));
        Assert.All(byKey.Values, t => Assert.Equal("false", Text(t, "propagateAtLaunch")));

        var releases = Resources(root, "kubernetes:helm.sh/v3:Release").ToDictionary(r => Text(Map(r.Node, "properties"), "chart"), r => Map(r.Node, "properties"));
        Assert.Equal("${osforai-cluster.name}", Text(Map(Map(releases["cluster-autoscaler"], "values"), "autoDiscovery"), "clusterName"));
        Assert.Equal("https://kubernetes.github.io/autoscaler", Text(Map(releases["cluster-autoscaler"], "repositoryOpts"), "repo"));
        Assert.Equal("https://nvidia.github.io/k8s-device-plugin", Text(Map(releases["nvidia-device-plugin"], "repositoryOpts"), "repo"));
        // Pod Identity: the cluster-autoscaler's service account, and the gateway's (the bucket; WorkloadIdentityStackTests).
        Assert.Equal(["cluster-autoscaler", "osforai-runtime"], Resources(root, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
            .Select(r => Text(Map(r.Node, "properties"), "serviceAccount")).Order(StringComparer.Ordinal));
        var addons = Resources(root, "aws:eks/addon:Addon").ToDictionary(r => Text(Map(r.Node, "properties"), "addonName"), r => Map(r.Node, "properties"));
        Assert.Equal(["eks-pod-identity-agent", "vpc-cni"], addons.Keys.Order(StringComparer.Ordinal));
        // The VPC CNI enforces NetworkPolicy only when told to (the worker pods' policy).
        Assert.Equal("true", Text(Map(Map(addons["vpc-cni"], "configurationValues"), "fn::toJSON"), "enableNetworkPolicy"));
    }

    [Fact]
    public void The_runtime_gets_the_data_store_settings_and_takes_the_bucket_with_its_pod_identity()
    {
        var root = Synth("dev");
        var data = Map(Map(Resources(root, "kubernetes:core/v1:ConfigMap").Single().Node, "properties"), "data");
        Assert.Equal("s3+platform://${osforai-data.bucket}/osforai", Text(data, "OSForAI__DataStore"));
        Assert.Equal("${region}", Text(data, "OSForAI__Data__S3__platform__Region"));
        Assert.Equal("WorkloadIdentity", Text(data, "OSForAI__Data__S3__platform__Credentials"));
        Assert.DoesNotContain(data.Children.Keys, k => k.ToString().Contains("AccessKey", StringComparison.Ordinal));

        var deployment = Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties");
        var container = (YamlMappingNode)((YamlSequenceNode)Map(Map(Map(deployment, "spec"), "template"), "spec")["containers"]).Single();
        Assert.Equal("${osforai-images-runtime.repositoryUrl}:${runtimeImage}", Text(container, "image"));
        Assert.Equal("/health", Text(Map(Map(container, "readinessProbe"), "httpGet"), "path"));
        var service = Map(Map(Resources(root, "kubernetes:core/v1:Service").Single().Node, "properties"), "spec");
        Assert.Equal("LoadBalancer", Text(service, "type"));
        var hpa = Map(Map(Resources(root, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").Single().Node, "properties"), "spec");
        Assert.Equal(("${gatewayMinReplicas}", "${gatewayMaxReplicas}"), (Text(hpa, "minReplicas"), Text(hpa, "maxReplicas")));
        Assert.Single(Resources(root, "kubernetes:policy/v1:PodDisruptionBudget"));
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void Every_reference_resolves_to_a_declared_config_key_variable_or_resource(string stack)
    {
        var root = Synth(stack);
        var declared = new HashSet<string>(["pulumi"]);
        foreach (var section in new[] { "config", "variables", "resources" })
            if (root.Children.TryGetValue(new YamlScalarNode(section), out var node))
                declared.UnionWith(((YamlMappingNode)node).Children.Keys.Select(k => ((YamlScalarNode)k).Value!));

        var references = Scalars(root).SelectMany(s => Reference().Matches(s).Select(m => m.Groups[1].Value)).ToList();
        Assert.NotEmpty(references);
        Assert.All(references, r => Assert.Contains(RootName().Match(r).Value, declared));
        // Every resource type is a canonical token (package:module/file:Type) or a provider.
        Assert.All(Map(root, "resources").Children.Values, r => Assert.Matches(@"^([a-z-]+:[\w.-]+/[\w.]+:\w+|pulumi:providers:[a-z-]+)$", Text(r, "type")));
    }

    [Fact]
    public void Without_a_stack_the_same_program_is_printed_and_nothing_is_validated()
    {
        var none = Run(["synth", "aws"], currentDirectory: AwsProject);
        Assert.Equal(0, none.Code);
        var fromEnv = Run(["synth", "aws"], pulumiStack: "dev", currentDirectory: AwsProject);
        Assert.Equal(0, fromEnv.Code);
        Assert.Equal(none.Out, fromEnv.Out);
        // A fully qualified stack name (org/project/stack) finds Pulumi.prod.yaml.
        var qualified = Run(["synth", "aws"], pulumiStack: "acme/osforai-aws/prod", currentDirectory: AwsProject);
        Assert.True(qualified.Code == 0, qualified.Err);
        Assert.Equal(none.Out, qualified.Out);
    }

    [Fact]
    public void The_project_directory_is_the_current_one_when_it_holds_pulumi_yaml_else_found_from_the_repository_root()
    {
        var fromProject = Run(["synth", "aws", "--stack", "dev"], currentDirectory: AwsProject);
        var fromTests = Run(["synth", "aws", "--stack", "dev"], currentDirectory: Path.Combine(RepoRoot, "tests"));
        Assert.Equal(0, fromProject.Code);
        Assert.Equal(fromProject.Out, fromTests.Out);
        var lost = Run(["synth", "aws", "--stack", "dev"], currentDirectory: Path.GetTempPath());
        Assert.Equal(1, lost.Code);
        Assert.Contains("--project-dir", lost.Err);
    }

    [Fact]
    public void Validate_checks_the_program_and_every_stack_of_the_project()
    {
        var r = Run(["validate", "aws", "--project-dir", AwsProject]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("dev, prod", r.Out);

        using var project = Project(("gpuMaxNodes", "0"));
        var bad = Run(["validate", "aws", "--project-dir", project.Dir]);
        Assert.Equal(1, bad.Code);
        Assert.Equal("", bad.Out);
        Assert.Contains("osforai-aws:gpuMaxNodes", bad.Err);
    }

    [Fact]
    public void From_the_repository_root_a_cloud_uses_its_own_project_not_the_root_byo_one()
    {
        var fromRoot = Run(["synth", "aws", "--stack", "dev"], currentDirectory: RepoRoot);
        Assert.True(fromRoot.Code == 0, fromRoot.Err);
        Assert.Equal(Run(["synth", "aws", "--stack", "dev", "--project-dir", AwsProject]).Out, fromRoot.Out);
    }

    [Theory]
    [InlineData("gpuMaxNodes", "0", "must be at least 1")]
    [InlineData("systemMaxNodes", "-1", "must be at least 1")]
    [InlineData("gpuMinNodes", "-1", "must be at least 0")]
    [InlineData("gpuMinNodes", "3", "more than gpuMaxNodes")]
    [InlineData("systemMinNodes", "5", "more than systemMaxNodes")]
    [InlineData("gatewayMinReplicas", "0", "must be at least 1")]
    [InlineData("gpusPerNode", "0", "must be at least 1")]
    [InlineData("gpuMaxNodes", "two", "must be an integer")]
    [InlineData("gpuType", "nvidia-mi300", "not offered on aws")]
    [InlineData("gpuInstanceType", "g5.xlarge", "does not carry nvidia-l4")]
    [InlineData("region", "eastus", "not an aws region")]
    [InlineData("region", "US-EAST-1", "not an aws region")]
    [InlineData("kubernetesVersion", "latest", "not a Kubernetes minor version")]
    [InlineData("namespace", "OSForAI_ns", "not a Kubernetes namespace")]
    [InlineData("region", null, "is required")]
    [InlineData("runtimeImage", null, "is required")]
    [InlineData("gpuMaxNodes", null, "is required")]
    public void A_bad_stack_value_fails_synth_naming_the_key_and_prints_no_program(string key, string? value, string message)
    {
        using var project = Project((key, value));
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"osforai-aws:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
        Assert.Contains("Pulumi.dev.yaml", r.Err);
    }

    [Fact]
    public void A_stack_without_a_settings_file_fails_naming_the_file()
    {
        var r = Run(["synth", "aws", "--stack", "staging", "--project-dir", AwsProject]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("Pulumi.staging.yaml", r.Err);
    }

    [Fact]
    public void A_stack_importing_an_esc_environment_may_leave_required_keys_to_it_but_bad_values_still_fail()
    {
        using var project = Project(("region", null), ("runtimeImage", null));
        File.AppendAllText(Path.Combine(project.Dir, "Pulumi.dev.yaml"), "environment:\n  - osforai/aws-dev\n");
        Assert.Equal(0, Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]).Code);
        File.WriteAllText(Path.Combine(project.Dir, "Pulumi.dev.yaml"), File.ReadAllText(Path.Combine(project.Dir, "Pulumi.dev.yaml")).Replace("gpuMaxNodes: 1", "gpuMaxNodes: 0"));
        Assert.Equal(1, Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]).Code);
    }

    [Fact]
    public void The_dev_program_matches_the_golden_file_byte_for_byte()
    {
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", AwsProject]);
        Assert.Equal(0, r.Code);
        MatchesGolden("aws-dev.yaml", r.Out);
    }

    private static IEnumerable<string> Scalars(YamlNode node) => node switch
    {
        YamlScalarNode s => [s.Value ?? ""],
        YamlSequenceNode q => q.Children.SelectMany(Scalars),
        YamlMappingNode m => m.Children.SelectMany(kv => Scalars(kv.Key).Concat(Scalars(kv.Value))),
        _ => [],
    };

    /// <summary>${...} not preceded by another '$' (that would be the escaped literal "$${").</summary>
    [GeneratedRegex(@"(?<!\$)\$\{([^}]*)\}")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^[^.\[]+")]
    private static partial Regex RootName();
}

/// <summary>The AWS program against the providers' schemas (shared/pulumi-schema): tokens, required inputs, properties, enums, outputs.</summary>
public sealed class AwsSchemaTests
{
    [Fact]
    public void The_aws_program_has_no_schema_violations()
    {
        HasNoSchemaViolations(OSForAI.Components.Aws.AwsStackProgram.Build("osforai-aws"));
    }

    [Fact]
    public void Validate_checks_the_schema_and_both_stack_files()
    {
        var folder = OSForAI.Tests.Support.SharedData.StackSchemas;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = OSForAI.Stacks.StacksCli.Run(["validate", "aws", "--schema", folder], stdout, stderr, _ => null);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("dev, prod", stdout.ToString());
        Assert.Equal(1, OSForAI.Stacks.StacksCli.Run(["validate", "aws", "--schema", "/nonexistent-schema"], new StringWriter(), stderr, _ => null));
        Assert.Contains("does not exist", stderr.ToString());
    }
}
