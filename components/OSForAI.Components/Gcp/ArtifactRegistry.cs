using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Gcp;

/// <param name="RepositoryId">The repository's id, unique in the project and region (a generated name).</param>
/// <param name="Project">The project the repository is in.</param>
/// <param name="Registry">The <c>registry</c> config key: an existing registry/repository prefix, or empty for the stack's own.</param>
/// <param name="Reader">The IAM member (the nodes' service account) allowed to pull.</param>
/// <param name="DependsOn">The Artifact Registry API's Service.</param>
public sealed record ArtifactRegistryArgs(Resource Provider, Expr RepositoryId, Expr Region, Expr Project, Expr Registry, Expr Reader, Obj Labels, Resource[] DependsOn);

/// <summary>
/// The stack's container images on GCP: an Artifact Registry docker repository in the stack's region, the nodes' service account
/// allowed to pull from it (<c>roles/artifactregistry.reader</c>), and the image references the runtime deploys:
/// <c>&lt;region&gt;-docker.pkg.dev/&lt;project&gt;/&lt;repository&gt;/&lt;image&gt;:&lt;tag&gt;</c>, where the config keys
/// (<c>runtimeImage</c>, …) hold <c>&lt;image&gt;:&lt;tag&gt;</c>. CI pushes to <see cref="RepositoryPath"/> (the
/// <c>registry</c> stack output). When the <c>registry</c> key names another registry, the images come from there instead
/// (the repository is still created; the nodes need read access to the other registry).
/// </summary>
public sealed class ArtifactRegistry : ComponentResource
{
    public const string ReaderRole = "roles/artifactregistry.reader";

    public ArtifactRegistry(string name, ArtifactRegistryArgs args, ComponentResource parent) : base("osforai:gcp:ArtifactRegistry", name, parent)
    {
        Repository = new Resource("gcp:artifactregistry/repository:Repository", "repository", Expr.Object(
            ("repositoryId", args.RepositoryId),
            ("location", args.Region),
            ("format", "DOCKER"),
            ("description", "OSForAI images (runtime, workers) of one stack"),
            ("labels", args.Labels)), Child(args.Provider, args.DependsOn));
        ReaderGrant = new Resource("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "reader", Expr.Object(
            ("repository", Repository.Output("name")),
            ("location", Repository.Output("location")),
            ("role", ReaderRole),
            ("member", args.Reader)), Child(args.Provider));
        RepositoryPath = Expr.Concat(args.Region, "-docker.pkg.dev/", args.Project, "/", Repository.Output("repositoryId"));
        ImagePrefix = new Variable($"{Name}-prefix", FirstNonEmpty(args.Registry, RepositoryPath));
    }

    public Resource Repository { get; }
    public Resource ReaderGrant { get; }
    /// <summary><c>&lt;region&gt;-docker.pkg.dev/&lt;project&gt;/&lt;repository&gt;</c>: where CI pushes.</summary>
    public Expr RepositoryPath { get; }
    /// <summary>
    /// Where the images are pulled from: the <c>registry</c> key when set, otherwise <see cref="RepositoryPath"/>; a program variable
    /// (add it with <see cref="PulumiProgram.AddVariable(Variable)"/>), so the expression is written once.
    /// </summary>
    public Variable ImagePrefix { get; }

    /// <summary>The full reference of an image given relative to the registry (<c>osforai-runtime:0.1.0</c>).</summary>
    public Expr Image(Expr relative) => Expr.Concat(ImagePrefix.Output(), "/", relative);

    /// <summary>
    /// <paramref name="preferred"/> unless it is empty, then <paramref name="fallback"/>, in Pulumi YAML, which has no conditionals:
    /// "&lt;" + preferred + "&gt;" is "&lt;&gt;" only when preferred is empty, so replacing "&lt;&gt;" with "&lt;" + fallback + "&gt;"
    /// and then removing the brackets leaves the value wanted (neither value can hold '&lt;' or '&gt;': they are image references).
    /// A replacement is <c>fn::join</c> over <c>fn::split</c>.
    /// </summary>
    public static Expr FirstNonEmpty(Expr preferred, Expr fallback)
    {
        static Expr Replace(Expr source, Expr old, Expr replacement) => Expr.Join(replacement, new Fn("fn::split", Expr.List(old, source)));
        static Expr Bracketed(Expr e) => Expr.Concat([(Expr)"<", .. e is Interp i ? i.Parts : [e], ">"]);
        var bracketed = Replace(Bracketed(preferred), "<>", Bracketed(fallback));
        return Replace(Replace(bracketed, "<", ""), ">", "");
    }
}
