using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Aws;

/// <param name="AdminPrincipals">The <c>adminPrincipals</c> key (a list of IAM role/user ARNs).</param>
/// <param name="AdminPrincipalCount">How many entries the stack lists (read at synth time: Pulumi YAML has no loops).</param>
/// <param name="CiPrincipal">The <c>ciPrincipal</c> key, used when <paramref name="HasCiPrincipal"/>.</param>
public sealed record EksAccessArgs(Resource Provider, Expr ClusterName, Expr Partition, Expr AdminPrincipals, int AdminPrincipalCount, Expr CiPrincipal, bool HasCiPrincipal);

/// <summary>
/// Who may use the cluster besides its creator: an EKS access entry with the AmazonEKSClusterAdminPolicy (cluster scope) for every
/// <c>adminPrincipals</c> entry and for <c>ciPrincipal</c>, so a person and CI both get in whoever ran the first <c>pulumi up</c>.
/// The creator keeps its own entry (bootstrapClusterCreatorAdminPermissions): list it here too and EKS refuses the duplicate entry.
/// </summary>
public sealed class EksAccess : ComponentResource
{
    public EksAccess(string name, EksAccessArgs args, ComponentResource parent) : base("osforai:aws:EksAccess", name, parent)
    {
        var principals = new List<(string Name, Expr Arn)>();
        for (var i = 0; i < args.AdminPrincipalCount; i++)
            principals.Add(($"admin-{i}", Expr.Select(i, args.AdminPrincipals)));
        if (args.HasCiPrincipal) principals.Add(("ci", args.CiPrincipal));

        var policyArn = Expr.Concat("arn:", args.Partition, ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy");
        var entries = new List<Resource>();
        var associations = new List<Resource>();
        foreach (var (principal, arn) in principals)
        {
            var entry = new Resource("aws:eks/accessEntry:AccessEntry", principal, Expr.Object(
                ("clusterName", args.ClusterName),
                ("principalArn", arn),
                ("type", "STANDARD")), Child(args.Provider));
            entries.Add(entry);
            associations.Add(new Resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", $"{principal}-cluster-admin", Expr.Object(
                ("clusterName", args.ClusterName),
                ("principalArn", entry.Output("principalArn")),
                ("policyArn", policyArn),
                ("accessScope", Expr.Object(("type", "cluster")))), Child(args.Provider)));
        }
        Entries = entries;
        PolicyAssociations = associations;
    }

    public IReadOnlyList<Resource> Entries { get; }
    public IReadOnlyList<Resource> PolicyAssociations { get; }
}
