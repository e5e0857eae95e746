using OSForAI.Components.Gcp;
using OSForAI.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The GCP stack as Pulumi would get it, through the same CLI entry point as the compiler command, from the real
/// stacks/gcp project and from broken copies of it. Golden file: Golden/gcp-dev.yaml, regenerated deliberately with
/// <c>OSAI_UPDATE_GOLDEN=1 dotnet test tests/OSForAI.Tests --filter "FullyQualifiedName~GcpStackTests"</c>.
/// </summary>
public sealed class GcpStackTests
{
    private static readonly string GcpProject = Path.Combine(RepoRoot, "stacks", "gcp");

    private static YamlMappingNode Synth(string stack) => StackHarness.Synth("gcp", stack, GcpProject);

    /// <summary>A copy of stacks/gcp whose dev stack has keys changed (null: removed).</summary>
    private static TempProject Project(params (string Key, string? Value)[] changes) => new(GcpProject, "osforai-gcp", changes);

    private static YamlMappingNode Pool(YamlMappingNode root, string pool) =>
        Resources(root, "gcp:container/nodePool:NodePool")
            .Single(r => Text(Map(Map(Map(r.Node, "properties"), "nodeConfig"), "labels"), "osforai.dev/pool") == pool).Node;

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_program_declares_the_parity_outputs_with_a_secret_kubeconfig(string stack)
    {
        var root = Synth(stack);
        Assert.Equal("yaml", Text(root, "runtime"));
        Assert.Equal("osforai-gcp", Text(root, "name"));
        var outputs = Map(root, "outputs");
        Assert.StartsWith("http://${", Text(outputs, "gatewayUrl"));
        Assert.EndsWith(".status.loadBalancer.ingress[0].ip}", Text(outputs, "gatewayUrl"));
        Assert.Equal("gs://${osforai-data.name}", Text(outputs, "bucketUri"));
        Assert.Equal("${osforai-kubeconfig}", Text(Map(outputs, "kubeconfig"), "fn::secret"));
        // The same config keys as every cloud.
        var config = Map(root, "config").Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();
        Assert.Equal(OSForAI.Components.Stacks.StackConfig.SettingsFor(OSForAI.Components.Gcp.GcpOffering.Instance).Select(s => s.Key), config);
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_gpu_pool_scales_from_zero_with_the_gpu_taint_pool_label_and_accelerators(string stack)
    {
        var root = Synth(stack);
        var props = Map(Pool(root, "gpu"), "properties");
        Assert.Equal("${gpuMinNodes}", Text(Map(props, "autoscaling"), "totalMinNodeCount"));
        Assert.Equal("${gpuMaxNodes}", Text(Map(props, "autoscaling"), "totalMaxNodeCount"));
        Assert.False(Map(props, "autoscaling").Children.ContainsKey("minNodeCount"));
        Assert.Equal("0", Text(Map(Map(root, "config"), "gpuMinNodes"), "default"));
        Assert.Contains("osforai-gcp:gpuMinNodes: 0", File.ReadAllText(Path.Combine(GcpProject, $"Pulumi.{stack}.yaml")));
        var nodeConfig = Map(props, "nodeConfig");
        Assert.Equal("${gpuInstanceType}", Text(nodeConfig, "machineType"));
        Assert.Equal("${gpuType}", Text(Map(nodeConfig, "labels"), "osforai.dev/gpu-type"));
        var taint = (YamlMappingNode)((YamlSequenceNode)nodeConfig["taints"]).Single();
        Assert.Equal(("nvidia.com/gpu", "true", "NO_SCHEDULE"), (Text(taint, "key"), Text(taint, "value"), Text(taint, "effect")));
        var accelerator = (YamlMappingNode)((YamlSequenceNode)nodeConfig["guestAccelerators"]).Single();
        Assert.Equal(("${gpuType}", "${gpusPerNode}"), (Text(accelerator, "type"), Text(accelerator, "count")));
        Assert.Equal("LATEST", Text(Map(accelerator, "gpuDriverInstallationConfig"), "gpuDriverVersion"));

        var system = Map(Pool(root, "system"), "properties");
        Assert.False(Map(system, "nodeConfig").Children.ContainsKey("taints"));
        Assert.Equal("${systemMinNodes}", Text(Map(system, "autoscaling"), "totalMinNodeCount"));

        var cluster = Map(Resources(root, "gcp:container/cluster:Cluster").Single().Node, "properties");
        Assert.Equal(("true", "1", "false"), (Text(cluster, "removeDefaultNodePool"), Text(cluster, "initialNodeCount"), Text(cluster, "deletionProtection")));
        Assert.EndsWith(".svc.id.goog", Text(Map(cluster, "workloadIdentityConfig"), "workloadPool"));
        // GKE manages the device plugin; nothing installs it with Helm.
        Assert.Empty(Resources(root, "kubernetes:helm.sh/v3:Release"));
    }

    [Fact]
    public void The_runtime_gets_gcs_through_the_gs_connector_with_its_workload_identity()
    {
        var root = Synth("dev");
        var data = Map(Map(Resources(root, "kubernetes:core/v1:ConfigMap").Single().Node, "properties"), "data");
        Assert.Equal("gs+platform://${osforai-data.name}/osforai", Text(data, "OSForAI__DataStore"));
        Assert.Equal("WorkloadIdentity", Text(data, "OSForAI__Data__Gs__platform__Credentials"));
        Assert.Empty(Resources(root, "gcp:storage/hmacKey:HmacKey"));

        var member = Map(Resources(root, "gcp:storage/bucketIAMMember:BucketIAMMember").Single().Node, "properties");
        Assert.Equal("${osforai-runtime-account.member}", Text(member, "member"));
        Assert.Equal("${osforai-data.name}", Text(member, "bucket"));
        Assert.Equal("${region}", Text(Map(Resources(root, "gcp:storage/bucket:Bucket").Single().Node, "properties"), "location"));

        var deployment = Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties");
        var container = (YamlMappingNode)((YamlSequenceNode)Map(Map(Map(deployment, "spec"), "template"), "spec")["containers"]).Single();
        Assert.Equal("${osforai-images-prefix}/${runtimeImage}", Text(container, "image"));
        var hpa = Map(Map(Resources(root, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").Single().Node, "properties"), "spec");
        Assert.Equal(("${gatewayMinReplicas}", "${gatewayMaxReplicas}"), (Text(hpa, "minReplicas"), Text(hpa, "maxReplicas")));
    }

    [Fact]
    public void The_kubeconfig_uses_the_gke_auth_plugin_and_the_cluster_ca()
    {
        var root = Synth("dev");
        var json = Map(Map(Map(root, "variables"), "osforai-kubeconfig"), "fn::toJSON");
        var user = Map(Map((YamlMappingNode)((YamlSequenceNode)json["users"]).Single(), "user"), "exec");
        Assert.Equal("gke-gcloud-auth-plugin", Text(user, "command"));
        var cluster = Map((YamlMappingNode)((YamlSequenceNode)json["clusters"]).Single(), "cluster");
        Assert.Equal("https://${osforai-cluster.endpoint}", Text(cluster, "server"));
        Assert.Equal("${osforai-cluster.masterAuth.clusterCaCertificate}", Text(cluster, "certificate-authority-data"));
        var provider = Resources(root, "pulumi:providers:kubernetes").Single().Node;
        Assert.Equal("${osforai-kubeconfig}", Text(Map(provider, "properties"), "kubeconfig"));
    }

    [Theory]
    [InlineData("gpuInstanceType", "n1-standard-8", "does not carry nvidia-l4")]
    [InlineData("gpuInstanceType", "a2-highgpu-1g", "does not carry nvidia-l4")]
    [InlineData("gpuType", "nvidia-a10g", "not offered on gcp")]
    [InlineData("region", "us-east-1", "not an gcp region")]
    [InlineData("region", "westeurope", "not an gcp region")]
    [InlineData("gpuMaxNodes", "0", "must be at least 1")]
    [InlineData("runtimeImage", null, "is required")]
    public void A_bad_stack_value_fails_synth_naming_the_key_and_prints_no_program(string key, string? value, string message)
    {
        using var project = Project((key, value));
        var r = Run(["synth", "gcp", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"osforai-gcp:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
        Assert.Contains("Pulumi.dev.yaml", r.Err);
    }

    [Theory]
    [InlineData("nvidia-tesla-t4", "n1-standard-8", true)]
    [InlineData("nvidia-tesla-a100", "a2-highgpu-1g", true)]
    [InlineData("nvidia-h100-80gb", "a3-highgpu-8g", true)]
    [InlineData("nvidia-l4", "g2-standard-8", true)]
    [InlineData("nvidia-tesla-t4", "g2-standard-8", false)]
    public void Gpu_types_attach_to_their_machine_families(string gpu, string machine, bool ok)
    {
        Assert.Equal(ok, GcpOffering.Instance.CheckGpuInstance(gpu, machine) is null);
        Assert.Matches(GcpOffering.Instance.RegionFormat, "europe-west4");
        Assert.Equal("nvidia-tesla-t4", GcpOffering.AcceleratorType("nvidia-t4"));
        Assert.Equal("nvidia-h100-80gb", GcpOffering.AcceleratorType("nvidia-h100"));
    }

    [Fact]
    public void Without_a_stack_the_same_program_is_printed()
    {
        var none = Run(["synth", "gcp"], currentDirectory: GcpProject);
        Assert.Equal(0, none.Code);
        var prod = Run(["synth", "gcp"], pulumiStack: "prod", currentDirectory: GcpProject);
        Assert.True(prod.Code == 0, prod.Err);
        Assert.Equal(none.Out, prod.Out);
        var r = Run(["validate", "gcp", "--project-dir", GcpProject]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("dev, prod", r.Out);
    }

    [Fact]
    public void The_dev_program_matches_the_golden_file_byte_for_byte()
    {
        var r = Run(["synth", "gcp", "--stack", "dev", "--project-dir", GcpProject]);
        Assert.Equal(0, r.Code);
        MatchesGolden("gcp-dev.yaml", r.Out);
    }
}

/// <summary>The GCP program against the providers' schemas (shared/pulumi-schema).</summary>
public sealed class GcpSchemaTests
{
    [Fact]
    public void The_gcp_program_has_no_schema_violations()
    {
        HasNoSchemaViolations(GcpStackProgram.Build("osforai-gcp"));
    }

    [Fact]
    public void Validate_checks_the_schema_and_both_stack_files()
    {
        var folder = OSForAI.Tests.Support.SharedData.StackSchemas;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = StacksCli.Run(["validate", "gcp", "--schema", folder], stdout, stderr, _ => null);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("dev, prod", stdout.ToString());
    }
}
