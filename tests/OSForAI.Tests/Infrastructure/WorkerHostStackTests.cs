using k8s.Models;
using OSForAI.Components.Aws;
using OSForAI.Components.Azure;
using OSForAI.Components.Byo;
using OSForAI.Components.Gcp;
using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The stacks deploy the runtime with the Kubernetes worker host (issue 13): the gateway's environment and workers port, RBAC
/// limited to the pods of its namespace, node-pool labels and taints that are exactly what the worker pods select and tolerate
/// (so the GPU pool scales from zero for them), the NetworkPolicy around worker pods, and the config keys behind it all.
/// The Kubernetes objects are read through KubernetesClient's models, as the API server would read them.
/// </summary>
public sealed class WorkerHostStackTests
{
    private static readonly Dictionary<string, PulumiProgram> Programs = new()
    {
        ["aws"] = AwsStackProgram.Build(),
        ["azure"] = AzureStackProgram.Build(),
        ["gcp"] = GcpStackProgram.Build(),
    };

    public static TheoryData<string> Clouds => ["aws", "azure", "gcp"];

    private static T Model<T>(Resource r) where T : class =>
        (T)KubernetesObjectTests.Deserialize(KubernetesObjectTests.ObjectJson(r), typeof(T));

    private static V1Container Gateway(PulumiProgram program) =>
        Assert.Single(Model<V1Deployment>(program.Resources.Single(r => r.Type == "kubernetes:apps/v1:Deployment")).Spec.Template.Spec.Containers);

    /// <summary>Name → value of the container's plain env entries (KubernetesObjectTests renders config references as "x" or 1).</summary>
    private static Dictionary<string, V1EnvVar> Env(V1Container c) => c.Env.ToDictionary(e => e.Name);

    private static Obj O(Expr? e) => Assert.IsType<Obj>(e);
    private static Arr A(Expr? e) => Assert.IsType<Arr>(e);
    private static string S(Expr? e) => Assert.IsType<string>(Assert.IsType<Lit>(e).Value);

    /// <summary>A pool's settings as the runtime reads them: selector label → value, and tolerations.</summary>
    private static (Dictionary<string, string> Selector, List<string> Tolerations) PoolSettings(V1Container gateway, string pool)
    {
        var prefix = $"OSForAI__Workers__Kubernetes__Pools__{pool}__";
        var env = gateway.Env.Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var selector = env.Where(e => e.Name.StartsWith(prefix + "NodeSelector__", StringComparison.Ordinal))
            .ToDictionary(e => e.Name[(prefix + "NodeSelector__").Length..], e => e.Value);
        var tolerations = env.Where(e => e.Name.StartsWith(prefix + "Tolerations__", StringComparison.Ordinal))
            .OrderBy(e => int.Parse(e.Name[(prefix + "Tolerations__").Length..], System.Globalization.CultureInfo.InvariantCulture))
            .Select(e => e.Value).ToList();
        return (selector, tolerations);
    }

    // ------------------------------------------------------------------------------------------ the gateway Deployment

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_gateway_runs_the_kubernetes_worker_host_with_its_namespace_address_images_and_pools(string cloud)
    {
        var gateway = Gateway(Programs[cloud]);
        var env = Env(gateway);
        const string k = "OSForAI__Workers__Kubernetes__";

        Assert.Equal("Kubernetes", env["OSForAI__Workers__Host"].Value);
        Assert.Equal("metadata.namespace", env[k + "Namespace"].ValueFrom.FieldRef.FieldPath);
        Assert.Null(env[k + "Namespace"].Value);
        Assert.Equal("true", env[k + "ServiceAccountInCluster"].Value);
        Assert.Equal("7071", env[k + "ListenPort"].Value);
        // Worker pods dial the gateway pod's own IP; Kubernetes expands $(OSAI_POD_IP) only from a variable defined before it.
        Assert.Equal("status.podIP", env["OSAI_POD_IP"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("tcp:$(OSAI_POD_IP):7071", env[k + "GatewayAddress"].Value);
        var names = gateway.Env.Select(e => e.Name).ToList();
        Assert.True(names.IndexOf("OSAI_POD_IP") < names.IndexOf(k + "GatewayAddress"));
        Assert.Equal(names.Count, names.Distinct().Count());

        // Images per runtime kind and warm pods per pool, from the stack's config keys.
        var program = Programs[cloud];
        var podSpec = O(O(O(program.Resources.Single(r => r.Type == "kubernetes:apps/v1:Deployment").Get("spec"))["template"])["spec"]);
        var container = O(A(podSpec["containers"]).Items[0]);
        var raw = A(container["env"]).Items.Select(O).ToDictionary(e => S(e["name"]), e => e["value"]);
        Assert.Equal(StackConfig.WorkerPythonImage, ImageKeyOf(raw[k + "Images__python3"]));
        Assert.Equal(StackConfig.WorkerGpuImage, ImageKeyOf(raw[k + "Images__onnx"]));
        Assert.Equal(StackConfig.CpuWarmPods, Assert.IsType<ConfigRef>(Assert.IsType<Fn>(raw[k + "Pools__cpu__WarmPods"]).Argument).Key.Name);
        Assert.Equal(StackConfig.GpuWarmPods, Assert.IsType<ConfigRef>(Assert.IsType<Fn>(raw[k + "Pools__gpu__WarmPods"]).Argument).Key.Name);
        Assert.Equal("fn::toJSON", ((Fn)raw[k + "Pools__gpu__WarmPods"]!).Name); // env values are strings

        // The pools: CPU workers on the system pool, GPU workers on the GPU pool tolerating its taint.
        Assert.Equal(new Dictionary<string, string> { ["osforai.dev/pool"] = "system" }, PoolSettings(gateway, "cpu").Selector);
        Assert.Empty(PoolSettings(gateway, "cpu").Tolerations);
        Assert.Equal(new Dictionary<string, string> { ["osforai.dev/pool"] = "gpu" }, PoolSettings(gateway, "gpu").Selector);
        // The GPU taint, and the one AKS gives Spot pools (gpuSpot), so spot GPU nodes serve alike.
        Assert.Equal(["nvidia.com/gpu=true:NoSchedule", "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"], PoolSettings(gateway, "gpu").Tolerations);

        // The gateway itself stays on the CPU: nothing here points its models at the GPU (its image says cpu).
        Assert.DoesNotContain(names, n => n.Contains("Models__Device", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Resources.Requests?.Keys ?? [], r => r.Contains("nvidia", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_gateway_exposes_the_workers_port_and_no_service_fronts_it(string cloud)
    {
        var program = Programs[cloud];
        var ports = Gateway(program).Ports;
        var workers = Assert.Single(ports, p => p.Name == "workers");
        Assert.Equal(7071, workers.ContainerPort);
        Assert.Equal("TCP", workers.Protocol);
        Assert.Single(ports, p => p.Name == "http" && p.ContainerPort == 8080);
        // Worker pods dial the pod IP; the only Service is the public one, and it does not publish the workers port.
        var service = Model<V1Service>(Assert.Single(program.Resources, r => r.Type == "kubernetes:core/v1:Service"));
        Assert.DoesNotContain(service.Spec.Ports, p => p.TargetPort?.Value is "workers" or "7071" || p.Port == 7071);
    }

    [Fact]
    public void Bring_your_own_cluster_keeps_the_process_host()
    {
        // Its nodes carry no pool labels, so worker pods could never be scheduled: workers stay processes in the gateway pod.
        var program = ByoStackProgram.Build();
        var gateway = Gateway(program);
        // Only the state and the admin key: nothing of the worker host.
        Assert.Equal(["OSForAI__State", "OSForAI__AdminKey"], gateway.Env.Select(e => e.Name));
        Assert.DoesNotContain(gateway.Ports, p => p.Name == "workers");
        Assert.DoesNotContain(program.Resources, r => r.Type == "kubernetes:networking.k8s.io/v1:NetworkPolicy");
    }

    // ------------------------------------------------------------------------------------------ RBAC

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_role_allows_exactly_the_pod_operations_of_the_host_in_its_namespace(string cloud)
    {
        var program = Programs[cloud];
        var role = Model<V1Role>(Assert.Single(program.Resources, r => r.Type == "kubernetes:rbac.authorization.k8s.io/v1:Role"));
        Assert.Collection(role.Rules,
            pods =>
            {
                Assert.Equal([""], pods.ApiGroups);
                Assert.Equal(["pods"], pods.Resources);
                Assert.Equal(["create", "delete", "get", "list", "patch", "watch"], pods.Verbs.Order(StringComparer.Ordinal));
                Assert.Null(pods.ResourceNames);
            },
            log =>
            {
                Assert.Equal([""], log.ApiGroups);
                Assert.Equal(["pods/log"], log.Resources);
                Assert.Equal(["get"], log.Verbs);
            });
        Assert.DoesNotContain(role.Rules.SelectMany(r => r.Verbs), v => v == "*");
        Assert.DoesNotContain(role.Rules.SelectMany(r => r.Resources), r => r is "*" or "secrets" or "pods/exec");

        // In the runtime's namespace, bound to the runtime's service account alone; nothing cluster-wide anywhere.
        var binding = Model<V1RoleBinding>(Assert.Single(program.Resources, r => r.Type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"));
        Assert.Equal("Role", binding.RoleRef.Kind);
        Assert.Equal("ServiceAccount", Assert.Single(binding.Subjects).Kind);
        var account = Assert.Single(program.Resources, r => r.Type == "kubernetes:core/v1:ServiceAccount");
        var rawBinding = program.Resources.Single(r => r.Type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding");
        Assert.Same(account, Assert.IsType<Ref>(O(A(rawBinding.Get("subjects")).Items[0])["name"]).Resource);
        Assert.Equal(RuntimeDeployment.ServiceAccountName, S(O(account.Get("metadata"))["name"]));
        Assert.DoesNotContain(program.Resources, r => r.Type.Contains(":ClusterRole", StringComparison.Ordinal));
        var ns = Model<V1Namespace>(program.Resources.Single(r => r.Type == "kubernetes:core/v1:Namespace" && !r.Name.Contains("gpu-operator", StringComparison.Ordinal))).Metadata.Name;
        Assert.All(new[] { role.Metadata.NamespaceProperty, binding.Metadata.NamespaceProperty }, n => Assert.Equal("placeholder", n));
        Assert.NotNull(ns);

        // The runtime needs the API: its service account keeps its token (worker pods get none: the host sets that on each pod).
        Assert.NotEqual(false, Model<V1ServiceAccount>(account).AutomountServiceAccountToken);
        Assert.NotEqual(false, Model<V1Deployment>(program.Resources.Single(r => r.Type == "kubernetes:apps/v1:Deployment")).Spec.Template.Spec.AutomountServiceAccountToken);
    }

    // ------------------------------------------------------------------------------------------ GPU pools from zero

    /// <summary>Label key → value and taints (key=value:Effect) of a cloud's GPU node pool, as the cloud's API is told.</summary>
    private static (Dictionary<string, Expr> Labels, List<string> Taints, Expr MinNodes) GpuPool(string cloud)
    {
        var program = Programs[cloud];
        static Dictionary<string, Expr> Labels(Expr? e) => O(e).Entries.ToDictionary(x => x.Key, x => x.Value);
        static string Effect(string api) => api switch { "NO_SCHEDULE" => "NoSchedule", "NoSchedule" => "NoSchedule", var other => "?" + other };
        switch (cloud)
        {
            case "aws":
            {
                var group = program.Resources.Single(r => r.Type == "aws:eks/nodeGroup:NodeGroup" && r.Name.Contains("gpu", StringComparison.Ordinal));
                var taints = A(group.Get("taints")).Items.Select(O).Select(t => $"{S(t["key"])}={S(t["value"])}:{Effect(S(t["effect"]))}").ToList();
                return (Labels(group.Get("labels")), taints, O(group.Get("scalingConfig"))["minSize"]!);
            }
            case "azure":
            {
                var pool = program.Resources.Single(r => r.Type == "azure-native:containerservice:AgentPool" && r.Name.Contains("gpu", StringComparison.Ordinal));
                Assert.Equal(true, Assert.IsType<Lit>(pool.Get("enableAutoScaling")).Value);
                return (Labels(pool.Get("nodeLabels")), A(pool.Get("nodeTaints")).Items.Select(S).ToList(), pool.Get("minCount")!);
            }
            case "gcp":
            {
                var pool = program.Resources.Single(r => r.Type == "gcp:container/nodePool:NodePool" && r.Name.Contains("gpu", StringComparison.Ordinal));
                var config = O(pool.Get("nodeConfig"));
                var taints = A(config["taints"]).Items.Select(O).Select(t => $"{S(t["key"])}={S(t["value"])}:{Effect(S(t["effect"]))}").ToList();
                Assert.Equal(0, Assert.IsType<Lit>(pool.Get("initialNodeCount")).Value);
                return (Labels(config["labels"]), taints, O(pool.Get("autoscaling"))["totalMinNodeCount"]!);
            }
        }
        throw new ArgumentException(cloud);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_gpu_pool_carries_exactly_what_gpu_worker_pods_select_and_tolerate_and_scales_from_zero(string cloud)
    {
        var (selector, tolerations) = PoolSettings(Gateway(Programs[cloud]), "gpu");
        var (labels, taints, minNodes) = GpuPool(cloud);
        // Every label the pods select is on the pool with that value (a node template without it would never be chosen).
        foreach (var (key, value) in selector)
        {
            Assert.True(labels.TryGetValue(key, out var label), $"{cloud}: the GPU pool has no label {key}");
            Assert.Equal(value, S(label));
        }
        // Every taint of the pool is tolerated (an untolerated taint keeps the pods off the new node); the only other toleration is
        // the taint AKS adds to Spot pools by itself.
        Assert.Subset(tolerations.ToHashSet(), taints.ToHashSet());
        Assert.Equal([NodePools.SpotTaint], tolerations.Except(taints));
        // From zero: the minimum is the gpuMinNodes key, whose default is 0.
        Assert.Equal(StackConfig.GpuMinNodes, Assert.IsType<ConfigRef>(minNodes).Key.Name);
        Assert.Equal(0, StackConfig.SettingsFor(AwsOffering.Instance).Single(s => s.Key == StackConfig.GpuMinNodes).Default);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Cpu_worker_pods_select_the_system_pool_and_it_is_not_tainted(string cloud)
    {
        var (selector, tolerations) = PoolSettings(Gateway(Programs[cloud]), "cpu");
        var program = Programs[cloud];
        var labels = cloud switch
        {
            "aws" => O(program.Resources.Single(r => r.Type == "aws:eks/nodeGroup:NodeGroup" && r.Name.Contains("system", StringComparison.Ordinal)).Get("labels")),
            "azure" => O(program.Resources.Single(r => r.Type == "azure-native:containerservice:AgentPool" && r.Name.Contains("system", StringComparison.Ordinal)).Get("nodeLabels")),
            _ => O(O(program.Resources.Single(r => r.Type == "gcp:container/nodePool:NodePool" && r.Name.Contains("system", StringComparison.Ordinal)).Get("nodeConfig"))["labels"]),
        };
        foreach (var (key, value) in selector) Assert.Equal(value, S(labels[key]));
        Assert.Empty(tolerations);
        Assert.DoesNotContain(program.ToYaml().Split('\n'), l => l.Contains("nodeTaints", StringComparison.Ordinal) && l.Contains("system", StringComparison.Ordinal));
    }

    [Fact]
    public void The_aws_node_template_tags_advertise_the_label_taint_and_gpus_the_pods_ask_for()
    {
        // With no GPU node running, the cluster-autoscaler builds the node it would add from these ASG tags only.
        var program = Programs["aws"];
        var (selector, tolerations) = PoolSettings(Gateway(program), "gpu");
        var tags = program.Resources.Where(r => r.Type == "aws:autoscaling/tag:Tag").Select(r => O(r.Get("tag")))
            .ToDictionary(t => S(t["key"]), t => t["value"]);
        const string template = "k8s.io/cluster-autoscaler/node-template/";
        foreach (var (key, value) in selector) Assert.Equal(value, S(tags[template + "label/" + key]));
        var taint = Assert.Single(tolerations, t => t != NodePools.SpotTaint); // no spot taint on EKS
        var (taintKey, rest) = (taint[..taint.IndexOf('=')], taint[(taint.IndexOf('=') + 1)..]);
        Assert.Equal(rest, S(tags[template + "taint/" + taintKey]));
        Assert.Equal(StackConfig.GpusPerNode, Assert.IsType<ConfigRef>(Assert.IsType<Fn>(tags[template + "resources/nvidia.com/gpu"]).Argument).Key.Name);
        Assert.Equal(tags.Keys.Where(t => t.StartsWith(template + "taint/", StringComparison.Ordinal)).Count(), tolerations.Count - 1);
    }

    // ------------------------------------------------------------------------------------------ NetworkPolicy

    private static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels)
    {
        foreach (var (k, v) in selector.MatchLabels ?? new Dictionary<string, string>())
            if (!labels.TryGetValue(k, out var actual) || actual != v) return false;
        foreach (var e in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(e.Key, out var value);
            var ok = e.OperatorProperty switch
            {
                "In" => has && e.Values.Contains(value!),
                "NotIn" => !has || !e.Values.Contains(value!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => throw new InvalidOperationException(e.OperatorProperty),
            };
            if (!ok) return false;
        }
        return true;
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Worker_pods_may_reach_only_the_gateways_workers_port_and_dns_and_receive_nothing(string cloud)
    {
        var program = Programs[cloud];
        var policies = program.Resources.Where(r => r.Type == "kubernetes:networking.k8s.io/v1:NetworkPolicy").Select(Model<V1NetworkPolicy>).ToList();
        Assert.Equal(2, policies.Count);
        var gatewayLabels = Model<V1Deployment>(program.Resources.Single(r => r.Type == "kubernetes:apps/v1:Deployment")).Spec.Template.Metadata.Labels;
        // Whatever labels the host gives its pods (runtime, version, instance), they are worker pods.
        var workerLabels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "osforai-worker", ["osforai.dev/runtime"] = "python3" };

        var workers = Assert.Single(policies, p => Selects(p.Spec.PodSelector, workerLabels));
        Assert.True(Selects(workers.Spec.PodSelector, new Dictionary<string, string>()), "a worker pod with no labels at all must be covered too");
        Assert.False(Selects(workers.Spec.PodSelector, gatewayLabels), "the worker policy must not cover the gateway");
        Assert.Equal(["Egress", "Ingress"], workers.Spec.PolicyTypes.Order(StringComparer.Ordinal));
        Assert.Null(workers.Spec.Ingress); // Ingress listed with no rule: nothing may connect to a worker pod
        Assert.Collection(workers.Spec.Egress,
            toGateway =>
            {
                var peer = Assert.Single(toGateway.To);
                Assert.Null(peer.NamespaceSelector); // the gateway in the same namespace
                Assert.Null(peer.IpBlock);
                Assert.True(Selects(peer.PodSelector, gatewayLabels));
                Assert.False(Selects(peer.PodSelector, workerLabels));
                var port = Assert.Single(toGateway.Ports);
                Assert.Equal(("TCP", "7071"), (port.Protocol, port.Port.Value));
            },
            dns =>
            {
                var peer = Assert.Single(dns.To);
                Assert.Equal(new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "kube-system" }, peer.NamespaceSelector.MatchLabels);
                Assert.Null(peer.IpBlock);
                Assert.Equal([("TCP", "53"), ("UDP", "53")], dns.Ports.Select(p => (p.Protocol, p.Port.Value)).Order());
            });

        var gateway = Assert.Single(policies, p => p != workers);
        Assert.True(Selects(gateway.Spec.PodSelector, gatewayLabels));
        Assert.Equal(["Ingress"], gateway.Spec.PolicyTypes);
        Assert.Collection(gateway.Spec.Ingress,
            http =>
            {
                Assert.Null(http.FromProperty); // the load balancer and probes, from anywhere
                Assert.Equal(("TCP", "8080"), (Assert.Single(http.Ports).Protocol, http.Ports[0].Port.Value));
            },
            fromWorkers =>
            {
                var peer = Assert.Single(fromWorkers.FromProperty);
                Assert.Null(peer.NamespaceSelector);
                Assert.True(Selects(peer.PodSelector, workerLabels));
                Assert.Equal(("TCP", "7071"), (Assert.Single(fromWorkers.Ports).Protocol, fromWorkers.Ports[0].Port.Value));
            });
    }

    [Fact]
    public void Every_cloud_enforces_network_policies()
    {
        var aws = Programs["aws"].Resources.Single(r => r.Type == "aws:eks/addon:Addon" && S(r.Get("addonName")) == "vpc-cni");
        Assert.Equal("true", S(O(Assert.IsType<Fn>(aws.Get("configurationValues")).Argument)["enableNetworkPolicy"]));
        var azure = O(Programs["azure"].Resources.Single(r => r.Type == "azure-native:containerservice:ManagedCluster").Get("networkProfile"));
        Assert.Equal(("cilium", "cilium"), (S(azure["networkPolicy"]), S(azure["networkDataplane"])));
        var gcp = Programs["gcp"].Resources.Single(r => r.Type == "gcp:container/cluster:Cluster");
        Assert.Equal("ADVANCED_DATAPATH", S(gcp.Get("datapathProvider")));
    }

    // ------------------------------------------------------------------------------------------ config

    [Fact]
    public void Bad_worker_settings_are_all_reported_at_once_with_their_keys()
    {
        using var project = new TempProject(Path.Combine(RepoRoot, "stacks", "aws"), "osforai-aws",
            (StackConfig.WorkerPythonImage, "'Not An Image'"),
            (StackConfig.WorkerGpuImage, null),
            (StackConfig.CpuWarmPods, "-1"),
            (StackConfig.GpuWarmPods, "5"),
            (StackConfig.KubernetesVersion, "\"1.31\""));
        var r = Run(["synth", "aws", "--stack", "dev", "--project-dir", project.Dir]);
        Assert.Equal(1, r.Code);
        Assert.Equal("", r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("osforai-aws:workerPythonImage: 'Not An Image' is not a container image reference", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("osforai-aws:workerGpuImage: is required", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("osforai-aws:cpuWarmPods: must be 0 or more, got -1", StringComparison.Ordinal));
        // dev's GPU pool holds one node of one GPU.
        Assert.Contains(lines, l => l.Contains("osforai-aws:gpuWarmPods: 5 warm GPU pods need 5 GPUs, more than the GPU pool's 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("osforai-aws:kubernetesVersion: '1.31' is too old", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("registry.example.com:5000/team/osforai-worker-python:1.2.3", true)]
    [InlineData("osforai-worker-gpu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("ghcr.io/acme/osforai_worker:sha-abc", true)]
    [InlineData("https://ghcr.io/acme/worker:1", false)]
    [InlineData("Acme/worker:1", false)]
    [InlineData("worker:", false)]
    [InlineData("", false)]
    public void Image_references_are_checked(string image, bool valid)
    {
        var errors = StackConfig.Validate(StackFileWith(StackConfig.WorkerPythonImage, image), AwsOffering.Instance);
        Assert.Equal(valid, !errors.Any(e => e.Key == StackConfig.WorkerPythonImage));
    }

    [Fact]
    public void The_committed_stacks_set_the_worker_keys_and_pass()
    {
        foreach (var cloud in new[] { "aws", "azure", "gcp" })
        foreach (var stack in new[] { "dev", "prod" })
        {
            var file = StackFile.Load(Path.Combine(RepoRoot, "stacks", cloud), stack);
            foreach (var key in new[] { StackConfig.WorkerPythonImage, StackConfig.WorkerGpuImage, StackConfig.CpuWarmPods, StackConfig.GpuWarmPods })
                Assert.IsType<StackValue.Plain>(file.Get(key));
            Assert.Equal("0", ((StackValue.Plain)file.Get(StackConfig.GpuWarmPods)!).Text); // the GPU pools scale to zero when idle
        }
    }

    private static StackFile StackFileWith(string key, string value)
    {
        var dir = Path.Combine(Path.GetTempPath(), "osforai-stackfile-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.Copy(Path.Combine(RepoRoot, "stacks", "aws", "Pulumi.yaml"), Path.Combine(dir, "Pulumi.yaml"));
            var lines = File.ReadAllLines(Path.Combine(RepoRoot, "stacks", "aws", "Pulumi.dev.yaml"))
                .Select(l => l.StartsWith($"  osforai-aws:{key}:", StringComparison.Ordinal) ? $"  osforai-aws:{key}: \"{value}\"" : l);
            File.WriteAllLines(Path.Combine(dir, "Pulumi.dev.yaml"), lines);
            return StackFile.Load(dir, "dev");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The image key an image setting refers to: the key itself, or the key behind the stack's registry host (Azure).</summary>
    private static string ImageKeyOf(Expr? image) => image switch
    {
        ConfigRef key => key.Key.Name,
        Interp parts => Assert.Single(parts.Parts.OfType<ConfigRef>()).Key.Name,
        _ => throw new Xunit.Sdk.XunitException($"not an image key reference: {image}"),
    };
}
