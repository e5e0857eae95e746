using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Azure;

/// <param name="ResourceGroupName">The stack's resource group.</param>
/// <param name="VirtualNetworkName">The stack's virtual network (the AKS nodes' subnet is in it).</param>
/// <param name="VirtualNetworkId">Its resource id, for the private DNS zone's link.</param>
/// <param name="SubnetCidr">The range of the subnet delegated to the server (at least a /28).</param>
/// <param name="Tier">The compute tier of <see cref="DatabaseArgs.InstanceType"/> (<see cref="AzureOffering.DatabaseTier"/>).</param>
/// <param name="DeletionLock">A CanNotDelete lock on the server: Azure's deletion protection.</param>
/// <param name="NameSuffix">Lower-case letters and digits that make the private DNS zone's name the stack's own.</param>
public sealed record FlexiblePostgresArgs(
    Resource Provider, DatabaseArgs Database, Expr Region, Expr ResourceGroupName, Expr VirtualNetworkName, Expr VirtualNetworkId,
    string SubnetCidr, string Tier, bool DeletionLock, Expr NameSuffix, Obj Tags)
{
    /// <summary>A subnet delegated to flexible servers in someone else's network (databaseSubnetId); null: the stack creates one.</summary>
    public Expr? ExistingSubnetId { get; init; }
}

/// <summary>
/// The runtime's state on Azure: Azure Database for PostgreSQL flexible server with private access (VNet integration): it lives in a
/// subnet of the stack's virtual network delegated to <c>Microsoft.DBforPostgreSQL/flexibleServers</c>, public network access is
/// disabled, and its name resolves through a private DNS zone (<c>*.private.postgres.database.azure.com</c>) linked to the network,
/// so only the cluster's nodes and pods reach it. TLS is required (<c>require_secure_transport</c>), storage is encrypted at rest
/// (always, with service-managed keys), and backups are kept <see cref="DatabaseArgs.BackupDays"/> days.
/// <para>
/// Azure has no deletion-protection property: <see cref="FlexiblePostgresArgs.DeletionLock"/> puts a CanNotDelete management lock on
/// the server. A lock is a resource, not a value, so it is chosen when the program is synthesized (from the stack's
/// <c>databaseDeletionProtection</c>), as is the compute tier.
/// </para>
/// </summary>
public sealed class FlexiblePostgres : ManagedPostgres
{
    public const string DelegatedService = "Microsoft.DBforPostgreSQL/flexibleServers";
    /// <summary>Flexible servers with private access need a private DNS zone whose name ends so.</summary>
    public const string DnsZoneSuffix = ".private.postgres.database.azure.com";

    public FlexiblePostgres(string name, FlexiblePostgresArgs args, ComponentResource parent) : base("osforai:azure:FlexiblePostgres", name, parent)
    {
        var azure = args.Provider;
        var db = args.Database;

        if (args.ExistingSubnetId is null)
            Subnet = new Resource("azure-native:network:Subnet", "subnet", Expr.Object(
                ("resourceGroupName", args.ResourceGroupName),
                ("virtualNetworkName", args.VirtualNetworkName),
                ("addressPrefix", args.SubnetCidr),
                ("delegations", Expr.List(Expr.Object(("name", "postgres"), ("serviceName", DelegatedService))))), Child(azure));
        var subnetId = args.ExistingSubnetId ?? Subnet!.Output("id");
        DnsZone = new Resource("azure-native:privatedns:PrivateZone", "dns-zone", Expr.Object(
            ("resourceGroupName", args.ResourceGroupName),
            ("privateZoneName", Expr.Concat("osforai-", args.NameSuffix, DnsZoneSuffix)),
            ("location", "global"),
            ("tags", args.Tags)), Child(azure));
        DnsZoneLink = new Resource("azure-native:privatedns:VirtualNetworkLink", "dns-zone-link", Expr.Object(
            ("resourceGroupName", args.ResourceGroupName),
            ("privateZoneName", DnsZone.Output("name")),
            ("location", "global"),
            ("virtualNetwork", Expr.Object(("id", args.VirtualNetworkId))),
            ("registrationEnabled", false),
            ("tags", args.Tags)), Child(azure));

        Server = new Resource("azure-native:dbforpostgresql:Server", "server", Expr.Object(
            ("resourceGroupName", args.ResourceGroupName),
            ("location", args.Region),
            ("version", db.Version),
            ("sku", Expr.Object(("name", db.InstanceType), ("tier", args.Tier))),
            ("storage", Expr.Object(("storageSizeGB", db.StorageGb), ("autoGrow", "Enabled"))),
            ("administratorLogin", UserName),
            ("administratorLoginPassword", Password.Output("result")),
            ("authConfig", Expr.Object(("passwordAuth", "Enabled"), ("activeDirectoryAuth", "Disabled"))),
            ("network", Expr.Object(
                ("delegatedSubnetResourceId", subnetId),
                ("privateDnsZoneArmResourceId", DnsZone.Output("id")),
                ("publicNetworkAccess", "Disabled"))),
            ("backup", Expr.Object(("backupRetentionDays", db.BackupDays), ("geoRedundantBackup", "Disabled"))),
            ("highAvailability", Expr.Object(("mode", "Disabled"))),
            ("tags", args.Tags)), Child(azure, DnsZoneLink));
        var serverName = Server.Output("name");
        // On by default; set so that it stays on.
        RequireTls = new Resource("azure-native:dbforpostgresql:Configuration", "require-tls", Expr.Object(
            ("resourceGroupName", args.ResourceGroupName),
            ("serverName", serverName),
            ("configurationName", "require_secure_transport"),
            ("value", "on"),
            ("source", "user-override")), Child(azure));
        Database = new Resource("azure-native:dbforpostgresql:Database", "database", Expr.Object(
            ("resourceGroupName", args.ResourceGroupName),
            ("serverName", serverName),
            ("databaseName", DatabaseName),
            ("charset", "UTF8"),
            ("collation", "en_US.utf8")), Child(azure, RequireTls));
        if (args.DeletionLock)
            DeletionLock = new Resource("azure-native:authorization:ManagementLockByScope", "deletion-lock", Expr.Object(
                ("scope", Server.Output("id")),
                ("level", "CanNotDelete"),
                ("notes", "OSForAI state database: set databaseDeletionProtection to false and run pulumi up before deleting it")), Child(azure));

        Host = Server.Output("fullyQualifiedDomainName");
    }

    /// <summary>The delegated subnet the stack made; null when it uses an existing one.</summary>
    public Resource? Subnet { get; }
    public Resource DnsZone { get; }
    public Resource DnsZoneLink { get; }
    public Resource Server { get; }
    public Resource RequireTls { get; }
    public Resource Database { get; }
    /// <summary>Null when deletion protection is off.</summary>
    public Resource? DeletionLock { get; }
    /// <summary>&lt;server&gt;.postgres.database.azure.com, resolved to the private address through the linked zone.</summary>
    public override Expr Host { get; }
    protected override Expr DatabaseReference => Database.Output("name");
}
