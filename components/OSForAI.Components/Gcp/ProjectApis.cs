using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Gcp;

/// <summary>
/// The Google APIs the stack uses, enabled on the project (<c>gcp:projects/service:Service</c>), so that a fresh project deploys
/// without a manual <c>gcloud services enable</c>. <c>disableOnDestroy: false</c>: destroying the stack leaves them on, as other
/// stacks and tools in the project may use them. Every resource that calls an API depends on its Service (<see cref="For"/>).
/// </summary>
public sealed class ProjectApis : ComponentResource
{
    public const string Container = "container.googleapis.com";
    public const string Compute = "compute.googleapis.com";
    public const string Iam = "iam.googleapis.com";
    public const string SqlAdmin = "sqladmin.googleapis.com";
    public const string ServiceNetworking = "servicenetworking.googleapis.com";
    public const string ArtifactRegistry = "artifactregistry.googleapis.com";
    public const string Storage = "storage.googleapis.com";
    /// <summary>Project IAM policy reads and writes (the node service account's role).</summary>
    public const string ResourceManager = "cloudresourcemanager.googleapis.com";
    /// <summary>Cloud KMS (the key that encrypts Secrets with secretsEncryption).</summary>
    public const string CloudKms = "cloudkms.googleapis.com";

    public static IReadOnlyList<string> All { get; } = [Container, Compute, Iam, SqlAdmin, ServiceNetworking, ArtifactRegistry, Storage, ResourceManager, CloudKms];

    private readonly Dictionary<string, Resource> _services = [];

    public ProjectApis(string name, Resource provider, ComponentResource parent) : base("osforai:gcp:ProjectApis", name, parent)
    {
        foreach (var api in All)
            _services[api] = new Resource("gcp:projects/service:Service", "api-" + api[..api.IndexOf('.', StringComparison.Ordinal)], Expr.Object(
                ("service", api),
                ("disableOnDestroy", false),
                ("disableDependentServices", false)), Child(provider));
    }

    public IReadOnlyDictionary<string, Resource> Services => _services;

    /// <summary>The Services of <paramref name="apis"/>, for <c>dependsOn</c>.</summary>
    public Resource[] For(params string[] apis) => [.. apis.Select(a => _services[a])];
}
