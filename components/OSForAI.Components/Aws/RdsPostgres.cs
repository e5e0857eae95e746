using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Aws;

/// <param name="VpcId">The stack's VPC.</param>
/// <param name="SubnetIds">The private subnets (one per availability zone): the DB subnet group.</param>
/// <param name="ClientSecurityGroupId">The EKS cluster security group, which the managed node groups' nodes (and so the pods) carry.</param>
public sealed record RdsPostgresArgs(Resource Provider, DatabaseArgs Database, Expr VpcId, Expr SubnetIds, Expr ClientSecurityGroupId);

/// <summary>
/// The runtime's state on AWS: RDS for PostgreSQL in the private subnets, not publicly accessible, admitting port 5432 only from the
/// cluster's security group; TLS forced by its parameter group (<c>rds.force_ssl</c>), storage encrypted (gp3, the account's RDS
/// key), automated backups for <see cref="DatabaseArgs.BackupDays"/> days, kept after deletion.
/// <para>
/// Deletion: with deletion protection off (development stacks) <c>pulumi destroy</c> deletes the instance after a final snapshot
/// named <c>osforai-final-&lt;random&gt;</c>, so nothing is lost by accident; delete the snapshot by hand when it is no longer wanted.
/// </para>
/// </summary>
public sealed class RdsPostgres : ManagedPostgres
{
    public RdsPostgres(string name, RdsPostgresArgs args, ComponentResource parent) : base("osforai:aws:RdsPostgres", name, parent)
    {
        var aws = args.Provider;
        var db = args.Database;

        SubnetGroup = new Resource("aws:rds/subnetGroup:SubnetGroup", "subnets", Expr.Object(
            ("description", "OSForAI state database: the stack's private subnets"),
            ("subnetIds", args.SubnetIds)), Child(aws));
        // No inline rules: the one ingress rule below is the only way in (and no egress: the server starts no connections).
        SecurityGroup = new Resource("aws:ec2/securityGroup:SecurityGroup", "security-group", Expr.Object(
            ("description", "OSForAI state database: PostgreSQL from the EKS cluster only"),
            ("vpcId", args.VpcId)), Child(aws));
        FromCluster = new Resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "from-cluster", Expr.Object(
            ("securityGroupId", SecurityGroup.Output("id")),
            ("referencedSecurityGroupId", args.ClientSecurityGroupId),
            ("ipProtocol", "tcp"),
            ("fromPort", Port),
            ("toPort", Port),
            ("description", "PostgreSQL from the EKS cluster's nodes and pods")), Child(aws));
        // The default since PostgreSQL 15 on RDS, set so that it stays so whatever the defaults become.
        Parameters = new Resource("aws:rds/parameterGroup:ParameterGroup", "parameters", Expr.Object(
            ("family", Expr.Concat("postgres", db.Version)),
            ("description", "OSForAI state database: TLS required"),
            ("parameters", Expr.List(Expr.Object(("name", "rds.force_ssl"), ("value", "1"))))), Child(aws));
        FinalSnapshotSuffix = new Resource("random:index/randomString:RandomString", "final-snapshot-suffix", Expr.Object(
            ("length", 8), ("special", false), ("upper", false)), Child());

        Instance = new Resource("aws:rds/instance:Instance", "instance", Expr.Object(
            ("engine", "postgres"),
            // A major version: RDS picks its newest minor version and upgrades minor versions in the maintenance window.
            ("engineVersion", db.Version),
            ("autoMinorVersionUpgrade", true),
            // A new databaseVersion upgrades the server in place (with the family of the new parameter group).
            ("allowMajorVersionUpgrade", true),
            ("instanceClass", db.InstanceType),
            ("allocatedStorage", db.StorageGb),
            ("storageType", "gp3"),
            ("storageEncrypted", true),
            ("dbName", DatabaseName),
            ("username", UserName),
            ("password", Password.Output("result")),
            ("port", Port),
            ("dbSubnetGroupName", SubnetGroup.Output("name")),
            ("vpcSecurityGroupIds", Expr.List(SecurityGroup.Output("id"))),
            ("parameterGroupName", Parameters.Output("name")),
            ("publiclyAccessible", false),
            ("backupRetentionPeriod", db.BackupDays),
            ("deleteAutomatedBackups", false),
            ("copyTagsToSnapshot", true),
            ("deletionProtection", db.DeletionProtection),
            ("skipFinalSnapshot", false),
            ("finalSnapshotIdentifier", Expr.Concat("osforai-final-", FinalSnapshotSuffix.Output("result")))), Child(aws, FromCluster));

        Host = Instance.Output("address");
    }

    public Resource SubnetGroup { get; }
    public Resource SecurityGroup { get; }
    public Resource FromCluster { get; }
    public Resource Parameters { get; }
    public Resource FinalSnapshotSuffix { get; }
    public Resource Instance { get; }
    /// <summary>The instance's private DNS name.</summary>
    public override Expr Host { get; }
}
