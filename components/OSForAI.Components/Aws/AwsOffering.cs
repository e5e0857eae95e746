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

    /// <summary>"g5.xlarge" → "g5".</summary>
    public override string InstanceFamily(string instanceType)
    {
        var dot = instanceType.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? instanceType : instanceType[..dot];
    }

    [GeneratedRegex(@"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    private static partial Regex Region();
}
