using OSForAI.Components.Stacks;
using OSForAI.Components.Azure;
using OSForAI.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The Azure stack as Pulumi would get it, through <see cref="StacksCli.Run"/>, from the real stacks/azure project and
/// from broken copies of it. It must keep the parity contract with the AWS stack (docs: shared/design/IAC.md).
/// <para>
/// Golden file: Golden/azure-dev.yaml is the exact program for the dev stack; regenerate it deliberately with
/// <c>OSAI_UPDATE_GOLDEN=1 dotnet test tests/OSForAI.Tests --filter "FullyQualifiedName~AzureStackTests"</c>
/// and review the diff before committing it.
/// </para>
/// </summary>
public sealed class AzureStackTests
{
    private static readonly string AzureProject = Path.Combine(RepoRoot, "stacks", "azure");

    private static YamlMappingNode Synth(string stack, string? projectDir = null) => StackHarness.Synth("azure", stack, projectDir ?? AzureProject);

    /// <summary>A copy of stacks/azure whose dev stack has keys changed (null: removed).</summary>
    private static TempProject Project(params (string Key, string? Value)[] changes) => new(AzureProject, "osforai-azure", changes);

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_program_declares_the_parity_outputs_with_a_secret_kubeconfig(string stack)
    {
        var root = Synth(stack);
        Assert.Equal("yaml", Text(root, "runtime"));
        Assert.Equal("osforai-azure", Text(root, "name"));
        var outputs = Map(root, "outputs");
        Assert.StartsWith("http://${", Text(outputs, "gatewayUrl"));
        Assert.EndsWith(".status.loadBalancer.ingress[0].ip}", Text(outputs, "gatewayUrl"));
        Assert.Equal("azure://${osforai-data.name}", Text(outputs, "bucketUri"));
        Assert.Equal("${osforai-kubeconfig}", Text(Map(outputs, "kubeconfig"), "fn::secret"));

        // The kubeconfig is the cluster's user credentials, base64-decoded.
        var variables = Map(root, "variables");
        // Marked secret where it is made, so the provider's inputs keep it encrypted too.
        Assert.Equal("${osforai-credentials[0].value}", Text(Map(Map(variables, "osforai-kubeconfig"), "fn::secret"), "fn::fromBase64"));
        var invoke = Map(Map(variables, "osforai-credentials"), "fn::invoke");
        Assert.Equal("azure-native:containerservice:listManagedClusterUserCredentials", Text(invoke, "function"));
        Assert.Equal("kubeconfigs", Text(invoke, "return"));
        Assert.Equal("${osforai-kubeconfig}", Text(Map(Resources(root, "pulumi:providers:kubernetes").Single().Node, "properties"), "kubeconfig"));
        // Same config keys as every other cloud.
        Assert.Equal(
            OSForAI.Components.Stacks.StackConfig.SettingsFor(AzureOffering.Instance).Select(s => s.Key),
            Map(root, "config").Children.Keys.Select(k => ((YamlScalarNode)k).Value!));
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void The_gpu_pool_scales_from_zero_with_the_gpu_taint_and_pool_label(string stack)
    {
        var root = Synth(stack);
        var gpu = Resources(root, "azure-native:containerservice:AgentPool").Single(r => r.Name == "osforai-gpu-pool").Node;
        var props = Map(gpu, "properties");
        Assert.Equal("${osforai-cluster.name}", Text(props, "resourceName"));
        Assert.Equal("User", Text(props, "mode"));
        Assert.Equal("${gpuInstanceType}", Text(props, "vmSize"));
        Assert.Equal("true", Text(props, "enableAutoScaling"));
        Assert.Equal("${gpuMinNodes}", Text(props, "minCount"));
        Assert.Equal("${gpuMaxNodes}", Text(props, "maxCount"));
        Assert.Equal("0", Text(Map(Map(root, "config"), "gpuMinNodes"), "default"));
        Assert.Contains("osforai-azure:gpuMinNodes: 0", File.ReadAllText(Path.Combine(AzureProject, $"Pulumi.{stack}.yaml")));
        Assert.Equal("gpu", Text(Map(props, "nodeLabels"), "osforai.dev/pool"));
        Assert.Equal("${gpuType}", Text(Map(props, "nodeLabels"), "osforai.dev/gpu-type"));
        // The same taint as the AWS node group (key nvidia.com/gpu, value true, NoSchedule).
        Assert.Equal("nvidia.com/gpu=true:NoSchedule", ((YamlSequenceNode)props["nodeTaints"]).Single().ToString());
        Assert.Contains("count", ((YamlSequenceNode)Map(gpu, "options")["ignoreChanges"]).Select(n => n.ToString()));

        var cluster = Map(Resources(root, "azure-native:containerservice:ManagedCluster").Single().Node, "properties");
        Assert.Equal("UserAssigned", Text(Map(cluster, "identity"), "type"));
        var system = Map(Resources(root, "azure-native:containerservice:AgentPool").Single(r => r.Name == "osforai-system-pool").Node, "properties");
        Assert.Equal(("System", "true", "${systemMinNodes}", "${systemMaxNodes}"),
            (Text(system, "mode"), Text(system, "enableAutoScaling"), Text(system, "minCount"), Text(system, "maxCount")));
        Assert.Equal("system", Text(Map(system, "nodeLabels"), "osforai.dev/pool"));
        Assert.False(system.Children.ContainsKey("nodeTaints"));

        // AKS's driver cannot be pinned: the pools skip it and NVIDIA's GPU operator installs the R580 release, the toolkit and the
        // device plugin (so the runtime's own device plugin release is not there), on nodes it finds by nvidia.com/gpu.present.
        Assert.Equal("None", Text(Map(props, "gpuProfile"), "driver"));
        Assert.Equal("true", Text(Map(props, "nodeLabels"), "nvidia.com/gpu.present"));
        Assert.DoesNotContain(Resources(root, "kubernetes:helm.sh/v3:Release"), r => Text(Map(r.Node, "properties"), "chart") == "nvidia-device-plugin");
        var gpuOperator = Map(Resources(root, "kubernetes:helm.sh/v3:Release").Single(r => Text(Map(r.Node, "properties"), "chart") == "gpu-operator").Node, "properties");
        Assert.Equal("${gpuOperatorChartVersion}", Text(gpuOperator, "version"));
        var values = Map(gpuOperator, "values");
        Assert.Equal(("true", "580.95.05"), (Text(Map(values, "driver"), "enabled"), Text(Map(values, "driver"), "version")));
        Assert.StartsWith("580.", OSForAI.Components.Azure.AzureOffering.DriverReleases[int.Parse(StackConfig.DefaultGpuDriverVersion)]);
        var tolerated = ((YamlSequenceNode)Map(values, "daemonsets")["tolerations"]).Children.Select(t => Text(t, "key")).ToList();
        Assert.Equal([NodePools.GpuTaintKey, NodePools.SpotTaintKey], tolerated);
        Assert.Equal("system", Text(Map(Map(values, "operator"), "nodeSelector"), "osforai.dev/pool"));
    }

    [Fact]
    public void The_runtime_gets_the_azure_data_store_settings_and_no_account_key()
    {
        var root = Synth("dev");
        var data = Map(Map(Resources(root, "kubernetes:core/v1:ConfigMap").Single().Node, "properties"), "data");
        Assert.Equal("azure+platform://${osforai-data.name}/osforai", Text(data, "OSForAI__DataStore"));
        Assert.Equal("${osforai-storage.name}", Text(data, "OSForAI__Data__Azure__platform__AccountName"));
        Assert.Equal("WorkloadIdentity", Text(data, "OSForAI__Data__Azure__platform__Credentials"));
        Assert.DoesNotContain(Map(root, "variables").Children.Values.OfType<YamlMappingNode>(),
            v => v.Children.TryGetValue(new YamlScalarNode("fn::invoke"), out var invoke) && Text(invoke, "function").Contains("listStorageAccountKeys"));

        var account = Map(Resources(root, "azure-native:storage:StorageAccount").Single().Node, "properties");
        Assert.Equal("false", Text(account, "allowBlobPublicAccess"));
        Assert.Equal("false", Text(account, "allowSharedKeyAccess"));
        Assert.Equal("None", Text(Map(Resources(root, "azure-native:storage:BlobContainer").Single().Node, "properties"), "publicAccess"));

        var deployment = Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties");
        var container = (YamlMappingNode)((YamlSequenceNode)Map(Map(Map(deployment, "spec"), "template"), "spec")["containers"]).Single();
        Assert.Equal("${osforai-registry.loginServer}/${runtimeImage}", Text(container, "image"));
    }

    // ------------------------------------------------------------------------------------------ issue 15

    [Fact]
    public void The_stack_provisions_a_registry_the_kubelet_may_pull_from_and_pulls_every_image_from_it()
    {
        var root = Synth("dev");
        var registry = Resources(root, "azure-native:containerregistry:Registry").Single();
        Assert.Equal("osforai-registry", registry.Name);
        var props = Map(registry.Node, "properties");
        Assert.Equal("osforai${osforai-storage-suffix.result}", Text(props, "registryName"));
        Assert.Equal("false", Text(props, "adminUserEnabled"));
        Assert.Equal("false", Text(props, "anonymousPullEnabled"));

        // AcrPull for the kubelet identity (the nodes pull with it), on this registry only.
        var grant = Map(Resources(root, "azure-native:authorization:RoleAssignment").Single(r => r.Name == "osforai-kubelet-acr-pull").Node, "properties");
        Assert.Equal("${osforai-cluster.identityProfile.kubeletidentity.objectId}", Text(grant, "principalId"));
        Assert.Equal("ServicePrincipal", Text(grant, "principalType"));
        Assert.EndsWith("/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", Text(grant, "roleDefinitionId"));
        Assert.Equal("${osforai-registry.id}", Text(grant, "scope"));
        // Nothing is deployed on the cluster before the grant.
        var k8s = Resources(root, "pulumi:providers:kubernetes").Single().Node;
        Assert.Contains("${osforai-kubelet-acr-pull}", ((YamlSequenceNode)Map(k8s, "options")["dependsOn"]).Select(n => n.ToString()));

        // CI pushes to the login server; every image is repository:tag there.
        Assert.Equal("${osforai-registry.loginServer}", Text(Map(root, "outputs"), "registry"));
        var yaml = Run(["synth", "azure", "--stack", "dev", "--project-dir", AzureProject]).Out;
        Assert.Contains("image: ${osforai-registry.loginServer}/${runtimeImage}", yaml);
        Assert.Contains("${osforai-registry.loginServer}/${workerPythonImage}", yaml);
        Assert.Contains("${osforai-registry.loginServer}/${workerGpuImage}", yaml);
        Assert.Equal("\"\"", File.ReadAllLines(Path.Combine(AzureProject, "Pulumi.dev.yaml")).Single(l => l.Contains(":registry:", StringComparison.Ordinal)).Split(": ")[1]);
    }

    [Fact]
    public void The_registry_key_pulls_from_an_existing_registry_and_a_reference_with_a_host_is_pulled_as_it_is()
    {
        using var project = Project(("registry", "shared.azurecr.io/team"), ("workerGpuImage", "nvcr.io/acme/worker-gpu:1.2"));
        var root = Synth("dev", project.Dir);
        Assert.Empty(Resources(root, "azure-native:containerregistry:Registry"));
        Assert.DoesNotContain(Resources(root, "azure-native:authorization:RoleAssignment"), r => r.Name.Contains("acr-pull", StringComparison.Ordinal));
        Assert.Equal("${registry}", Text(Map(root, "outputs"), "registry"));
        var yaml = Run(["synth", "azure", "--stack", "dev", "--project-dir", project.Dir]).Out;
        Assert.Contains("image: ${registry}/${runtimeImage}", yaml);
        Assert.Contains("${registry}/${workerPythonImage}", yaml);
        Assert.DoesNotContain("/${workerGpuImage}", yaml);
        Assert.Contains(": ${workerGpuImage}", yaml);
    }

    [Theory]
    [InlineData("registry", "https://myregistry.azurecr.io", "is not a registry host")]
    [InlineData("registry", "My Registry", "is not a registry host")]
    [InlineData("controlPlaneAllowedCidrs", "[203.0.113.0/24, 10.0.0.0/33, nowhere]", "'10.0.0.0/33', 'nowhere'")]
    [InlineData("controlPlaneAllowedCidrs", "203.0.113.0/24", "must be a list of strings")]
    public void A_bad_registry_or_cidr_fails_synth_naming_the_key(string key, string value, string message)
    {
        using var project = Project((key, value));
        var r = Run(["synth", "azure", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"osforai-azure:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Changing_a_pools_vm_size_replaces_it_by_a_pool_with_a_new_name_and_the_clusters_default_pool_stays_as_created()
    {
        var root = Synth("dev");
        foreach (var (pool, prefix, size) in new[] { ("system", "sys", "${systemInstanceType}"), ("gpu", "gpu", "${gpuInstanceType}") })
        {
            var props = Map(Resources(root, "azure-native:containerservice:AgentPool").Single(r => r.Name == $"osforai-{pool}-pool").Node, "properties");
            Assert.Equal(size, Text(props, "vmSize"));
            // The name carries a random suffix that is replaced when the VM size changes (a new name: created before the old pool goes).
            Assert.Equal($"{prefix}${{osforai-{pool}-pool-suffix.result}}", Text(props, "agentPoolName"));
            var suffix = Map(Resources(root, "random:index/randomString:RandomString").Single(r => r.Name == $"osforai-{pool}-pool-suffix").Node, "properties");
            Assert.Equal(size, Text(Map(suffix, "keepers"), "vmSize"));
            Assert.Equal(("false", "false"), (Text(suffix, "upper"), Text(suffix, "special")));
            // A Linux pool name: lower-case letters and digits, 12 at most.
            Assert.True(prefix.Length + int.Parse(Text(suffix, "length"), System.Globalization.CultureInfo.InvariantCulture) <= 12);
        }

        // The cluster's inline pool is the default System pool AKS requires at creation: read then only, kept for AKS's add-ons.
        var cluster = Resources(root, "azure-native:containerservice:ManagedCluster").Single().Node;
        Assert.Equal(["agentPoolProfiles"], ((YamlSequenceNode)Map(cluster, "options")["ignoreChanges"]).Select(n => n.ToString()));
        var inline = (YamlMappingNode)((YamlSequenceNode)Map(cluster, "properties")["agentPoolProfiles"]).Single();
        Assert.Equal(("System", "false", "1"), (Text(inline, "mode"), Text(inline, "enableAutoScaling"), Text(inline, "count")));
        Assert.Equal("CriticalAddonsOnly=true:NoSchedule", ((YamlSequenceNode)inline["nodeTaints"]).Single().ToString());
    }

    [Fact]
    public void The_gpu_pool_carries_the_label_the_device_plugins_default_affinity_needs()
    {
        var props = Map(Resources(Synth("dev"), "azure-native:containerservice:AgentPool").Single(r => r.Name == "osforai-gpu-pool").Node, "properties");
        Assert.Equal("true", Text(Map(props, "nodeLabels"), "nvidia.com/gpu.present"));
    }

    [Fact]
    public void The_api_server_accepts_only_the_allowed_cidrs()
    {
        var root = Synth("dev");
        var cluster = Map(Resources(root, "azure-native:containerservice:ManagedCluster").Single().Node, "properties");
        Assert.Equal("${controlPlaneAllowedCidrs}", Text(Map(cluster, "apiServerAccessProfile"), "authorizedIPRanges"));
        var key = Map(Map(root, "config"), "controlPlaneAllowedCidrs");
        Assert.Equal(("array", "string"), (Text(key, "type"), Text(Map(key, "items"), "type")));
        Assert.Empty((YamlSequenceNode)key["default"]);
        // A valid list passes validation.
        using var project = Project(("controlPlaneAllowedCidrs", "[203.0.113.0/24, '2001:db8::/32']"));
        Assert.Equal("${controlPlaneAllowedCidrs}", Text(Map(Map(Resources(Synth("dev", project.Dir), "azure-native:containerservice:ManagedCluster").Single().Node, "properties"), "apiServerAccessProfile"), "authorizedIPRanges"));
    }

    [Fact]
    public void Validate_checks_the_program_and_every_stack_of_the_project()
    {
        var r = Run(["validate", "azure", "--project-dir", AzureProject]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("dev, prod", r.Out);
    }

    [Theory]
    [InlineData("gpuInstanceType", "Standard_NC24ads_A100_v4", "does not carry nvidia-t4")]
    [InlineData("gpuInstanceType", "Standard_D4s_v5", "does not carry nvidia-t4")]
    [InlineData("gpuType", "nvidia-l4", "not offered on azure")]
    [InlineData("region", "us-east-1", "not an azure region")]
    [InlineData("region", "East US", "not an azure region")]
    [InlineData("gpuMaxNodes", "0", "must be at least 1")]
    [InlineData("runtimeImage", null, "is required")]
    public void A_bad_stack_value_fails_synth_naming_the_key_and_prints_no_program(string key, string? value, string message)
    {
        using var project = Project((key, value));
        var r = Run(["synth", "azure", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"osforai-azure:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
        Assert.Contains("Pulumi.dev.yaml", r.Err);
    }

    [Theory]
    [InlineData("Standard_NC4as_T4_v3", "NC_T4_v3", "nvidia-t4")]
    [InlineData("Standard_NC64as_T4_v3", "NC_T4_v3", "nvidia-t4")]
    [InlineData("Standard_NV36ads_A10_v5", "NV_A10_v5", "nvidia-a10")]
    [InlineData("Standard_NC24ads_A100_v4", "NC_A100_v4", "nvidia-a100")]
    [InlineData("Standard_ND96amsr_A100_v4", "ND_A100_v4", "nvidia-a100")]
    [InlineData("Standard_ND96asr_v4", "ND_v4", "nvidia-a100")]
    [InlineData("Standard_NC40ads_H100_v5", "NC_H100_v5", "nvidia-h100")]
    [InlineData("Standard_ND96isr_H100_v5", "ND_H100_v5", "nvidia-h100")]
    public void Vm_sizes_map_to_the_family_of_their_gpu(string size, string family, string gpuType)
    {
        Assert.Equal(family, AzureOffering.Instance.InstanceFamily(size));
        Assert.Null(AzureOffering.Instance.CheckGpuInstance(gpuType, size));
        Assert.Equal("D_v5", AzureOffering.Instance.InstanceFamily("Standard_D4s_v5"));
        Assert.NotNull(AzureOffering.Instance.CheckGpuInstance(gpuType, "Standard_D4s_v5"));
    }

    [Fact]
    public void Without_a_stack_the_program_has_the_same_providers_and_the_default_database_choices()
    {
        var none = Run(["synth", "azure"], currentDirectory: AzureProject);
        Assert.Equal(0, none.Code);
        var fromEnv = Run(["synth", "azure"], pulumiStack: "dev", currentDirectory: AzureProject);
        Assert.True(fromEnv.Code == 0, fromEnv.Err);
        // Pulumi asks for the plugins without a stack: the packages must not depend on it.
        static IEnumerable<string> Packages(string yaml) => System.Text.RegularExpressions.Regex.Matches(yaml, @"type: ([a-z-]+):").Select(m => m.Groups[1].Value).Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(Packages(none.Out), Packages(fromEnv.Out));
        // The tier of the default size and the deletion lock (protection on by default); dev turns the lock off.
        Assert.Contains("tier: Burstable", none.Out);
        Assert.Contains("azure-native:authorization:ManagementLockByScope", none.Out);
        Assert.DoesNotContain("ManagementLockByScope", fromEnv.Out);
    }

    [Fact]
    public void The_dev_program_matches_the_golden_file_byte_for_byte()
    {
        var r = Run(["synth", "azure", "--stack", "dev", "--project-dir", AzureProject]);
        Assert.Equal(0, r.Code);
        MatchesGolden("azure-dev.yaml", r.Out);
    }
}

/// <summary>The Azure program against the providers' schemas (shared/pulumi-schema).</summary>
public sealed class AzureSchemaTests
{
    [Fact]
    public void The_azure_program_has_no_schema_violations()
    {
        HasNoSchemaViolations(AzureStackProgram.Build("osforai-azure"));
    }

    [Fact]
    public void Validate_checks_the_schema_and_both_stack_files()
    {
        var folder = OSForAI.Tests.Support.SharedData.StackSchemas;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = StacksCli.Run(["validate", "azure", "--schema", folder], stdout, stderr, _ => null);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("dev, prod", stdout.ToString());
    }
}
