using OSForAI.Components.Gcp;
using OSForAI.Components.Synthesis;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Issue 15 on GCP: what a real <c>pulumi up</c> in a fresh project needs (APIs enabled, an Artifact Registry the nodes pull
/// from, names that fit and do not collide, GPU zones, the R580 driver) and the nodes' own least-privilege service account.
/// </summary>
public sealed class GcpDeployTests
{
    private static readonly string GcpProject = Path.Combine(RepoRoot, "stacks", "gcp");

    private static YamlMappingNode Synth() => StackHarness.Synth("gcp", "dev", GcpProject);

    private static YamlMappingNode Resource(YamlMappingNode root, string name) => Map(Map(root, "resources"), name);

    private static List<string> DependsOn(YamlMappingNode resource) =>
        resource.Children.TryGetValue(new YamlScalarNode("options"), out var o) && ((YamlMappingNode)o).Children.TryGetValue(new YamlScalarNode("dependsOn"), out var d)
            ? [.. ((YamlSequenceNode)d).Children.Select(c => ((YamlScalarNode)c).Value!)]
            : [];

    private static StackHarness.Result SynthWith(params (string Key, string? Value)[] changes)
    {
        using var project = new TempProject(GcpProject, "osforai-gcp", changes);
        return Run(["synth", "gcp", "--stack", "dev", "--project-dir", project.Dir]);
    }

    [Fact]
    public void A_fresh_project_gets_every_api_enabled_and_each_resource_waits_for_its_api()
    {
        var root = Synth();
        var services = Resources(root, "gcp:projects/service:Service").ToDictionary(r => Text(Map(r.Node, "properties"), "service"), r => r);
        foreach (var api in new[] { "container", "compute", "iam", "sqladmin", "servicenetworking", "artifactregistry", "storage" })
        {
            Assert.True(services.ContainsKey(api + ".googleapis.com"), api);
            Assert.Equal("false", Text(Map(services[api + ".googleapis.com"].Node, "properties"), "disableOnDestroy"));
        }
        string Api(string api) => "${" + services[api + ".googleapis.com"].Name + "}";
        Assert.Contains(Api("container"), DependsOn(Resource(root, "osforai-cluster")));
        Assert.Contains(Api("compute"), DependsOn(Resource(root, "osforai-network")));
        Assert.Contains(Api("iam"), DependsOn(Resource(root, "osforai-runtime-account")));
        Assert.Contains(Api("iam"), DependsOn(Resource(root, "osforai-node-account")));
        Assert.Contains(Api("storage"), DependsOn(Resource(root, "osforai-data")));
        Assert.Contains(Api("storage"), DependsOn(Resource(root, "osforai-data")));
        Assert.Contains(Api("artifactregistry"), DependsOn(Resource(root, "osforai-images-repository")));
        Assert.Contains(Api("servicenetworking"), DependsOn(Resource(root, "osforai-database-private-connection")));
        Assert.Contains(Api("sqladmin"), DependsOn(Resource(root, "osforai-database-instance")));
        Assert.Contains(Api("cloudresourcemanager"), DependsOn(Resource(root, "osforai-node-role")));
    }

    [Fact]
    public void The_stack_provisions_an_artifact_registry_the_nodes_pull_from_and_outputs_its_path()
    {
        var root = Synth();
        var repository = Map(Resource(root, "osforai-images-repository"), "properties");
        Assert.Equal(("DOCKER", "${region}"), (Text(repository, "format"), Text(repository, "location")));
        var reader = Map(Resource(root, "osforai-images-reader"), "properties");
        Assert.Equal("roles/artifactregistry.reader", Text(reader, "role"));
        Assert.Equal("${osforai-node-account.member}", Text(reader, "member"));
        Assert.Equal("${osforai-images-repository.name}", Text(reader, "repository"));
        Assert.Equal("${region}-docker.pkg.dev/${osforai-client-config.project}/${osforai-images-repository.repositoryId}", Text(Map(root, "outputs"), "registry"));
        Assert.Equal("", Text(Map(Map(root, "config"), "registry"), "default"));
        // Both pools run as the node account and wait for its pull grant.
        foreach (var pool in Resources(root, "gcp:container/nodePool:NodePool"))
        {
            Assert.Equal("${osforai-node-account.email}", Text(Map(Map(pool.Node, "properties"), "nodeConfig"), "serviceAccount"));
            Assert.Contains("${osforai-images-reader}", DependsOn(pool.Node));
        }
    }

    [Theory]
    [InlineData("", "us-central1-docker.pkg.dev/p/osforai-0a1b2c")]
    [InlineData("europe-docker.pkg.dev/shared/images", "europe-docker.pkg.dev/shared/images")]
    [InlineData("registry.example.com:5000/team", "registry.example.com:5000/team")]
    public void Images_come_from_the_registry_key_when_set_and_from_the_stacks_repository_otherwise(string registry, string expected)
    {
        // Evaluates the program's expression as Pulumi YAML would (fn::join, fn::split; Go's strings.Split and strings.Join).
        var prefix = ArtifactRegistry.FirstNonEmpty(new Lit(registry), Expr.Concat("us-central1", "-docker.pkg.dev/", "p", "/", "osforai-0a1b2c"));
        Assert.Equal(expected, Evaluate(prefix));

        // The program writes the prefix once, as a variable, and every image refers to it.
        var root = Synth();
        var spec = Map(Map(Map(Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties"), "spec"), "template"), "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)spec["containers"]).Children[0];
        Assert.Equal("${osforai-images-prefix}/${runtimeImage}", Text(container, "image"));
        Assert.True(Map(Map(root, "variables"), "osforai-images-prefix").Children.ContainsKey(new YamlScalarNode("fn::join")));
    }

    private static string Evaluate(Expr e) => e switch
    {
        Lit { Value: string s } => s,
        Interp i => string.Concat(i.Parts.Select(Evaluate)),
        Fn { Name: "fn::join", Argument: Arr { Items: [var sep, var values] } } => string.Join(Evaluate(sep), EvaluateList(values)),
        _ => throw new InvalidOperationException($"cannot evaluate {e}"),
    };

    private static IEnumerable<string> EvaluateList(Expr e) => e switch
    {
        Fn { Name: "fn::split", Argument: Arr { Items: [var sep, var source] } } => Evaluate(source).Split(Evaluate(sep)),
        Arr a => a.Items.Select(Evaluate),
        _ => throw new InvalidOperationException($"cannot evaluate {e} as a list"),
    };

    [Theory]
    [InlineData("runtimeImage", "ghcr.io/acme/osforai-runtime:1", "give the image relative to the registry")]
    [InlineData("registry", "https://example.com/x", "is not a registry host with an optional path")]
    [InlineData("gpuZones", "[us-central1-a, us-east1-b]", "'us-east1-b' is not a zone of region 'us-central1'")]
    [InlineData("gpuZones", "us-central1-a", "must be a list of strings")]
    [InlineData("gpuDriverVersion", "590", "LATEST GPU driver is R580")]
    [InlineData("gpuDriverVersion", "R580", "is not an NVIDIA driver branch")]
    public void Bad_registry_zone_and_driver_values_fail_naming_the_key(string key, string value, string message)
    {
        var r = SynthWith((key, value));
        Assert.Equal(1, r.Code);
        Assert.Contains($"osforai-gcp:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Control_plane_access_is_limited_to_the_configured_cidrs_and_open_without_them()
    {
        using var project = new TempProject(GcpProject, "osforai-gcp", [("controlPlaneAllowedCidrs", "[203.0.113.0/24, 198.51.100.7/32]")]);
        var limited = StackHarness.Synth("gcp", "dev", project.Dir);
        var blocks = (YamlSequenceNode)Map(Map(Resource(limited, "osforai-cluster"), "properties"), "masterAuthorizedNetworksConfig")["cidrBlocks"];
        Assert.Equal(["203.0.113.0/24", "198.51.100.7/32"], blocks.Children.Select(b => Text((YamlMappingNode)b, "cidrBlock")));
        Assert.False(Map(Resource(Synth(), "osforai-cluster"), "properties").Children.ContainsKey(new YamlScalarNode("masterAuthorizedNetworksConfig")));
    }

    [Fact]
    public void The_gpu_pool_runs_in_the_configured_zones_with_the_r580_driver()
    {
        var ok = SynthWith(("gpuZones", "[us-central1-a, us-central1-c]"), ("registry", "europe-docker.pkg.dev/shared/images"));
        Assert.True(ok.Code == 0, ok.Err);
        var root = Synth();
        var gpu = Map(Resource(root, "osforai-gpu-nodes"), "properties");
        Assert.Equal("${gpuZones}", Text(gpu, "nodeLocations"));
        Assert.Equal("array", Text(Map(Map(root, "config"), "gpuZones"), "type"));
        Assert.Equal("string", Text(Map(Map(Map(root, "config"), "gpuZones"), "items"), "type"));
        var accelerator = (YamlMappingNode)((YamlSequenceNode)Map(gpu, "nodeConfig")["guestAccelerators"]).Single();
        Assert.Equal(GcpInferenceStack.GkeGpuDriverVersion, Text(Map(accelerator, "gpuDriverInstallationConfig"), "gpuDriverVersion"));
        Assert.Equal("LATEST", GcpInferenceStack.GkeGpuDriverVersion);
        Assert.Equal("580", Text(Map(Map(root, "config"), "gpuDriverVersion"), "default"));
    }

    [Fact]
    public void Names_are_generated_so_a_long_stack_name_fits_and_stacks_in_one_project_do_not_collide()
    {
        using var project = new TempProject(GcpProject, "osforai-gcp");
        const string longStack = "production-europe-west4-inference";
        File.Copy(Path.Combine(project.Dir, "Pulumi.dev.yaml"), Path.Combine(project.Dir, $"Pulumi.{longStack}.yaml"));
        var r = Run(["synth", "gcp", "--stack", longStack, "--project-dir", project.Dir]);
        Assert.True(r.Code == 0, r.Err);
        var doc = new YamlStream();
        doc.Load(new StringReader(r.Out));
        var root = (YamlMappingNode)doc.Documents[0].RootNode;

        Assert.Equal("3", Text(Map(Resource(root, "osforai-name-suffix"), "properties"), "byteLength"));
        const string hex = "${osforai-name-suffix.hex}";
        // Generated names: the same in every stack's program, unique through the random suffix; none holds the stack's name.
        var names = new Dictionary<string, (string Resource, string Property)>
        {
            ["osforai-" + hex + "-vpc"] = ("osforai-network", "name"),
            ["osforai-" + hex + "-nodes"] = ("osforai-nodes", "name"),
            ["osforai-" + hex + "-gke"] = ("osforai-cluster", "name"),
            ["osforai-" + hex] = ("osforai-images-repository", "repositoryId"),
        };
        foreach (var (name, (resource, property)) in names)
            Assert.Equal(name, Text(Map(Resource(root, resource), "properties"), property));
        foreach (var account in Resources(root, "gcp:serviceaccount/account:Account"))
        {
            var id = Text(Map(account.Node, "properties"), "accountId");
            Assert.StartsWith("osforai-" + hex + "-", id);
            Assert.DoesNotContain("pulumi.stack", id);
            // 6–30 characters once the suffix (6 hex digits) is in.
            var length = id.Replace(hex, "0a1b2c", StringComparison.Ordinal).Length;
            Assert.InRange(length, 6, 30);
        }
        Assert.DoesNotContain("${pulumi.stack}-", r.Out.Replace("stack: ${pulumi.stack}", "", StringComparison.Ordinal));
    }

    [Fact]
    public void The_nodes_have_their_own_least_privilege_service_account_and_workload_identity()
    {
        var root = Synth();
        var role = Map(Resource(root, "osforai-node-role"), "properties");
        Assert.Equal(("roles/container.defaultNodeServiceAccount", "${osforai-node-account.member}", "${osforai-client-config.project}"),
            (Text(role, "role"), Text(role, "member"), Text(role, "project")));
        Assert.Single(Resources(root, "gcp:projects/iAMMember:IAMMember"));
        foreach (var pool in Resources(root, "gcp:container/nodePool:NodePool"))
        {
            var nodeConfig = Map(Map(pool.Node, "properties"), "nodeConfig");
            Assert.Equal("GKE_METADATA", Text(Map(nodeConfig, "workloadMetadataConfig"), "mode"));
            Assert.Contains("${osforai-node-role}", DependsOn(pool.Node));
        }
        Assert.Equal("${osforai-client-config.project}.svc.id.goog", Text(Map(Map(Resource(root, "osforai-cluster"), "properties"), "workloadIdentityConfig"), "workloadPool"));
    }
}
