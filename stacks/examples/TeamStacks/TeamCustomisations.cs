using OSForAI.Components.Byo;
using OSForAI.Components.Synthesis;
using OSForAI.Stacks;

namespace TeamStacks;

/// <summary>One platform team's customisations of the OSForAI stacks, made without editing them.</summary>
public static class TeamCustomisations
{
    public const string Team = "ml-platform";

    public static StackExtensions Create() => new StackExtensions()
        // Every cloud: the team's label on every Kubernetes object the stacks create (a transform class, reusable).
        .Transform(new KubernetesLabels(("example.com/team", Team)))
        // AWS, prod only: versioning on the data bucket, a resource the stack does not make (on the bucket's provider).
        .Transform((program, context) =>
        {
            if (context.Stack?.Stack != "prod") return;
            var bucket = program.Resources.Single(r => r.Name == "osforai-data");
            program.Add(new Resource("aws:s3/bucketVersioning:BucketVersioning", "team-data-versioning", Expr.Object(
                ("bucket", bucket.Output("id")),
                ("versioningConfiguration", Expr.Object(("status", "Enabled")))), new ResourceOptions { Provider = bucket.Options.Provider }));
        }, "aws")
        // Bring your own cluster: a component override. The team's clusters run NVIDIA's GPU operator, which brings its own
        // device plugin, so the runtime component is built without one whatever a stack's devicePlugin says.
        .Program("byo", (context, stock) =>
            ByoStackProgram.Build(context.ProjectName, devicePlugin: false, ByoStackConfig.LoadBalancerAddressOf(context.Stack)));
}

/// <summary>Adds labels to the metadata of every Kubernetes object (not to Helm releases, which have no metadata).</summary>
public sealed class KubernetesLabels(params (string Key, string Value)[] labels) : IProgramTransform
{
    public void Apply(PulumiProgram program, StackContext context)
    {
        var patch = Expr.Object(("metadata", Expr.Object(("labels", Expr.Object(labels.Select(l => (l.Key, (Expr?)l.Value)).ToArray())))));
        foreach (var resource in program.Resources.Where(r => r.Type.StartsWith("kubernetes:", StringComparison.Ordinal) && r.Get("metadata") is not null))
            resource.Patch(patch);
    }
}
