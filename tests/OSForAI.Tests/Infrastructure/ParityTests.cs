using OSForAI.Components.Aws;
using OSForAI.Components.Azure;
using OSForAI.Components.Gcp;
using OSForAI.Components.Kubernetes;
using OSForAI.Components.Synthesis;

namespace OSForAI.Tests.Infrastructure;

/// <summary>The parity contract (IAC.md): every cloud's program offers the same outputs, config keys, runtime and pool shape.</summary>
public sealed class ParityTests
{
    private static readonly Dictionary<string, PulumiProgram> Programs = new()
    {
        ["aws"] = AwsStackProgram.Build(),
        ["azure"] = AzureStackProgram.Build(),
        ["gcp"] = GcpStackProgram.Build(),
    };

    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    [Fact]
    public void Every_cloud_has_the_same_outputs_with_kubeconfig_and_admin_key_secret()
    {
        foreach (var (cloud, p) in Programs)
        {
            // registry: where CI pushes the images, on every cloud; AWS adds one repository output per image (ECR keeps one each).
            string[] repositories = cloud == "aws" ? ["runtimeRepository", "workerGpuRepository", "workerPythonRepository"] : [];
            Assert.Equal(["adminKey", "bucketUri", "clusterName", "gatewayUrl", "kubeconfig", "registry", .. repositories], p.Outputs.Select(o => o.Key).Order(StringComparer.Ordinal));
            foreach (var secret in new[] { "kubeconfig", "adminKey" })
                Assert.True(p.Outputs.Single(o => o.Key == secret).Value is Fn { Name: "fn::secret" }, $"{cloud}: {secret} must be secret");
        }
    }

    [Fact]
    public void Every_cloud_reads_the_same_config_keys()
    {
        var keys = Programs.ToDictionary(p => p.Key, p => p.Value.Config.Select(c => (c.Name, c.Type)).Order().ToList());
        Assert.Equal(keys["aws"], keys["azure"]);
        Assert.Equal(keys["aws"], keys["gcp"]);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Every_cloud_deploys_the_same_runtime_from_the_runtimeImage_key_with_a_data_store(string cloud)
    {
        var program = Programs[cloud];
        var deployments = program.Resources.Where(r => r.Type == "kubernetes:apps/v1:Deployment").ToList();
        var gateway = Assert.Single(deployments, d => d.Name.EndsWith(RuntimeDeployment.AppName, StringComparison.Ordinal) || Yaml(d).Contains(RuntimeDeployment.AppName));
        var text = Yaml(gateway);
        Assert.Contains("${runtimeImage}", text);
        // The connector settings the runtime reads, whatever the store (docs/data.md).
        Assert.Contains(program.Resources, r => r.Type == "kubernetes:core/v1:ConfigMap" && Yaml(r).Contains("OSForAI__DataStore"));
        Assert.Single(program.Resources, r => r.Type == "pulumi:providers:kubernetes");
        Assert.Single(program.Resources, r => r.Type == "kubernetes:core/v1:Service" && Yaml(r).Contains("LoadBalancer"));
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Every_cloud_has_a_gpu_pool_from_zero_with_the_shared_label_and_taint(string cloud)
    {
        var yaml = Programs[cloud].ToYaml();
        Assert.Contains("osforai.dev/pool", yaml);
        Assert.Contains("nvidia.com/gpu", yaml);
        Assert.Contains("${gpuMinNodes}", yaml);
    }

    private static string Yaml(Resource r)
    {
        // The one resource's inputs as text (references are described by name, not resolved).
        return string.Join("\n", r.Properties.Select(kv => kv.Key + ": " + Describe(kv.Value)));
    }

    private static string Describe(Expr e) => e switch
    {
        Lit l => l.ToString(),
        Arr a => "[" + string.Join(", ", a.Items.Select(Describe)) + "]",
        Obj o => "{" + string.Join(", ", o.Entries.Select(kv => kv.Key + ": " + Describe(kv.Value))) + "}",
        ConfigRef c => "${" + c.Key.Name + "}",
        Ref r => "${" + r.Resource.Name + (r.Path.Length > 0 ? "." + r.Path : "") + "}",
        Interp i => string.Concat(i.Parts.Select(Describe)),
        Fn f => f.Name + "(" + Describe(f.Argument) + ")",
        _ => e.GetType().Name,
    };
}
