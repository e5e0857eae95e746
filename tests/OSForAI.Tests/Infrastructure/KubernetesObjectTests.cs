using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using OSForAI.Components.Aws;
using OSForAI.Components.Azure;
using OSForAI.Components.Gcp;
using OSForAI.Components.Synthesis;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Every Kubernetes object of every synthesized program, turned into JSON as the Pulumi provider sends it
/// (apiVersion and kind from the type token), deserializes into the matching KubernetesClient model with unknown
/// members disallowed at every level: a misspelled or misplaced field fails here, not at deploy time.
/// </summary>
public sealed class KubernetesObjectTests
{
    private static readonly Dictionary<string, PulumiProgram> Programs = new()
    {
        ["aws"] = AwsStackProgram.Build(),
        ["azure"] = AzureStackProgram.Build(),
        ["gcp"] = GcpStackProgram.Build(),
        ["byo"] = OSForAI.Components.Byo.ByoStackProgram.Build(),
    };

    public static TheoryData<string> Clouds => ["aws", "azure", "gcp", "byo"];

    /// <summary>Pulumi type token → KubernetesClient model.</summary>
    private static readonly Dictionary<string, Type> Models = new(StringComparer.Ordinal)
    {
        ["kubernetes:apps/v1:Deployment"] = typeof(V1Deployment),
        ["kubernetes:core/v1:Service"] = typeof(V1Service),
        ["kubernetes:core/v1:Namespace"] = typeof(V1Namespace),
        ["kubernetes:core/v1:ServiceAccount"] = typeof(V1ServiceAccount),
        ["kubernetes:core/v1:Secret"] = typeof(V1Secret),
        ["kubernetes:core/v1:ConfigMap"] = typeof(V1ConfigMap),
        ["kubernetes:rbac.authorization.k8s.io/v1:Role"] = typeof(V1Role),
        ["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"] = typeof(V1RoleBinding),
        ["kubernetes:autoscaling/v2:HorizontalPodAutoscaler"] = typeof(V2HorizontalPodAutoscaler),
        ["kubernetes:policy/v1:PodDisruptionBudget"] = typeof(V1PodDisruptionBudget),
        ["kubernetes:networking.k8s.io/v1:NetworkPolicy"] = typeof(V1NetworkPolicy),
    };

    /// <summary>Kubernetes-package resources that are not Kubernetes objects: exactly these are left unchecked.</summary>
    private static readonly HashSet<string> NotObjects = ["kubernetes:helm.sh/v3:Release", "pulumi:providers:kubernetes"];

    /// <summary>KubernetesClient's own serializer options, cloned with unknown members disallowed (for every type).</summary>
    private static readonly JsonSerializerOptions Strict = CreateStrictOptions();

    private static JsonSerializerOptions CreateStrictOptions()
    {
        JsonSerializerOptions? library = null;
        KubernetesJson.AddJsonOptions(o => library = o);
        return new JsonSerializerOptions(library!) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };
    }

    private static bool IsKubernetes(Resource r) =>
        r.Type.StartsWith("kubernetes:", StringComparison.Ordinal) || r.Type == "pulumi:providers:kubernetes";

    /// <summary>("apps/v1" or "v1", "Deployment") from <c>kubernetes:&lt;group&gt;/&lt;version&gt;:&lt;Kind&gt;</c>.</summary>
    private static (string ApiVersion, string Kind) ApiVersionAndKind(string token)
    {
        var parts = token.Split(':');
        Assert.Equal(3, parts.Length);
        var slash = parts[1].LastIndexOf('/');
        Assert.True(slash > 0, $"'{token}' has no group/version");
        var (group, version) = (parts[1][..slash], parts[1][(slash + 1)..]);
        return (group == "core" ? version : $"{group}/{version}", parts[2]);
    }

    private static JsonNode? ToJson(Expr expr) => expr switch
    {
        Lit { Value: null } => null,
        Lit { Value: string s } => JsonValue.Create(s),
        Lit { Value: bool b } => JsonValue.Create(b),
        Lit { Value: int i } => JsonValue.Create(i),
        Lit { Value: long l } => JsonValue.Create(l),
        Lit { Value: double d } => JsonValue.Create(d),
        Lit l => throw new InvalidOperationException($"unexpected literal {l.Value?.GetType()}"),
        Arr a => new JsonArray([.. a.Items.Select(ToJson)]),
        Obj o => ToJsonObject(o.Entries),
        ConfigRef c => c.Key.Type switch
        {
            "integer" => JsonValue.Create(1),
            "boolean" => JsonValue.Create(true),
            "object" => new JsonObject { ["key"] = "x" },
            "array" => new JsonArray("x"),
            _ => JsonValue.Create("x"),
        },
        // A secret keeps its value's shape.
        Fn { Name: "fn::secret" } f => ToJson(f.Argument),
        // Resource outputs, variables, stack names, interpolations and functions are strings in every field we use.
        Ref or VarRef or PulumiRef or Interp or Fn or Invoke => JsonValue.Create("placeholder"),
        _ => throw new InvalidOperationException($"unexpected expression {expr.GetType().Name}"),
    };

    private static JsonObject ToJsonObject(IEnumerable<KeyValuePair<string, Expr>> entries)
    {
        var obj = new JsonObject();
        foreach (var (k, v) in entries) obj[k] = ToJson(v);
        return obj;
    }

    /// <summary>The object as the provider sends it: apiVersion and kind from the token, then the properties.</summary>
    internal static JsonObject ObjectJson(Resource r)
    {
        var (apiVersion, kind) = ApiVersionAndKind(r.Type);
        var obj = new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind };
        foreach (var (k, v) in r.Properties)
        {
            Assert.False(k is "apiVersion" or "kind", $"{r}: {k} comes from the type token");
            obj[k] = ToJson(v);
        }
        return obj;
    }

    internal static object Deserialize(JsonNode json, Type model) =>
        JsonSerializer.Deserialize(json, Strict.GetTypeInfo(model)) ?? throw new InvalidOperationException("null object");

    private static T Model<T>(PulumiProgram program, string token) where T : class =>
        (T)Deserialize(ObjectJson(program.Resources.Single(r => r.Type == token)), typeof(T));

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Every_kubernetes_object_deserializes_strictly_into_its_model(string cloud)
    {
        var checkedAny = false;
        foreach (var r in Programs[cloud].Resources.Where(IsKubernetes))
        {
            if (NotObjects.Contains(r.Type)) continue;
            Assert.True(Models.TryGetValue(r.Type, out var model), $"{cloud}: {r} has no KubernetesClient model mapped; add it to the test");
            var json = ObjectJson(r);
            object obj;
            try
            {
                obj = Deserialize(json, model);
            }
            catch (JsonException e)
            {
                throw new Xunit.Sdk.XunitException($"{cloud}: {r} does not deserialize strictly into {model.Name}: {e.Message}\n{json.ToJsonString()}");
            }
            var kobj = Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(obj);
            var (apiVersion, kind) = ApiVersionAndKind(r.Type);
            Assert.Equal(apiVersion, kobj.ApiVersion);
            Assert.Equal(kind, kobj.Kind);
            Assert.NotNull(kobj.Metadata);
            checkedAny = true;
        }
        Assert.True(checkedAny, $"{cloud}: no Kubernetes objects found");
    }

    [Fact]
    public void Only_non_objects_are_skipped_and_every_model_is_used()
    {
        var tokens = Programs.Values.SelectMany(p => p.Resources).Where(IsKubernetes).Select(r => r.Type).ToHashSet();
        Assert.Equal(NotObjects.Order(StringComparer.Ordinal), tokens.Where(t => !Models.ContainsKey(t)).Order(StringComparer.Ordinal));
        Assert.Equal(Models.Keys.Order(StringComparer.Ordinal), tokens.Where(Models.ContainsKey).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("kubernetes:core/v1:Service", "v1", "Service")]
    [InlineData("kubernetes:apps/v1:Deployment", "apps/v1", "Deployment")]
    [InlineData("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "rbac.authorization.k8s.io/v1", "RoleBinding")]
    [InlineData("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "autoscaling/v2", "HorizontalPodAutoscaler")]
    [InlineData("kubernetes:policy/v1:PodDisruptionBudget", "policy/v1", "PodDisruptionBudget")]
    public void ApiVersion_and_kind_come_from_the_type_token(string token, string apiVersion, string kind) =>
        Assert.Equal((apiVersion, kind), ApiVersionAndKind(token));

    [Theory]
    [MemberData(nameof(Clouds))]
    public void The_gateway_may_sandbox_workers_and_nothing_more(string cloud)
    {
        var deployment = Model<V1Deployment>(Programs[cloud], "kubernetes:apps/v1:Deployment");
        var pod = deployment.Spec.Template.Spec;
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal(10001, pod.SecurityContext.RunAsUser);
        Assert.Equal(10001, pod.SecurityContext.FsGroup);
        var container = Assert.Single(pod.Containers).SecurityContext;
        Assert.NotNull(container);
        Assert.False(container.AllowPrivilegeEscalation);
        Assert.NotEqual(true, container.Privileged);
        Assert.True(container.RunAsNonRoot);
        Assert.Equal(["ALL"], container.Capabilities.Drop);
        Assert.Null(container.Capabilities.Add);
        // bubblewrap's unshare(CLONE_NEWUSER) and mounts: the runtime defaults refuse them (docs/deploy.md, "Worker sandbox").
        Assert.Equal("Unconfined", container.SeccompProfile.Type);
        Assert.Equal("Unconfined", container.AppArmorProfile.Type);
        Assert.Null(pod.HostPID);
        Assert.Null(pod.HostNetwork);
    }

    [Theory]
    [MemberData(nameof(Clouds))]
    public void Selectors_labels_and_ports_agree(string cloud)
    {
        var program = Programs[cloud];
        var deployment = Model<V1Deployment>(program, "kubernetes:apps/v1:Deployment");
        var service = Model<V1Service>(program, "kubernetes:core/v1:Service");
        var hpa = Model<V2HorizontalPodAutoscaler>(program, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
        var pdb = Model<V1PodDisruptionBudget>(program, "kubernetes:policy/v1:PodDisruptionBudget");

        var podLabels = deployment.Spec.Template.Metadata.Labels;
        Assert.NotEmpty(podLabels);
        static bool Selects(IDictionary<string, string> selector, IDictionary<string, string> labels) =>
            selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value);

        Assert.Null(deployment.Spec.Selector.MatchExpressions);
        Assert.True(Selects(deployment.Spec.Selector.MatchLabels, podLabels), $"{cloud}: the Deployment selector does not match its pod template labels");
        Assert.True(Selects(service.Spec.Selector, podLabels), $"{cloud}: the Service selector does not match the Deployment's pod labels");
        Assert.True(Selects(pdb.Spec.Selector.MatchLabels, podLabels), $"{cloud}: the PodDisruptionBudget selector does not match the Deployment's pod labels");
        Assert.Equal(("apps/v1", "Deployment"), (hpa.Spec.ScaleTargetRef.ApiVersion, hpa.Spec.ScaleTargetRef.Kind));
        Assert.Null(deployment.Spec.Replicas); // the autoscaler owns the count

        var ports = deployment.Spec.Template.Spec.Containers.SelectMany(c => c.Ports ?? []).ToList();
        Assert.NotEmpty(ports);
        bool Exposes(IntOrString port) => int.TryParse(port.Value, out var number)
            ? ports.Any(p => p.ContainerPort == number)
            : ports.Any(p => p.Name == port.Value);
        foreach (var p in service.Spec.Ports)
        {
            Assert.NotNull(p.TargetPort);
            Assert.True(Exposes(p.TargetPort!), $"{cloud}: Service port {p.Name} targets {p.TargetPort!.Value}, which no container exposes");
            Assert.Equal(p.Protocol ?? "TCP", ports.First(c => c.Name == p.TargetPort!.Value || c.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) == p.TargetPort!.Value).Protocol ?? "TCP");
        }
        foreach (var c in deployment.Spec.Template.Spec.Containers)
        {
            foreach (var probe in new[] { c.ReadinessProbe, c.LivenessProbe }.Where(p => p?.HttpGet is not null))
                Assert.True(Exposes(probe!.HttpGet.Port), $"{cloud}: probe of {c.Name} targets {probe.HttpGet.Port.Value}, which no container exposes");
        }
        var volumes = deployment.Spec.Template.Spec.Volumes.Select(v => v.Name).ToHashSet();
        foreach (var m in deployment.Spec.Template.Spec.Containers.SelectMany(c => c.VolumeMounts ?? []))
            Assert.Contains(m.Name, volumes);
    }

    private const string ValidDeployment = """
        {
          "apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": { "name": "demo" },
          "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "demo" } },
            "template": {
              "metadata": { "labels": { "app": "demo" } },
              "spec": { "containers": [ { "name": "c", "image": "i", "imagePullPolicy": "IfNotPresent", "ports": [ { "containerPort": 8080 } ] } ] }
            }
          }
        }
        """;

    [Fact]
    public void A_valid_deployment_deserializes()
    {
        var d = (V1Deployment)Deserialize(JsonNode.Parse(ValidDeployment)!, typeof(V1Deployment));
        Assert.Equal(2, d.Spec.Replicas);
        Assert.Equal("IfNotPresent", d.Spec.Template.Spec.Containers[0].ImagePullPolicy);
    }

    [Fact]
    public void An_unknown_top_level_spec_field_fails()
    {
        var json = JsonNode.Parse(ValidDeployment.Replace("\"replicas\"", "\"replica\"", StringComparison.Ordinal))!;
        var e = Assert.ThrowsAny<JsonException>(() => Deserialize(json, typeof(V1Deployment)));
        Assert.Contains("replica", e.Message);
    }

    [Fact]
    public void A_misspelled_nested_field_fails()
    {
        var json = JsonNode.Parse(ValidDeployment.Replace("\"imagePullPolicy\"", "\"imagePullPolicyy\"", StringComparison.Ordinal))!;
        var e = Assert.ThrowsAny<JsonException>(() => Deserialize(json, typeof(V1Deployment)));
        Assert.Contains("imagePullPolicyy", e.Message);
    }

    [Fact]
    public void A_misspelled_field_in_a_real_object_fails()
    {
        var json = ObjectJson(Programs["aws"].Resources.Single(r => r.Type == "kubernetes:apps/v1:Deployment"));
        var container = json["spec"]!["template"]!["spec"]!["containers"]![0]!.AsObject();
        container["readinessprobe"] = container["readinessProbe"]!.DeepClone();
        Assert.ThrowsAny<JsonException>(() => Deserialize(json, typeof(V1Deployment)));
    }
}
