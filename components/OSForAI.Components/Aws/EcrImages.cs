using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Aws;

/// <param name="Registry">The <c>registry</c> key: an existing registry/repository prefix (used when <see cref="AwsStackChoices.UseExistingRegistry"/>).</param>
/// <param name="Images">The image keys' values, in the order of <see cref="AwsStackConfig.Images"/> (runtime, worker-python, worker-gpu).</param>
public sealed record EcrImagesArgs(Resource Provider, Expr Registry, IReadOnlyList<Expr> Images, AwsStackChoices Choices);

/// <summary>
/// Where the stack's three images come from: one private ECR repository per image (scanned on push, encrypted, names generated so
/// stacks in one account never collide), or — with the <c>registry</c> key — repositories of that name under an existing registry,
/// and nothing provisioned. The nodes pull with their role's AmazonEC2ContainerRegistryReadOnly (no pull secrets).
/// <para>
/// Each image key holds a tag of its repository ("0.1.0", a commit sha), the old "osforai-runtime:0.1.0" (read as that tag), or a
/// full reference, used as it is (see <see cref="ImageReferenceForm"/>).
/// </para>
/// </summary>
public sealed class EcrImages : ComponentResource
{
    public EcrImages(string name, EcrImagesArgs args, ComponentResource parent) : base("osforai:aws:EcrImages", name, parent)
    {
        ImageReferenceForm[] forms = [args.Choices.RuntimeImage, args.Choices.WorkerPythonImage, args.Choices.WorkerGpuImage];
        var repositories = new List<Resource>();
        var urls = new List<Expr>();
        var references = new List<Expr>();
        for (var i = 0; i < AwsStackConfig.Images.Count; i++)
        {
            var repository = AwsStackConfig.Images[i].Repository;
            Expr url;
            if (args.Choices.UseExistingRegistry)
                url = Expr.Concat(args.Registry, "/" + repository);
            else
            {
                // No name: Pulumi generates "<logical name>-<random>", unique per stack, lower-case as ECR requires.
                var repo = new Resource("aws:ecr/repository:Repository", repository["osforai-".Length..], Expr.Object(
                    ("imageScanningConfiguration", Expr.Object(("scanOnPush", true))),
                    ("encryptionConfigurations", Expr.List(Expr.Object(("encryptionType", "AES256")))),
                    ("forceDelete", false)), Child(args.Provider));
                repositories.Add(repo);
                url = repo.Output("repositoryUrl");
            }
            urls.Add(url);
            var image = args.Images[i];
            references.Add(forms[i] switch
            {
                ImageReferenceForm.Full => image,
                // One interpolation: "<repository URL>:<tag>" (a URL under registry is itself one).
                ImageReferenceForm.Tag => Expr.Concat([.. url is Interp u ? u.Parts : [url], ":", image]),
                _ => Expr.Join("", Expr.List(url, ":", Expr.Select(1, new Fn("fn::split", Expr.List(":", image))))),
            });
        }
        Repositories = repositories;
        RepositoryUrls = urls;
        RuntimeImage = references[0];
        WorkerPythonImage = references[1];
        WorkerGpuImage = references[2];
        // "<account>.dkr.ecr.<region>.amazonaws.com": what CI logs in to before pushing.
        RegistryHost = Expr.Select(0, new Fn("fn::split", Expr.List("/", urls[0])));
    }

    /// <summary>The provisioned repositories (none with <c>registry</c>).</summary>
    public IReadOnlyList<Resource> Repositories { get; }
    /// <summary>Each image's repository URL, in the order of <see cref="AwsStackConfig.Images"/>.</summary>
    public IReadOnlyList<Expr> RepositoryUrls { get; }
    public Expr RuntimeImage { get; }
    public Expr WorkerPythonImage { get; }
    public Expr WorkerGpuImage { get; }
    public Expr RegistryHost { get; }
}
