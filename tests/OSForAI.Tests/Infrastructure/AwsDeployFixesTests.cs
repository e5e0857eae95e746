using OSForAI.Components.Aws;
using OSForAI.Components.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Issue 15 on AWS, read as `pulumi up` would run the program: images pullable from the stack's ECR repositories (item 1),
/// access entries for admins and CI (item 6), GPU node labels the device plugin and cluster-autoscaler need (item 9), the R580
/// driver AMI (item 12), and the security options (scoped cluster-autoscaler IAM, API endpoint CIDRs).
/// </summary>
public sealed class AwsDeployFixesTests
{
    private static readonly string AwsProject = Path.Combine(RepoRoot, "stacks", "aws");

    /// <summary>A copy of stacks/aws whose dev stack has <paramref name="lines"/> added to its config (YAML, two-space indented).</summary>
    private static TempProject With(params string[] lines)
    {
        var project = new TempProject(AwsProject, "osforai-aws");
        File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), lines.Select(l => l.StartsWith(' ') ? l : "  osforai-aws:" + l));
        return project;
    }

    private static YamlMappingNode SynthDev(TempProject? project = null) => Synth("aws", "dev", project?.Dir ?? AwsProject);

    private static Result SynthFails(TempProject project)
    {
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        return r;
    }

    private static YamlMappingNode Props(YamlMappingNode root, string type, string name) =>
        Map(Resources(root, type).Single(r => r.Name == name).Node, "properties");

    private static YamlMappingNode GatewayContainer(YamlMappingNode root)
    {
        var deployment = Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties");
        return (YamlMappingNode)((YamlSequenceNode)Map(Map(Map(deployment, "spec"), "template"), "spec")["containers"]).Single();
    }

    private static Dictionary<string, YamlNode> Env(YamlMappingNode container) =>
        ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().Where(e => e.Children.ContainsKey("value"))
            .ToDictionary(e => Text(e, "name"), e => e["value"]);

    private const string ImagesKey = "OSForAI__Workers__Kubernetes__Images__";

    // ---- item 1: images ----

    [Fact]
    public void The_stack_provisions_one_ecr_repository_per_image_and_its_pods_pull_the_config_tag_from_them()
    {
        var root = SynthDev();
        var repositories = Resources(root, "aws:ecr/repository:Repository").ToDictionary(r => r.Name, r => Map(r.Node, "properties"));
        Assert.Equal(["osforai-images-runtime", "osforai-images-worker-gpu", "osforai-images-worker-python"], repositories.Keys.Order(StringComparer.Ordinal));
        // Generated names (no fixed name to collide across stacks), scanned on push, never deleted with images in them.
        Assert.All(repositories.Values, p =>
        {
            Assert.False(p.Children.ContainsKey("name"));
            Assert.Equal("true", Text(Map(p, "imageScanningConfiguration"), "scanOnPush"));
            Assert.Equal("false", Text(p, "forceDelete"));
        });

        Assert.Equal("${osforai-images-runtime.repositoryUrl}:${runtimeImage}", Text(GatewayContainer(root), "image"));
        var env = Env(GatewayContainer(root));
        Assert.Equal("${osforai-images-worker-python.repositoryUrl}:${workerPythonImage}", ((YamlScalarNode)env[ImagesKey + "python3"]).Value);
        Assert.Equal("${osforai-images-worker-gpu.repositoryUrl}:${workerGpuImage}", ((YamlScalarNode)env[ImagesKey + "onnx"]).Value);

        // The nodes pull with their role (no imagePullSecrets).
        Assert.Contains(Resources(root, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"), r =>
            Text(Map(r.Node, "properties"), "role") == "${osforai-node-role.name}"
            && Text(Map(r.Node, "properties"), "policyArn").EndsWith(":iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", StringComparison.Ordinal));

        // CI pushes to the outputs.
        var outputs = Map(root, "outputs");
        Assert.Equal("${osforai-images-runtime.repositoryUrl}", Text(outputs, "runtimeRepository"));
        Assert.Equal("${osforai-images-worker-python.repositoryUrl}", Text(outputs, "workerPythonRepository"));
        Assert.Equal("${osforai-images-worker-gpu.repositoryUrl}", Text(outputs, "workerGpuRepository"));
        var host = (YamlSequenceNode)Map(outputs, "registry")["fn::select"];
        Assert.Equal("0", ((YamlScalarNode)host[0]).Value);
        Assert.Equal(["/", "${osforai-images-runtime.repositoryUrl}"], ((YamlSequenceNode)((YamlMappingNode)host[1])["fn::split"]).Select(n => ((YamlScalarNode)n).Value));
        Assert.Contains("osforai-aws:runtimeImage: \"0.1.0\"", File.ReadAllText(Path.Combine(AwsProject, "Pulumi.dev.yaml")));
    }

    [Fact]
    public void With_the_registry_key_no_repository_is_provisioned_and_the_images_come_from_it()
    {
        using var project = With("registry: registry.example.com/team");
        var root = SynthDev(project);
        Assert.Empty(Resources(root, "aws:ecr/repository:Repository"));
        Assert.Equal("${registry}/osforai-runtime:${runtimeImage}", Text(GatewayContainer(root), "image"));
        Assert.Equal("${registry}/osforai-worker-gpu:${workerGpuImage}", ((YamlScalarNode)Env(GatewayContainer(root))[ImagesKey + "onnx"]).Value);
        Assert.Equal("${registry}/osforai-worker-python", Text(Map(root, "outputs"), "workerPythonRepository"));
    }

    [Fact]
    public void A_full_reference_is_used_as_it_is_and_the_old_name_and_tag_form_reads_as_a_tag()
    {
        using var project = new TempProject(AwsProject, "osforai-aws",
            ("runtimeImage", "123456789012.dkr.ecr.us-east-1.amazonaws.com/osforai-runtime:abc123"),
            ("workerGpuImage", "osforai-worker-gpu:0.1.0"));
        var root = SynthDev(project);
        Assert.Equal("${runtimeImage}", Text(GatewayContainer(root), "image"));
        var join = (YamlSequenceNode)((YamlMappingNode)Env(GatewayContainer(root))[ImagesKey + "onnx"])["fn::join"];
        var parts = (YamlSequenceNode)join[1];
        Assert.Equal(["${osforai-images-worker-gpu.repositoryUrl}", ":"], parts.Take(2).Select(n => ((YamlScalarNode)n).Value));
        var select = (YamlSequenceNode)((YamlMappingNode)parts[2])["fn::select"];
        Assert.Equal("1", ((YamlScalarNode)select[0]).Value);
        Assert.Equal([":", "${workerGpuImage}"], ((YamlSequenceNode)((YamlMappingNode)select[1])["fn::split"]).Select(n => ((YamlScalarNode)n).Value));
    }

    [Theory]
    [InlineData("runtimeImage", "osforai-worker-gpu:0.1.0", "names 'osforai-worker-gpu' without a registry")]
    [InlineData("workerPythonImage", "osforai-worker-python@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a digest needs the full reference")]
    [InlineData("registry", "https://registry.example.com", "is not a registry host with an optional path")]
    [InlineData("gpuDriverVersion", "570", "ship driver branch 580, not 570")]
    [InlineData("gpuDriverVersion", "latest", "not an NVIDIA driver branch")]
    public void A_bad_image_registry_or_driver_value_fails_naming_the_key(string key, string value, string message)
    {
        using var project = new TempProject(AwsProject, "osforai-aws", key == "registry" ? [] : [(key, value)]);
        if (key == "registry") File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), [$"  osforai-aws:registry: {value}"]);
        var r = SynthFails(project);
        Assert.Contains($"osforai-aws:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    // ---- item 6: access entries ----

    [Fact]
    public void Every_admin_principal_and_the_ci_principal_get_an_access_entry_with_the_cluster_admin_policy()
    {
        using var project = With(
            "adminPrincipals:",
            "    - arn:aws:iam::123456789012:role/platform-admins",
            "    - arn:aws:iam::123456789012:user/alice",
            "ciPrincipal: arn:aws:iam::123456789012:role/osforai-ci");
        var root = SynthDev(project);
        var entries = Resources(root, "aws:eks/accessEntry:AccessEntry").ToDictionary(r => r.Name, r => Map(r.Node, "properties"));
        Assert.Equal(["osforai-access-admin-0", "osforai-access-admin-1", "osforai-access-ci"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.All(entries.Values, e => Assert.Equal(("${osforai-cluster.name}", "STANDARD"), (Text(e, "clusterName"), Text(e, "type"))));
        var admin1 = (YamlSequenceNode)Map(entries["osforai-access-admin-1"], "principalArn")["fn::select"];
        Assert.Equal(["1", "${adminPrincipals}"], admin1.Select(n => ((YamlScalarNode)n).Value));
        Assert.Equal("${ciPrincipal}", Text(entries["osforai-access-ci"], "principalArn"));

        var associations = Resources(root, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation").Select(r => (r.Name, P: Map(r.Node, "properties"))).ToList();
        Assert.Equal(3, associations.Count);
        Assert.All(associations, a =>
        {
            Assert.Equal("arn:${osforai-partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", Text(a.P, "policyArn"));
            Assert.Equal("cluster", Text(Map(a.P, "accessScope"), "type"));
            Assert.Equal($"${{{a.Name[..^"-cluster-admin".Length]}.principalArn}}", Text(a.P, "principalArn"));
        });
        Assert.Equal("API_AND_CONFIG_MAP", Text(Map(Props(root, "aws:eks/cluster:Cluster", "osforai-cluster"), "accessConfig"), "authenticationMode"));

        // The dev stack lists none: no entries, and the program is the one Pulumi gets without a stack.
        Assert.Empty(Resources(SynthDev(), "aws:eks/accessEntry:AccessEntry"));
    }

    [Theory]
    [InlineData("adminPrincipals: [arn:aws:sts::123456789012:assumed-role/admins/alice]", "adminPrincipals", "not an IAM role or user ARN")]
    [InlineData("adminPrincipals: [arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:role/a]", "adminPrincipals", "listed twice")]
    [InlineData("adminPrincipals: arn:aws:iam::123456789012:role/a", "adminPrincipals", "must be a list")]
    [InlineData("ciPrincipal: osforai-ci", "ciPrincipal", "not an IAM role or user ARN")]
    [InlineData("controlPlaneAllowedCidrs: [203.0.113.0/33]", "controlPlaneAllowedCidrs", "not CIDR ranges")]
    [InlineData("controlPlaneAllowedCidrs: [300.0.113.0/24]", "controlPlaneAllowedCidrs", "not CIDR ranges")]
    [InlineData("controlPlaneAllowedCidrs: [2001:db8::/32]", "controlPlaneAllowedCidrs", "IPv4 ranges only")]
    public void A_bad_principal_or_cidr_fails_naming_the_key(string line, string key, string message)
    {
        using var project = With(line);
        var r = SynthFails(project);
        Assert.Contains($"osforai-aws:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        using var project = With("ciPrincipal: ci", "controlPlaneAllowedCidrs: [x]", "adminPrincipals: [y]");
        var r = SynthFails(project);
        foreach (var key in new[] { "ciPrincipal", "controlPlaneAllowedCidrs", "adminPrincipals" })
            Assert.Contains($"osforai-aws:{key}: ", r.Err);
    }

    // ---- item 9: GPU labels ----

    [Fact]
    public void The_gpu_nodes_carry_the_device_plugin_and_cluster_autoscaler_gpu_labels_also_in_the_node_template()
    {
        var root = SynthDev();
        var labels = Map(Props(root, "aws:eks/nodeGroup:NodeGroup", "osforai-gpu-nodes"), "labels");
        // The NVIDIA device plugin chart's default affinity: nvidia.com/gpu.present (or NFD's pci-10de label, which nothing sets here).
        Assert.Equal("true", Text(labels, "nvidia.com/gpu.present"));
        // cluster-autoscaler's AWS provider takes a node with this label for a GPU node still booting, not a GPU-less one.
        Assert.Equal("${gpuType}", Text(labels, "k8s.amazonaws.com/accelerator"));
        var tags = Resources(root, "aws:autoscaling/tag:Tag").Select(r => Map(Map(r.Node, "properties"), "tag"))
            .Where(t => t["value"] is YamlScalarNode).ToDictionary(t => Text(t, "key"), t => Text(t, "value"));
        Assert.Equal("true", tags["k8s.io/cluster-autoscaler/node-template/label/nvidia.com/gpu.present"]);
        Assert.Equal("${gpuType}", tags["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"]);
        var system = Map(Props(root, "aws:eks/nodeGroup:NodeGroup", "osforai-system-nodes"), "labels");
        Assert.False(system.Children.ContainsKey("nvidia.com/gpu.present"));
    }

    // ---- item 12: driver ----

    [Fact]
    public void The_gpu_nodes_run_the_recommended_al2023_nvidia_release_of_the_cluster_version_which_ships_r580()
    {
        var root = SynthDev();
        Assert.Equal("${osforai-gpu-ami-release}", Text(Props(root, "aws:eks/nodeGroup:NodeGroup", "osforai-gpu-nodes"), "releaseVersion"));
        var invoke = Map(Map(Map(root, "variables"), "osforai-gpu-ami-release"), "fn::invoke");
        Assert.Equal("aws:ssm/getParameter:getParameter", Text(invoke, "function"));
        Assert.Equal("/aws/service/eks/optimized-ami/${kubernetesVersion}/amazon-linux-2023/x86_64/nvidia/recommended/release_version", Text(Map(invoke, "arguments"), "name"));
        Assert.Equal("value", Text(invoke, "return"));
        Assert.Equal(["580"], AwsOffering.NvidiaDriverBranches);
        Assert.Equal("580", Text(Map(Map(root, "config"), "gpuDriverVersion"), "default"));
    }

    // ---- security posture ----

    [Fact]
    public void The_cluster_autoscaler_may_scale_only_this_clusters_node_groups()
    {
        var root = SynthDev();
        var policy = Map(Props(root, "aws:iam/rolePolicy:RolePolicy", "osforai-cluster-autoscaler-policy"), "policy")["fn::toJSON"];
        var statements = ((YamlSequenceNode)((YamlMappingNode)policy)["Statement"]).Cast<YamlMappingNode>().ToList();
        var mutating = statements.Single(s => ((YamlSequenceNode)s["Action"]).Any(a => ((YamlScalarNode)a).Value == "autoscaling:SetDesiredCapacity"));
        Assert.Equal(["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"], ((YamlSequenceNode)mutating["Action"]).Select(a => ((YamlScalarNode)a).Value));
        Assert.Equal("${osforai-cluster.name}", Text(Map(Map(mutating, "Condition"), "StringEquals"), "aws:ResourceTag/eks:cluster-name"));
        // Every other statement only reads.
        Assert.All(statements.Where(s => s != mutating).SelectMany(s => (YamlSequenceNode)s["Action"]),
            a => Assert.Matches(@":(Describe|Get)", ((YamlScalarNode)a).Value));
    }

    [Fact]
    public void The_api_endpoint_admits_the_allowed_cidrs_and_is_open_only_when_none_are_set()
    {
        var open = Map(Props(SynthDev(), "aws:eks/cluster:Cluster", "osforai-cluster"), "vpcConfig");
        Assert.Equal(["0.0.0.0/0"], ((YamlSequenceNode)open["publicAccessCidrs"]).Select(n => ((YamlScalarNode)n).Value));
        using var project = With("controlPlaneAllowedCidrs: [203.0.113.0/24, 198.51.100.7/32]");
        var restricted = Map(Props(SynthDev(project), "aws:eks/cluster:Cluster", "osforai-cluster"), "vpcConfig");
        Assert.Equal("${controlPlaneAllowedCidrs}", Text(restricted, "publicAccessCidrs"));
        Assert.Equal("true", Text(restricted, "endpointPrivateAccess"));
    }

    [Fact]
    public void The_program_with_every_option_set_has_no_schema_violations()
    {
        using var project = With(
            "registry: registry.example.com/team",
            "adminPrincipals: [arn:aws:iam::123456789012:role/platform-admins]",
            "ciPrincipal: arn:aws:iam::123456789012:role/osforai-ci",
            "controlPlaneAllowedCidrs: [203.0.113.0/24]");
        var file = StackFile.Load(project.Dir, "dev");
        Assert.Empty(AwsStackConfig.Validate(file));
        HasNoSchemaViolations(AwsStackProgram.Build("osforai-aws", file));
        using var legacy = new TempProject(AwsProject, "osforai-aws", ("runtimeImage", "osforai-runtime:0.1.0"));
        HasNoSchemaViolations(AwsStackProgram.Build("osforai-aws", StackFile.Load(legacy.Dir, "dev")));
    }
}
