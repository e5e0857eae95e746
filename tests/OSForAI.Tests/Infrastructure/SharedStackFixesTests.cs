using System.Text.RegularExpressions;
using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using YamlDotNet.RepresentationModel;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Issue 15, the parts every cloud shares: readable secret files for the runtime user, a supported Kubernetes version, pinned Helm
/// charts, and the gateway's TLS / plain-HTTP opt-in / internal load balancer. Through the CLI entry point Pulumi runs.
/// </summary>
public sealed class SharedStackFixesTests
{
    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static string ProjectDir(string cloud) => Path.Combine(RepoRoot, "stacks", cloud);
    private static string ProjectName(string cloud) => "osforai-" + cloud;
    private static YamlMappingNode Props(YamlMappingNode root, string type, string nameSuffix) =>
        Map(Resources(root, type).Single(r => r.Name.EndsWith(nameSuffix, StringComparison.Ordinal)).Node, "properties");
    private static YamlMappingNode PodSpec(YamlMappingNode root) =>
        Map(Map(Map(Props(root, "kubernetes:apps/v1:Deployment", "gateway"), "spec"), "template"), "spec");
    private static YamlMappingNode Container(YamlMappingNode root) => (YamlMappingNode)((YamlSequenceNode)PodSpec(root)["containers"]).Children[0];
    private static IEnumerable<YamlMappingNode> Seq(YamlNode node, string key) => ((YamlSequenceNode)((YamlMappingNode)node)[key]).Children.Cast<YamlMappingNode>();

    /// <summary>A copy of the dev stack with <paramref name="changes"/> and these extra entries appended to its config (e.g. secure values).</summary>
    private static TempProject Project(string cloud, (string Key, string? Value)[] changes, params string[] extraEntries)
    {
        var project = new TempProject(ProjectDir(cloud), ProjectName(cloud), changes);
        File.AppendAllLines(Path.Combine(project.Dir, "Pulumi.dev.yaml"), extraEntries.Select(e => e.StartsWith(' ') ? e : $"  {ProjectName(cloud)}:{e}"));
        return project;
    }

    private static string[] SecureTls => ["tlsCertificate:", "    secure: v1:Y2VydA==", "tlsPrivateKey:", "    secure: v1:a2V5"];

    // ------------------------------------------------------------------------------------------ item 10: secret files

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_clouds_keep_no_data_credentials_the_runtime_user_runs_with_its_fs_group(string cloud)
    {
        var root = StackHarness.Synth(cloud, "dev", ProjectDir(cloud));
        var pod = PodSpec(root);
        var security = Map(pod, "securityContext");
        Assert.Equal("10001", Text(security, "runAsUser"));
        Assert.Equal("10001", Text(security, "fsGroup"));
        // Workload identity (WorkloadIdentityStackTests): no credentials Secret, no volume of them.
        Assert.DoesNotContain(Seq(pod, "volumes"), v => Text(v, "name") == "data-credentials");
        Assert.DoesNotContain(Resources(root, "kubernetes:core/v1:Secret"), r => r.Name.EndsWith("-data-credentials", StringComparison.Ordinal));
    }

    [Fact]
    public void Data_credentials_given_at_deploy_time_are_group_readable_by_the_runtime_users_fs_group()
    {
        // Bring your own cluster: the credentials come as a Secret (DeployTime settings), mounted 0440.
        var pod = PodSpec(StackHarness.Synth("byo", "dev", RepoRoot));
        Assert.Equal("10001", Text(Map(pod, "securityContext"), "fsGroup"));
        var volume = Seq(pod, "volumes").Single(v => Text(v, "name") == "data-credentials");
        // 0440 (288): the kubelet gives the files the fsGroup, so uid 10001 reads them through its group; 0400 would be root's only.
        Assert.Equal("288", Text(Map(volume, "secret"), "defaultMode"));
    }

    // ------------------------------------------------------------------------------------------ item 3: Kubernetes version

    [Fact]
    public void The_default_kubernetes_version_is_in_standard_support_on_every_cloud_and_not_the_old_1_33()
    {
        Assert.Equal("1.35", StackConfig.DefaultKubernetesVersion);
        foreach (var cloud in new[] { "aws", "azure", "gcp" })
        {
            var root = StackHarness.Synth(cloud, "dev", ProjectDir(cloud));
            Assert.Equal("1.35", Text(Map(Map(root, "config"), "kubernetesVersion"), "default"));
            // The committed stacks follow the default.
            foreach (var stack in new[] { "dev", "prod" })
                Assert.Contains($"{ProjectName(cloud)}:kubernetesVersion: \"1.35\"", File.ReadAllText(Path.Combine(ProjectDir(cloud), $"Pulumi.{stack}.yaml")));
        }
        Assert.Contains("1.35", File.ReadAllText(Path.Combine(RepoRoot, "docs", "deploy.md")));
        Assert.Contains("2026-12-05", File.ReadAllText(Path.Combine(RepoRoot, "docs", "deploy.md")));
    }

    [Theory]
    [InlineData("1.31", "too old")]
    [InlineData("1.35.2", "not a Kubernetes minor version")]
    [InlineData("latest", "not a Kubernetes minor version")]
    public void A_bad_kubernetes_version_fails_synth_naming_the_key(string version, string message)
    {
        using var project = Project("gcp", [("kubernetesVersion", $"\"{version}\"")]);
        var r = Run(["synth", "gcp", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"osforai-gcp:kubernetesVersion: '{version}'", r.Err);
        Assert.Contains(message, r.Err);
    }

    // ------------------------------------------------------------------------------------------ item 8: chart pins

    [Fact]
    public void Aws_pins_cluster_autoscaler_and_the_device_plugin_from_config()
    {
        var root = StackHarness.Synth("aws", "dev", ProjectDir("aws"));
        var config = Map(root, "config");
        Assert.Equal(StackConfig.DefaultClusterAutoscalerChartVersion, Text(Map(config, "clusterAutoscalerChartVersion"), "default"));
        Assert.Equal(StackConfig.DefaultDevicePluginChartVersion, Text(Map(config, "devicePluginChartVersion"), "default"));
        Assert.Equal("${clusterAutoscalerChartVersion}", Text(Props(root, "kubernetes:helm.sh/v3:Release", "cluster-autoscaler"), "version"));
        Assert.Equal("${devicePluginChartVersion}", Text(Props(root, "kubernetes:helm.sh/v3:Release", "nvidia-device-plugin"), "version"));
        // Every Helm release of the program carries a version: none takes "whatever is latest".
        Assert.All(Resources(root, "kubernetes:helm.sh/v3:Release"), r => Assert.NotEmpty(Text(Map(r.Node, "properties"), "version")));
    }

    [Fact]
    public void Azure_pins_the_gpu_operator_from_config_and_refuses_a_version_without_its_v()
    {
        var root = StackHarness.Synth("azure", "dev", ProjectDir("azure"));
        Assert.Equal("${gpuOperatorChartVersion}", Text(Props(root, "kubernetes:helm.sh/v3:Release", "gpu-operator"), "version"));
        using var project = Project("azure", [], "gpuOperatorChartVersion: \"25.10.0\"");
        var r = Run(["synth", "azure", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains("gpuOperatorChartVersion: '25.10.0' is not a GPU operator chart version", r.Err);
    }

    [Theory]
    [InlineData("clusterAutoscalerChartVersion", "latest")]
    [InlineData("devicePluginChartVersion", "v0.18.2")]
    [InlineData("devicePluginChartVersion", "0.18")]
    public void A_chart_version_that_is_not_semver_fails_synth_naming_the_key(string key, string value)
    {
        using var project = Project("aws", [], $"{key}: \"{value}\"");
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"osforai-aws:{key}: '{value}' is not a Helm chart version", r.Err);
    }

    // ------------------------------------------------------------------------------------------ TLS and the load balancer

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Without_a_certificate_plain_http_needs_the_explicit_opt_in(string cloud)
    {
        using var project = Project(cloud, [("allowPlainHttp", null)]);
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains($"{ProjectName(cloud)}:tlsCertificate: the gateway serves HTTPS only", r.Err);
        Assert.Contains("allowPlainHttp", r.Err);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void With_the_opt_in_the_gateway_serves_plain_http_on_port_80(string cloud)
    {
        var root = StackHarness.Synth(cloud, "dev", ProjectDir(cloud));
        Assert.DoesNotContain(Resources(root, "kubernetes:core/v1:Secret"), r => r.Name.EndsWith("gateway-tls", StringComparison.Ordinal));
        var port = Seq(Map(Props(root, "kubernetes:core/v1:Service", "gateway-service"), "spec"), "ports").Single();
        Assert.Equal(("80", "http"), (Text(port, "port"), Text(port, "targetPort")));
        Assert.StartsWith("http://", GatewayUrl(root));
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void A_certificate_makes_the_gateway_serve_https_from_a_tls_secret(string cloud)
    {
        using var project = Project(cloud, [("allowPlainHttp", null)], SecureTls);
        var root = StackHarness.Synth(cloud, "dev", project.Dir);
        var secretName = Resources(root, "kubernetes:core/v1:Secret").Single(r => r.Name.EndsWith("gateway-tls", StringComparison.Ordinal)).Name;
        var secret = Props(root, "kubernetes:core/v1:Secret", "gateway-tls");
        Assert.Equal("kubernetes.io/tls", Text(secret, "type"));
        var data = Map(secret, "stringData");
        Assert.Equal("${tlsCertificate}", Text(Map(data, "tls.crt"), "fn::secret"));
        Assert.Equal("${tlsPrivateKey}", Text(Map(data, "tls.key"), "fn::secret"));
        // The keys are declared secret.
        Assert.Equal("true", Text(Map(Map(root, "config"), "tlsCertificate"), "secret"));
        Assert.Equal("true", Text(Map(Map(root, "config"), "tlsPrivateKey"), "secret"));

        var pod = PodSpec(root);
        var volume = Seq(pod, "volumes").Single(v => Text(v, "name") == "tls");
        Assert.Equal(($"${{{secretName}.metadata.name}}", "288"), (Text(Map(volume, "secret"), "secretName"), Text(Map(volume, "secret"), "defaultMode")));
        var container = Container(root);
        var mount = Seq(container, "volumeMounts").Single(m => Text(m, "name") == "tls");
        Assert.Equal((RuntimeDeployment.TlsPath, "true"), (Text(mount, "mountPath"), Text(mount, "readOnly")));
        var env = Seq(container, "env").Where(e => e.Children.TryGetValue("value", out var v) && v is YamlScalarNode).ToDictionary(e => Text(e, "name"), e => Text(e, "value"));
        Assert.Equal("https://0.0.0.0:8080", env["Kestrel__Endpoints__Https__Url"]);
        Assert.Equal(RuntimeDeployment.TlsPath + "/tls.crt", env["Kestrel__Endpoints__Https__Certificate__Path"]);
        Assert.Equal(RuntimeDeployment.TlsPath + "/tls.key", env["Kestrel__Endpoints__Https__Certificate__KeyPath"]);
        Assert.Equal("https", Text(Seq(container, "ports").First(), "name"));
        Assert.Equal(("https", "HTTPS"), (Text(Map(Map(container, "readinessProbe"), "httpGet"), "port"), Text(Map(Map(container, "readinessProbe"), "httpGet"), "scheme")));
        Assert.Equal("HTTPS", Text(Map(Map(container, "livenessProbe"), "httpGet"), "scheme"));

        var port = Seq(Map(Props(root, "kubernetes:core/v1:Service", "gateway-service"), "spec"), "ports").Single();
        Assert.Equal(("443", "https"), (Text(port, "port"), Text(port, "targetPort")));
        Assert.StartsWith("https://", GatewayUrl(root));
        // The certificate and key appear nowhere in plain text: only as config references inside fn::secret.
        HasNoSchemaViolationsOfDev(cloud, project.Dir);
    }

    [Theory]
    [InlineData("aws", "tlsCertificate", "tlsPrivateKey", "is required with tlsCertificate")]
    [InlineData("azure", "tlsPrivateKey", "tlsCertificate", "is required with tlsPrivateKey")]
    public void A_certificate_without_its_key_or_a_key_without_its_certificate_is_refused(string cloud, string present, string missing, string message)
    {
        using var project = Project(cloud, [], $"{present}:", "    secure: v1:eA==");
        var r = Run(["synth", cloud, "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"{ProjectName(cloud)}:{missing}: {message}", r.Err);
    }

    [Fact]
    public void A_plain_text_certificate_is_refused_as_not_secret()
    {
        using var project = Project("gcp", [], "tlsCertificate: plain-pem", "tlsPrivateKey:", "    secure: v1:eA==");
        var r = Run(["synth", "gcp", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Contains("osforai-gcp:tlsCertificate: must be a secret", r.Err);
    }

    [Theory]
    [InlineData("aws", "service.beta.kubernetes.io/aws-load-balancer-scheme", "internal")]
    [InlineData("aws", "service.beta.kubernetes.io/aws-load-balancer-internal", "true")]
    [InlineData("azure", "service.beta.kubernetes.io/azure-load-balancer-internal", "true")]
    [InlineData("gcp", "networking.gke.io/load-balancer-type", "Internal")]
    public void An_internal_load_balancer_gets_the_clouds_internal_annotation(string cloud, string annotation, string value)
    {
        var publicRoot = StackHarness.Synth(cloud, "dev", ProjectDir(cloud));
        var publicMeta = Map(Props(publicRoot, "kubernetes:core/v1:Service", "gateway-service"), "metadata");
        Assert.False(publicMeta.Children.TryGetValue("annotations", out var a) && ((YamlMappingNode)a).Children.ContainsKey(annotation));

        using var project = Project(cloud, [], "internalLoadBalancer: true");
        var root = StackHarness.Synth(cloud, "dev", project.Dir);
        var annotations = Map(Map(Props(root, "kubernetes:core/v1:Service", "gateway-service"), "metadata"), "annotations");
        Assert.Equal(value, Text(annotations, annotation));
        if (cloud == "aws") Assert.Equal("nlb", Text(annotations, "service.beta.kubernetes.io/aws-load-balancer-type"));
    }

    // ------------------------------------------------------------------------------------------ CI promotion

    private static YamlMappingNode WorkflowJobs()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(RepoRoot, ".github", "workflows", "stacks.yml"))));
        return Map(stream.Documents[0].RootNode, "jobs");
    }

    private static string JobText(string job)
    {
        var stream = new YamlStream();
        stream.Add(new YamlDocument(Map(WorkflowJobs(), job)));
        var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    [Theory]
    [InlineData("preview")]
    [InlineData("dev")]
    [InlineData("prod")]
    public void Every_job_that_reaches_gke_installs_the_gke_auth_plugin(string job)
    {
        var steps = Seq(Map(WorkflowJobs(), job), "steps").ToList();
        var plugin = steps.Single(step => step.Children.TryGetValue("with", out var with)
            && ((YamlMappingNode)with).Children.TryGetValue("install_components", out var c) && ((YamlScalarNode)c).Value!.Contains("gke-gcloud-auth-plugin"));
        Assert.StartsWith("google-github-actions/setup-gcloud@", Text(plugin, "uses"));
        Assert.Equal("matrix.cloud == 'gcp'", Text(plugin, "if"));
        // Before anything runs pulumi against the cluster.
        Assert.True(steps.IndexOf(plugin) < steps.FindIndex(step => step.Children.ContainsKey("uses") && Text(step, "uses").StartsWith("pulumi/actions@", StringComparison.Ordinal) && step.Children.ContainsKey("with")));
    }

    [Theory]
    [InlineData("preview")]
    [InlineData("dev")]
    [InlineData("prod")]
    public void Every_job_that_reaches_aks_installs_kubelogin_for_entra_id_clusters(string job)
    {
        var steps = Seq(Map(WorkflowJobs(), job), "steps").ToList();
        var login = steps.FindIndex(step => step.Children.ContainsKey("uses") && Text(step, "uses").StartsWith("azure/login@", StringComparison.Ordinal));
        var kubelogin = steps.FindIndex(step => step.Children.ContainsKey("run") && Text(step, "run").Contains("--kubelogin-install-location", StringComparison.Ordinal));
        Assert.True(login >= 0 && kubelogin > login, "kubelogin is installed after the Azure login");
        Assert.Equal("matrix.cloud == 'azure'", Text(steps[kubelogin], "if"));
        Assert.True(kubelogin < steps.FindIndex(step => step.Children.ContainsKey("uses") && Text(step, "uses").StartsWith("pulumi/actions@", StringComparison.Ordinal) && step.Children.ContainsKey("with")));
    }

    [Fact]
    public void Pull_requests_get_a_pulumi_preview_of_every_clouds_dev_stack_that_does_not_stop_the_others()
    {
        var preview = Map(WorkflowJobs(), "preview");
        Assert.Contains("pull_request", Text(preview, "if"));
        Assert.Equal("false", Text(Map(preview, "strategy"), "fail-fast"));
        var pulumi = Seq(preview, "steps").Where(step => step.Children.ContainsKey("uses") && Text(step, "uses").StartsWith("pulumi/actions@", StringComparison.Ordinal)).ToList();
        Assert.Equal(["preview"], pulumi.Select(step => Text(Map(step, "with"), "command")));
        Assert.DoesNotContain("command: up", JobText("preview"));
    }

    [Fact]
    public void A_cloud_whose_dev_failed_does_not_block_the_other_clouds_promotion()
    {
        var prod = Map(WorkflowJobs(), "prod");
        var condition = Text(prod, "if");
        // Not the default success() of every dev leg: prod runs once the images exist, each leg checks its own cloud's dev.
        Assert.Contains("!cancelled()", condition);
        Assert.Contains("needs.images.result == 'success'", condition);
        Assert.Equal("false", Text(Map(prod, "strategy"), "fail-fast"));
        var text = JobText("prod");
        Assert.Contains("pulumi stack history --stack dev --json", text);
        Assert.Contains("succeeded", text);
    }

    [Fact]
    public void The_gpu_worker_image_is_set_and_promoted_only_where_the_program_declares_it()
    {
        // The push script (dev and prod legs) pushes and sets workerGpuImage only when the synthesized program declares it…
        var script = File.ReadAllText(Path.Combine(RepoRoot, ".github", "scripts", "push-stack-images.sh"));
        Assert.Matches(@"if ""\$\{stacks_cli\[@\]\}"" synth ""\$cloud"" \| grep -qE '\^  workerGpuImage:'; then\s+images\+=\(worker-gpu\)\s+keys\+=\(workerGpuImage\)", script);
        Assert.Contains("images=(runtime worker-python)\nkeys=(runtimeImage workerPythonImage)\n", script);
        // …and prod's keys must then equal dev's, workerGpuImage included (on both stacks or on neither).
        Assert.Contains("for key in runtimeImage workerPythonImage workerGpuImage; do", JobText("prod"));
    }

    private static string GatewayUrl(YamlMappingNode root)
    {
        var output = Map(root, "outputs")["gatewayUrl"];
        return output is YamlScalarNode s ? s.Value! : ((YamlScalarNode)((YamlSequenceNode)((YamlSequenceNode)((YamlMappingNode)output)["fn::join"]).Children[1]).Children[0]).Value!;
    }

    private static void HasNoSchemaViolationsOfDev(string cloud, string projectDir)
    {
        var program = cloud switch
        {
            "aws" => OSForAI.Components.Aws.AwsStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
            "azure" => OSForAI.Components.Azure.AzureStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
            _ => OSForAI.Components.Gcp.GcpStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
        };
        HasNoSchemaViolations(program);
    }
}
