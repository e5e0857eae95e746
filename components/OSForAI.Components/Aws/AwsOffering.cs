using System.Text.RegularExpressions;
using OSForAI.Components.Stacks;

namespace OSForAI.Components.Aws;

/// <summary>AWS regions ("us-east-1", "us-gov-west-1") and the EC2 families of each NVIDIA GPU.</summary>
public sealed partial class AwsOffering : CloudOffering
{
    public static AwsOffering Instance { get; } = new();

    public override string Cloud => "aws";
    public override Regex RegionFormat => Region();
    public override string RegionExample => "us-east-1";

    public override IReadOnlyDictionary<string, IReadOnlyList<string>> GpuFamilies { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["nvidia-t4"] = ["g4dn"],
        ["nvidia-a10g"] = ["g5"],
        ["nvidia-l4"] = ["g6"],
        ["nvidia-l40s"] = ["g6e"],
        ["nvidia-a100"] = ["p4d", "p4de"],
        ["nvidia-h100"] = ["p5"],
        ["nvidia-h200"] = ["p5e", "p5en"],
    };

    /// <summary>
    /// The NVIDIA driver branches the EKS-optimized AL2023 NVIDIA AMIs ship (checked 2026-12-05): R580 on every Kubernetes version
    /// since the late-2025 releases (awslabs/amazon-eks-ami issue 2470: 1.34 first, then backported to 1.33 down to 1.29). The GPU
    /// node group follows the recommended release of its Kubernetes version, so it runs R580 (CUDA 13).
    /// </summary>
    public static IReadOnlyList<string> NvidiaDriverBranches { get; } = ["580"];

    /// <summary>Graviton burstable, two vCPUs and 4 GiB: enough for the catalog and job state of a first deployment.</summary>
    public override string DefaultDatabaseInstanceType => "db.t4g.medium";

    /// <summary>RDS instance classes: "db.&lt;family&gt;.&lt;size&gt;" (db.t4g.medium, db.m7g.large, db.r6i.xlarge).</summary>
    public override string? CheckDatabaseInstanceType(string instanceType) =>
        DatabaseInstanceClass().IsMatch(instanceType)
            ? null
            : instanceType.StartsWith("db.", StringComparison.Ordinal) || !DatabaseInstanceClass().IsMatch("db." + instanceType)
                ? $"'{instanceType}' is not an RDS instance class such as '{DefaultDatabaseInstanceType}'"
                : $"'{instanceType}' is an EC2 instance type; RDS classes start with 'db.' ('db.{instanceType}')";

    /// <summary>gp3 storage: at most 64 TiB.</summary>
    public override string? CheckDatabaseStorage(int gb) => gb > 65536 ? $"RDS gp3 storage is at most 65536 GiB, got {gb}" : null;

    /// <summary>"g5.xlarge" → "g5".</summary>
    /// <summary>A VPC id and private subnets in two availability zones or more (EKS and the RDS subnet group both need two).</summary>
    public override IEnumerable<ConfigError> CheckExistingNetwork(string networkId, IReadOnlyList<string> nodeSubnetIds, string databaseSubnetId)
    {
        if (!VpcId().IsMatch(networkId)) yield return new(StackConfig.NetworkId, $"'{networkId}' is not a VPC id such as 'vpc-0123456789abcdef0'");
        if (nodeSubnetIds.Count < 2)
            yield return new(StackConfig.NodeSubnetIds, "needs the VPC's private subnets in two availability zones or more (EKS and the state database need two)");
        foreach (var subnet in nodeSubnetIds.Where(s => !SubnetId().IsMatch(s)))
            yield return new(StackConfig.NodeSubnetIds, $"'{subnet}' is not a subnet id such as 'subnet-0123456789abcdef0'");
        if (databaseSubnetId.Length > 0)
            yield return new(StackConfig.DatabaseSubnetId, "is for Azure: on AWS the state database's subnet group is nodeSubnetIds");
    }

    [GeneratedRegex("^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")]
    private static partial System.Text.RegularExpressions.Regex VpcId();
    [GeneratedRegex("^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]
    private static partial System.Text.RegularExpressions.Regex SubnetId();

    public override string InstanceFamily(string instanceType)
    {
        var dot = instanceType.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? instanceType : instanceType[..dot];
    }

    [GeneratedRegex(@"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")]
    private static partial Regex DatabaseInstanceClass();

    [GeneratedRegex(@"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    private static partial Regex Region();
}
