using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Gcp;

/// <param name="NetworkId">The stack's VPC network, which the GKE cluster's nodes and pods (VPC-native) are on.</param>
/// <param name="Labels">Labels for the instance.</param>
/// <param name="ServiceNetworkingApi">The Service Networking API's Service (the peering needs it).</param>
/// <param name="SqlAdminApi">The Cloud SQL Admin API's Service (the instance needs it).</param>
public sealed record CloudSqlPostgresArgs(Resource Provider, DatabaseArgs Database, Expr Region, Expr NetworkId, Obj Labels, Resource? ServiceNetworkingApi = null, Resource? SqlAdminApi = null);

/// <summary>
/// The runtime's state on GCP: Cloud SQL for PostgreSQL (Enterprise edition) with a private IP on the stack's network and no
/// public IP. Private IP goes through private services access: an internal range reserved on the network for Google's services and
/// a Service Networking peering connection that uses it; the GKE cluster is VPC-native, so its pods reach the instance over the
/// peering. TLS is required (<c>sslMode: ENCRYPTED_ONLY</c>), storage is encrypted at rest (Cloud SQL always encrypts it), and
/// backups with point-in-time recovery are kept <see cref="DatabaseArgs.BackupDays"/> days, also after the instance is deleted.
/// <para>
/// The project needs the Cloud SQL Admin (sqladmin.googleapis.com) and Service Networking (servicenetworking.googleapis.com)
/// APIs: the stack enables them (<see cref="ProjectApis"/>) and the peering and the instance wait for them.
/// </para>
/// </summary>
public sealed class CloudSqlPostgres : ManagedPostgres
{
    public const string ServiceNetworking = "servicenetworking.googleapis.com";

    public CloudSqlPostgres(string name, CloudSqlPostgresArgs args, ComponentResource parent) : base("osforai:gcp:CloudSqlPostgres", name, parent)
    {
        var gcp = args.Provider;
        var db = args.Database;

        PrivateRange = new Resource("gcp:compute/globalAddress:GlobalAddress", "private-range", Expr.Object(
            ("network", args.NetworkId),
            ("purpose", "VPC_PEERING"),
            ("addressType", "INTERNAL"),
            ("prefixLength", 16),
            ("description", "OSForAI state database: private services access")), Child(gcp));
        // ABANDON: Google removes the peering itself once no producer (the instance) uses it; deleting it while one still
        // does (for some time after the instance is gone) fails the destroy.
        PrivateConnection = new Resource("gcp:servicenetworking/connection:Connection", "private-connection", Expr.Object(
            ("network", args.NetworkId),
            ("service", ServiceNetworking),
            ("reservedPeeringRanges", Expr.List(PrivateRange.Output("name"))),
            ("deletionPolicy", "ABANDON")), Child(gcp, [.. new[] { args.ServiceNetworkingApi }.OfType<Resource>()]));

        Instance = new Resource("gcp:sql/databaseInstance:DatabaseInstance", "instance", Expr.Object(
            ("databaseVersion", Expr.Concat("POSTGRES_", db.Version)),
            ("region", args.Region),
            // Pulumi's own guard against deleting the instance, and the Cloud SQL API's.
            ("deletionProtection", db.DeletionProtection),
            ("settings", Expr.Object(
                // Enterprise edition, so that the db-custom-* tiers apply (PostgreSQL 16 and later default to Enterprise Plus).
                ("edition", "ENTERPRISE"),
                ("tier", db.InstanceType),
                ("availabilityType", "ZONAL"),
                ("diskType", "PD_SSD"),
                ("diskSize", db.StorageGb),
                ("diskAutoresize", true),
                ("deletionProtectionEnabled", db.DeletionProtection),
                ("ipConfiguration", Expr.Object(
                    ("ipv4Enabled", false),
                    ("privateNetwork", args.NetworkId),
                    ("sslMode", "ENCRYPTED_ONLY"))),
                ("backupConfiguration", Expr.Object(
                    ("enabled", true),
                    ("pointInTimeRecoveryEnabled", true),
                    ("transactionLogRetentionDays", 7),
                    ("backupRetentionSettings", Expr.Object(("retainedBackups", db.BackupDays), ("retentionUnit", "COUNT"))))),
                ("retainBackupsOnDelete", true),
                ("userLabels", args.Labels)))), Child(gcp, [PrivateConnection, .. new[] { args.SqlAdminApi }.OfType<Resource>()]));
        Database = new Resource("gcp:sql/database:Database", "database", Expr.Object(
            ("instance", Instance.Output("name")),
            ("name", DatabaseName)), Child(gcp));
        User = new Resource("gcp:sql/user:User", "user", Expr.Object(
            ("instance", Instance.Output("name")),
            ("name", UserName),
            ("password", Password.Output("result"))), Child(gcp));

        Host = Instance.Output("privateIpAddress");
    }

    public Resource PrivateRange { get; }
    public Resource PrivateConnection { get; }
    public Resource Instance { get; }
    public Resource Database { get; }
    public Resource User { get; }
    /// <summary>The instance's private IP.</summary>
    public override Expr Host { get; }
    protected override Expr UserReference => User.Output("name");
    protected override Expr DatabaseReference => Database.Output("name");
}
