using OSForAI.Components.Azure;
using OSForAI.Components.Byo;
using OSForAI.Components.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The runtime's state on the stacks (issue 14): a managed PostgreSQL per cloud, reachable only from the cluster, TLS required; its
/// connection URI in a Kubernetes Secret the gateway reads through a secretKeyRef; several replicas, each its own worker host; and
/// the bring-your-own-cluster stack's optional state. All through the CLI entry point Pulumi runs, from the committed stack files.
/// </summary>
public sealed class StateDatabaseTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static string ProjectDir(string cloud) => cloud == "byo" ? RepoRoot : Path.Combine(RepoRoot, "stacks", cloud);
    private static string ProjectName(string cloud) => cloud == "byo" ? "osforai" : "osforai-" + cloud;
    private static YamlMappingNode Synth(string cloud, string stack = "dev") => StackHarness.Synth(cloud, stack, ProjectDir(cloud));
    private static YamlMappingNode Props(YamlMappingNode root, string type) => Map(Resources(root, type).Single().Node, "properties");
    private static YamlMappingNode Props(YamlMappingNode root, string type, string nameSuffix) =>
        Map(Resources(root, type).Single(r => r.Name.EndsWith(nameSuffix, StringComparison.Ordinal)).Node, "properties");
    private static IEnumerable<string> Items(YamlNode list) => ((YamlSequenceNode)list).Children.Select(n => ((YamlScalarNode)n).Value!);

    // ------------------------------------------------------------------------------------------ the database, per cloud

    [Fact]
    public void Aws_rds_is_in_the_private_subnets_and_admits_only_the_cluster_security_group_with_tls_forced()
    {
        var root = Synth("aws");
        var db = Props(root, "aws:rds/instance:Instance");
        Assert.Equal(("postgres", "${databaseVersion}", "${databaseInstanceType}", "${databaseStorageGb}"),
            (Text(db, "engine"), Text(db, "engineVersion"), Text(db, "instanceClass"), Text(db, "allocatedStorage")));
        Assert.Equal(("false", "true"), (Text(db, "publiclyAccessible"), Text(db, "storageEncrypted")));
        Assert.Equal(("${databaseBackupDays}", "${databaseDeletionProtection}"), (Text(db, "backupRetentionPeriod"), Text(db, "deletionProtection")));
        Assert.Equal("false", Text(db, "skipFinalSnapshot"));

        // The DB subnet group is exactly the private subnets.
        var privateSubnets = Resources(root, "aws:ec2/subnet:Subnet").Where(s => s.Name.Contains("private", StringComparison.Ordinal)).Select(s => $"${{{s.Name}.id}}").ToList();
        Assert.Equal(2, privateSubnets.Count);
        var group = Resources(root, "aws:rds/subnetGroup:SubnetGroup").Single();
        Assert.Equal($"${{{group.Name}.name}}", Text(db, "dbSubnetGroupName"));
        Assert.Equal(privateSubnets, Items(Map(group.Node, "properties")["subnetIds"]));

        // One security group, no inline rules, one ingress rule: 5432 from the cluster security group, no CIDR.
        var sg = Resources(root, "aws:ec2/securityGroup:SecurityGroup").Single();
        Assert.Equal([$"${{{sg.Name}.id}}"], Items(db["vpcSecurityGroupIds"]));
        Assert.False(Map(sg.Node, "properties").Children.ContainsKey("ingress"));
        var rule = Props(root, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        Assert.Equal($"${{{sg.Name}.id}}", Text(rule, "securityGroupId"));
        Assert.Equal("${osforai-cluster.vpcConfig.clusterSecurityGroupId}", Text(rule, "referencedSecurityGroupId"));
        Assert.Equal(("tcp", "5432", "5432"), (Text(rule, "ipProtocol"), Text(rule, "fromPort"), Text(rule, "toPort")));
        Assert.False(rule.Children.ContainsKey("cidrIpv4"));

        var parameters = Resources(root, "aws:rds/parameterGroup:ParameterGroup").Single();
        Assert.Equal($"${{{parameters.Name}.name}}", Text(db, "parameterGroupName"));
        var pp = Map(parameters.Node, "properties");
        Assert.Equal("postgres${databaseVersion}", Text(pp, "family"));
        var forceSsl = (YamlMappingNode)((YamlSequenceNode)pp["parameters"]).Single();
        Assert.Equal(("rds.force_ssl", "1"), (Text(forceSsl, "name"), Text(forceSsl, "value")));
    }

    [Fact]
    public void Azure_flexible_server_is_in_a_delegated_subnet_of_the_clusters_network_with_public_access_disabled()
    {
        var root = Synth("azure");
        var server = Props(root, "azure-native:dbforpostgresql:Server");
        var network = Map(server, "network");
        Assert.Equal("Disabled", Text(network, "publicNetworkAccess"));
        Assert.Equal(("${databaseVersion}", "${databaseInstanceType}", "Burstable"), (Text(server, "version"), Text(Map(server, "sku"), "name"), Text(Map(server, "sku"), "tier")));
        Assert.Equal("${databaseStorageGb}", Text(Map(server, "storage"), "storageSizeGB"));
        Assert.Equal("${databaseBackupDays}", Text(Map(server, "backup"), "backupRetentionDays"));

        // The delegated subnet and the nodes' subnet are in the same (the stack's) network; both pools use the nodes' subnet.
        var subnets = Resources(root, "azure-native:network:Subnet").ToList();
        var dbSubnet = subnets.Single(s => $"${{{s.Name}.id}}" == Text(network, "delegatedSubnetResourceId"));
        var delegation = (YamlMappingNode)((YamlSequenceNode)Map(dbSubnet.Node, "properties")["delegations"]).Single();
        Assert.Equal("Microsoft.DBforPostgreSQL/flexibleServers", Text(delegation, "serviceName"));
        var nodeSubnet = subnets.Single(s => s.Name != dbSubnet.Name);
        Assert.Equal(Text(Map(dbSubnet.Node, "properties"), "virtualNetworkName"), Text(Map(nodeSubnet.Node, "properties"), "virtualNetworkName"));
        var cluster = Props(root, "azure-native:containerservice:ManagedCluster");
        Assert.Equal($"${{{nodeSubnet.Name}.id}}", Text((YamlMappingNode)((YamlSequenceNode)cluster["agentPoolProfiles"]).Single(), "vnetSubnetID"));
        foreach (var pool in new[] { "-system-pool", "-gpu-pool" })
            Assert.Equal($"${{{nodeSubnet.Name}.id}}", Text(Props(root, "azure-native:containerservice:AgentPool", pool), "vnetSubnetID"));

        // Its name resolves privately: a zone *.postgres.database.azure.com linked to the same network.
        var zone = Resources(root, "azure-native:privatedns:PrivateZone").Single();
        Assert.Equal($"${{{zone.Name}.id}}", Text(network, "privateDnsZoneArmResourceId"));
        Assert.EndsWith(".private.postgres.database.azure.com", Text(Map(zone.Node, "properties"), "privateZoneName"));
        var link = Props(root, "azure-native:privatedns:VirtualNetworkLink");
        Assert.Equal($"${{{zone.Name}.name}}", Text(link, "privateZoneName"));
        var vnet = Resources(root, "azure-native:network:VirtualNetwork").Single();
        Assert.Equal($"${{{vnet.Name}.id}}", Text(Map(link, "virtualNetwork"), "id"));
        Assert.Equal($"${{{vnet.Name}.name}}", Text(Map(dbSubnet.Node, "properties"), "virtualNetworkName"));

        var tls = Props(root, "azure-native:dbforpostgresql:Configuration");
        Assert.Equal(("require_secure_transport", "on"), (Text(tls, "configurationName"), Text(tls, "value")));
        Assert.Empty(Resources(root, "azure-native:dbforpostgresql:FirewallRule"));
        // The cluster's identity may manage its subnet (AKS in a network it did not create).
        var role = Props(root, "azure-native:authorization:RoleAssignment", "-cluster-network-contributor");
        Assert.Equal($"${{{vnet.Name}.id}}", Text(role, "scope"));
        Assert.EndsWith("/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7", Text(role, "roleDefinitionId"));
    }

    [Fact]
    public void Gcp_cloud_sql_has_only_a_private_ip_on_the_clusters_network_and_requires_tls()
    {
        var root = Synth("gcp");
        var instance = Resources(root, "gcp:sql/databaseInstance:DatabaseInstance").Single();
        var props = Map(instance.Node, "properties");
        Assert.Equal("POSTGRES_${databaseVersion}", Text(props, "databaseVersion"));
        Assert.Equal("${databaseDeletionProtection}", Text(props, "deletionProtection"));
        var settings = Map(props, "settings");
        Assert.Equal(("${databaseInstanceType}", "${databaseStorageGb}", "ENTERPRISE"), (Text(settings, "tier"), Text(settings, "diskSize"), Text(settings, "edition")));
        var ip = Map(settings, "ipConfiguration");
        Assert.Equal(("false", "ENCRYPTED_ONLY"), (Text(ip, "ipv4Enabled"), Text(ip, "sslMode")));
        Assert.Equal(Text(Props(root, "gcp:container/cluster:Cluster"), "network"), Text(ip, "privateNetwork"));
        var backups = Map(settings, "backupConfiguration");
        Assert.Equal(("true", "true", "${databaseBackupDays}"),
            (Text(backups, "enabled"), Text(backups, "pointInTimeRecoveryEnabled"), Text(Map(backups, "backupRetentionSettings"), "retainedBackups")));

        // Private services access: a reserved peering range on the same network, and the connection the instance waits for.
        var connection = Resources(root, "gcp:servicenetworking/connection:Connection").Single();
        Assert.Contains($"${{{connection.Name}}}", Items(Map(instance.Node, "options")["dependsOn"]));
        var cp = Map(connection.Node, "properties");
        Assert.Equal(("servicenetworking.googleapis.com", Text(ip, "privateNetwork")), (Text(cp, "service"), Text(cp, "network")));
        var range = Resources(root, "gcp:compute/globalAddress:GlobalAddress").Single();
        Assert.Equal([$"${{{range.Name}.name}}"], Items(cp["reservedPeeringRanges"]));
        Assert.Equal(("VPC_PEERING", "INTERNAL"), (Text(Map(range.Node, "properties"), "purpose"), Text(Map(range.Node, "properties"), "addressType")));
        Assert.Equal(Text(ip, "privateNetwork"), Text(Map(range.Node, "properties"), "network"));
    }

    // ------------------------------------------------------------------------------------------ the secret and the Deployment

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_connection_uri_is_in_a_secret_and_the_gateway_reads_OSForAI_State_from_it(string cloud)
    {
        var root = Synth(cloud);
        var secret = Resources(root, "kubernetes:core/v1:Secret").Single(r => r.Name.EndsWith("-runtime-state", StringComparison.Ordinal));
        var sp = Map(secret.Node, "properties");
        Assert.Equal("${osforai-runtime-namespace.metadata.name}", Text(Map(sp, "metadata"), "namespace"));
        var uri = Text(Map(Map(sp, "stringData"), "uri"), "fn::secret");
        Assert.Matches(@"^postgres://[^:@]+:\$\{osforai-database-password\.result\}@\$\{osforai-database-[a-z-]+\.[A-Za-z]+\}:5432/[^?]+\?sslmode=require$", uri);

        var container = Container(root);
        var state = Env(container).Single(e => Text(e, "name") == "OSForAI__State");
        Assert.False(state.Children.ContainsKey("value"));
        var reference = Map(Map(state, "valueFrom"), "secretKeyRef");
        Assert.Equal(($"${{{secret.Name}.metadata.name}}", "uri"), (Text(reference, "name"), Text(reference, "key")));
        // Not in the ConfigMap (plain settings), and the home volume stays a cache (emptyDir).
        Assert.DoesNotContain("OSForAI__State", Map(Props(root, "kubernetes:core/v1:ConfigMap"), "data").Children.Keys.Select(k => k.ToString()));
        var volumes = (YamlSequenceNode)PodSpec(root)["volumes"];
        Assert.True(volumes.Cast<YamlMappingNode>().Single(v => Text(v, "name") == "home").Children.ContainsKey("emptyDir"));
    }

    [Theory]
    [InlineData("aws")]
    [InlineData("azure")]
    [InlineData("gcp")]
    [InlineData("byo")]
    public void Every_replica_gets_the_one_generated_admin_key_from_a_secret_and_operators_get_it_as_a_secret_output(string cloud)
    {
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", ProjectDir(cloud)]);
        Assert.True(r.Code == 0, r.Err);
        var root = Parse(r.Out);
        var id = Resources(root, "random:index/randomId:RandomId").Single(x => x.Name.EndsWith("admin-key-id", StringComparison.Ordinal));
        Assert.Equal("8", Text(Map(id.Node, "properties"), "byteLength"));                    // 16 hex digits
        var secretPart = Resources(root, "random:index/randomPassword:RandomPassword").Single(x => x.Name.EndsWith("admin-key-secret", StringComparison.Ordinal));
        Assert.Equal(("43", "false"), (Text(Map(secretPart.Node, "properties"), "length"), Text(Map(secretPart.Node, "properties"), "special")));
        var key = $"osai_${{{id.Name}.hex}}_${{{secretPart.Name}.result}}";

        var secret = Resources(root, "kubernetes:core/v1:Secret").Single(x => x.Name.EndsWith("-runtime-admin-key", StringComparison.Ordinal));
        Assert.Equal(key, Text(Map(Map(Map(secret.Node, "properties"), "stringData"), "key"), "fn::secret"));
        var env = Env(Container(root)).Single(e => Text(e, "name") == "OSForAI__AdminKey");
        Assert.False(env.Children.ContainsKey("value"));
        var reference = Map(Map(env, "valueFrom"), "secretKeyRef");
        Assert.Equal(($"${{{secret.Name}.metadata.name}}", "key"), (Text(reference, "name"), Text(reference, "key")));
        Assert.Equal(key, Text(Map(Map(root, "outputs"), "adminKey"), "fn::secret"));
        // The key appears nowhere unwrapped.
        Assert.All(r.Out.Split('\n').Where(l => l.Contains("osai_${", StringComparison.Ordinal)), l => Assert.StartsWith("fn::secret: osai_", l.Trim()));
    }

    [Theory]
    [InlineData("aws")]
    [InlineData("azure")]
    [InlineData("gcp")]
    [InlineData("byo")]
    public void No_password_or_connection_uri_is_plain_anywhere_in_the_program(string cloud)
    {
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", ProjectDir(cloud)]);
        Assert.True(r.Code == 0, r.Err);
        var root = Parse(r.Out);
        var passwords = Map(root, "resources").Children.Values.SelectMany(r => Pairs(Map(r, "properties"))).Where(p => p.Key.EndsWith("password", StringComparison.OrdinalIgnoreCase)).ToList();
        if (cloud != "byo") Assert.NotEmpty(passwords);
        // Every password input is the generated password, never a literal.
        Assert.All(passwords, p => Assert.Equal("${osforai-database-password.result}", Assert.IsType<YamlScalarNode>(p.Value).Value));
        foreach (var generated in Resources(root, "random:index/randomPassword:RandomPassword"))
            Assert.True(int.Parse(Text(Map(generated.Node, "properties"), "length"), System.Globalization.CultureInfo.InvariantCulture) >= 24);
        // The connection URI (it holds the password) appears once, under fn::secret in the state Secret.
        var uriLines = r.Out.Split('\n').Where(l => l.Contains("postgres://", StringComparison.Ordinal)).ToList();
        Assert.Equal(cloud == "byo" ? 0 : 1, uriLines.Count);
        Assert.All(uriLines, l => Assert.StartsWith("fn::secret: postgres://", l.Trim()));
        // No config key holds a password on the clouds (it is generated); byo's state is a secret key.
        var config = Map(root, "config");
        if (cloud == "byo") Assert.Equal("true", Text(Map(config, ByoStackConfig.State), "secret"));
        else Assert.DoesNotContain(config.Children.Keys, k => k.ToString().Contains("password", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Two_replicas_by_default_with_a_disruption_budget_and_spread_over_nodes(string cloud)
    {
        var root = Synth(cloud);
        var config = Map(root, "config");
        var min = int.Parse(Text(Map(config, StackConfig.GatewayMinReplicas), "default"), System.Globalization.CultureInfo.InvariantCulture);
        var max = int.Parse(Text(Map(config, StackConfig.GatewayMaxReplicas), "default"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(min >= 2 && max >= min, $"defaults {min}..{max}");
        foreach (var stack in new[] { "dev", "prod" })
            Assert.Matches($"{ProjectName(cloud)}:gatewayMinReplicas: [2-9]", File.ReadAllText(Path.Combine(ProjectDir(cloud), $"Pulumi.{stack}.yaml")));
        var hpa = Map(Props(root, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"), "spec");
        Assert.Equal(("${gatewayMinReplicas}", "${gatewayMaxReplicas}"), (Text(hpa, "minReplicas"), Text(hpa, "maxReplicas")));

        var pdb = Map(Props(root, "kubernetes:policy/v1:PodDisruptionBudget"), "spec");
        Assert.Equal("1", Text(pdb, "maxUnavailable"));
        Assert.Equal("osforai-gateway", Text(Map(Map(pdb, "selector"), "matchLabels"), "app.kubernetes.io/name"));
        var spread = ((YamlSequenceNode)PodSpec(root)["topologySpreadConstraints"]).Cast<YamlMappingNode>().ToList();
        Assert.Equal(["kubernetes.io/hostname", "topology.kubernetes.io/zone"], spread.Select(s => Text(s, "topologyKey")));
        Assert.All(spread, s => Assert.Equal("ScheduleAnyway", Text(s, "whenUnsatisfiable")));
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Each_replica_is_its_own_worker_host_named_after_its_pod(string cloud)
    {
        var env = Env(Container(Synth(cloud))).ToDictionary(e => Text(e, "name"));
        const string k = "OSForAI__Workers__Kubernetes__";
        foreach (var (name, field) in new[] { ("ServerId", "metadata.name"), ("OwnerPodName", "metadata.name"), ("OwnerPodUid", "metadata.uid") })
        {
            Assert.True(env.TryGetValue(k + name, out var entry), $"{cloud}: no {k}{name}");
            Assert.False(entry.Children.ContainsKey("value"), $"{cloud}: {name} must come from the downward API, not a fixed value");
            Assert.Equal(field, Text(Map(Map(entry, "valueFrom"), "fieldRef"), "fieldPath"));
        }
    }

    // ------------------------------------------------------------------------------------------ validation

    [Theory]
    [InlineData("aws", "databaseInstanceType", "t4g.medium", "RDS classes start with 'db.'")]
    [InlineData("aws", "databaseInstanceType", "db t4g", "not an RDS instance class")]
    [InlineData("azure", "databaseInstanceType", "Standard_NC4as_T4_v3", "not an Azure Database for PostgreSQL flexible server size")]
    [InlineData("gcp", "databaseInstanceType", "n2-standard-2", "not a Cloud SQL Enterprise edition tier")]
    [InlineData("aws", "databaseVersion", "15", "choose one of 16, 17")]
    [InlineData("gcp", "databaseVersion", "latest", "choose one of 16, 17")]
    [InlineData("gcp", "databaseStorageGb", "10", "must be at least 32")]
    [InlineData("azure", "databaseStorageGb", "100", "one of 32, 64, 128")]
    [InlineData("aws", "databaseStorageGb", "100000", "at most 65536")]
    [InlineData("azure", "databaseBackupDays", "3", "must be 7 to 35")]
    [InlineData("aws", "databaseDeletionProtection", "maybe", "true or false")]
    [InlineData("gcp", "gatewayMinReplicas", "0", "must be at least 1")]
    [InlineData("azure", "gatewayMinReplicas", "5", "more than gatewayMaxReplicas")]
    [InlineData("aws", "gatewayMaxReplicas", "0", "must be at least 1")]
    public void A_bad_database_or_replica_value_fails_synth_naming_the_key(string cloud, string key, string value, string message)
    {
        using var project = new TempProject(ProjectDir(cloud), ProjectName(cloud), (key, value));
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"{ProjectName(cloud)}:{key}: ", r.Err);
        Assert.Contains(message, r.Err);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Every_bad_database_and_replica_value_is_reported_at_once(string cloud)
    {
        string[] keys = ["databaseInstanceType", "databaseStorageGb", "databaseVersion", "databaseBackupDays", "gatewayMinReplicas"];
        using var project = new TempProject(ProjectDir(cloud), ProjectName(cloud),
            ("databaseInstanceType", "huge"), ("databaseStorageGb", "1"), ("databaseVersion", "9.6"), ("databaseBackupDays", "90"), ("gatewayMinReplicas", "9"));
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.All(keys, key => Assert.Contains($"{ProjectName(cloud)}:{key}: ", r.Err));
        Assert.Equal(keys.Length, r.Err.Trim().Split('\n').Length);
    }

    [Theory]
    [InlineData("Standard_B2s", "Burstable")]
    [InlineData("Standard_D4ds_v5", "GeneralPurpose")]
    [InlineData("Standard_E8ds_v5", "MemoryOptimized")]
    public void Azure_takes_the_servers_tier_from_its_size_when_synthesized(string size, string tier)
    {
        using var project = new TempProject(ProjectDir("azure"), "osforai-azure", ("databaseInstanceType", size), ("databaseDeletionProtection", "true"));
        var root = StackHarness.Synth("azure", "dev", project.Dir);
        Assert.Equal(tier, Text(Map(Props(root, "azure-native:dbforpostgresql:Server"), "sku"), "tier"));
        // Deletion protection on Azure is a CanNotDelete lock on the server.
        var serverName = Resources(root, "azure-native:dbforpostgresql:Server").Single().Name;
        var lockProps = Props(root, "azure-native:authorization:ManagementLockByScope");
        Assert.Equal(($"${{{serverName}.id}}", "CanNotDelete"), (Text(lockProps, "scope"), Text(lockProps, "level")));
    }

    // ------------------------------------------------------------------------------------------ bring your own cluster

    [Fact]
    public void Byo_without_state_runs_one_replica_on_sqlite_and_refuses_more()
    {
        var root = Synth("byo");
        var config = Map(root, "config");
        Assert.Equal(("1", "1"), (Text(Map(config, "gatewayMinReplicas"), "default"), Text(Map(config, "gatewayMaxReplicas"), "default")));
        Assert.Equal("", Text(Map(config, ByoStackConfig.State), "default"));
        // The state setting still comes from a Secret (empty: SQLite), the same wiring as on the clouds.
        var secret = Resources(root, "kubernetes:core/v1:Secret").Single(r => r.Name.EndsWith("-runtime-state", StringComparison.Ordinal));
        Assert.Equal("${state}", Text(Map(Map(Map(secret.Node, "properties"), "stringData"), "uri"), "fn::secret"));
        var state = Env(Container(root)).Single(e => Text(e, "name") == "OSForAI__State");
        Assert.Equal($"${{{secret.Name}.metadata.name}}", Text(Map(Map(state, "valueFrom"), "secretKeyRef"), "name"));

        using var project = new TempProject(RepoRoot, "osforai", ("gatewayMaxReplicas", "3"));
        var r = Run(["synth", "byo", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains("osforai:gatewayMaxReplicas: 3 replicas need a shared state database", r.Err);
    }

    [Fact]
    public void Byo_with_a_secret_state_may_run_several_replicas_and_a_plain_one_is_refused()
    {
        using var secret = new TempProject(RepoRoot, "osforai", ("gatewayMinReplicas", "2"), ("gatewayMaxReplicas", "3"));
        File.AppendAllText(Path.Combine(secret.Dir, "Pulumi.dev.yaml"), "  osforai:state:\n    secure: AAABAExampleCiphertext\n");
        var ok = Run(["synth", "byo", "--stack", "dev", "--project-dir", secret.Dir]);
        Assert.True(ok.Code == 0, ok.Err);

        using var plain = new TempProject(RepoRoot, "osforai");
        File.AppendAllText(Path.Combine(plain.Dir, "Pulumi.dev.yaml"), "  osforai:state: postgres://osforai:hunter2@db:5432/osforai?sslmode=require\n");
        var refused = Run(["synth", "byo", "--stack", "dev", "--project-dir", plain.Dir]);
        Assert.Equal(1, refused.Code);
        Assert.Contains("osforai:state: holds a database password: set it as a secret", refused.Err);
        Assert.DoesNotContain("hunter2", refused.Err);
    }

    // ------------------------------------------------------------------------------------------ schemas

    [Fact]
    public void The_azure_program_with_each_database_choice_has_no_schema_violations()
    {
        foreach (var stack in new[] { "dev", "prod" })
            HasNoSchemaViolations(AzureStackProgram.Build(stack: StackFile.Load(ProjectDir("azure"), stack)));
    }

    // ------------------------------------------------------------------------------------------ helpers

    private static YamlMappingNode Parse(string yaml)
    {
        var doc = new YamlStream();
        doc.Load(new StringReader(yaml));
        return (YamlMappingNode)doc.Documents[0].RootNode;
    }

    private static YamlMappingNode PodSpec(YamlMappingNode root) =>
        Map(Map(Map(Props(root, "kubernetes:apps/v1:Deployment"), "spec"), "template"), "spec");

    private static YamlMappingNode Container(YamlMappingNode root) => (YamlMappingNode)((YamlSequenceNode)PodSpec(root)["containers"]).Single();

    private static IEnumerable<YamlMappingNode> Env(YamlMappingNode container) => ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>();

    /// <summary>Every key/value pair of every mapping in the document.</summary>
    private static IEnumerable<(string Key, YamlNode Value)> Pairs(YamlNode node) => node switch
    {
        YamlMappingNode m => m.Children.SelectMany(kv => new[] { (kv.Key.ToString(), kv.Value) }.Concat(Pairs(kv.Value))),
        YamlSequenceNode s => s.Children.SelectMany(Pairs),
        _ => [],
    };
}
