using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using OSForAI.Stacks;
using OSForAI.Tests.Support;
using TeamStacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The extension hooks (issue 15, "customisation without a fork"): overrides files in the Pulumi project folder, and a
/// team's own compiler project that registers transforms and replaces a program (stacks/examples/TeamStacks), each
/// changing the synthesized YAML as docs/deploy.md says, with bad overrides refused (exit code 1, the message on stderr,
/// nothing on stdout) and the customised programs checked against the provider schemas, on every cloud.
/// </summary>
public sealed class StackExtensionsTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp", "byo"];
    public static TheoryData<string> ManagedClouds => ["aws", "azure", "gcp"];

    private static string ProjectDir(string cloud) => cloud == "byo" ? RepoRoot : Path.Combine(RepoRoot, "stacks", cloud);

    /// <summary>A copy of a cloud's project (Pulumi.yaml and every stack file) with extra files and extra config lines on every stack.</summary>
    private sealed class Project : IDisposable
    {
        public Project(string cloud, Dictionary<string, string>? files = null, params string[] config)
        {
            Cloud = cloud;
            Dir = Path.Combine(Path.GetTempPath(), "osforai-ext-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Dir);
            var source = ProjectDir(cloud);
            File.Copy(Path.Combine(source, "Pulumi.yaml"), Path.Combine(Dir, "Pulumi.yaml"));
            Name = StackFile.ProjectName(Dir);
            foreach (var stack in Directory.GetFiles(source, "Pulumi.*.yaml"))
            {
                var target = Path.Combine(Dir, Path.GetFileName(stack));
                File.Copy(stack, target);
                File.AppendAllLines(target, config.Select(l => $"  {Name}:{l}"));
            }
            foreach (var (name, text) in files ?? []) Write(name, text);
        }

        public string Cloud { get; }
        public string Dir { get; }
        public string Name { get; }

        public void Write(string name, string text) => File.WriteAllText(Path.Combine(Dir, name), text);

        public Result Synth(string? stack = "dev", StackExtensions? extensions = null)
        {
            string[] args = stack is null ? ["synth", Cloud, "--project-dir", Dir] : ["synth", Cloud, "--stack", stack, "--project-dir", Dir];
            var stdout = new StringWriter { NewLine = "\n" };
            var stderr = new StringWriter { NewLine = "\n" };
            var code = StacksCli.Run(args, stdout, stderr, _ => null, RepoRoot, extensions);
            return new Result(code, stdout.ToString(), stderr.ToString());
        }

        public YamlMappingNode SynthOk(string? stack = "dev", StackExtensions? extensions = null)
        {
            var r = Synth(stack, extensions);
            Assert.True(r.Code == 0, r.Err);
            Assert.Equal("", r.Err);
            var doc = new YamlStream();
            doc.Load(new StringReader(r.Out));
            return (YamlMappingNode)doc.Documents[0].RootNode;
        }

        /// <summary>A synth that must fail as a config error: exit code 1, nothing on stdout; returns stderr.</summary>
        public string SynthFails(string? stack = "dev")
        {
            var r = Synth(stack);
            Assert.True(r.Code == 1, $"exit code {r.Code}: {r.Err}");
            Assert.Equal("", r.Out);
            Assert.StartsWith("osforai-stacks: ", r.Err);
            return r.Err;
        }

        public Result Validate(StackExtensions? extensions = null)
        {
            var stdout = new StringWriter { NewLine = "\n" };
            var stderr = new StringWriter { NewLine = "\n" };
            var code = StacksCli.Run(["validate", Cloud, "--project-dir", Dir, "--schema", SharedData.StackSchemas], stdout, stderr, _ => null, RepoRoot, extensions);
            return new Result(code, stdout.ToString(), stderr.ToString());
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    private static YamlMappingNode Resource(YamlMappingNode root, string name) =>
        (YamlMappingNode)Map(root, "resources")[name];

    private static YamlNode At(YamlNode node, params string[] path) =>
        path.Aggregate(node, (n, key) => ((YamlMappingNode)n)[key]);

    private static string Scalar(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static bool Has(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out var child)) return false;
            node = child;
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------ overrides files

    /// <summary>The same overrides on every cloud: they address the runtime's Kubernetes objects, which every program has.</summary>
    private const string KubernetesOverrides = """
        config:
          team: {type: string, default: ml-platform}
        patches:
          - type: kubernetes:core/v1:Namespace
            properties:
              metadata: {labels: {example.com/team: "${team}"}}
          - resource: osforai-runtime-gateway-service
            properties:
              metadata: {annotations: {example.com/owner: "team ${team} of ${pulumi.stack}", example.com/literal: "$${not-a-reference}"}}
        resources:
          team-quota:
            type: kubernetes:core/v1:ResourceQuota
            properties:
              metadata: {name: team-quota, namespace: "${osforai-runtime-namespace.metadata.name}"}
              spec: {hard: {pods: "200"}}
        remove: [osforai-runtime-gateway-disruption-budget]
        outputs:
          namespace: ${osforai-runtime-namespace.metadata.name}
        """;

    [Theory]
    [MemberData(nameof(Clouds))]
    public void An_overrides_file_patches_adds_removes_and_outputs_the_same_way_on_every_cloud(string cloud)
    {
        var stock = Synth(cloud, "dev", ProjectDir(cloud));
        using var project = new Project(cloud, new() { [StackExtensions.OverridesFile] = KubernetesOverrides });
        var root = project.SynthOk();

        // Merged into the namespace's labels: the stack's labels stay.
        var labels = (YamlMappingNode)At(Resource(root, "osforai-runtime-namespace"), "properties", "metadata", "labels");
        Assert.Equal("${team}", Scalar(labels, "example.com/team"));
        var stockLabels = (YamlMappingNode)At(Resource(stock, "osforai-runtime-namespace"), "properties", "metadata", "labels");
        Assert.All(stockLabels.Children, kv => Assert.Equal(kv.Value, labels[kv.Key]));
        Assert.Equal(stockLabels.Children.Count + 1, labels.Children.Count);
        // Interpolations and the $${ escape come through as Pulumi YAML spells them.
        var annotations = At(Resource(root, "osforai-runtime-gateway-service"), "properties", "metadata", "annotations");
        Assert.Equal("team ${team} of ${pulumi.stack}", Scalar(annotations, "example.com/owner"));
        Assert.Equal("$${not-a-reference}", Scalar(annotations, "example.com/literal"));
        // A new resource gets the stack's Kubernetes provider (the stack's cluster, not whatever ~/.kube/config says).
        var quota = Resource(root, "team-quota");
        Assert.Equal("${osforai-k8s}", Scalar(quota, "options", "provider"));
        Assert.Equal("${osforai-runtime-namespace.metadata.name}", Scalar(quota, "properties", "metadata", "namespace"));
        Assert.False(Has(Map(root, "resources"), "osforai-runtime-gateway-disruption-budget"));
        Assert.True(Has(Map(stock, "resources"), "osforai-runtime-gateway-disruption-budget"));
        Assert.Equal("${osforai-runtime-namespace.metadata.name}", Scalar(root, "outputs", "namespace"));
        Assert.Equal("ml-platform", Scalar(root, "config", "team", "default"));
        // Nothing else moved: the parity outputs are the stock ones.
        foreach (var output in StackExtensions.KeptOutputs)
            Assert.Equal(At(stock, "outputs", output), At(root, "outputs", output));

        // The customised programs (without a stack, and each stack's) pass the provider schemas.
        var validated = project.Validate();
        Assert.True(validated.Code == 0, validated.Err);
    }

    [Fact]
    public void A_stacks_own_overrides_file_applies_to_that_stack_only_after_the_projects()
    {
        using var project = new Project("aws", new()
        {
            [StackExtensions.OverridesFile] = "patches: [{resource: osforai-data, properties: {forceDestroy: true, tags: {owner: platform}}}]",
            [StackExtensions.StackOverridesFile("dev")] = "patches: [{resource: osforai-data, properties: {tags: {owner: dev-team, purpose: scratch}}}]",
        });
        var dev = project.SynthOk("dev");
        var prod = project.SynthOk("prod");
        var plugins = project.SynthOk(stack: null);

        Assert.Equal("true", Scalar(Resource(dev, "osforai-data"), "properties", "forceDestroy"));
        Assert.Equal("dev-team", Scalar(Resource(dev, "osforai-data"), "properties", "tags", "owner"));
        Assert.Equal("scratch", Scalar(Resource(dev, "osforai-data"), "properties", "tags", "purpose"));
        foreach (var other in new[] { prod, plugins })
        {
            Assert.Equal("true", Scalar(Resource(other, "osforai-data"), "properties", "forceDestroy"));
            Assert.Equal("platform", Scalar(Resource(other, "osforai-data"), "properties", "tags", "owner"));
            Assert.False(Has(Resource(other, "osforai-data"), "properties", "tags", "purpose"));
        }
        // A fully qualified stack name (org/project/stack, as PULUMI_STACK may be) finds the same file.
        Assert.Equal("osforai-overrides.dev.yaml", StackExtensions.StackOverridesFile("acme/osforai-aws/dev"));
    }

    [Fact]
    public void A_resource_is_replaced_under_its_name_and_whatever_referred_to_it_follows()
    {
        using var project = new Project("aws", new()
        {
            [StackExtensions.OverridesFile] = """
                replace:
                  osforai-runtime-nvidia-device-plugin:
                    type: kubernetes:helm.sh/v3:Release
                    properties:
                      chart: team-device-plugin
                      version: 1.2.3
                      namespace: kube-system
                      repositoryOpts: {repo: "https://charts.example.com"}
                    options: {retainOnDelete: true}
                  osforai-data:
                    type: aws:s3/bucket:Bucket
                    properties: {bucketPrefix: team-data-}
                    options: {protect: true, import: team-data-2024}
                """,
        });
        var root = project.SynthOk();
        var plugin = Resource(root, "osforai-runtime-nvidia-device-plugin");
        Assert.Equal("team-device-plugin", Scalar(plugin, "properties", "chart"));
        Assert.False(Has(plugin, "properties", "values"));
        Assert.Equal("${osforai-k8s}", Scalar(plugin, "options", "provider"));
        Assert.Equal("true", Scalar(plugin, "options", "retainOnDelete"));
        var bucket = Resource(root, "osforai-data");
        Assert.Equal("team-data-", Scalar(bucket, "properties", "bucketPrefix"));
        Assert.Equal("team-data-2024", Scalar(bucket, "options", "import"));
        // What referred to the stock bucket refers to the replacement, by the same name.
        Assert.StartsWith("${osforai-data.", Scalar(Resource(root, "osforai-data-public-access-block"), "properties", "bucket"));
        var validated = project.Validate();
        Assert.True(validated.Code == 0, validated.Err);
    }

    [Fact]
    public void A_patch_that_breaks_the_schema_is_caught_by_validate_with_the_property_named()
    {
        using var project = new Project("gcp", new()
        {
            [StackExtensions.StackOverridesFile("prod")] = """
                patches:
                  - resource: osforai-data
                    properties: {forceDestroy: "yes", versionning: {enabled: true}}
                    options: {ignoreChanges: [lable]}
                """,
        });
        // Synth has no schemas (Pulumi checks them at preview); validate has them.
        Assert.Equal(0, project.Synth("prod").Code);
        var r = project.Validate();
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("stack 'prod': the program breaks the provider schemas", r.Err);
        Assert.Contains("osforai-data (gcp:storage/bucket:Bucket): forceDestroy: expected a boolean, got string \"yes\"", r.Err);
        Assert.Contains("versionning: unknown property of gcp:storage/bucket:Bucket (did you mean 'versioning'?)", r.Err);
        Assert.Contains("options.ignoreChanges", r.Err);
        Assert.DoesNotContain("stack 'dev'", r.Err);
    }

    [Fact]
    public void Every_problem_of_a_bad_overrides_file_is_named_with_its_line_and_the_nearest_names()
    {
        using var project = new Project("aws", new()
        {
            [StackExtensions.OverridesFile] = """
                patches:
                  - resource: osforai-bucket
                    properties: {forceDestroy: true}
                  - type: aws:eks/nodegroup:NodeGroup
                    properties: {labels: {a: b}}
                  - resource: osforai-data
                    properties: {tags: {nothere: null}}
                    options: {protec: true}
                resources:
                  osforai-vpc: {type: aws:ec2/vpc:Vpc}
                  dns:
                    type: aws:route53/record:Record
                    properties: {zoneId: "${dnsZone}", name: x, type: A, records: ["${osforai-runtime-gateway-servic.status}"]}
                remove: [osforai-k8s, osforai-nat-gw]
                outputs:
                  kubeconfig: null
                  registri: null
                tansforms: {}
                """,
        });
        var err = project.SynthFails();
        string[] expected =
        [
            "osforai-overrides.yaml does not apply to the osforai-aws program:",
            "osforai-overrides.yaml:2: patches[0] (resource osforai-bucket): the osforai-aws program has no resource named 'osforai-bucket' (nearest: osforai-data,",
            "osforai-overrides.yaml:4: patches[1] (type aws:eks/nodegroup:NodeGroup): the osforai-aws program has no resource of that type (nearest: aws:eks/nodeGroup:NodeGroup",
            "osforai-overrides.yaml:7: patches[2] (resource osforai-data): properties.tags.nothere is null (delete), but the resource has no such property",
            "osforai-overrides.yaml:8: patches[2] (resource osforai-data).options: unknown or unsupported option 'protec' (nearest: protect",
            "osforai-overrides.yaml:10: resources.osforai-vpc: the program already has a resource named 'osforai-vpc'",
            "${dnsZone}: the osforai-aws program has no resource, variable or config key named 'dnsZone' (nearest: ",
            "${osforai-runtime-gateway-servic.status}: the osforai-aws program has no resource, variable or config key named 'osforai-runtime-gateway-servic' (nearest: osforai-runtime-gateway-service",
            "osforai-overrides.yaml:14: remove osforai-k8s: it is still referred to by osforai-cluster-autoscaler (options.provider),",
            "osforai-overrides.yaml:14: remove: the osforai-aws program has no resource named 'osforai-nat-gw' (nearest: osforai-nat",
            "osforai-overrides.yaml:16: outputs.kubeconfig: every stack keeps this output",
            "osforai-overrides.yaml:17: outputs.registri is null (remove), but the osforai-aws program has no such output (nearest: registry",
            "osforai-overrides.yaml:18: unknown section 'tansforms'",
        ];
        foreach (var line in expected) Assert.Contains(line, err);
    }

    [Fact]
    public void Overrides_that_are_not_yaml_or_not_a_mapping_are_refused_with_the_file_named()
    {
        using var project = new Project("azure", new() { [StackExtensions.OverridesFile] = "patches: [resource: x" });
        Assert.Contains("osforai-overrides.yaml: not valid YAML", project.SynthFails());
        project.Write(StackExtensions.OverridesFile, "- just a list");
        Assert.Contains("osforai-overrides.yaml: must be a YAML mapping", project.SynthFails());
        // An empty file changes nothing.
        project.Write(StackExtensions.OverridesFile, "# nothing yet\n");
        Assert.Equal(Run(["synth", "azure", "--stack", "dev", "--project-dir", ProjectDir("azure")]).Out, project.Synth().Out);
    }

    [Fact]
    public void A_stacks_overrides_may_not_need_a_plugin_that_the_program_without_a_stack_lacks()
    {
        using var project = new Project("gcp", new()
        {
            [StackExtensions.StackOverridesFile("dev")] = "resources: {dev-key: {type: 'tls:index/privateKey:PrivateKey', properties: {algorithm: ED25519}}}",
        });
        var err = project.SynthFails();
        Assert.Contains("stack 'dev': its program needs the package(s) tls, which the osforai-gcp program without a stack does not use", err);
        Assert.Contains("add resources of a new package in osforai-overrides.yaml", err);
        // The same resource for every stack is fine: Pulumi then learns of the plugin.
        File.Move(Path.Combine(project.Dir, StackExtensions.StackOverridesFile("dev")), Path.Combine(project.Dir, StackExtensions.OverridesFile));
        Assert.Equal("tls:index/privateKey:PrivateKey", Scalar(Resource(project.SynthOk(), "dev-key"), "type"));
    }

    [Fact]
    public void A_config_key_the_overrides_declare_without_a_default_must_be_set_in_the_stack()
    {
        using var project = new Project("azure", new() { [StackExtensions.OverridesFile] = "config: {dnsZone: {type: string}}\noutputs: {zone: '${dnsZone}'}" });
        Assert.Contains("Pulumi.dev.yaml: the stack's customisations declare config key(s) without a default that it does not set: osforai-azure:dnsZone", project.SynthFails());
        // Without a stack (Pulumi asking for plugins) there is nothing to check.
        Assert.Equal(0, project.Synth(stack: null).Code);
        File.AppendAllText(Path.Combine(project.Dir, "Pulumi.dev.yaml"), "  osforai-azure:dnsZone: example.com\n");
        Assert.Equal("${dnsZone}", Scalar(project.SynthOk(), "outputs", "zone"));
    }

    [Fact]
    public void Validate_names_a_stack_overrides_file_whose_stack_does_not_exist()
    {
        using var project = new Project("aws", new() { ["osforai-overrides.prd.yaml"] = "patches: [{resource: osforai-data, properties: {forceDestroy: true}}]" });
        var r = project.Validate();
        Assert.Equal(1, r.Code);
        Assert.Contains("osforai-overrides.prd.yaml: there is no stack 'prd' (no Pulumi.prd.yaml) (nearest: prod", r.Err);
    }

    // ------------------------------------------------------------------------------------------ committed examples

    /// <summary>The config keys each example declares, with values for the test.</summary>
    private static readonly Dictionary<string, string[]> ExampleConfig = new()
    {
        ["aws"] = ["dnsZoneId: Z0123456789ABCDEFGHIJ", "dnsName: osforai.example.com"],
        ["azure"] = ["dnsZoneResourceGroup: dns", "dnsZone: example.com"],
        ["gcp"] = ["dnsManagedZone: example-com", "dnsName: osforai.example.com."],
    };

    [Theory]
    [MemberData(nameof(ManagedClouds))]
    public void The_example_overrides_of_every_cloud_add_a_dns_record_tags_and_a_node_label_and_pass_the_schemas(string cloud)
    {
        var example = StackExtensions.ExampleOverrides(RepoRoot, cloud);
        Assert.NotNull(example);
        using var project = new Project(cloud, new() { [StackExtensions.OverridesFile] = File.ReadAllText(example) }, ExampleConfig[cloud]);
        var root = project.SynthOk();

        // The extra resource: a DNS record for the gateway's load balancer, on the stack's provider, and its output.
        var dns = Resource(root, "gateway-dns");
        var provider = Map(root, "resources").Children.Single(kv => Scalar(kv.Value, "type") == $"pulumi:providers:{(cloud == "azure" ? "azure-native" : cloud)}").Key.ToString();
        Assert.Equal($"${{{provider}}}", Scalar(dns, "options", "provider"));
        Assert.Contains("${osforai-runtime-gateway-service.status.loadBalancer.ingress[0].", Flatten(At(dns, "properties")));
        Assert.StartsWith("${gateway-dns.", Scalar(root, "outputs", "gatewayName"));

        // Tags or labels: the team's, next to the stack's own.
        var tagged = cloud switch
        {
            "aws" => At(Resource(root, "osforai-aws"), "properties", "defaultTags", "tags"),
            "azure" => At(Resource(root, "osforai-resource-group"), "properties", "tags"),
            _ => At(Resource(root, "osforai-gcp"), "properties", "defaultLabels"),
        };
        Assert.Equal("ml-platform", Scalar(tagged, "team"));
        Assert.Equal("4711", Scalar(tagged, "cost-center"));
        Assert.Equal("pulumi", Scalar(tagged, "managed-by"));

        // Every node pool carries the team's node label next to the pool label.
        var (poolType, labelsPath) = cloud switch
        {
            "aws" => ("aws:eks/nodeGroup:NodeGroup", new[] { "properties", "labels" }),
            "azure" => ("azure-native:containerservice:AgentPool", new[] { "properties", "nodeLabels" }),
            _ => ("gcp:container/nodePool:NodePool", new[] { "properties", "nodeConfig", "labels" }),
        };
        var pools = Resources(root, poolType).ToList();
        Assert.True(pools.Count >= 2);
        foreach (var (_, pool) in pools)
        {
            var labels = (YamlMappingNode)At(pool, labelsPath);
            Assert.Contains(labels.Children.Keys, k => k.ToString() is "example.com/team" or "team");
            Assert.Contains(labels.Children.Keys, k => k.ToString() == "osforai.dev/pool");
        }

        // The bucket is emptied on destroy where the cloud has the switch; the Helm value where the cloud runs the chart.
        if (cloud != "azure") Assert.Equal("true", Scalar(Resource(root, "osforai-data"), "properties", "forceDestroy"));
        if (cloud == "aws") Assert.Equal("5m", Scalar(Resource(root, "osforai-cluster-autoscaler"), "properties", "values", "extraArgs", "scale-down-unneeded-time"));
        if (cloud == "azure") Assert.Equal("false", Scalar(Resource(root, "osforai-gpu-operator"), "properties", "values", "dcgmExporter", "enabled"));

        var validated = project.Validate();
        Assert.True(validated.Code == 0, validated.Err);
    }

    [Fact]
    public void The_overrides_example_in_the_deploy_guide_applies_to_the_aws_stack_and_passes_the_schemas()
    {
        var guide = File.ReadAllText(Path.Combine(RepoRoot, "docs", "deploy.md"));
        var section = guide[guide.IndexOf("## Customising a stack without a fork", StringComparison.Ordinal)..];
        var start = section.IndexOf("```yaml\n", StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = section[start..section.IndexOf("```", start, StringComparison.Ordinal)];
        using var project = new Project("aws", new() { [StackExtensions.OverridesFile] = yaml }, ExampleConfig["aws"]);
        var root = project.SynthOk();
        Assert.Equal("true", Scalar(Resource(root, "osforai-data"), "properties", "forceDestroy"));
        Assert.Equal("true", Scalar(Resource(root, "osforai-gpu-nodes"), "options", "protect"));
        Assert.False(Has(Map(root, "resources"), "osforai-runtime-nvidia-device-plugin"));
        Assert.Equal("${gateway-dns.fqdn}", Scalar(root, "outputs", "gatewayName"));
        var validated = project.Validate();
        Assert.True(validated.Code == 0, validated.Err);
    }

    // ------------------------------------------------------------------------------------------ code hooks

    [Theory]
    [MemberData(nameof(Clouds))]
    public void A_registered_transform_runs_on_every_cloud_before_the_overrides_files(string cloud)
    {
        // The overrides file patches a label that only the transform (TeamStacks' KubernetesLabels) adds.
        using var project = new Project(cloud, new()
        {
            [StackExtensions.OverridesFile] = "patches: [{type: 'kubernetes:apps/v1:Deployment', properties: {metadata: {labels: {example.com/team: overridden}}}}]",
        });
        var root = project.SynthOk(extensions: TeamCustomisations.Create());
        foreach (var (name, resource) in Map(root, "resources").Children.Select(kv => (kv.Key.ToString(), (YamlMappingNode)kv.Value)))
        {
            var type = Scalar(resource, "type");
            if (!type.StartsWith("kubernetes:", StringComparison.Ordinal) || !Has(resource, "properties", "metadata")) continue;
            var expected = type == "kubernetes:apps/v1:Deployment" ? "overridden" : TeamCustomisations.Team;
            Assert.True(Has(resource, "properties", "metadata", "labels", "example.com/team"), $"{cloud}: {name} has no team label");
            Assert.Equal(expected, Scalar(resource, "properties", "metadata", "labels", "example.com/team"));
        }
        var validated = project.Validate(TeamCustomisations.Create());
        Assert.True(validated.Code == 0, validated.Err);
    }

    [Fact]
    public void A_transform_may_depend_on_the_stack_and_on_the_cloud()
    {
        using var aws = new Project("aws");
        var extensions = TeamCustomisations.Create();
        var prod = aws.SynthOk("prod", extensions);
        var versioning = Resource(prod, "team-data-versioning");
        Assert.Equal("aws:s3/bucketVersioning:BucketVersioning", Scalar(versioning, "type"));
        Assert.Equal("${osforai-data.id}", Scalar(versioning, "properties", "bucket"));
        Assert.Equal("${osforai-aws}", Scalar(versioning, "options", "provider"));
        Assert.False(Has(Map(aws.SynthOk("dev", extensions), "resources"), "team-data-versioning"));
        Assert.False(Has(Map(aws.SynthOk("prod"), "resources"), "team-data-versioning"));
        using var gcp = new Project("gcp");
        Assert.False(Has(Map(gcp.SynthOk("prod", extensions), "resources"), "team-data-versioning"));
    }

    [Fact]
    public void A_replaced_program_builds_the_cloud_from_the_teams_choice_of_component_args()
    {
        using var byo = new Project("byo");
        // The stock program follows the stack's devicePlugin (true in the committed file); the team's never installs it.
        Assert.True(Has(Map(byo.SynthOk("dev"), "resources"), "osforai-runtime-nvidia-device-plugin"));
        var root = byo.SynthOk("dev", TeamCustomisations.Create());
        Assert.False(Has(Map(root, "resources"), "osforai-runtime-nvidia-device-plugin"));
        Assert.Equal(Synth("byo", "dev", RepoRoot)["outputs"], root["outputs"]);
    }

    [Fact]
    public void The_registration_api_refuses_an_unknown_cloud_and_a_second_program_for_one_cloud()
    {
        Assert.Throws<ArgumentException>(() => new StackExtensions().Transform((_, _) => { }, "oci"));
        Assert.Throws<ArgumentException>(() => new StackExtensions().Program("openstack", (_, stock) => stock()));
        var extensions = new StackExtensions().Program("gcp", (_, stock) => stock());
        Assert.Throws<InvalidOperationException>(() => extensions.Program("gcp", (_, stock) => stock()));
    }

    [Fact]
    public void A_replaced_program_gets_the_context_and_the_stock_build()
    {
        var seen = new List<StackContext>();
        var extensions = new StackExtensions().Program("azure", (context, stock) =>
        {
            seen.Add(context);
            var program = stock();
            program.AddOutput("team", TeamCustomisations.Team);
            return program;
        });
        using var project = new Project("azure");
        var root = project.SynthOk("prod", extensions);
        Assert.Equal(TeamCustomisations.Team, Scalar(root, "outputs", "team"));
        // The stack's program, then the one without a stack (the synth compares the packages of both).
        Assert.Equal(["prod", null], seen.Select(c => c.Stack?.Stack));
        Assert.All(seen, c => Assert.Equal(("azure", "osforai-azure", project.Dir), (c.Cloud, c.ProjectName, c.ProjectDirectory)));
    }

    private static string Flatten(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode seq => string.Join('\n', seq.Children.Select(Flatten)),
        YamlMappingNode map => string.Join('\n', map.Children.Select(kv => $"{kv.Key}: {Flatten(kv.Value)}")),
        _ => "",
    };
}
