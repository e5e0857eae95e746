using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;
using OSForAI.Stacks;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// <c>osforai-stacks targets</c>: the URNs a stack's first deployment creates alone so CI can push the images before the
/// runtime needs them. A targeted update fails when a targeted resource depends on one that is neither targeted nor there
/// yet, so the set must be closed under dependencies; and it must leave out the cluster and the runtime.
/// </summary>
public sealed class StackTargetsTests
{
    public static TheoryData<string, string[]> RegistryOutputs => new()
    {
        { "aws", ["registry", "runtimeRepository", "workerPythonRepository", "workerGpuRepository"] },
        { "azure", ["registry"] },
        { "gcp", ["registry"] },
    };

    [Theory]
    [MemberData(nameof(RegistryOutputs))]
    public void The_registry_targets_are_closed_under_dependencies_and_leave_out_the_cluster_and_the_runtime(string cloud, string[] outputs)
    {
        var projectDir = Path.Combine(RepoRoot, "stacks", cloud);
        var r = Run(["targets", cloud, "--stack", "dev", "--project-dir", projectDir, .. outputs.SelectMany(o => new[] { "--output", o })]);
        Assert.True(r.Code == 0, r.Err);
        var urns = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var project = StackFile.ProjectName(projectDir);
        Assert.Equal($"urn:pulumi:dev::{project}::pulumi:pulumi:Stack::{project}-dev", urns[0]);

        var program = cloud switch
        {
            "aws" => OSForAI.Components.Aws.AwsStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
            "azure" => OSForAI.Components.Azure.AzureStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
            _ => OSForAI.Components.Gcp.GcpStackProgram.Build(stack: StackFile.Load(projectDir, "dev")),
        };
        var byUrn = program.Resources.ToDictionary(res => $"urn:pulumi:dev::{project}::{res.Type}::{res.Name}");
        var targeted = urns.Skip(1).Select(u => byUrn[u]).ToHashSet();
        // Every output asked for is covered…
        foreach (var output in outputs)
            Assert.All(ExprTree.Resources(program.Outputs.Single(o => o.Key == output).Value), res => Assert.Contains(res, targeted));
        // …and so is everything a targeted resource needs.
        foreach (var res in targeted)
        {
            var needs = res.Properties.SelectMany(p => ExprTree.Resources(p.Value))
                .Concat(res.Options.DependsOn).Concat(res.Options.Provider is { } p ? [p] : []);
            Assert.All(needs, n => Assert.True(targeted.Contains(n), $"{res.Name} needs {n.Name}, which is not targeted"));
        }
        Assert.Contains(targeted, res => res.Type.StartsWith("pulumi:providers:", StringComparison.Ordinal));
        Assert.DoesNotContain(targeted, res => res.Type.StartsWith("kubernetes:", StringComparison.Ordinal) || res.Type.Contains("Cluster", StringComparison.Ordinal));
    }

    [Fact]
    public void Targets_needs_a_stack_and_an_output_it_knows()
    {
        var noStack = Run(["targets", "aws", "--output", "registry"]);
        Assert.Equal(2, noStack.Code);
        Assert.Contains("which stack and output?", noStack.Err);
        var unknown = Run(["targets", "gcp", "--stack", "dev", "--output", "registy"]);
        Assert.Equal(1, unknown.Code);
        Assert.Equal("", unknown.Out);
        Assert.Contains("the osforai-gcp program has no output 'registy' (nearest: registry", unknown.Err);
        // A fully qualified stack (PULUMI_STACK's org/project/stack) gives the short name in the URNs, as Pulumi writes them.
        var qualified = Run(["targets", "azure", "--output", "registry"], pulumiStack: "acme/osforai-azure/dev");
        Assert.True(qualified.Code == 0, qualified.Err);
        Assert.StartsWith("urn:pulumi:dev::osforai-azure::pulumi:pulumi:Stack::osforai-azure-dev\n", qualified.Out);
    }
}
