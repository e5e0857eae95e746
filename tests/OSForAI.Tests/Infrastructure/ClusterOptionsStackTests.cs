using OSForAI.Components.Aws;
using OSForAI.Components.Azure;
using OSForAI.Components.Gcp;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Issue 15, security posture and customisation: privateControlPlane, controlPlaneLogs, secretsEncryption, gpuSpot, and the cluster
/// access of adminPrincipals/ciPrincipal on Azure and GCP — each off by default, each turned on by one key in the stack file, the
/// result valid against the providers' schemas. Also node-level metadata protection (AWS IMDS) and GKE's private nodes.
/// </summary>
public sealed class ClusterOptionsStackTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static string ProjectDir(string cloud) => Path.Combine(RepoRoot, "stacks", cloud);

    /// <summary>
    /// A copy of the dev stack with these entries under its config (keys prefixed with the project's name; lines starting with a blank
    /// continue the entry before); an entry replaces the file's own entry for the same key.
    /// </summary>
    private static TempProject With(string cloud, params string[] entries)
    {
        var project = new TempProject(ProjectDir(cloud), "osforai-" + cloud);
        var file = Path.Combine(project.Dir, "Pulumi.dev.yaml");
        var lines = File.ReadAllLines(file).ToList();
        foreach (var key in entries.Where(e => !e.StartsWith(' ')).Select(e => e[..e.IndexOf(':')]))
        {
            var i = lines.FindIndex(l => l.StartsWith($"  osforai-{cloud}:{key}:", StringComparison.Ordinal));
            if (i < 0) continue;
            lines.RemoveAt(i);
            while (i < lines.Count && lines[i].StartsWith("    ", StringComparison.Ordinal)) lines.RemoveAt(i);
        }
        lines.AddRange(entries.Select(e => e.StartsWith(' ') ? e : $"  osforai-{cloud}:{e}"));
        File.WriteAllLines(file, lines);
        return project;
    }

    private static PulumiProgram Build(string cloud, string projectDir)
    {
        var stack = StackFile.Load(projectDir, "dev");
        return cloud switch
        {
            "aws" => AwsStackProgram.Build(stack: stack),
            "azure" => AzureStackProgram.Build(stack: stack),
            _ => GcpStackProgram.Build(stack: stack),
        };
    }

    private static YamlMappingNode Props(YamlMappingNode root, string type, string? name = null) =>
        Map(Resources(root, type).Single(r => name is null || r.Name == name).Node, "properties");
    private static List<string> Strings(YamlNode node) => ((YamlSequenceNode)node).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
    private static bool Has(YamlMappingNode node, string key) => node.Children.ContainsKey(new YamlScalarNode(key));

    private static readonly string[] AllOn = ["privateControlPlane: true", "controlPlaneLogs: true", "secretsEncryption: true", "gpuSpot: true"];

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Every_option_on_synthesizes_a_program_the_providers_accept(string cloud)
    {
        using var project = With(cloud, AllOn);
        HasNoSchemaViolations(Build(cloud, project.Dir));
        Assert.Equal(0, Run(["validate", cloud, "--project-dir", project.Dir]).Code);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void A_private_control_plane_does_not_take_allowed_cidrs_and_flags_are_booleans(string cloud)
    {
        using var project = With(cloud, "privateControlPlane: true", "controlPlaneAllowedCidrs:", "    - 203.0.113.0/24", "gpuSpot: sometimes");
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("controlPlaneAllowedCidrs", r.Err);
        Assert.Contains("privateControlPlane", r.Err);
        Assert.Contains("gpuSpot", r.Err);
    }

    [Fact]
    public void Aws_options_become_the_clusters_endpoint_logs_kms_key_and_spot_capacity()
    {
        var off = Synth("aws", "dev", ProjectDir("aws"));
        var offCluster = Props(off, "aws:eks/cluster:Cluster");
        Assert.Equal("true", Text(Map(offCluster, "vpcConfig"), "endpointPublicAccess"));
        Assert.False(Has(offCluster, "enabledClusterLogTypes") || Has(offCluster, "encryptionConfig"));
        Assert.Empty(Resources(off, "aws:kms/key:Key"));
        Assert.Equal("ON_DEMAND", Text(Props(off, "aws:eks/nodeGroup:NodeGroup", "osforai-gpu-nodes"), "capacityType"));

        using var project = With("aws", AllOn);
        var on = Synth("aws", "dev", project.Dir);
        var cluster = Props(on, "aws:eks/cluster:Cluster");
        Assert.Equal("false", Text(Map(cluster, "vpcConfig"), "endpointPublicAccess"));
        Assert.Equal("true", Text(Map(cluster, "vpcConfig"), "endpointPrivateAccess"));
        Assert.False(Has(Map(cluster, "vpcConfig"), "publicAccessCidrs"));
        Assert.Equal(["api", "audit", "authenticator"], Strings(cluster["enabledClusterLogTypes"]));
        var encryption = Map(cluster, "encryptionConfig");
        Assert.Equal("${osforai-secrets-key.arn}", Text(Map(encryption, "provider"), "keyArn"));
        Assert.Equal(["secrets"], Strings(encryption["resources"]));
        Assert.Equal("true", Text(Props(on, "aws:kms/key:Key"), "enableKeyRotation"));
        var keyPolicy = Props(on, "aws:iam/rolePolicy:RolePolicy", "osforai-cluster-secrets-key");
        Assert.Equal("${osforai-cluster-role.name}", Text(keyPolicy, "role"));
        Assert.Equal("SPOT", Text(Props(on, "aws:eks/nodeGroup:NodeGroup", "osforai-gpu-nodes"), "capacityType"));
    }

    [Fact]
    public void Aws_nodes_answer_instance_metadata_to_themselves_only()
    {
        var root = Synth("aws", "dev", ProjectDir("aws"));
        var templates = Resources(root, "aws:ec2/launchTemplate:LaunchTemplate").ToDictionary(r => r.Name, r => Map(r.Node, "properties"));
        Assert.Equal(2, templates.Count);
        foreach (var template in templates.Values)
        {
            var metadata = Map(template, "metadataOptions");
            // IMDSv2 only, and a response hop limit of 1: a pod's packets take a second hop, so no pod gets the node role's credentials.
            Assert.Equal("required", Text(metadata, "httpTokens"));
            Assert.Equal("1", Text(metadata, "httpPutResponseHopLimit"));
        }
        foreach (var group in new[] { "osforai-system-nodes", "osforai-gpu-nodes" })
        {
            var props = Props(root, "aws:eks/nodeGroup:NodeGroup", group);
            var template = Map(props, "launchTemplate");
            Assert.StartsWith("${osforai-", Text(template, "id"));
            Assert.False(Has(props, "diskSize"), "EKS refuses diskSize beside a launch template");
        }
        var gpuDisk = (YamlMappingNode)((YamlSequenceNode)templates["osforai-gpu-launch-template"]["blockDeviceMappings"]).Children.Single();
        Assert.Equal("200", Text(Map(gpuDisk, "ebs"), "volumeSize"));
        Assert.Equal("true", Text(Map(gpuDisk, "ebs"), "encrypted"));
    }

    [Fact]
    public void Gcp_nodes_are_private_behind_cloud_nat_and_options_become_the_clusters_endpoint_logs_kms_and_spot()
    {
        var off = Synth("gcp", "dev", ProjectDir("gcp"));
        var offCluster = Props(off, "gcp:container/cluster:Cluster");
        Assert.Equal("true", Text(Map(offCluster, "privateClusterConfig"), "enablePrivateNodes"));
        Assert.Equal("false", Text(Map(offCluster, "privateClusterConfig"), "enablePrivateEndpoint"));
        Assert.DoesNotContain("APISERVER", Strings(Map(offCluster, "loggingConfig")["enableComponents"]));
        Assert.False(Has(offCluster, "databaseEncryption"));
        var nat = Props(off, "gcp:compute/routerNat:RouterNat");
        Assert.Equal("${osforai-router.name}", Text(nat, "router"));
        Assert.Equal("ALL_SUBNETWORKS_ALL_IP_RANGES", Text(nat, "sourceSubnetworkIpRangesToNat"));
        Assert.Equal("true", Text(Props(off, "gcp:compute/subnetwork:Subnetwork"), "privateIpGoogleAccess"));

        using var project = With("gcp", AllOn);
        var on = Synth("gcp", "dev", project.Dir);
        var cluster = Props(on, "gcp:container/cluster:Cluster");
        Assert.Equal("true", Text(Map(cluster, "privateClusterConfig"), "enablePrivateEndpoint"));
        Assert.Contains("APISERVER", Strings(Map(cluster, "loggingConfig")["enableComponents"]));
        Assert.Equal("ENCRYPTED", Text(Map(cluster, "databaseEncryption"), "state"));
        Assert.Equal("${osforai-secrets-key.id}", Text(Map(cluster, "databaseEncryption"), "keyName"));
        var grant = Props(on, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember");
        Assert.Equal("roles/cloudkms.cryptoKeyEncrypterDecrypter", Text(grant, "role"));
        Assert.Equal("serviceAccount:service-${osforai-project.number}@container-engine-robot.iam.gserviceaccount.com", Text(grant, "member"));
        var gpuConfig = Map(Props(on, "gcp:container/nodePool:NodePool", "osforai-gpu-nodes"), "nodeConfig");
        Assert.Equal("true", Text(gpuConfig, "spot"));
    }

    [Fact]
    public void Azure_options_become_a_private_cluster_diagnostic_logs_key_vault_kms_and_spot_pool()
    {
        var off = Synth("azure", "dev", ProjectDir("azure"));
        var offCluster = Props(off, "azure-native:containerservice:ManagedCluster");
        Assert.False(Has(Map(offCluster, "apiServerAccessProfile"), "enablePrivateCluster"));
        Assert.False(Has(Map(offCluster, "securityProfile"), "azureKeyVaultKms"));
        Assert.Empty(Resources(off, "azure-native:monitor:DiagnosticSetting"));

        using var project = With("azure", AllOn);
        var on = Synth("azure", "dev", project.Dir);
        var cluster = Props(on, "azure-native:containerservice:ManagedCluster");
        Assert.Equal("true", Text(Map(cluster, "apiServerAccessProfile"), "enablePrivateCluster"));
        var kms = Map(Map(cluster, "securityProfile"), "azureKeyVaultKms");
        Assert.Equal("${osforai-secrets-key.keyUriWithVersion}", Text(kms, "keyId"));
        var vault = Map(Props(on, "azure-native:keyvault:Vault"), "properties");
        Assert.Equal("true", Text(vault, "enableRbacAuthorization"));
        Assert.Equal("true", Text(vault, "enablePurgeProtection"));
        var keyGrant = Props(on, "azure-native:authorization:RoleAssignment", "osforai-cluster-secrets-key");
        Assert.Equal("${osforai-cluster-identity.principalId}", Text(keyGrant, "principalId"));
        Assert.EndsWith(AzureInferenceStack.KeyVaultCryptoUserRole, Text(keyGrant, "roleDefinitionId"));
        var logs = Props(on, "azure-native:monitor:DiagnosticSetting");
        Assert.Equal("${osforai-cluster.id}", Text(logs, "resourceUri"));
        Assert.Equal(["kube-apiserver", "kube-audit-admin", "guard"],
            ((YamlSequenceNode)logs["logs"]).Children.Select(l => Text(l, "category")).ToList());
        var gpuPool = Props(on, "azure-native:containerservice:AgentPool", "osforai-gpu-pool");
        Assert.Equal(("Spot", "Delete", "-1"), (Text(gpuPool, "scaleSetPriority"), Text(gpuPool, "scaleSetEvictionPolicy"), Text(gpuPool, "spotMaxPrice")));
    }

    private const string AdminId = "3f2504e0-4f89-11d3-9a0c-0305e82c3301", CiId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    [Fact]
    public void Azure_admins_sign_in_with_entra_id_and_azure_rbac_and_local_accounts_go()
    {
        var off = Props(Synth("azure", "dev", ProjectDir("azure")), "azure-native:containerservice:ManagedCluster");
        Assert.False(Has(off, "aadProfile") || Has(off, "disableLocalAccounts"));

        using var project = With("azure", "adminPrincipals:", $"    - {AdminId}", $"ciPrincipal: {CiId}");
        var root = Synth("azure", "dev", project.Dir);
        var cluster = Props(root, "azure-native:containerservice:ManagedCluster");
        Assert.Equal(("true", "true"), (Text(Map(cluster, "aadProfile"), "managed"), Text(Map(cluster, "aadProfile"), "enableAzureRBAC")));
        Assert.Equal("true", Text(cluster, "disableLocalAccounts"));
        var grants = Resources(root, "azure-native:authorization:RoleAssignment")
            .Where(r => r.Name.StartsWith("osforai-admin-", StringComparison.Ordinal) || r.Name.StartsWith("osforai-ci-", StringComparison.Ordinal))
            .Select(r => Map(r.Node, "properties")).ToList();
        Assert.Equal(4, grants.Count); // RBAC Cluster Admin and Cluster User, for each of the two
        Assert.All(grants, g => Assert.Equal("${osforai-cluster.id}", Text(g, "scope")));
        Assert.Equal(2, grants.Count(g => Text(g, "roleDefinitionId").EndsWith(AzureInferenceStack.AksRbacClusterAdminRole, StringComparison.Ordinal)));
        Assert.Contains(grants, g => g["principalId"] is YamlScalarNode { Value: "${ciPrincipal}" });
        // The exec (kubelogin) form of the kubeconfig, signing in with the Azure CLI, not the interactive device code.
        Assert.Equal("exec", Text(Map(Map(Map(root, "variables"), "osforai-credentials"), "fn::invoke")["arguments"], "format"));
        var kubeconfig = Map(Map(Map(root, "variables"), "osforai-kubeconfig"), "fn::secret");
        var join = (YamlSequenceNode)kubeconfig["fn::join"];
        Assert.Equal("azurecli", ((YamlScalarNode)join.Children[0]).Value);
        Assert.Equal("devicecode", ((YamlScalarNode)((YamlSequenceNode)((YamlMappingNode)join.Children[1])["fn::split"]).Children[0]).Value);
        HasNoSchemaViolations(Build("azure", project.Dir));
    }

    [Fact]
    public void Gcp_admins_get_cluster_admin_inside_the_cluster_and_only_cluster_viewer_on_the_project()
    {
        Assert.Empty(Resources(Synth("gcp", "dev", ProjectDir("gcp")), "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"));
        using var project = With("gcp", "adminPrincipals:", "    - user:alice@example.com", "ciPrincipal: serviceAccount:ci@proj.iam.gserviceaccount.com");
        var root = Synth("gcp", "dev", project.Dir);
        var binding = Props(root, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding");
        Assert.Equal("cluster-admin", Text(Map(binding, "roleRef"), "name"));
        Assert.Equal(2, ((YamlSequenceNode)binding["subjects"]).Children.Count);
        var viewers = Resources(root, "gcp:projects/iAMMember:IAMMember").Select(r => Map(r.Node, "properties"))
            .Where(p => Text(p, "role") == "roles/container.clusterViewer").ToList();
        Assert.Equal(2, viewers.Count);
        using (var valid = With("gcp", "adminPrincipals:", "    - user:alice@example.com"))
            HasNoSchemaViolations(Build("gcp", valid.Dir));
    }

    [Theory]
    [InlineData("azure", "alice@example.com", "Entra ID object ID")]
    [InlineData("gcp", "group:admins@example.com", "Google Groups for RBAC")]
    [InlineData("gcp", "alice@example.com", "user:EMAIL")]
    public void Principals_the_cloud_cannot_grant_are_refused_by_name(string cloud, string principal, string expected)
    {
        using var project = With(cloud, "adminPrincipals:", $"    - {principal}");
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains(expected, r.Err);
        Assert.Contains(principal, r.Err);
    }
}

/// <summary>Issue 15, "several GPU pools (type, count range, zones, spot)": the extraGpuPools key beside the main gpu* pool.</summary>
public sealed class ExtraGpuPoolsStackTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static readonly Dictionary<string, (string GpuType, string Instance, string Zone)> Choice = new()
    {
        ["aws"] = ("nvidia-h100", "p5.48xlarge", ""),
        ["azure"] = ("nvidia-a100", "Standard_NC24ads_A100_v4", "2"),
        ["gcp"] = ("nvidia-h100-80gb", "a3-highgpu-8g", "us-central1-b"),
    };

    private static string ProjectDir(string cloud) => Path.Combine(RepoRoot, "stacks", cloud);

    private static TempProject With(string cloud, params string[] lines)
    {
        var project = new TempProject(ProjectDir(cloud), "osforai-" + cloud);
        File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), [$"  osforai-{cloud}:extraGpuPools:", .. lines]);
        return project;
    }

    private static string[] BigPool(string cloud)
    {
        var (gpu, instance, zone) = Choice[cloud];
        return ["    - name: big", $"      gpuType: {gpu}", $"      instanceType: {instance}", "      gpusPerNode: 8", "      maxNodes: 2", "      spot: true",
            .. zone.Length > 0 ? new[] { "      zones:", $"        - \"{zone}\"" } : []];
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void An_extra_pool_gets_its_own_type_range_spot_and_zones_with_the_shared_label_and_taint(string cloud)
    {
        using var project = With(cloud, BigPool(cloud));
        var root = Synth(cloud, "dev", project.Dir);
        var (gpuType, instance, zone) = Choice[cloud];
        YamlMappingNode pool;
        switch (cloud)
        {
            case "aws":
                pool = Map(Resources(root, "aws:eks/nodeGroup:NodeGroup").Single(r => r.Name == "osforai-gpu-big-nodes").Node, "properties");
                Assert.Equal(instance, ((YamlSequenceNode)pool["instanceTypes"]).Children.Single().ToString());
                Assert.Equal("SPOT", Text(pool, "capacityType"));
                Assert.Equal(("0", "2"), (Text(Map(pool, "scalingConfig"), "minSize"), Text(Map(pool, "scalingConfig"), "maxSize")));
                Assert.Equal("gpu", Text(Map(pool, "labels"), NodePools.PoolLabel));
                Assert.Equal(gpuType, Text(Map(pool, "labels"), NodePools.GpuTypeLabel));
                // Its own node-template tags, so the autoscaler can grow it from zero.
                var tags = Resources(root, "aws:autoscaling/tag:Tag").Where(r => r.Name.StartsWith("osforai-gpu-big-asg", StringComparison.Ordinal))
                    .Select(r => Map(Map(r.Node, "properties"), "tag")).ToDictionary(t => Text(t, "key"), t => Text(t, "value"));
                Assert.Equal("8", tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]);
                Assert.Equal(gpuType, tags["k8s.io/cluster-autoscaler/node-template/label/" + NodePools.GpuTypeLabel]);
                break;
            case "azure":
                pool = Map(Resources(root, "azure-native:containerservice:AgentPool").Single(r => r.Name == "osforai-gpu-big-pool").Node, "properties");
                Assert.Equal(instance, Text(pool, "vmSize"));
                Assert.Equal("Spot", Text(pool, "scaleSetPriority"));
                Assert.Equal(zone, ((YamlSequenceNode)pool["availabilityZones"]).Children.Single().ToString());
                Assert.Equal(("0", "2"), (Text(pool, "minCount"), Text(pool, "maxCount")));
                Assert.Equal("big${osforai-gpu-big-pool-suffix.result}", Text(pool, "agentPoolName"));
                Assert.Equal(gpuType, Text(Map(pool, "nodeLabels"), NodePools.GpuTypeLabel));
                Assert.Equal(NodePools.GpuTaint, ((YamlSequenceNode)pool["nodeTaints"]).Children.Single().ToString());
                break;
            default:
                pool = Map(Resources(root, "gcp:container/nodePool:NodePool").Single(r => r.Name == "osforai-gpu-big-nodes").Node, "properties");
                var config = Map(pool, "nodeConfig");
                Assert.Equal(instance, Text(config, "machineType"));
                Assert.Equal("true", Text(config, "spot"));
                Assert.Equal(zone, ((YamlSequenceNode)pool["nodeLocations"]).Children.Single().ToString());
                var accelerator = (YamlMappingNode)((YamlSequenceNode)config["guestAccelerators"]).Children.Single();
                Assert.Equal((gpuType, "8"), (Text(accelerator, "type"), Text(accelerator, "count")));
                break;
        }
        // The main pool is untouched (same resource, same properties): an extra pool replaces nothing.
        var main = cloud == "azure" ? "osforai-gpu-pool" : "osforai-gpu-nodes";
        var baseline = Synth(cloud, "dev", ProjectDir(cloud));
        Assert.Equal(Map(baseline, "resources")[main].ToString(), Map(root, "resources")[main].ToString());
        HasNoSchemaViolations(cloud switch
        {
            "aws" => AwsStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
            "azure" => AzureStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
            _ => GcpStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
        });
    }

    [Theory]
    [InlineData("gcp", "    - name: Big!", "'name' must be 1–7")]
    [InlineData("gcp", "    - name: gpu\n      gpuType: nvidia-l4\n      instanceType: g2-standard-8\n      maxNodes: 1", "taken by the stack's own pools")]
    [InlineData("gcp", "    - name: x\n      gpuType: nvidia-l4\n      instanceType: n2-standard-8\n      maxNodes: 1", "does not carry nvidia-l4")]
    [InlineData("gcp", "    - name: x\n      gpuType: nvidia-l4\n      instanceType: g2-standard-8\n      minNodes: 3\n      maxNodes: 1", "'minNodes' 3 is more than 'maxNodes' 1")]
    [InlineData("gcp", "    - name: x\n      gpuType: nvidia-l4\n      instanceType: g2-standard-8\n      maxNodes: 1\n      zones:\n        - europe-west4-a", "not a zone of region")]
    [InlineData("gcp", "    - name: x\n      gpuTyp: nvidia-l4", "unknown field 'gpuTyp'")]
    [InlineData("azure", "    - name: x\n      gpuType: nvidia-t4\n      instanceType: Standard_NC4as_T4_v3\n      maxNodes: 1\n      zones:\n        - westeurope-1", "not an Azure availability zone")]
    [InlineData("aws", "    - name: x\n      gpuType: nvidia-l4\n      instanceType: g6.xlarge\n      maxNodes: 1\n      zones:\n        - us-east-1a", "zones cannot be chosen per pool on AWS")]
    public void A_bad_pool_is_refused_naming_the_pool_and_field(string cloud, string lines, string expected)
    {
        using var project = With(cloud, lines.Split('\n'));
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("extraGpuPools", r.Err);
        Assert.Contains(expected, r.Err);
    }

    [Fact]
    public void Gpu_zones_on_aws_are_refused_rather_than_ignored()
    {
        using var project = new TempProject(ProjectDir("aws"), "osforai-aws");
        File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), ["  osforai-aws:gpuZones:", "    - us-east-1a"]);
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains("gpuZones", r.Err);
    }
}

/// <summary>Issue 15, "existing VPC/VNet and subnets": networkId, nodeSubnetIds and (Azure) databaseSubnetId instead of the stack's own network.</summary>
public sealed class ExistingNetworkStackTests
{
    private const string AzureVnet = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub";

    private static readonly Dictionary<string, string[]> Existing = new()
    {
        ["aws"] = ["networkId: vpc-0123456789abcdef0", "nodeSubnetIds:", "    - subnet-0123456789abcdef1", "    - subnet-0123456789abcdef2"],
        ["azure"] = [$"networkId: {AzureVnet}", "nodeSubnetIds:", $"    - {AzureVnet}/subnets/aks", $"databaseSubnetId: {AzureVnet}/subnets/postgres"],
        ["gcp"] = ["networkId: projects/p/global/networks/shared", "nodeSubnetIds:", "    - projects/p/regions/us-central1/subnetworks/gke"],
    };

    private static TempProject With(string cloud, params string[] entries)
    {
        var project = new TempProject(Path.Combine(RepoRoot, "stacks", cloud), "osforai-" + cloud);
        File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), entries.Select(e => e.StartsWith(' ') ? e : $"  osforai-{cloud}:{e}"));
        return project;
    }

    private static YamlMappingNode Props(YamlMappingNode root, string type, string? name = null) =>
        Map(Resources(root, type).Single(r => name is null || r.Name == name).Node, "properties");

    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    [Theory]
    [MemberData(nameof(Clouds))]
    public void In_an_existing_network_the_stack_makes_none_and_puts_nodes_cluster_and_database_in_the_given_one(string cloud)
    {
        using var project = With(cloud, Existing[cloud]);
        var root = Synth(cloud, "dev", project.Dir);
        var types = Map(root, "resources").Children.Values.Cast<YamlMappingNode>().Select(r => Text(r, "type")).ToList();
        string[] networkTypes = cloud switch
        {
            "aws" => ["aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable"],
            "azure" => ["azure-native:network:VirtualNetwork", "azure-native:network:Subnet"],
            _ => ["gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork", "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat"],
        };
        foreach (var type in networkTypes) Assert.DoesNotContain(type, types);
        switch (cloud)
        {
            case "aws":
                Assert.Equal("${nodeSubnetIds}", Text(Map(Props(root, "aws:eks/cluster:Cluster"), "vpcConfig"), "subnetIds"));
                Assert.All(Resources(root, "aws:eks/nodeGroup:NodeGroup"), g => Assert.Equal("${nodeSubnetIds}", Text(Map(g.Node, "properties"), "subnetIds")));
                Assert.Equal("${nodeSubnetIds}", Text(Props(root, "aws:rds/subnetGroup:SubnetGroup"), "subnetIds"));
                Assert.Equal("${networkId}", Text(Props(root, "aws:ec2/securityGroup:SecurityGroup"), "vpcId"));
                break;
            case "azure":
                Assert.Equal("${networkId}", Text(Props(root, "azure-native:authorization:RoleAssignment", "osforai-cluster-network-contributor"), "scope"));
                Assert.All(Resources(root, "azure-native:containerservice:AgentPool"),
                    p => Assert.Contains("nodeSubnetIds", Map(p.Node, "properties")["vnetSubnetID"].ToString()));
                Assert.Equal("${databaseSubnetId}", Text(Map(Props(root, "azure-native:dbforpostgresql:Server"), "network"), "delegatedSubnetResourceId"));
                Assert.Equal("${networkId}", Text(Map(Props(root, "azure-native:privatedns:VirtualNetworkLink"), "virtualNetwork"), "id"));
                break;
            default:
                var cluster = Props(root, "gcp:container/cluster:Cluster");
                Assert.Equal("${networkId}", Text(cluster, "network"));
                Assert.Contains("nodeSubnetIds", cluster["subnetwork"].ToString());
                Assert.Equal("${networkId}", Text(Props(root, "gcp:compute/globalAddress:GlobalAddress"), "network"));
                break;
        }
        HasNoSchemaViolations(cloud switch
        {
            "aws" => AwsStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
            "azure" => AzureStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
            _ => GcpStackProgram.Build(stack: StackFile.Load(project.Dir, "dev")),
        });
    }

    [Theory]
    [InlineData("aws", "nodeSubnetIds:\n    - subnet-0123456789abcdef1", "nodeSubnetIds", "set networkId too")]
    [InlineData("aws", "networkId: vpc-0123456789abcdef0\nnodeSubnetIds:\n    - subnet-0123456789abcdef1", "nodeSubnetIds", "two availability zones")]
    [InlineData("aws", "networkId: my-vpc\nnodeSubnetIds:\n    - subnet-1\n    - subnet-0123456789abcdef2", "networkId", "not a VPC id")]
    [InlineData("aws", "networkId: vpc-0123456789abcdef0\nnodeSubnetIds:\n    - subnet-0123456789abcdef1\n    - subnet-0123456789abcdef2\ndatabaseSubnetId: subnet-0123456789abcdef3", "databaseSubnetId", "is for Azure")]
    [InlineData("azure", "networkId: " + AzureVnet + "\nnodeSubnetIds:\n    - " + AzureVnet + "/subnets/aks", "databaseSubnetId", "is required with networkId")]
    [InlineData("azure", "networkId: " + AzureVnet + "\nnodeSubnetIds:\n    - /subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/other/subnets/aks\ndatabaseSubnetId: " + AzureVnet + "/subnets/db", "nodeSubnetIds", "is not a subnet of")]
    [InlineData("gcp", "networkId: shared\nnodeSubnetIds:\n    - projects/p/regions/us-central1/subnetworks/gke", "networkId", "projects/<project>/global/networks/<name>")]
    public void A_network_the_stack_cannot_use_is_refused_by_key(string cloud, string lines, string key, string expected)
    {
        using var project = With(cloud, lines.Split('\n'));
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains(key, r.Err);
        Assert.Contains(expected, r.Err);
    }
}
