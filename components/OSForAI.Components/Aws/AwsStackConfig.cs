using System.Text.RegularExpressions;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Aws;

/// <summary>How an image key's value names its image (decided at synth time from the stack's settings file).</summary>
public enum ImageReferenceForm
{
    /// <summary>A tag ("0.1.0", a commit sha) of the image's repository: the stack's ECR repository or one under <c>registry</c>.</summary>
    Tag,
    /// <summary>"osforai-runtime:0.1.0": the image's own name and a tag, read as that tag of the image's repository (the old default form).</summary>
    NameAndTag,
    /// <summary>A full reference with a registry ("123456789012.dkr.ecr.us-east-1.amazonaws.com/osforai-runtime:abc"), used as it is.</summary>
    Full,
}

/// <summary>
/// The choices Pulumi YAML cannot make from config (it has no conditionals or loops), read from the stack's settings file when
/// the program is synthesized for a stack: whether the stack provisions its ECR repositories, the form of each image key, how
/// many admin access entries to unroll, and whether the API endpoint is restricted. Without a stack (Pulumi asking for plugins)
/// the defaults: repositories provisioned, tags, no extra principals, an open endpoint.
/// </summary>
public sealed record AwsStackChoices
{
    public bool UseExistingRegistry { get; init; }
    public ImageReferenceForm RuntimeImage { get; init; } = ImageReferenceForm.Tag;
    public ImageReferenceForm WorkerPythonImage { get; init; } = ImageReferenceForm.Tag;
    public ImageReferenceForm WorkerGpuImage { get; init; } = ImageReferenceForm.Tag;
    public int AdminPrincipalCount { get; init; }
    public bool HasCiPrincipal { get; init; }
    public bool RestrictsControlPlane { get; init; }

    public static AwsStackChoices Default { get; } = new();
}

/// <summary>The AWS stack's settings: the shared checks (<see cref="StackConfig"/>) and what only AWS needs, and the synth-time choices.</summary>
public static partial class AwsStackConfig
{
    /// <summary>The image keys and the repository each one's tag belongs to (also the repository names under <c>registry</c>).</summary>
    public static IReadOnlyList<(string Key, string Repository)> Images { get; } =
    [
        (StackConfig.RuntimeImage, "osforai-runtime"),
        (StackConfig.WorkerPythonImage, "osforai-worker-python"),
        (StackConfig.WorkerGpuImage, "osforai-worker-gpu"),
    ];

    public static IReadOnlyList<ConfigError> Validate(StackFile file)
    {
        var errors = StackConfig.Validate(file, AwsOffering.Instance).ToList();
        var reported = errors.Select(e => e.Key).ToHashSet();
        foreach (var (key, repository) in Images)
        {
            if (reported.Contains(key) || file.Get(key) is not StackValue.Plain { Text: var image } || image.Contains('/')) continue;
            if (image.Contains('@'))
                errors.Add(new(key, $"'{image}': a digest needs the full reference (<repository URL>@sha256:...); the short form takes a tag"));
            else if (image.Split(':') is [var name, _] && name != repository)
                errors.Add(new(key, $"'{image}' names '{name}' without a registry: give a tag of the stack's {repository} repository ('{image.Split(':')[1]}') or a full reference <registry>/<repository>:<tag>"));
        }
        if (file.Get(StackConfig.AdminPrincipals) is StackValue.Items { Values: var admins })
            foreach (var admin in admins.OfType<string>().Where(a => !IamPrincipal().IsMatch(a)))
                errors.Add(new(StackConfig.AdminPrincipals, $"'{admin}' is not an IAM role or user ARN such as 'arn:aws:iam::123456789012:role/platform-admins' (an assumed-role session ARN is not accepted: give its role)"));
        // EKS takes IPv4 ranges only for its public endpoint (publicAccessCidrs).
        if (file.Get(StackConfig.ControlPlaneAllowedCidrs) is StackValue.Items { Values: var cidrs } && cidrs.Where(c => c.Contains(':')).ToList() is { Count: > 0 } v6)
            errors.Add(new(StackConfig.ControlPlaneAllowedCidrs, $"EKS restricts its API endpoint by IPv4 ranges only, not {string.Join(", ", v6.Select(c => $"'{c}'"))}"));
        if (file.Get(StackConfig.CiPrincipal) is StackValue.Plain { Text: { Length: > 0 } ci } && !IamPrincipal().IsMatch(ci))
            errors.Add(new(StackConfig.CiPrincipal, $"'{ci}' is not an IAM role or user ARN such as 'arn:aws:iam::123456789012:role/osforai-ci'"));
        // EKS node groups span the stack's private subnets (one in each of the region's first two available zones).
        const string noZones = "EKS GPU groups use the stack's private subnets, one in each of the region's first two available zones: zones cannot be chosen per pool on AWS";
        if (file.Get(StackConfig.GpuZones) is StackValue.Items { Values.Count: > 0 }) errors.Add(new(StackConfig.GpuZones, noZones));
        if (errors.All(e => e.Key != ExtraGpuPools.Key) && ExtraGpuPools.Of(file).Any(p => p.Zones is Arr { Items.Count: > 0 }))
            errors.Add(new(ExtraGpuPools.Key, noZones));
        if (!reported.Contains(StackConfig.GpuDriverVersion)
            && file.Get(StackConfig.GpuDriverVersion) is StackValue.Plain { Text: var driver }
            && !AwsOffering.NvidiaDriverBranches.Contains(driver))
            errors.Add(new(StackConfig.GpuDriverVersion, $"the EKS AL2023 NVIDIA AMIs ship driver branch {string.Join(", ", AwsOffering.NvidiaDriverBranches)}, not {driver}; another branch needs a custom AMI"));
        return errors;
    }

    public static void ValidateOrThrow(StackFile file) => StackConfig.Throw(file, Validate(file));

    /// <summary>The synth-time choices of <paramref name="stack"/> (validated before this runs); the defaults without one.</summary>
    public static AwsStackChoices ChoicesOf(StackFile? stack)
    {
        if (stack is null) return AwsStackChoices.Default;
        ImageReferenceForm Form(string key) => stack.Get(key) switch
        {
            StackValue.Plain { Text: var image } when image.Contains('/') => ImageReferenceForm.Full,
            StackValue.Plain { Text: var image } when image.Contains(':') => ImageReferenceForm.NameAndTag,
            StackValue.Plain => ImageReferenceForm.Tag,
            // A secret, or a value from a Pulumi ESC environment: unknown here, so taken as it is.
            _ => ImageReferenceForm.Full,
        };
        return new AwsStackChoices
        {
            UseExistingRegistry = stack.Get(StackConfig.Registry) is StackValue.Plain { Text.Length: > 0 },
            RuntimeImage = Form(StackConfig.RuntimeImage),
            WorkerPythonImage = Form(StackConfig.WorkerPythonImage),
            WorkerGpuImage = Form(StackConfig.WorkerGpuImage),
            AdminPrincipalCount = stack.Get(StackConfig.AdminPrincipals) is StackValue.Items { Values.Count: var n } ? n : 0,
            HasCiPrincipal = stack.Get(StackConfig.CiPrincipal) is StackValue.Plain { Text.Length: > 0 },
            RestrictsControlPlane = stack.Get(StackConfig.ControlPlaneAllowedCidrs) is StackValue.Items { Values.Count: > 0 },
        };
    }

    /// <summary>An IAM role or user ARN (what an EKS access entry takes), in any partition.</summary>
    [GeneratedRegex(@"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]
    private static partial Regex IamPrincipal();
}
