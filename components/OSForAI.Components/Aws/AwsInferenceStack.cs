using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Aws;

/// <summary>The cloud-agnostic args plus what only AWS needs.</summary>
public sealed record AwsInferenceStackArgs(InferenceStackArgs Stack)
{
    public string VpcCidr { get; init; } = "10.0.0.0/16";
    /// <summary>One public subnet per availability zone (load balancers, the NAT gateway).</summary>
    public IReadOnlyList<string> PublicSubnetCidrs { get; init; } = ["10.0.0.0/20", "10.0.16.0/20"];
    /// <summary>One private subnet per availability zone (nodes and pods: the VPC CNI gives pods VPC addresses, so these are large).</summary>
    public IReadOnlyList<string> PrivateSubnetCidrs { get; init; } = ["10.0.128.0/18", "10.0.192.0/18"];
    public int GpuNodeDiskGiB { get; init; } = 200;
    /// <summary>The metrics-server chart version (cluster-autoscaler's and the device plugin's are config keys).</summary>
    public string? MetricsServerChartVersion { get; init; } = "3.13.0";
    /// <summary>What the stack's settings file decides that Pulumi YAML cannot (<see cref="AwsStackConfig.ChoicesOf"/>).</summary>
    public AwsStackChoices Choices { get; init; } = AwsStackChoices.Default;
}

/// <summary>
/// The OSForAI inference stack on AWS: a VPC over two availability zones, an EKS cluster with a system pool and a GPU
/// pool that scales from zero (cluster-autoscaler, with the ASG tags it needs to do that), an S3 bucket for data://,
/// RDS for PostgreSQL for the runtime's state (<see cref="RdsPostgres"/>), and the cloud-agnostic
/// <see cref="RuntimeDeployment"/> on top.
/// <para>
/// Storage credentials: none that live long. The gateway's service account is associated with an IAM role limited to the bucket
/// (EKS Pod Identity, the agent add-on the cluster-autoscaler uses too), and the runtime's s3 connector runs with
/// <c>Credentials=WorkloadIdentity</c>: it takes the role's session credentials from the Pod Identity agent with the pod's projected
/// service-account token. Worker pods run under the namespace's default service account, which has no association.
/// </para>
/// </summary>
public sealed class AwsInferenceStack : InferenceStack
{
    public AwsInferenceStack(string name, AwsInferenceStackArgs awsArgs) : base("osforai:aws:InferenceStack", name)
    {
        var args = awsArgs.Stack;
        if (awsArgs.PublicSubnetCidrs.Count != 2 || awsArgs.PrivateSubnetCidrs.Count != 2)
            throw new ArgumentException("the AWS stack spans exactly two availability zones: give two public and two private subnet ranges");

        Provider = new Resource("pulumi:providers:aws", "aws", Expr.Object(
            ("region", args.Region),
            ("defaultTags", Expr.Object(("tags", new Obj(args.Tags))))), Child());
        var aws = Provider;

        Partition = new Variable($"{Name}-partition", new Invoke("aws:index/getPartition:getPartition", Expr.Object(), "partition", aws));
        Zones = new Variable($"{Name}-zones", new Invoke("aws:index/getAvailabilityZones:getAvailabilityZones", Expr.Object(("state", "available")), "names", aws));
        GpuAmiReleaseVersion = new Variable($"{Name}-gpu-ami-release", new Invoke("aws:ssm/getParameter:getParameter", Expr.Object(
            ("name", Expr.Concat("/aws/service/eks/optimized-ami/", args.KubernetesVersion, "/amazon-linux-2023/x86_64/nvidia/recommended/release_version"))),
            "value", aws));
        Expr ManagedPolicy(string policy) => Expr.Concat("arn:", Partition.Output(), ":iam::aws:policy/", policy);
        Obj NameTag(string suffix, params (string, Expr?)[] more) =>
            Expr.Object([("Name", Expr.Concat(PulumiRef.Project, "-", PulumiRef.Stack, "-" + suffix)), .. more]);

        // Network: the stack's own VPC, or the one networkId names with its private subnets nodeSubnetIds (whose route to the internet,
        // and public subnets tagged kubernetes.io/role/elb for internet-facing load balancers, are the network owner's).
        Expr vpcId, nodeSubnetIds, clusterSubnetIds;
        if (args.Cluster.ExistingNetwork)
        {
            vpcId = args.Network.NetworkId;
            nodeSubnetIds = args.Network.NodeSubnetIds;
            clusterSubnetIds = args.Network.NodeSubnetIds;
        }
        else
        {
            // Network: public subnets for load balancers and the NAT gateway, private subnets for nodes.
            Vpc = new Resource("aws:ec2/vpc:Vpc", "vpc", Expr.Object(
                ("cidrBlock", awsArgs.VpcCidr),
                ("enableDnsHostnames", true),
                ("enableDnsSupport", true),
                ("tags", NameTag("vpc"))), Child(aws));
            vpcId = Vpc.Output("id");
            InternetGateway = new Resource("aws:ec2/internetGateway:InternetGateway", "igw", Expr.Object(
                ("vpcId", vpcId), ("tags", NameTag("igw"))), Child(aws));
            var publicSubnets = new List<Resource>();
            var privateSubnets = new List<Resource>();
            string[] zoneSuffix = ["a", "b"];
            for (var i = 0; i < 2; i++)
            {
                var zone = Zones.Output($"[{i}]");
                publicSubnets.Add(new Resource("aws:ec2/subnet:Subnet", $"public-{zoneSuffix[i]}", Expr.Object(
                    ("vpcId", vpcId),
                    ("cidrBlock", awsArgs.PublicSubnetCidrs[i]),
                    ("availabilityZone", zone),
                    ("mapPublicIpOnLaunch", true),
                    // Where the in-tree service controller puts internet-facing load balancers.
                    ("tags", NameTag($"public-{zoneSuffix[i]}", ("kubernetes.io/role/elb", "1")))), Child(aws)));
                privateSubnets.Add(new Resource("aws:ec2/subnet:Subnet", $"private-{zoneSuffix[i]}", Expr.Object(
                    ("vpcId", vpcId),
                    ("cidrBlock", awsArgs.PrivateSubnetCidrs[i]),
                    ("availabilityZone", zone),
                    ("tags", NameTag($"private-{zoneSuffix[i]}", ("kubernetes.io/role/internal-elb", "1")))), Child(aws)));
            }
            PublicSubnets = publicSubnets;
            PrivateSubnets = privateSubnets;
            nodeSubnetIds = Expr.List([.. privateSubnets.Select(s => (Expr)s.Output("id"))]);
            clusterSubnetIds = Expr.List([.. privateSubnets.Select(s => (Expr)s.Output("id")), .. publicSubnets.Select(s => (Expr)s.Output("id"))]);

            NatAddress = new Resource("aws:ec2/eip:Eip", "nat-eip", Expr.Object(("domain", "vpc"), ("tags", NameTag("nat"))), Child(aws, InternetGateway));
            NatGateway = new Resource("aws:ec2/natGateway:NatGateway", "nat", Expr.Object(
                ("allocationId", NatAddress.Output("id")),
                ("subnetId", publicSubnets[0].Output("id")),
                ("tags", NameTag("nat"))), Child(aws, InternetGateway));
            PublicRouteTable = new Resource("aws:ec2/routeTable:RouteTable", "public-routes", Expr.Object(
                ("vpcId", vpcId),
                ("routes", Expr.List(Expr.Object(("cidrBlock", "0.0.0.0/0"), ("gatewayId", InternetGateway.Output("id"))))),
                ("tags", NameTag("public"))), Child(aws));
            PrivateRouteTable = new Resource("aws:ec2/routeTable:RouteTable", "private-routes", Expr.Object(
                ("vpcId", vpcId),
                ("routes", Expr.List(Expr.Object(("cidrBlock", "0.0.0.0/0"), ("natGatewayId", NatGateway.Output("id"))))),
                ("tags", NameTag("private"))), Child(aws));
            for (var i = 0; i < 2; i++)
            {
                _ = new Resource("aws:ec2/routeTableAssociation:RouteTableAssociation", $"public-{zoneSuffix[i]}-routes", Expr.Object(
                    ("subnetId", publicSubnets[i].Output("id")), ("routeTableId", PublicRouteTable.Output("id"))), Child(aws));
                _ = new Resource("aws:ec2/routeTableAssociation:RouteTableAssociation", $"private-{zoneSuffix[i]}-routes", Expr.Object(
                    ("subnetId", privateSubnets[i].Output("id")), ("routeTableId", PrivateRouteTable.Output("id"))), Child(aws));
            }

        }

        // IAM: the cluster's role and the nodes' role.
        ClusterRole = new Resource("aws:iam/role:Role", "cluster-role", Expr.Object(
            ("assumeRolePolicy", TrustPolicy("eks.amazonaws.com")),
            ("description", "EKS control plane of the OSForAI inference stack")), Child(aws));
        var clusterPolicy = new Resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-policy", Expr.Object(
            ("role", ClusterRole.Output("name")), ("policyArn", ManagedPolicy("AmazonEKSClusterPolicy"))), Child(aws));
        NodeRole = new Resource("aws:iam/role:Role", "node-role", Expr.Object(
            ("assumeRolePolicy", TrustPolicy("ec2.amazonaws.com")),
            ("description", "EKS nodes of the OSForAI inference stack")), Child(aws));
        var nodePolicies = new[] { ("worker", "AmazonEKSWorkerNodePolicy"), ("cni", "AmazonEKS_CNI_Policy"), ("ecr", "AmazonEC2ContainerRegistryReadOnly") }
            .Select(p => new Resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", $"node-{p.Item1}-policy", Expr.Object(
                ("role", NodeRole.Output("name")), ("policyArn", ManagedPolicy(p.Item2))), Child(aws)))
            .ToArray();

        var cluster = args.Cluster;
        // secretsEncryption: Kubernetes Secrets envelope-encrypted with a key of the stack's own (rotated yearly), which the control
        // plane's role may use. EKS cannot turn this off again once on (docs/deploy.md).
        if (cluster.SecretsEncryption)
        {
            SecretsKey = new Resource("aws:kms/key:Key", "secrets-key", Expr.Object(
                ("description", "Kubernetes Secrets of the OSForAI inference stack (EKS envelope encryption)"),
                ("enableKeyRotation", true),
                ("deletionWindowInDays", 30)), Child(aws));
            _ = new Resource("aws:iam/rolePolicy:RolePolicy", "cluster-secrets-key", Expr.Object(
                ("role", ClusterRole.Output("name")),
                ("policy", PolicyDocument(Statement(Expr.List("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"), SecretsKey.Output("arn"))))), Child(aws));
        }

        // The cluster. API_AND_CONFIG_MAP with creator admin: whoever runs `pulumi up` can use the kubeconfig below; the access
        // entries (EksAccess) let in the adminPrincipals and the ciPrincipal.
        Cluster = new Resource("aws:eks/cluster:Cluster", "cluster", Expr.Object(
            ("roleArn", ClusterRole.Output("arn")),
            ("version", args.KubernetesVersion),
            ("vpcConfig", Expr.Object(
                ("subnetIds", clusterSubnetIds),
                ("endpointPrivateAccess", true),
                // privateControlPlane: the private endpoint only (reached from the VPC and what is peered or connected to it).
                ("endpointPublicAccess", !cluster.PrivateControlPlane),
                // controlPlaneAllowedCidrs; empty: open, written out so that emptying the list opens the endpoint again.
                ("publicAccessCidrs", cluster.PrivateControlPlane ? null
                    : awsArgs.Choices.RestrictsControlPlane ? args.ControlPlaneAllowedCidrs : Expr.List("0.0.0.0/0")))),
            // controlPlaneLogs: to CloudWatch Logs (/aws/eks/<cluster>/cluster).
            ("enabledClusterLogTypes", cluster.ControlPlaneLogs ? Expr.List([.. ControlPlaneLogTypes.Select(t => (Expr)t)]) : null),
            ("encryptionConfig", SecretsKey is null ? null : Expr.Object(
                ("provider", Expr.Object(("keyArn", SecretsKey.Output("arn")))),
                ("resources", Expr.List("secrets")))),
            ("accessConfig", Expr.Object(
                ("authenticationMode", "API_AND_CONFIG_MAP"),
                ("bootstrapClusterCreatorAdminPermissions", true)))), Child(aws, clusterPolicy));
        var clusterName = Cluster.Output("name");
        Access = new EksAccess("access", new EksAccessArgs(aws, clusterName, Partition.Output(), args.AdminPrincipals,
            awsArgs.Choices.AdminPrincipalCount, args.CiPrincipal, awsArgs.Choices.HasCiPrincipal), this);
        var privateSubnetIds = nodeSubnetIds;

        // Both groups launch from templates that require IMDSv2 with a hop limit of 1: the instance metadata service (and the node role's
        // credentials behind it) answers the node itself, never a pod (a pod's packets take one more hop). The GPU group's disk size
        // lives in its template, as EKS wants when a group has one.
        Obj MetadataOptions() => Expr.Object(
            ("httpEndpoint", "enabled"), ("httpTokens", "required"), ("httpPutResponseHopLimit", 1), ("instanceMetadataTags", "disabled"));
        SystemLaunchTemplate = new Resource("aws:ec2/launchTemplate:LaunchTemplate", "system-launch-template", Expr.Object(
            ("description", "OSForAI system nodes: IMDSv2 for the node only"),
            ("metadataOptions", MetadataOptions()),
            ("updateDefaultVersion", true)), Child(aws));
        GpuLaunchTemplate = new Resource("aws:ec2/launchTemplate:LaunchTemplate", "gpu-launch-template", Expr.Object(
            ("description", "OSForAI GPU nodes: IMDSv2 for the node only, a large encrypted root volume for images and models"),
            ("metadataOptions", MetadataOptions()),
            ("blockDeviceMappings", Expr.List(Expr.Object(
                ("deviceName", "/dev/xvda"),
                ("ebs", Expr.Object(("volumeSize", awsArgs.GpuNodeDiskGiB), ("volumeType", "gp3"), ("encrypted", "true"), ("deleteOnTermination", "true")))))),
            ("updateDefaultVersion", true)), Child(aws));
        static Obj Template(Resource template) => Expr.Object(("id", template.Output("id")), ("version", Expr.ToJson(template.Output("latestVersion"))));

        // The cluster-autoscaler owns desiredSize once the group exists.
        var scaledByAutoscaler = new ResourceOptions { Parent = this, Provider = aws, DependsOn = nodePolicies, IgnoreChanges = ["scalingConfig.desiredSize"] };
        SystemNodeGroup = new Resource("aws:eks/nodeGroup:NodeGroup", "system-nodes", Expr.Object(
            ("clusterName", clusterName),
            ("nodeRoleArn", NodeRole.Output("arn")),
            ("subnetIds", privateSubnetIds),
            ("amiType", "AL2023_x86_64_STANDARD"),
            ("instanceTypes", Expr.List(args.SystemPool.InstanceType)),
            ("launchTemplate", Template(SystemLaunchTemplate)),
            ("scalingConfig", Expr.Object(
                ("minSize", args.SystemPool.MinNodes), ("maxSize", args.SystemPool.MaxNodes), ("desiredSize", args.SystemPool.MinNodes))),
            ("labels", Expr.Object((NodePools.PoolLabel, NodePools.System)))), scaledByAutoscaler);
        // The GPU groups: the main one (gpu* keys) and extraGpuPools, each with the shared label and taint.
        var gpuGroups = new List<Resource>();
        var gpuAsgTags = new List<Resource>();
        foreach (var pool in args.GpuPools)
        {
            var group = new Resource("aws:eks/nodeGroup:NodeGroup", pool.ResourceName("nodes"), Expr.Object(
                ("clusterName", clusterName),
                ("nodeRoleArn", NodeRole.Output("arn")),
                ("subnetIds", privateSubnetIds),
                // NVIDIA driver and container toolkit preinstalled; the device plugin comes from RuntimeDeployment.
                ("amiType", "AL2023_x86_64_NVIDIA"),
                // The recommended AL2023 NVIDIA release of the cluster's version, which ships the R580 driver (gpuDriverVersion,
                // AwsOffering.NvidiaDriverBranches): a group created on an older release moves to it, and to each later one, at the next up.
                ("releaseVersion", GpuAmiReleaseVersion.Output()),
                ("instanceTypes", Expr.List(pool.Args.InstanceType)),
                ("launchTemplate", Template(GpuLaunchTemplate)),
                // Spot (gpuSpot, or the pool's spot): cheaper, reclaimed with two minutes' notice; the pool still scales from zero.
                ("capacityType", pool.Spot ? "SPOT" : "ON_DEMAND"),
                ("scalingConfig", Expr.Object(
                    ("minSize", pool.Args.MinNodes), ("maxSize", pool.Args.MaxNodes), ("desiredSize", pool.Args.MinNodes))),
                ("labels", Expr.Object([.. GpuNodeLabels(pool.Args.GpuType).Select(l => (l.Key, (Expr?)l.Value))])),
                ("taints", Expr.List(Expr.Object(("key", NodePools.GpuTaintKey), ("value", NodePools.GpuTaintValue), ("effect", "NO_SCHEDULE"))))), scaledByAutoscaler);
            gpuGroups.Add(group);

            // Scale from zero: with no node running, the cluster-autoscaler learns what a new GPU node would look like
            // from these ASG tags. Managed node groups do not copy labels and taints to their ASG, so they are set here.
            // (EKS does tag the ASG with the k8s.io/cluster-autoscaler/enabled and /<cluster> discovery tags itself.)
            var gpuAsg = group.Output("resources[0].autoscalingGroups[0].name");
            var tag = pool.IsMain ? "gpu-asg" : $"gpu-{pool.Name}-asg";
            string[] tagNames = [$"{tag}-pool-label", $"{tag}-gpu-type-label", $"{tag}-gpu-present-label", $"{tag}-accelerator-label"];
            (string Name, string Key, Expr Value)[] templateTags =
            [
                .. GpuNodeLabels(pool.Args.GpuType).Select((l, i) => (tagNames[i], $"k8s.io/cluster-autoscaler/node-template/label/{l.Key}", l.Value)),
                ($"{tag}-taint", $"k8s.io/cluster-autoscaler/node-template/taint/{NodePools.GpuTaintKey}", $"{NodePools.GpuTaintValue}:{NodePools.GpuTaintEffect}"),
                // Tag values are strings; toJSON turns the integer config value into one.
                ($"{tag}-gpu-resource", $"k8s.io/cluster-autoscaler/node-template/resources/{NodePools.GpuResource}",
                    pool.Args.GpusPerNode is Lit { Value: int n } ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : Expr.ToJson(pool.Args.GpusPerNode)),
            ];
            gpuAsgTags.AddRange(templateTags.Select(t => new Resource("aws:autoscaling/tag:Tag", t.Name, Expr.Object(
                ("autoscalingGroupName", gpuAsg),
                ("tag", Expr.Object(("key", t.Key), ("value", t.Value), ("propagateAtLaunch", false)))), Child(aws))));
        }
        GpuNodeGroups = gpuGroups;
        GpuNodeGroup = gpuGroups[0];
        GpuAsgTags = gpuAsgTags;

        // Pod Identity: the agent add-on, and a role for the cluster-autoscaler's service account.
        PodIdentityAgent = new Resource("aws:eks/addon:Addon", "pod-identity-agent", Expr.Object(
            ("clusterName", clusterName),
            ("addonName", "eks-pod-identity-agent")), Child(aws, SystemNodeGroup));
        // NetworkPolicy enforcement (the worker pods' policy, RuntimeDeployment): the VPC CNI enforces policies only with
        // enableNetworkPolicy, which needs it as a managed add-on. EKS installs the CNI itself; OVERWRITE takes it over.
        VpcCni = new Resource("aws:eks/addon:Addon", "vpc-cni", Expr.Object(
            ("clusterName", clusterName),
            ("addonName", "vpc-cni"),
            ("resolveConflictsOnCreate", "OVERWRITE"),
            ("resolveConflictsOnUpdate", "OVERWRITE"),
            ("configurationValues", Expr.ToJson(Expr.Object(("enableNetworkPolicy", "true"))))), Child(aws, SystemNodeGroup));
        AutoscalerRole = new Resource("aws:iam/role:Role", "cluster-autoscaler-role", Expr.Object(
            ("assumeRolePolicy", PodIdentityTrustPolicy()),
            ("description", "cluster-autoscaler of the OSForAI inference stack (EKS Pod Identity)")), Child(aws));
        _ = new Resource("aws:iam/rolePolicy:RolePolicy", "cluster-autoscaler-policy", Expr.Object(
            ("role", AutoscalerRole.Output("name")),
            ("policy", PolicyDocument(
                Statement(Expr.List(
                    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities", "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup"), "*"),
                // Only the ASGs of this cluster's managed node groups, which EKS tags with eks:cluster-name.
                Expr.Object(
                    ("Effect", "Allow"),
                    ("Action", Expr.List("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")),
                    ("Resource", "*"),
                    ("Condition", Expr.Object(("StringEquals", Expr.Object(("aws:ResourceTag/eks:cluster-name", clusterName))))))))), Child(aws));
        var autoscalerIdentity = new Resource("aws:eks/podIdentityAssociation:PodIdentityAssociation", "cluster-autoscaler-identity", Expr.Object(
            ("clusterName", clusterName),
            ("namespace", "kube-system"),
            ("serviceAccount", "cluster-autoscaler"),
            ("roleArn", AutoscalerRole.Output("arn"))), Child(aws, PodIdentityAgent));

        // Storage: the bucket behind data://, private, and a role limited to it for the gateway (see the class comment).
        Bucket = new Resource("aws:s3/bucket:Bucket", "data", Expr.Object(("forceDestroy", false)), Child(aws));
        _ = new Resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "data-public-access-block", Expr.Object(
            ("bucket", Bucket.Output("id")),
            ("blockPublicAcls", true),
            ("blockPublicPolicy", true),
            ("ignorePublicAcls", true),
            ("restrictPublicBuckets", true)), Child(aws));
        RuntimeRole = new Resource("aws:iam/role:Role", "runtime-role", Expr.Object(
            ("assumeRolePolicy", PodIdentityTrustPolicy()),
            ("description", "OSForAI gateway: the data:// bucket (EKS Pod Identity)")), Child(aws));
        _ = new Resource("aws:iam/rolePolicy:RolePolicy", "runtime-bucket-access", Expr.Object(
            ("role", RuntimeRole.Output("name")),
            ("policy", PolicyDocument(
                Statement(Expr.List("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"), Bucket.Output("arn")),
                Statement(Expr.List("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
                    Expr.Concat(Bucket.Output("arn"), "/*"))))), Child(aws));
        // The gateway's service account (RuntimeDeployment.ServiceAccountName) in the stack's namespace, and nothing else, gets the role.
        RuntimeIdentity = new Resource("aws:eks/podIdentityAssociation:PodIdentityAssociation", "runtime-identity", Expr.Object(
            ("clusterName", clusterName),
            ("namespace", args.Namespace),
            ("serviceAccount", RuntimeDeployment.ServiceAccountName),
            ("roleArn", RuntimeRole.Output("arn"))), Child(aws, PodIdentityAgent));

        // Images: the stack's ECR repositories (or the registry key's), pulled with the node role's AmazonEC2ContainerRegistryReadOnly.
        Images = new EcrImages("images", new EcrImagesArgs(aws, args.Registry,
            [args.RuntimeImage, args.WorkerPods.PythonImage, args.WorkerPods.OnnxImage], awsArgs.Choices), this);

        // State: PostgreSQL in the private subnets, reachable from the cluster's security group only.
        Database = new RdsPostgres("database", new RdsPostgresArgs(aws, args.Database, vpcId, privateSubnetIds,
            Cluster.Output("vpcConfig.clusterSecurityGroupId")), this);

        // kubeconfig: the cluster's endpoint and CA, and a user that gets tokens from the AWS CLI of whoever runs kubectl.
        Kubeconfig = new Variable($"{Name}-kubeconfig", Expr.ToJson(Expr.Object(
            ("apiVersion", "v1"),
            ("kind", "Config"),
            ("clusters", Expr.List(Expr.Object(("name", "osforai"), ("cluster", Expr.Object(
                ("server", Cluster.Output("endpoint")),
                ("certificate-authority-data", Cluster.Output("certificateAuthority.data"))))))),
            ("contexts", Expr.List(Expr.Object(("name", "osforai"), ("context", Expr.Object(("cluster", "osforai"), ("user", "osforai")))))),
            ("current-context", "osforai"),
            ("users", Expr.List(Expr.Object(("name", "osforai"), ("user", Expr.Object(("exec", Expr.Object(
                ("apiVersion", "client.authentication.k8s.io/v1beta1"),
                ("command", "aws"),
                ("args", Expr.List("--region", args.Region, "eks", "get-token", "--cluster-name", clusterName, "--output", "json"))))))))))));
        // Everything on the cluster waits for the system nodes (and the Pod Identity agent) through this provider.
        KubernetesProvider = new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(
            ("kubeconfig", Kubeconfig.Output())), Child(null, SystemNodeGroup, PodIdentityAgent, VpcCni));
        var k8s = KubernetesProvider;

        // Node autoscaling: EKS has none built in. Auto-discovery finds both node groups by their ASG tags.
        ClusterAutoscaler = new Resource("kubernetes:helm.sh/v3:Release", "cluster-autoscaler", Expr.Object(
            ("name", "cluster-autoscaler"),
            ("chart", "cluster-autoscaler"),
            ("version", args.ClusterAutoscalerChartVersion),
            ("namespace", "kube-system"),
            ("repositoryOpts", Expr.Object(("repo", "https://kubernetes.github.io/autoscaler"))),
            ("values", Expr.Object(
                ("cloudProvider", "aws"),
                ("awsRegion", args.Region),
                ("autoDiscovery", Expr.Object(("clusterName", clusterName))),
                ("rbac", Expr.Object(("serviceAccount", Expr.Object(("create", true), ("name", "cluster-autoscaler"))))),
                ("nodeSelector", Expr.Object((NodePools.PoolLabel, NodePools.System))),
                ("extraArgs", Expr.Object(
                    ("balance-similar-node-groups", true),
                    ("skip-nodes-with-system-pods", false),
                    ("expander", "least-waste")))))), Child(k8s, autoscalerIdentity));
        // The gateway's HorizontalPodAutoscaler needs resource metrics, which EKS does not serve by default.
        MetricsServer = new Resource("kubernetes:helm.sh/v3:Release", "metrics-server", Expr.Object(
            ("name", "metrics-server"),
            ("chart", "metrics-server"),
            ("version", awsArgs.MetricsServerChartVersion is { } msv ? (Expr)msv : null),
            ("namespace", "kube-system"),
            ("repositoryOpts", Expr.Object(("repo", "https://kubernetes-sigs.github.io/metrics-server/"))),
            ("values", Expr.Object(("nodeSelector", Expr.Object((NodePools.PoolLabel, NodePools.System)))))), Child(k8s));

        Runtime = new RuntimeDeployment("runtime", new RuntimeDeploymentArgs
        {
            Provider = k8s,
            Namespace = args.Namespace,
            Image = Images.RuntimeImage,
            MinReplicas = args.GatewayMinReplicas,
            MaxReplicas = args.GatewayMaxReplicas,
            State = Database.ConnectionUri,
            WorkerPods = args.WorkerPods with { PythonImage = Images.WorkerPythonImage, OnnxImage = Images.WorkerGpuImage },
            DevicePlugin = DevicePluginMode.Helm,
            DevicePluginVersion = args.DevicePluginChartVersion,
            Gateway = args.Gateway,
            GatewayAddress = LoadBalancerAddress.Hostname,
            // An internet-facing Network Load Balancer from the in-tree service controller.
            ServiceAnnotations = [new("service.beta.kubernetes.io/aws-load-balancer-type", "nlb")],
            DataStore = new DataStoreBinding("S3", "platform", Expr.Concat("s3+platform://", Bucket.Output("bucket"), "/osforai"))
            {
                Settings = [new("Region", args.Region), DataStoreBinding.UseWorkloadIdentity],
            },
            // The agent injects the role's variables into pods created after the association exists.
            DependsOn = [RuntimeIdentity],
        }, this);

        GatewayUrl = Runtime.GatewayUrl;
        BucketUri = Expr.Concat("s3://", Bucket.Output("bucket"));
    }

    /// <summary>
    /// The GPU nodes' labels: the pool label and GPU type every cloud sets, <c>nvidia.com/gpu.present=true</c> (what the NVIDIA device
    /// plugin chart's default node affinity selects; the AL2023 NVIDIA AMI does not set it), and <c>k8s.amazonaws.com/accelerator</c>,
    /// the GPU label cluster-autoscaler's AWS provider reads, so a booting GPU node is not taken for a GPU-less one.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, Expr>> GpuNodeLabels(Expr gpuType) =>
    [
        new(NodePools.PoolLabel, NodePools.Gpu),
        new(NodePools.GpuTypeLabel, gpuType),
        new(DevicePluginGpuLabel, "true"),
        new(AutoscalerGpuLabel, gpuType),
    ];

    /// <summary>The label the NVIDIA device plugin chart's default affinity matches (besides NFD's pci-10de label).</summary>
    public const string DevicePluginGpuLabel = "nvidia.com/gpu.present";
    /// <summary>cluster-autoscaler's GPU label on AWS (its GPULabel; the AWS provider reads no other).</summary>
    public const string AutoscalerGpuLabel = "k8s.amazonaws.com/accelerator";

    private static Expr TrustPolicy(string service) => PolicyDocument(Expr.Object(
        ("Effect", "Allow"), ("Principal", Expr.Object(("Service", service))), ("Action", "sts:AssumeRole")));

    /// <summary>EKS Pod Identity assumes the role with session tags.</summary>
    private static Expr PodIdentityTrustPolicy() => PolicyDocument(Expr.Object(
        ("Effect", "Allow"), ("Principal", Expr.Object(("Service", "pods.eks.amazonaws.com"))), ("Action", Expr.List("sts:AssumeRole", "sts:TagSession"))));

    private static Obj Statement(Expr actions, Expr resource) => Expr.Object(("Effect", "Allow"), ("Action", actions), ("Resource", resource));

    private static Expr PolicyDocument(params Expr[] statements) =>
        Expr.ToJson(Expr.Object(("Version", "2012-10-17"), ("Statement", Expr.List(statements))));

    /// <summary>Program variables the stack needs (invokes, the kubeconfig); add them with <see cref="PulumiProgram.AddVariable(Variable)"/>.</summary>
    public override IReadOnlyList<Variable> Variables => [Partition, Zones, GpuAmiReleaseVersion, Kubeconfig];

    public Resource Provider { get; }
    public Variable Partition { get; }
    public Variable Zones { get; }
    /// <summary>The recommended AL2023 NVIDIA AMI release of the cluster's Kubernetes version (SSM public parameter).</summary>
    public Variable GpuAmiReleaseVersion { get; }
    /// <summary>The stack's own network; null in an existing one (networkId).</summary>
    public Resource? Vpc { get; }
    public Resource? InternetGateway { get; }
    /// <summary>The stack's own subnets; empty in an existing network (networkId).</summary>
    public IReadOnlyList<Resource> PublicSubnets { get; } = [];
    public IReadOnlyList<Resource> PrivateSubnets { get; } = [];
    public Resource? NatAddress { get; }
    public Resource? NatGateway { get; }
    public Resource? PublicRouteTable { get; }
    public Resource? PrivateRouteTable { get; }
    public Resource ClusterRole { get; }
    public Resource NodeRole { get; }
    public override Resource Cluster { get; }
    /// <summary>Access entries for the adminPrincipals and the ciPrincipal.</summary>
    public EksAccess Access { get; }
    /// <summary>The images' ECR repositories (or those under the registry key) and the image references.</summary>
    public EcrImages Images { get; }
    public Resource SystemNodeGroup { get; }
    /// <summary>The main GPU group (the gpu* keys).</summary>
    public Resource GpuNodeGroup { get; }
    /// <summary>Every GPU group: the main one, then extraGpuPools.</summary>
    public IReadOnlyList<Resource> GpuNodeGroups { get; }
    public IReadOnlyList<Resource> GpuAsgTags { get; }
    public Resource PodIdentityAgent { get; }
    /// <summary>The node groups' launch templates: IMDSv2 with hop limit 1 (no pod reaches the metadata service).</summary>
    public Resource SystemLaunchTemplate { get; }
    public Resource GpuLaunchTemplate { get; }
    /// <summary>The KMS key that encrypts Kubernetes Secrets (secretsEncryption); null when off.</summary>
    public Resource? SecretsKey { get; }
    /// <summary>The control-plane log types sent to CloudWatch Logs with controlPlaneLogs.</summary>
    public static IReadOnlyList<string> ControlPlaneLogTypes { get; } = ["api", "audit", "authenticator"];
    /// <summary>The VPC CNI as a managed add-on with NetworkPolicy enforcement on.</summary>
    public Resource VpcCni { get; }
    public Resource AutoscalerRole { get; }
    public Resource Bucket { get; }
    /// <summary>The gateway's IAM role (the bucket only), assumed through EKS Pod Identity.</summary>
    public Resource RuntimeRole { get; }
    public Resource RuntimeIdentity { get; }
    public RdsPostgres Database { get; }
    public override Variable Kubeconfig { get; }
    public Resource KubernetesProvider { get; }
    public Resource ClusterAutoscaler { get; }
    public Resource MetricsServer { get; }
    public override RuntimeDeployment Runtime { get; }

    /// <summary>http://&lt;NLB hostname&gt;.</summary>
    public override Expr GatewayUrl { get; }
    /// <summary>s3://&lt;bucket&gt;.</summary>
    public override Expr BucketUri { get; }
}

/// <summary>The whole AWS program: config keys, the stack, and the parity outputs.</summary>
public static class AwsStackProgram
{
    public const string ProjectName = "osforai-aws";

    /// <param name="stack">
    /// The stack's settings file, for the choices Pulumi YAML cannot make from config (<see cref="AwsStackConfig.ChoicesOf"/>); null
    /// (Pulumi asking for plugins) takes the defaults.
    /// </param>
    public static PulumiProgram Build(string projectName = ProjectName, StackFile? stack = null)
    {
        AwsInferenceStack? aws = null;
        var program = InferenceStack.Program(projectName, "OSForAI GPU inference stack on AWS (EKS, S3, RDS for PostgreSQL, ECR), synthesized by OSForAI.Stacks", AwsOffering.Instance,
            args => aws = new AwsInferenceStack("osforai", new AwsInferenceStackArgs(args) { Choices = AwsStackConfig.ChoicesOf(stack) }), stack);
        // Where CI pushes: docker login to registry, then push <repository>:<tag> and set the image keys to the tag.
        program.AddOutput("registry", aws!.Images.RegistryHost);
        string[] outputs = ["runtimeRepository", "workerPythonRepository", "workerGpuRepository"];
        for (var i = 0; i < outputs.Length; i++) program.AddOutput(outputs[i], aws.Images.RepositoryUrls[i]);
        return program;
    }
}
