using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Stacks;

/// <summary>What a hook is told about the program being built.</summary>
/// <param name="Cloud">aws, azure, gcp or byo.</param>
/// <param name="ProjectName">The Pulumi project's name (from its Pulumi.yaml).</param>
/// <param name="ProjectDirectory">The Pulumi project's folder.</param>
/// <param name="Stack">
/// The stack's settings file when Pulumi runs the program for a stack; null when it asks which plugins the program needs
/// (or <c>validate</c> checks the program as such). A transform that reads it must add no resource of a package that the
/// program without a stack lacks (the synth refuses that: Pulumi would not have installed the plugin).
/// </param>
public sealed record StackContext(string Cloud, string ProjectName, string ProjectDirectory, StackFile? Stack);

/// <summary>A change to a synthesized program, applied after the stack's components built it and before it is written or validated.</summary>
public interface IProgramTransform
{
    void Apply(PulumiProgram program, StackContext context);
}

/// <summary>
/// The extension hooks of the stacks, so a platform team customises a stack without forking this repository:
/// <list type="number">
/// <item>Overrides files in the Pulumi project's folder (<see cref="ProgramOverrides"/>): <see cref="OverridesFile"/>
/// for every stack of the project, then <see cref="StackOverridesFile"/> for one stack. Always read; no code.</item>
/// <item>Code, in a compiler project of the team's own that references OSForAI.Stacks and calls
/// <see cref="StacksCli.Run"/> with an instance of this class: <see cref="Transform(IProgramTransform, string[])"/>
/// changes the programs of some or all clouds, <see cref="Program"/> replaces how one cloud's program is built (to use
/// another component, or a subclass, or to wrap the stock build).</item>
/// </list>
/// Order: the build (stock or replaced), the transforms in registration order, the project's overrides file, the stack's
/// overrides file. The result is written, or checked against the provider schemas by <c>validate</c>, like any program.
/// </summary>
public sealed class StackExtensions
{
    /// <summary>Overrides applied to every stack of a project (and to the program Pulumi asks for plugins).</summary>
    public const string OverridesFile = "osforai-overrides.yaml";

    /// <summary>The outputs every stack keeps (the parity contract): overrides may give them new values, not remove them.</summary>
    public static IReadOnlySet<string> KeptOutputs { get; } = new HashSet<string>(["gatewayUrl", "bucketUri", "kubeconfig"], StringComparer.Ordinal);

    private readonly List<(IProgramTransform Transform, HashSet<string>? Clouds)> _transforms = [];
    private readonly Dictionary<string, Func<StackContext, Func<PulumiProgram>, PulumiProgram>> _programs = new(StringComparer.Ordinal);

    /// <summary>No code hooks: only the overrides files.</summary>
    public static StackExtensions None => new();

    /// <summary>Overrides applied to one stack, after <see cref="OverridesFile"/>.</summary>
    public static string StackOverridesFile(string stack) => $"osforai-overrides.{stack[(stack.LastIndexOf('/') + 1)..]}.yaml";

    /// <summary>Adds a transform for the given clouds (all of them when none are given).</summary>
    public StackExtensions Transform(IProgramTransform transform, params string[] clouds)
    {
        ArgumentNullException.ThrowIfNull(transform);
        foreach (var cloud in clouds) CheckCloud(cloud);
        _transforms.Add((transform, clouds.Length == 0 ? null : [.. clouds]));
        return this;
    }

    /// <summary>Adds a transform written as a lambda, for the given clouds (all of them when none are given).</summary>
    public StackExtensions Transform(Action<PulumiProgram, StackContext> transform, params string[] clouds)
    {
        ArgumentNullException.ThrowIfNull(transform);
        return Transform(new DelegateTransform(transform), clouds);
    }

    /// <summary>
    /// Replaces how <paramref name="cloud"/>'s program is built. <paramref name="build"/> gets the context and the stock
    /// build (call it to wrap it, or ignore it to build the program from components of your own).
    /// </summary>
    public StackExtensions Program(string cloud, Func<StackContext, Func<PulumiProgram>, PulumiProgram> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        CheckCloud(cloud);
        if (!_programs.TryAdd(cloud, build)) throw new InvalidOperationException($"the {cloud} program is already replaced");
        return this;
    }

    /// <summary>
    /// The build of one cloud's programs in <paramref name="projectDir"/> with every hook applied: what the CLI
    /// synthesizes and validates. With a stack, the program must need no package that the program without a stack lacks.
    /// </summary>
    public Func<string, StackFile?, PulumiProgram> Compose(string cloud, string projectDir, Func<string, StackFile?, PulumiProgram> stock)
    {
        return (project, stack) =>
        {
            var program = Build(project, stack);
            if (stack is not null)
            {
                var extra = program.Packages().Except(Build(project, null).Packages()).ToList();
                if (extra.Count > 0)
                    throw new StackConfigException(
                        $"stack '{stack.Stack}': its program needs the package(s) {string.Join(", ", extra)}, which the {project} program without a stack does not " +
                        $"use; Pulumi asks for the plugins to install without a stack, so add resources of a new package in {OverridesFile} " +
                        $"(or a transform that does not depend on the stack), not in {StackOverridesFile(stack.Stack)}", []);
            }
            return program;
        };

        PulumiProgram Build(string project, StackFile? stack)
        {
            var context = new StackContext(cloud, project, projectDir, stack);
            var program = _programs.TryGetValue(cloud, out var replaced) ? replaced(context, () => stock(project, stack)) : stock(project, stack);
            var stockKeys = program.Config.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var (transform, clouds) in _transforms)
                if (clouds is null || clouds.Contains(cloud)) transform.Apply(program, context);
            ApplyOverrides(program, Path.Combine(projectDir, OverridesFile));
            if (stack is not null)
            {
                ApplyOverrides(program, Path.Combine(projectDir, StackOverridesFile(stack.Stack)));
                // A key the hooks declare without a default must be set, as Pulumi would require at preview; said here, with the file.
                var unset = program.Config.Where(c => !stockKeys.Contains(c.Name) && c.Default is null && stack.Get(c.Name) is null).Select(c => c.Name).ToList();
                if (unset.Count > 0 && !stack.ImportsEnvironment)
                    throw new StackConfigException(
                        $"{Path.GetFileName(stack.Path)}: the stack's customisations declare config key(s) without a default that it does not set: " +
                        string.Join(", ", unset.Select(k => $"{project}:{k}")) + $" (pulumi config set {unset[0]} ...)", []);
            }
            return program;
        }
    }

    /// <summary>Applies an overrides file when it exists; its problems become a config error (exit code 1).</summary>
    public static void ApplyOverrides(PulumiProgram program, string path)
    {
        if (!File.Exists(path)) return;
        try { ProgramOverrides.Load(path).ApplyTo(program, KeptOutputs); }
        catch (ProgramOverridesException e) { throw new StackConfigException(e.Message, []); }
    }

    /// <summary>
    /// Per-stack overrides files whose stack has no settings file (a typo would otherwise apply to no stack): one message each,
    /// with the nearest stacks.
    /// </summary>
    public static IEnumerable<string> OrphanOverrideFiles(string projectDir)
    {
        var stacks = Directory.GetFiles(projectDir, "Pulumi.*.yaml").Select(f => Path.GetFileName(f)["Pulumi.".Length..^".yaml".Length]).ToList();
        foreach (var file in Directory.GetFiles(projectDir, "osforai-overrides.*.yaml").Order(StringComparer.Ordinal))
        {
            var stack = Path.GetFileName(file)["osforai-overrides.".Length..^".yaml".Length];
            if (!stacks.Contains(stack))
            {
                var nearest = NameSuggestions.Nearest(stack, stacks);
                yield return $"{Path.GetFileName(file)}: there is no stack '{stack}' (no Pulumi.{stack}.yaml)" +
                    (nearest.Count > 0 ? $" (nearest: {string.Join(", ", nearest)})" : "");
            }
        }
    }

    /// <summary>
    /// The committed example overrides file of <paramref name="cloud"/> (stacks/examples/overrides/&lt;cloud&gt;.yaml in the
    /// repository above <paramref name="currentDirectory"/>), or null.
    /// </summary>
    public static string? ExampleOverrides(string currentDirectory, string cloud)
    {
        for (var dir = new DirectoryInfo(currentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OSForAI.sln")))
            {
                var file = Path.Combine(dir.FullName, "stacks", "examples", "overrides", cloud + ".yaml");
                return File.Exists(file) ? file : null;
            }
        return null;
    }

    private static void CheckCloud(string cloud)
    {
        if (!StacksCli.ImplementedClouds.Contains(cloud))
            throw new ArgumentException($"unknown cloud '{cloud}' ({string.Join(", ", StacksCli.ImplementedClouds)})", nameof(cloud));
    }

    private sealed class DelegateTransform(Action<PulumiProgram, StackContext> apply) : IProgramTransform
    {
        public void Apply(PulumiProgram program, StackContext context) => apply(program, context);
    }
}
