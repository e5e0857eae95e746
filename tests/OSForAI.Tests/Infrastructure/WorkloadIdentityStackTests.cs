using OSForAI.Components.Kubernetes;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Issue 15, "workload identity instead of long-lived keys": on every cloud the gateway reaches the data bucket with the identity the
/// platform gives its service account (EKS Pod Identity, GKE Workload Identity, Azure workload identity), scoped to the bucket, trusted
/// for the gateway's service account in the stack's namespace only; no access key, HMAC key or account key exists anywhere.
/// </summary>
public sealed class WorkloadIdentityStackTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static YamlMappingNode SynthDev(string cloud) => Synth(cloud, "dev", Path.Combine(RepoRoot, "stacks", cloud));
    private static YamlMappingNode Props(YamlMappingNode root, string type) => Map(Resources(root, type).Single().Node, "properties");
    private static YamlMappingNode Gateway(YamlMappingNode root) => Resources(root, "kubernetes:apps/v1:Deployment").Single().Node;
    private static YamlMappingNode PodTemplate(YamlMappingNode root) => Map(Map(Map(Gateway(root), "properties"), "spec"), "template");
    private static IEnumerable<string> DependsOn(YamlMappingNode resource) =>
        resource.Children.TryGetValue(new YamlScalarNode("options"), out var o) && ((YamlMappingNode)o).Children.TryGetValue(new YamlScalarNode("dependsOn"), out var d)
            ? ((YamlSequenceNode)d).Children.Select(n => ((YamlScalarNode)n).Value!) : [];
    private static YamlMappingNode ServiceAccount(YamlMappingNode root) => Map(Props(root, "kubernetes:core/v1:ServiceAccount"), "metadata");

    [Fact]
    public void The_setting_the_stacks_give_is_the_one_the_connectors_read()
    {
        var setting = DataStoreBinding.UseWorkloadIdentity;
        var settings = new ConnectorSettings("s3", "platform", new Dictionary<string, string?> { [setting.Key] = ((OSForAI.Components.Synthesis.Lit)setting.Value).Value as string });
        Assert.Equal(CredentialSource.WorkloadIdentity, settings.Credentials);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void No_cloud_creates_or_reads_a_long_lived_storage_key(string cloud)
    {
        var root = SynthDev(cloud);
        var types = Map(root, "resources").Children.Values.Cast<YamlMappingNode>().Select(r => Text(r, "type")).ToList();
        Assert.DoesNotContain("aws:iam/accessKey:AccessKey", types);
        Assert.DoesNotContain("aws:iam/user:User", types);
        Assert.DoesNotContain("gcp:storage/hmacKey:HmacKey", types);
        Assert.DoesNotContain("gcp:serviceaccount/key:Key", types);
        var settings = Map(Props(root, "kubernetes:core/v1:ConfigMap"), "data").Children
            .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => kv.Value);
        Assert.Single(settings, kv => kv.Key.EndsWith("__Credentials", StringComparison.Ordinal) && kv.Value.ToString() == "WorkloadIdentity");
        Assert.DoesNotContain(settings.Keys, k => k.EndsWith("File", StringComparison.Ordinal) || k.Contains("Key", StringComparison.Ordinal));
        // The gateway pod needs its API token (it manages worker pods); the identity arrives in tokens of its own.
        Assert.Equal("true", Text(Map(PodTemplate(root), "spec"), "automountServiceAccountToken"));
    }

    [Fact]
    public void Aws_associates_a_bucket_only_role_with_the_gateways_service_account_before_the_gateway_starts()
    {
        var root = SynthDev("aws");
        var association = Resources(root, "aws:eks/podIdentityAssociation:PodIdentityAssociation").Single(r => r.Name == "osforai-runtime-identity");
        var props = Map(association.Node, "properties");
        Assert.Equal(RuntimeDeployment.ServiceAccountName, Text(props, "serviceAccount"));
        Assert.Equal("${namespace}", Text(props, "namespace"));
        Assert.Equal("${osforai-runtime-role.arn}", Text(props, "roleArn"));
        Assert.Contains("${osforai-runtime-identity}", DependsOn(Gateway(root)));

        var role = Map(Resources(root, "aws:iam/role:Role").Single(r => r.Name == "osforai-runtime-role").Node, "properties");
        var trust = Map(Map(role, "assumeRolePolicy"), "fn::toJSON");
        var statement = (YamlMappingNode)((YamlSequenceNode)trust["Statement"]).Children.Single();
        Assert.Equal("pods.eks.amazonaws.com", Text(Map(statement, "Principal"), "Service"));
        var policy = Map(Resources(root, "aws:iam/rolePolicy:RolePolicy").Single(r => r.Name == "osforai-runtime-bucket-access").Node, "properties");
        Assert.Equal("${osforai-runtime-role.name}", Text(policy, "role"));
        var resources = ((YamlSequenceNode)Map(Map(policy, "policy"), "fn::toJSON")["Statement"]).Children.Cast<YamlMappingNode>()
            .Select(s => s["Resource"].ToString()).ToList();
        Assert.All(resources, r => Assert.Contains("osforai-data.arn", r));
    }

    [Fact]
    public void Gcp_lets_only_the_gateways_kubernetes_service_account_act_as_the_bucket_account()
    {
        var root = SynthDev("gcp");
        var binding = Props(root, "gcp:serviceaccount/iAMMember:IAMMember");
        Assert.Equal("roles/iam.workloadIdentityUser", Text(binding, "role"));
        Assert.Equal("${osforai-runtime-account.name}", Text(binding, "serviceAccountId"));
        Assert.Equal("serviceAccount:${osforai-client-config.project}.svc.id.goog[${namespace}/osforai-runtime]", Text(binding, "member"));
        Assert.Equal("${osforai-runtime-account.email}", Text(Map(ServiceAccount(root), "annotations"), "iam.gke.io/gcp-service-account"));
        Assert.Contains("${osforai-runtime-workload-identity}", DependsOn(Gateway(root)));
        // The cluster's pool, and every node pool serving pods the GKE metadata server (never the node's own credentials).
        Assert.Equal("${osforai-client-config.project}.svc.id.goog",
            Text(Map(Props(root, "gcp:container/cluster:Cluster"), "workloadIdentityConfig"), "workloadPool"));
        Assert.All(Resources(root, "gcp:container/nodePool:NodePool"),
            p => Assert.Equal("GKE_METADATA", Text(Map(Map(Map(p.Node, "properties"), "nodeConfig"), "workloadMetadataConfig"), "mode")));
        Assert.Equal("objectAdmin", Text(Props(root, "gcp:storage/bucketIAMMember:BucketIAMMember"), "role").Split('.')[^1]);
    }

    [Fact]
    public void Azure_federates_the_gateways_service_account_with_an_identity_limited_to_the_container()
    {
        var root = SynthDev("azure");
        var cluster = Props(root, "azure-native:containerservice:ManagedCluster");
        Assert.Equal("true", Text(Map(cluster, "oidcIssuerProfile"), "enabled"));
        Assert.Equal("true", Text(Map(Map(cluster, "securityProfile"), "workloadIdentity"), "enabled"));

        var federation = Props(root, "azure-native:managedidentity:FederatedIdentityCredential");
        Assert.Equal("${osforai-cluster.oidcIssuerProfile.issuerURL}", Text(federation, "issuer"));
        Assert.Equal("system:serviceaccount:${namespace}:osforai-runtime", Text(federation, "subject"));
        Assert.Equal("api://AzureADTokenExchange", ((YamlSequenceNode)federation["audiences"]).Children.Single().ToString());
        Assert.Equal("${osforai-runtime-identity.name}", Text(federation, "resourceName"));

        var grant = Map(Resources(root, "azure-native:authorization:RoleAssignment").Single(r => r.Name == "osforai-runtime-blob-data").Node, "properties");
        Assert.Equal("${osforai-data.id}", Text(grant, "scope"));
        Assert.Contains("/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe", Text(grant, "roleDefinitionId")); // Storage Blob Data Contributor
        Assert.Equal("${osforai-runtime-identity.principalId}", Text(grant, "principalId"));

        Assert.Equal("${osforai-runtime-identity.clientId}", Text(Map(ServiceAccount(root), "annotations"), "azure.workload.identity/client-id"));
        Assert.Equal("true", Text(Map(Map(PodTemplate(root), "metadata"), "labels"), "azure.workload.identity/use"));
        Assert.Contains("${osforai-runtime-federation}", DependsOn(Gateway(root)));
    }

    [Theory]
    [InlineData("aws")]
    [InlineData("azure")]
    [InlineData("gcp")]
    [InlineData("byo")]
    public void The_gateway_runs_non_root_on_a_read_only_root_file_system_writing_only_to_its_volumes(string cloud)
    {
        var root = cloud == "byo" ? Synth("byo", "dev", RepoRoot) : SynthDev(cloud);
        var spec = Map(PodTemplate(root), "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)spec["containers"]).Children.Single();
        var security = Map(container, "securityContext");
        Assert.Equal(("true", "true", "false"), (Text(security, "readOnlyRootFilesystem"), Text(security, "runAsNonRoot"), Text(security, "allowPrivilegeEscalation")));
        Assert.Equal("ALL", ((YamlSequenceNode)Map(security, "capabilities")["drop"]).Children.Single().ToString());
        var mounts = ((YamlSequenceNode)container["volumeMounts"]).Children.ToDictionary(m => Text(m, "mountPath"), m => Text(m, "name"));
        var volumes = ((YamlSequenceNode)spec["volumes"]).Children.Cast<YamlMappingNode>().ToDictionary(v => Text(v, "name"));
        foreach (var path in new[] { "/var/lib/osforai", "/tmp" })
            Assert.True(volumes[mounts[path]].Children.ContainsKey(new YamlScalarNode("emptyDir")), $"{path} is not an emptyDir");
    }

    [Fact]
    public void The_process_host_gateway_of_someone_elses_cluster_gets_no_api_token()
    {
        var root = Synth("byo", "dev", RepoRoot);
        Assert.Equal("false", Text(Map(PodTemplate(root), "spec"), "automountServiceAccountToken"));
    }
}
