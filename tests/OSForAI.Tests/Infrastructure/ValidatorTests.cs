using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// The program validator against the provider mini-schemas in shared/pulumi-schema. Each broken program is one
/// mistake away from <see cref="ValidStack"/>, and each test asserts the exact violation it must produce.
/// </summary>
public sealed class ValidatorTests
{
    private static PulumiSchema Schema()
    {
        var folder = SharedData.PulumiSchema;
        Skip.If(folder is null, SharedData.PulumiSchemaSkipReason);
        return PulumiSchema.Load(folder);
    }

    /// <summary>A small GPU stack: bucket, roles, EKS cluster and GPU node group, a Kubernetes provider and deployment.</summary>
    private sealed class ValidStack
    {
        public ValidStack(Action<ValidStack>? breakIt = null)
        {
            MaxNodes = Program.AddConfig(new ConfigKey("gpuMaxNodes", "integer", 2));
            Bucket = Program.Add(new Resource("aws:s3/bucket:Bucket", "ml-bucket", Expr.Object(
                ("forceDestroy", true),
                ("acl", "private"),
                ("tags", Expr.Object(("team", "ml"), ("generation", 3))))));
            Program.Add(new Resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ml-bucket-block", Expr.Object(
                ("bucket", Bucket.Output("id")),
                ("blockPublicAcls", true),
                ("restrictPublicBuckets", true))));
            ClusterRole = Program.Add(new Resource("aws:iam/role:Role", "cluster-role", Expr.Object(
                ("assumeRolePolicy", Expr.ToJson(Expr.Object(
                    ("Version", "2012-10-17"),
                    ("Statement", Expr.List(Expr.Object(("Effect", "Allow"), ("Action", "sts:AssumeRole"),
                        ("Principal", Expr.Object(("Service", "eks.amazonaws.com"))))))))))));
            NodeRole = Program.Add(new Resource("aws:iam/role:Role", "node-role", Expr.Object(
                ("assumeRolePolicy", "{\"Version\":\"2012-10-17\",\"Statement\":[]}"))));
            Cluster = Program.Add(new Resource("aws:eks/cluster:Cluster", "ml", Expr.Object(
                ("roleArn", ClusterRole.Output("arn")),
                ("vpcConfig", Expr.Object(("subnetIds", Expr.List("subnet-a", "subnet-b")), ("endpointPublicAccess", true))))));
            GpuNodes = Program.Add(new Resource("aws:eks/nodeGroup:NodeGroup", "ml-gpu", Expr.Object(
                ("clusterName", Cluster.Output("name")),
                ("nodeRoleArn", NodeRole.Output("arn")),
                ("subnetIds", Cluster.Output("vpcConfig.subnetIds")),
                ("amiType", "AL2023_x86_64_NVIDIA"),
                ("instanceTypes", Expr.List("g6.xlarge")),
                ("scalingConfig", Expr.Object(("minSize", 0), ("maxSize", MaxNodes.Ref), ("desiredSize", 0))),
                ("labels", Expr.Object(("osforai.dev/pool", "gpu"), ("bucket", Bucket.Output("bucket")))),
                ("taints", Expr.List(Expr.Object(("key", "nvidia.com/gpu"), ("value", "present"), ("effect", "NO_SCHEDULE")))),
                ("tags", Expr.Object(("securityGroup", Cluster.Output("vpcConfig.clusterSecurityGroupId")))))));
            Kubernetes = Program.Add(new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(
                ("kubeconfig", Expr.ToJson(Expr.Object(
                    ("server", Cluster.Output("endpoint")),
                    ("ca", Cluster.Output("certificateAuthority.data")),
                    ("token", Expr.Secret(new VarRef(Token = Program.AddVariable("token",
                        new Invoke("aws:eks/getClusterAuth:getClusterAuth", Expr.Object(("name", Cluster.Output("name"))), "token")))))))))));
            var container = Expr.Object(
                ("name", "runtime"),
                ("image", "ghcr.io/osforai/runtime:1.0"),
                ("env", Expr.List(Expr.Object(("name", "BUCKET"), ("value", Bucket.Output("bucket"))))),
                ("ports", Expr.List(Expr.Object(("containerPort", 8080), ("name", "http")))));
            var podSpec = Expr.Object(
                ("nodeSelector", Expr.Object(("osforai.dev/pool", "gpu"))),
                ("tolerations", Expr.List(Expr.Object(("key", "nvidia.com/gpu"), ("operator", "Exists"), ("effect", "NoSchedule")))),
                ("containers", Expr.List(container)));
            var spec = Expr.Object(
                ("replicas", 2),
                ("selector", Expr.Object(("matchLabels", Expr.Object(("app", "osforai"))))),
                ("template", Expr.Object(("metadata", Expr.Object(("labels", Expr.Object(("app", "osforai"))))), ("spec", podSpec))));
            Deployment = Program.Add(new Resource("kubernetes:apps/v1:Deployment", "runtime", Expr.Object(
                    ("metadata", Expr.Object(("name", "osforai-runtime"), ("labels", Expr.Object(("app", "osforai"))))),
                    ("spec", spec)),
                new ResourceOptions { Provider = Kubernetes, DependsOn = [GpuNodes] }));
            Program.AddOutput("bucketUri", Expr.Concat("s3://", Bucket.Output("bucket")));
            Program.AddOutput("kubeconfig", Expr.Secret(Kubernetes.Output("urn")));
            Program.AddOutput("gpuPoolArn", GpuNodes.Output("arn"));
            breakIt?.Invoke(this);
        }

        public PulumiProgram Program { get; } = new("osforai-aws");
        public ConfigKey MaxNodes { get; }
        public Resource Bucket { get; }
        public Resource ClusterRole { get; }
        public Resource NodeRole { get; }
        public Resource Cluster { get; }
        public Resource GpuNodes { get; }
        public Resource Kubernetes { get; }
        public Resource Deployment { get; }
        public Variable Token { get; private set; } = null!;

        public IReadOnlyList<Violation> Validate() => ProgramValidator.Validate(Program, Schema());
    }

    /// <summary>Asserts there is exactly one violation and returns its text.</summary>
    private static string Single(IReadOnlyList<Violation> violations)
    {
        Assert.True(violations.Count == 1, $"expected one violation, got {violations.Count}:\n" + string.Join("\n", violations));
        return violations[0].ToString();
    }

    /// <summary>Asserts the violations, in order, one per line (so that a failure shows the whole text).</summary>
    private static void Same(string[] expected, IReadOnlyList<Violation> actual) =>
        Assert.Equal(string.Join("\n", expected), string.Join("\n", actual));

    [SkippableFact]
    public void A_valid_program_has_no_violations()
    {
        var stack = new ValidStack();
        var violations = stack.Validate();
        Assert.True(violations.Count == 0, string.Join("\n", violations));
        Assert.Contains("type: kubernetes:apps/v1:Deployment", stack.Program.ToYaml());
    }

    [SkippableFact]
    public void Gpu_pools_on_gcp_and_azure_validate_and_each_cloud_keeps_its_taint_spelling()
    {
        var schema = Schema();
        PulumiProgram Gcp(string effect)
        {
            var program = new PulumiProgram("osforai-gcp");
            var cluster = program.Add(new Resource("gcp:container/cluster:Cluster", "ml", Expr.Object(
                ("location", "us-central1"), ("removeDefaultNodePool", true), ("initialNodeCount", 1), ("deletionProtection", false))));
            program.Add(new Resource("gcp:container/nodePool:NodePool", "ml-gpu", Expr.Object(
                ("cluster", cluster.Output("name")),
                ("location", cluster.Output("location")),
                ("autoscaling", Expr.Object(("totalMinNodeCount", 0), ("totalMaxNodeCount", 4))),
                ("nodeConfig", Expr.Object(
                    ("machineType", "g2-standard-8"),
                    ("labels", Expr.Object(("osforai.dev/pool", "gpu"))),
                    ("taints", Expr.List(Expr.Object(("key", "nvidia.com/gpu"), ("value", "present"), ("effect", effect)))),
                    ("guestAccelerators", Expr.List(Expr.Object(
                        ("type", "nvidia-l4"), ("count", 1),
                        ("gpuDriverInstallationConfig", Expr.Object(("gpuDriverVersion", "LATEST")))))))))));
            return program;
        }
        var gcp = ProgramValidator.Validate(Gcp("NO_SCHEDULE"), schema);
        Assert.True(gcp.Count == 0, string.Join("\n", gcp));
        Assert.Equal("ml-gpu (gcp:container/nodePool:NodePool): nodeConfig.taints[0].effect: expected one of \"NO_SCHEDULE\", \"NO_EXECUTE\", \"PREFER_NO_SCHEDULE\", got string \"NoSchedule\"",
            Single(ProgramValidator.Validate(Gcp("NoSchedule"), schema)));

        var azure = new PulumiProgram("osforai-azure");
        var group = azure.Add(new Resource("azure-native:resources:ResourceGroup", "rg"));
        var aks = azure.Add(new Resource("azure-native:containerservice:ManagedCluster", "ml", Expr.Object(
            ("resourceGroupName", group.Output("name")),
            ("dnsPrefix", "osforai"),
            ("identity", Expr.Object(("type", "SystemAssigned"))),
            ("agentPoolProfiles", Expr.List(Expr.Object(("name", "system"), ("mode", "System"), ("vmSize", "Standard_D4s_v5"), ("count", 1)))))));
        azure.Add(new Resource("azure-native:containerservice:AgentPool", "ml-gpu", Expr.Object(
            ("resourceGroupName", group.Output("name")),
            ("resourceName", aks.Output("name")),
            ("agentPoolName", "gpu"),
            ("mode", "User"),
            ("vmSize", "Standard_NC4as_T4_v3"),
            ("enableAutoScaling", true), ("minCount", 0), ("maxCount", 4), ("count", 0),
            ("nodeLabels", Expr.Object(("osforai.dev/pool", "gpu"))),
            ("nodeTaints", Expr.List("nvidia.com/gpu=present:NoSchedule")),
            ("gpuProfile", Expr.Object(("driver", "Install"))))));
        var violations = ProgramValidator.Validate(azure, schema);
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [SkippableFact]
    public void A_missing_required_input_names_the_resource_and_the_property()
    {
        var stack = new ValidStack(s =>
        {
            var group = new Resource("aws:eks/nodeGroup:NodeGroup", "ml-gpu-2", Expr.Object(
                ("clusterName", s.Cluster.Output("name")), ("nodeRoleArn", s.NodeRole.Output("arn")), ("subnetIds", Expr.List("subnet-a"))));
            s.Program.Add(group);
        });
        var v = stack.Validate();
        Assert.Equal("ml-gpu-2 (aws:eks/nodeGroup:NodeGroup): scalingConfig: missing required property (an object (inputs.eks.NodeGroupScalingConfig))", Single(v));
        Assert.Equal(("ml-gpu-2", "scalingConfig"), (v[0].Resource, v[0].Property));
    }

    [SkippableFact]
    public void A_missing_required_property_of_a_nested_object_is_reported_with_its_path()
    {
        var stack = new ValidStack(s => s.Deployment.Set("spec", Expr.Object(
            ("selector", Expr.Object(("matchLabels", Expr.Object(("app", "osforai"))))),
            ("template", Expr.Object(("spec", Expr.Object(("containers", Expr.List(Expr.Object(("image", "nginx")))))))))));
        Assert.Equal("runtime (kubernetes:apps/v1:Deployment): spec.template.spec.containers[0].name: missing required property (a string)", Single(stack.Validate()));
    }

    [SkippableFact]
    public void An_unknown_top_level_property_is_reported_with_a_suggestion()
    {
        var stack = new ValidStack(s => s.Bucket.Set("forceDestory", true));
        Assert.Equal("ml-bucket (aws:s3/bucket:Bucket): forceDestory: unknown property of aws:s3/bucket:Bucket (did you mean 'forceDestroy'?)", Single(stack.Validate()));
    }

    [SkippableFact]
    public void An_unknown_nested_property_is_reported_with_the_type_and_its_properties()
    {
        var stack = new ValidStack(s => s.GpuNodes.Set("scalingConfig", Expr.Object(("minSize", 0), ("maxNodes", 4), ("maxSize", 4), ("desiredSize", 0))));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): scalingConfig.maxNodes: unknown property of inputs.eks.NodeGroupScalingConfig (it has desiredSize, maxSize, minSize)",
            Single(stack.Validate()));
    }

    [SkippableFact]
    public void A_union_member_of_the_same_shape_explains_the_mismatch()
    {
        // assumeRolePolicy is string | PolicyDocument: an object is checked as a PolicyDocument.
        var stack = new ValidStack(s => s.NodeRole.Set("assumeRolePolicy", Expr.Object(("Version", "2012-10-18"), ("Statment", Expr.List()))));
        Same(
        [
            "node-role (aws:iam/role:Role): assumeRolePolicy.Version: expected one of \"2012-10-17\", \"2008-10-17\", got string \"2012-10-18\"",
            "node-role (aws:iam/role:Role): assumeRolePolicy.Statment: unknown property of inputs.iam.PolicyDocument (did you mean 'Statement'?)",
            "node-role (aws:iam/role:Role): assumeRolePolicy.Statement: missing required property (a list)",
        ], stack.Validate());

        var number = new ValidStack(s => s.NodeRole.Set("assumeRolePolicy", Expr.List("x")));
        Assert.Equal("node-role (aws:iam/role:Role): assumeRolePolicy: expected a string or an object (inputs.iam.PolicyDocument), got a list", Single(number.Validate()));
    }

    [SkippableFact]
    public void An_unknown_property_deep_in_a_kubernetes_spec_is_reported()
    {
        var stack = new ValidStack(s => s.Deployment.Set("spec", Expr.Object(
            ("selector", Expr.Object(("matchLabels", Expr.Object(("app", "osforai"))))),
            ("template", Expr.Object(("spec", Expr.Object(("containers", Expr.List(Expr.Object(("name", "runtime"), ("imagee", "nginx")))))))))));
        Assert.Equal("runtime (kubernetes:apps/v1:Deployment): spec.template.spec.containers[0].imagee: unknown property of inputs.core.v1.Container (did you mean 'image'?)",
            Single(stack.Validate()));
    }

    [SkippableFact]
    public void The_aws_taint_effect_must_be_the_eks_spelling_not_the_kubernetes_one()
    {
        // The schema types NodeGroupTaint.effect as a plain string; the provider accepts only the EKS values, which
        // the validator adds (SchemaSupplements). Kubernetes spells the same effect NoSchedule.
        var schema = Schema();
        Assert.Equal(SchemaKind.Enum, schema.Package("aws")!.FindType("inputs.eks.NodeGroupTaint")!["effect"].Type.Kind);
        var stack = new ValidStack(s => s.GpuNodes.Set("taints", Expr.List(Expr.Object(("key", "nvidia.com/gpu"), ("effect", "NoSchedule")))));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): taints[0].effect: expected one of \"NO_SCHEDULE\", \"NO_EXECUTE\", \"PREFER_NO_SCHEDULE\", got string \"NoSchedule\"",
            Single(stack.Validate()));
    }

    [SkippableFact]
    public void An_enum_literal_must_be_one_of_the_schema_values()
    {
        var stack = new ValidStack(s => s.Deployment.Set("apiVersion", "apps/v1beta1"));
        Assert.Equal("runtime (kubernetes:apps/v1:Deployment): apiVersion: expected one of \"apps/v1\", got string \"apps/v1beta1\"", Single(stack.Validate()));

        // A union of string and enum (the SDKs' `string | BucketCannedAcl`) accepts any string.
        var open = new ValidStack(s => s.Bucket.Set("acl", "some-future-acl"));
        Assert.Empty(open.Validate());
    }

    [SkippableFact]
    public void A_literal_of_the_wrong_kind_is_reported()
    {
        var stack = new ValidStack(s => s.GpuNodes.Set("scalingConfig", Expr.Object(("minSize", 0), ("maxSize", "x"), ("desiredSize", 0))));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): scalingConfig.maxSize: expected a number, got string \"x\"", Single(stack.Validate()));

        var boolean = new ValidStack(s => s.Bucket.Set("forceDestroy", "yes"));
        Assert.Equal("ml-bucket (aws:s3/bucket:Bucket): forceDestroy: expected a boolean, got string \"yes\"", Single(boolean.Validate()));

        var list = new ValidStack(s => s.GpuNodes.Set("instanceTypes", "g6.xlarge"));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): instanceTypes: expected a list, got string \"g6.xlarge\"", Single(list.Validate()));
    }

    [SkippableFact]
    public void A_config_value_is_checked_against_its_declared_type()
    {
        var stack = new ValidStack(s =>
        {
            var name = s.Program.AddConfig(new ConfigKey("gpuPoolName", "string", "gpu"));
            s.GpuNodes.Set("scalingConfig", Expr.Object(("minSize", 0), ("maxSize", name.Ref), ("desiredSize", 0)));
            s.Program.AddConfig(new ConfigKey("replicas", "integer", "two"));
            s.Program.AddConfig(new ConfigKey("zones", "strings"));
        });
        Same(
        [
            "replicas (config): default: expected a number, got string \"two\"",
            "zones (config): type: unknown config type 'strings' (expected string, integer, boolean, array or object)",
            "ml-gpu (aws:eks/nodeGroup:NodeGroup): scalingConfig.maxSize: expected a number, got a string (${gpuPoolName})",
        ], stack.Validate());
    }

    [SkippableFact]
    public void A_reference_to_an_output_that_does_not_exist_is_reported()
    {
        var stack = new ValidStack(s =>
        {
            s.GpuNodes.Set("clusterName", s.Cluster.Output("clusterName"));
            s.GpuNodes.Set("tags", Expr.Object(("sg", s.Cluster.Output("vpcConfig.securityGroup")), ("arn", s.Bucket.Output("arn.value"))));
        });
        Same(
        [
            "ml-gpu (aws:eks/nodeGroup:NodeGroup): clusterName: ${ml.clusterName}: 'clusterName' is not an output of aws:eks/cluster:Cluster",
            "ml-gpu (aws:eks/nodeGroup:NodeGroup): tags.sg: ${ml.vpcConfig.securityGroup}: 'securityGroup' is not a property of outputs.eks.ClusterVpcConfig (did you mean 'securityGroupIds'?)",
            "ml-gpu (aws:eks/nodeGroup:NodeGroup): tags.arn: ${ml-bucket.arn.value}: ml-bucket.arn is a string; it has no property 'value'",
        ], stack.Validate());
    }

    [SkippableFact]
    public void A_reference_of_a_known_type_is_checked_against_the_input()
    {
        // vpcConfig.subnetIds is a list of strings: fine for subnetIds, not for clusterName.
        var stack = new ValidStack(s => s.GpuNodes.Set("clusterName", s.Cluster.Output("vpcConfig.subnetIds")));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): clusterName: expected a string, got a list (${ml.vpcConfig.subnetIds})", Single(stack.Validate()));
    }

    [SkippableFact]
    public void References_to_things_the_program_does_not_declare_are_reported()
    {
        var stack = new ValidStack(s =>
        {
            var stray = new Resource("aws:s3/bucket:Bucket", "stray");
            var undeclared = new ConfigKey("region", "string");
            var loose = new Variable("loose", "x");
            s.Bucket.Set("bucket", Expr.Concat(stray.Output("bucket"), "-", undeclared.Ref, "-", loose.Output()));
        });
        Same(
        [
            "ml-bucket (aws:s3/bucket:Bucket): bucket: refers to resource 'stray', which is not in the program",
            "ml-bucket (aws:s3/bucket:Bucket): bucket: refers to config key 'region', which the program does not declare",
            "ml-bucket (aws:s3/bucket:Bucket): bucket: refers to variable 'loose', which is not in the program",
        ], stack.Validate());
    }

    [SkippableFact]
    public void An_unknown_resource_type_or_package_is_reported()
    {
        var stack = new ValidStack(s =>
        {
            s.Program.Add(new Resource("aws:s3/bukket:Bukket", "typo"));
            s.Program.Add(new Resource("aws:s3/bucketv2:Bucketv2", "wrong-case"));
            s.Program.Add(new Resource("docker:index/image:Image", "image"));
        });
        var v = stack.Validate().Select(x => x.ToString()).ToList();
        Assert.Equal(3, v.Count);
        Assert.Equal("typo (aws:s3/bukket:Bukket): unknown resource type 'aws:s3/bukket:Bukket' in aws@7.48.0", v[0]);
        Assert.Equal("wrong-case (aws:s3/bucketv2:Bucketv2): unknown resource type 'aws:s3/bucketv2:Bucketv2' in aws@7.48.0 (did you mean aws:s3/bucketV2:BucketV2?)", v[1]);
        Assert.StartsWith("image (docker:index/image:Image): no schema for package 'docker' (the schema folder has aws, awsx, azure-native, eks, gcp, kubernetes, random)", v[2]);
    }

    [SkippableFact]
    public void Short_form_tokens_normalise_to_the_canonical_ones()
    {
        var schema = Schema();
        Assert.Equal("aws:s3/bucket:Bucket", schema.CanonicalResourceToken("aws:s3:Bucket"));
        Assert.Equal("aws:eks/nodeGroup:NodeGroup", schema.CanonicalResourceToken("aws:eks:NodeGroup"));
        Assert.Equal("random:index/randomPet:RandomPet", schema.CanonicalResourceToken("random:RandomPet"));
        Assert.Equal("azure-native:containerservice:ManagedCluster", schema.CanonicalResourceToken("azure-native:containerservice:ManagedCluster"));
        Assert.Equal("pulumi:providers:gcp", schema.CanonicalResourceToken("pulumi:providers:gcp"));
        Assert.Null(schema.CanonicalResourceToken("pulumi:providers:nope"));
        Assert.Equal("aws:eks/getClusterAuth:getClusterAuth", schema.FindFunction("aws:eks:getClusterAuth")?.Token);

        var program = new PulumiProgram("short");
        var bucket = program.Add(new Resource("aws:s3:Bucket", "b"));
        program.Add(new Resource("aws:s3:BucketPublicAccessBlock", "block", Expr.Object(("bucket", bucket.Output("id")))));
        program.Add(new Resource("random:index:RandomPet", "pet", Expr.Object(("length", 2))));
        program.AddVariable("me", new Invoke("aws:getCallerIdentity", Expr.Object(), "accountId"));
        var violations = ProgramValidator.Validate(program, schema);
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [SkippableFact]
    public void An_invoke_with_a_missing_argument_or_a_bad_return_is_reported()
    {
        var stack = new ValidStack(s =>
        {
            s.Program.AddVariable("auth", new Invoke("aws:eks/getClusterAuth:getClusterAuth", Expr.Object(("cluster", "ml")), "tokn"));
            s.Program.AddVariable("nothing", new Invoke("aws:eks/getClusterAuthh:getClusterAuthh", Expr.Object(("name", "ml"))));
            s.Bucket.Set("bucket", new Invoke("aws:index/getCallerIdentity:getCallerIdentity", Expr.Object(), "account"));
        });
        Same(
        [
            "ml-bucket (aws:s3/bucket:Bucket): bucket.return: 'account' is not an output of aws:index/getCallerIdentity:getCallerIdentity (did you mean 'accountId'?)",
            "auth (variable): arguments.cluster: unknown argument of aws:eks/getClusterAuth:getClusterAuth (it has name, region)",
            "auth (variable): arguments.name: missing required argument (a string)",
            "auth (variable): return: 'tokn' is not an output of aws:eks/getClusterAuth:getClusterAuth (did you mean 'token'?)",
            "nothing (variable): fn::invoke: unknown function 'aws:eks/getClusterAuthh:getClusterAuthh' in aws@7.48.0",
        ], stack.Validate());
    }

    [SkippableFact]
    public void Invokes_written_as_built_in_functions_are_checked_too()
    {
        var stack = new ValidStack(s =>
        {
            s.Program.AddVariable("shorthand", new Fn("fn::aws:eks:getClusterAuth", Expr.Object(("nam", "ml"))));
            s.Program.AddVariable("plain", new Fn("fn::invoke", Expr.Object(
                ("function", "aws:eks:getClusterAuth"), ("arguments", Expr.Object(("name", "ml"))), ("return", "tokn"))));
            s.Program.AddVariable("unknown", new Fn("fn::toYAML", "x"));
        });
        Same(
        [
            "shorthand (variable): arguments.nam: unknown argument of aws:eks/getClusterAuth:getClusterAuth (did you mean 'name'?)",
            "shorthand (variable): arguments.name: missing required argument (a string)",
            "plain (variable): return: 'tokn' is not an output of aws:eks/getClusterAuth:getClusterAuth (did you mean 'token'?)",
            "unknown (variable): 'fn::toYAML' is not a Pulumi YAML built-in function",
        ], stack.Validate());
    }

    [SkippableFact]
    public void An_invoke_result_is_typed_by_its_return()
    {
        var stack = new ValidStack(s =>
        {
            var auth = s.Program.AddVariable("auth", new Invoke("aws:eks/getClusterAuth:getClusterAuth", Expr.Object(("name", "ml"))));
            s.Bucket.Set("bucket", auth.Output("token"));
            s.Bucket.Set("forceDestroy", auth.Output("token"));
            s.Bucket.Set("acl", auth.Output("tokens"));
        });
        Same(
        [
            "ml-bucket (aws:s3/bucket:Bucket): forceDestroy: expected a boolean, got a string (${auth.token})",
            "ml-bucket (aws:s3/bucket:Bucket): acl: ${auth.tokens}: 'tokens' is not an output of aws:eks/getClusterAuth:getClusterAuth (did you mean 'token'?)",
        ], stack.Validate());
    }

    [SkippableFact]
    public void A_dependency_cycle_is_reported_with_its_members()
    {
        var stack = new ValidStack(s =>
        {
            // the node role waits on the node group, which needs the node role's ARN
            s.NodeRole.Set("description", s.GpuNodes.Output("arn"));
        });
        Assert.Equal("node-role (aws:iam/role:Role): dependency cycle: node-role -> ml-gpu -> node-role", Single(stack.Validate()));

        // the deployment dependsOn the node group, which here reads the deployment's name
        var viaOptions = new ValidStack(s => s.GpuNodes.Set("labels", Expr.Object(("runtime", s.Deployment.Output("metadata.name")))));
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): dependency cycle: ml-gpu -> runtime -> ml-gpu", Single(viaOptions.Validate()));

        var viaVariable = new ValidStack(s => s.Cluster.Set("version", s.Token.Output()));
        Assert.Equal("ml (aws:eks/cluster:Cluster): dependency cycle: ml -> token -> ml", Single(viaVariable.Validate()));
    }

    [SkippableFact]
    public void The_provider_option_must_reference_a_provider_of_the_same_package()
    {
        var stack = new ValidStack(s =>
        {
            s.Program.Add(new Resource("kubernetes:core/v1:Namespace", "ns", null, new ResourceOptions { Provider = s.Bucket }));
            var aws = s.Program.Add(new Resource("pulumi:providers:aws", "us-east-2", Expr.Object(("region", "us-east-2"))));
            s.Program.Add(new Resource("kubernetes:core/v1:Namespace", "ns2", null, new ResourceOptions { Provider = aws }));
        });
        Same(
        [
            "ns (kubernetes:core/v1:Namespace): options.provider: 'ml-bucket' is a aws:s3/bucket:Bucket, not a provider resource (pulumi:providers:<package>)",
            "ns2 (kubernetes:core/v1:Namespace): options.provider: 'us-east-2' is a provider for package 'aws', but kubernetes:core/v1:Namespace belongs to package 'kubernetes'",
        ], stack.Validate());
    }

    [SkippableFact]
    public void Options_name_real_inputs_and_outputs()
    {
        var stack = new ValidStack(s => s.Program.Add(new Resource("aws:s3/bucket:Bucket", "logs", null, new ResourceOptions
        {
            IgnoreChanges = ["tags", "tagz.team"],
            AdditionalSecretOutputs = ["bucketDomainName", "secret"],
        })));
        Same(
        [
            "logs (aws:s3/bucket:Bucket): options.ignoreChanges: 'tagz.team': 'tagz' is not an input of aws:s3/bucket:Bucket (did you mean 'tags'?)",
            "logs (aws:s3/bucket:Bucket): options.additionalSecretOutputs: 'secret' is not an output of aws:s3/bucket:Bucket",
        ], stack.Validate());
    }

    [SkippableFact]
    public void A_plain_input_must_be_known_before_deployment()
    {
        var schema = Schema();
        var program = new PulumiProgram("eks");
        var bucket = program.Add(new Resource("aws:s3/bucket:Bucket", "b"));
        program.Add(new Resource("eks:index:Cluster", "c", Expr.Object(("skipDefaultNodeGroup", bucket.Output("forceDestroy")))));
        Assert.Equal("c (eks:index:Cluster): skipDefaultNodeGroup: a plain input: it must be a value known before deployment, not an output of a resource",
            Single(ProgramValidator.Validate(program, schema)));
    }

    [SkippableFact]
    public void The_schema_is_read_once_per_folder_and_package()
    {
        var schema = Schema();
        Assert.Same(schema, PulumiSchema.Load(schema.Folder + Path.DirectorySeparatorChar));
        Assert.Same(schema.Package("aws"), schema.Package("aws"));
        Assert.Null(schema.Package("docker"));
        Assert.Equal("7.48.0", schema.Package("aws")!.Version);
    }

    [Fact]
    public void Spellings_cover_the_yaml_short_forms()
    {
        Assert.Equal(["aws:s3:Bucket", "aws:s3/bucket:Bucket"], PulumiSchema.Spellings("aws:s3:Bucket"));
        Assert.Equal(["random:RandomPet", "random:index:RandomPet", "random:index/randomPet:RandomPet"], PulumiSchema.Spellings("random:RandomPet"));
        Assert.Equal(["kubernetes:apps/v1:Deployment"], PulumiSchema.Spellings("kubernetes:apps/v1:Deployment"));
        Assert.Equal(["pulumi:providers:aws"], PulumiSchema.Spellings("pulumi:providers:aws"));
        Assert.Equal("kubernetes", PulumiSchema.PackageOf("pulumi:providers:kubernetes"));
        Assert.Equal("azure-native", PulumiSchema.PackageOf("azure-native:storage:StorageAccount"));
    }

    [Fact]
    public void A_violation_reads_resource_type_property_and_message()
    {
        Assert.Equal("ml-gpu (aws:eks/nodeGroup:NodeGroup): scalingConfig.maxSize: expected a number, got string \"x\"",
            new Violation("ml-gpu", "scalingConfig.maxSize", "expected a number, got string \"x\"", "aws:eks/nodeGroup:NodeGroup").ToString());
        Assert.Equal("ml: dependency cycle: ml -> ml", new Violation("ml", "", "dependency cycle: ml -> ml").ToString());
    }
}
