using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Stacks;

/// <summary>
/// The resources one output of a program needs, as the URNs <c>pulumi up --target</c> takes. CI creates a stack's registry
/// this way on the stack's first deployment: the images must be pushed there before the runtime can start, and a whole
/// <c>pulumi up</c> would wait for the runtime.
/// </summary>
public static class StackTargets
{
    /// <summary>
    /// The root stack's URN (a new stack's resources are its children, so it must be created too), then every resource the
    /// outputs refer to, directly or through other resources' inputs, <c>dependsOn</c> and providers, or through variables,
    /// in program order.
    /// </summary>
    public static IReadOnlyList<string> Urns(PulumiProgram program, string stack, IEnumerable<string> outputs)
    {
        var pending = new Stack<Expr>();
        foreach (var output in outputs)
        {
            var value = program.Outputs.FirstOrDefault(o => o.Key == output).Value;
            if (value is null)
            {
                var nearest = NameSuggestions.Nearest(output, program.Outputs.Select(o => o.Key));
                throw new StackConfigException($"the {program.Name} program has no output '{output}'" + (nearest.Count > 0 ? $" (nearest: {string.Join(", ", nearest)})" : ""), []);
            }
            pending.Push(value);
        }
        var needed = new HashSet<Resource>();
        var seenVariables = new HashSet<string>(StringComparer.Ordinal);
        while (pending.Count > 0)
        {
            foreach (var node in ExprTree.Nodes(pending.Pop()))
            {
                if (node is VarRef v && seenVariables.Add(v.Variable.Name)) pending.Push(v.Variable.Value);
                var resource = node switch { Ref r => r.Resource, Invoke { Provider: { } p } => p, _ => null };
                if (resource is null || !needed.Add(resource)) continue;
                foreach (var (_, input) in resource.Properties) pending.Push(input);
                if (resource.Options.Provider is { } provider) pending.Push(provider.Self);
                foreach (var dependency in resource.Options.DependsOn) pending.Push(dependency.Self);
            }
        }
        var shortStack = stack[(stack.LastIndexOf('/') + 1)..];
        return
        [
            $"urn:pulumi:{shortStack}::{program.Name}::pulumi:pulumi:Stack::{program.Name}-{shortStack}",
            .. program.Resources.Where(needed.Contains).Select(r => $"urn:pulumi:{shortStack}::{program.Name}::{r.Type}::{r.Name}"),
        ];
    }
}
