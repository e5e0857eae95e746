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

    private static YamlMappingNode Synth(string stack) => StackHarness.Synth("azure", stack, AzureProject);

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
        Assert.Equal("${osforai-credentials[0].value}", Text(Map(variables, "osforai-kubeconfig"), "fn::fromBase64"));
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
        var gpu = Resources(root, "azure-native:containerservice:AgentPool").Single().Node;
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
        var system = (YamlMappingNode)((YamlSequenceNode)cluster["agentPoolProfiles"]).Single();
        Assert.Equal(("System", "true", "${systemMinNodes}", "${systemMaxNodes}"),
            (Text(system, "mode"), Text(system, "enableAutoScaling"), Text(system, "minCount"), Text(system, "maxCount")));
        Assert.Equal("system", Text(Map(system, "nodeLabels"), "osforai.dev/pool"));
        Assert.False(system.Children.ContainsKey("nodeTaints"));

        // AKS installs drivers but not the device plugin: the runtime deploys it onto the GPU pool.
        var plugin = Resources(root, "kubernetes:helm.sh/v3:Release").Single(r => Text(Map(r.Node, "properties"), "chart") == "nvidia-device-plugin");
        Assert.Equal("gpu", Text(Map(Map(Map(plugin.Node, "properties"), "values"), "nodeSelector"), "osforai.dev/pool"));
    }

    [Fact]
    public void The_runtime_gets_the_azure_data_store_settings_and_the_account_key_as_a_secret_file()
    {
        var root = Synth("dev");
        var data = Map(Map(Resources(root, "kubernetes:core/v1:ConfigMap").Single().Node, "properties"), "data");
        Assert.Equal("azure+platform://${osforai-data.name}/osforai", Text(data, "OSForAI__DataStore"));
        Assert.Equal("${osforai-storage.name}", Text(data, "OSForAI__Data__Azure__platform__AccountName"));
        var keyFile = Text(data, "OSForAI__Data__Azure__platform__AccountKeyFile");
        Assert.StartsWith("/var/run/secrets/osforai/data/", keyFile);
        var secretData = Map(Map(Resources(root, "kubernetes:core/v1:Secret").Single(r => r.Name.EndsWith("-data-credentials", StringComparison.Ordinal)).Node, "properties"), "stringData");
        Assert.Equal("${osforai-storage-keys[0].value}", Text(Map(secretData, Path.GetFileName(keyFile)), "fn::secret"));
        var keys = Map(Map(Map(root, "variables"), "osforai-storage-keys"), "fn::invoke");
        Assert.Equal("azure-native:storage:listStorageAccountKeys", Text(keys, "function"));

        var account = Map(Resources(root, "azure-native:storage:StorageAccount").Single().Node, "properties");
        Assert.Equal("false", Text(account, "allowBlobPublicAccess"));
        Assert.Equal("None", Text(Map(Resources(root, "azure-native:storage:BlobContainer").Single().Node, "properties"), "publicAccess"));

        var deployment = Map(Resources(root, "kubernetes:apps/v1:Deployment").Single().Node, "properties");
        var container = (YamlMappingNode)((YamlSequenceNode)Map(Map(Map(deployment, "spec"), "template"), "spec")["containers"]).Single();
        Assert.Equal("${runtimeImage}", Text(container, "image"));
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
    [SkippableFact]
    public void The_azure_program_has_no_schema_violations()
    {
        HasNoSchemaViolations(AzureStackProgram.Build("osforai-azure"));
    }

    [SkippableFact]
    public void Validate_checks_the_schema_and_both_stack_files()
    {
        var folder = OSForAI.Tests.Support.SharedData.PulumiSchema;
        Skip.If(folder is null, OSForAI.Tests.Support.SharedData.PulumiSchemaSkipReason);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = StacksCli.Run(["validate", "azure", "--schema", folder], stdout, stderr, _ => null);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("dev, prod", stdout.ToString());
    }
}
