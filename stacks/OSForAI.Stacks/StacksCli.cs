using OSForAI.Components.Aws;
using OSForAI.Components.Azure;
using OSForAI.Components.Byo;
using OSForAI.Components.Gcp;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;
using OSForAI.Components.Validation;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Stacks;

/// <summary>
/// <code>
/// synth &lt;aws|azure|gcp|byo&gt; [--stack NAME] [--project-dir DIR]
///     Prints the stack's Pulumi YAML program on stdout. Pulumi runs this as the YAML runtime's compiler, in the
///     project directory, with PULUMI_STACK set; with a stack (PULUMI_STACK or --stack) the stack's settings file
///     Pulumi.&lt;stack&gt;.yaml is validated first. Without one (Pulumi asking which plugins the program needs) the
///     same program is printed and nothing is validated.
/// validate &lt;cloud&gt; [--project-dir DIR] [--schema DIR]
///     Synthesizes the program, reads it back, checks it against the providers' schemas when a schema folder is
///     given (--schema or $OSAI_PULUMI_SCHEMA), and validates every stack settings file of the project.
/// targets &lt;cloud&gt; --stack NAME --output NAME... [--project-dir DIR]
///     Prints the URNs that the outputs need (<see cref="StackTargets"/>), one a line, for <c>pulumi up --target</c>.
/// trim-schemas --out DIR [--schema DIR]
///     Writes the part of the provider schemas that the programs of every cloud and stack settings file use
///     (<see cref="SchemaTrimmer"/>) into DIR: the fixture the repository's CI validates against.
/// </code>
/// Exit codes: 0 done; 1 invalid stack config or program (message on stderr, nothing on stdout); 2 usage or a
/// cloud that is not implemented yet.
/// </summary>
public static class StacksCli
{
    public const string Usage = """
        Usage:
          osforai-stacks synth <aws|azure|gcp|byo> [--stack NAME] [--project-dir DIR]
          osforai-stacks validate <aws|azure|gcp|byo> [--project-dir DIR] [--schema DIR]
          osforai-stacks targets <aws|azure|gcp|byo> --stack NAME --output NAME [--output NAME...] [--project-dir DIR]
          osforai-stacks trim-schemas --out DIR [--schema DIR]

        The project directory defaults to the current directory when it holds Pulumi.yaml (Pulumi runs the
        compiler there), else stacks/<cloud> under the repository root (the folder with OSForAI.sln); for byo
        it is the repository root itself (the root Pulumi.yaml).
        osforai-overrides.yaml and osforai-overrides.<stack>.yaml in the project directory change the program
        (docs/deploy.md, "Customising a stack without a fork").
        The stack defaults to $PULUMI_STACK. The schema folder (provider mini-schemas, see
        shared/pulumi-schema/README.md) defaults to $OSAI_PULUMI_SCHEMA.
        """;

    private static readonly string[] Clouds = ["aws", "azure", "gcp", "byo"];

    /// <summary>
    /// The stacks built so far: how to build each program (from the project name and, when synthesizing for a stack,
    /// its settings file — every cloud reads the gateway's exposure from it, azure its database choices, byo its cluster's) and how to validate a stack's settings.
    /// </summary>
    private static readonly Dictionary<string, (Func<string, StackFile?, PulumiProgram> Build, Action<StackFile> Validate)> Implemented = new()
    {
        ["aws"] = ((project, file) => AwsStackProgram.Build(project, file), AwsStackConfig.ValidateOrThrow),
        ["azure"] = ((project, file) => AzureStackProgram.Build(project, file), file => StackConfig.ValidateOrThrow(file, AzureOffering.Instance)),
        ["gcp"] = ((project, file) => GcpStackProgram.Build(project, file), file => StackConfig.ValidateOrThrow(file, GcpOffering.Instance)),
        ["byo"] = ((project, file) => ByoStackProgram.Build(project, ByoStackConfig.DevicePluginOf(file), ByoStackConfig.LoadBalancerAddressOf(file)),
            ByoStackConfig.ValidateOrThrow),
    };

    /// <summary>The clouds whose programs can be synthesized now.</summary>
    public static IReadOnlyCollection<string> ImplementedClouds => Implemented.Keys;

    /// <param name="environment">Reads environment variables (PULUMI_STACK); the process environment when null.</param>
    /// <param name="currentDirectory">The working directory; the process's when null.</param>
    /// <param name="extensions">
    /// A platform team's hooks (transforms, replaced programs), from a compiler project of its own; the overrides files in
    /// the project folder apply either way (<see cref="StackExtensions"/>).
    /// </param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Func<string, string?>? environment = null, string? currentDirectory = null,
        StackExtensions? extensions = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        currentDirectory ??= Directory.GetCurrentDirectory();
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var command = args[0];
        if (command == "trim-schemas") return TrimSchemas(args, stdout, stderr, Blank(environment("OSAI_PULUMI_SCHEMA")), currentDirectory);
        if (command is not ("synth" or "validate" or "targets"))
            return UsageError(stderr, $"unknown command '{command}'");
        if (args.Length < 2 || args[1].StartsWith('-'))
            return UsageError(stderr, $"{command}: which cloud? ({string.Join("|", Clouds)})");
        var cloud = args[1];
        if (!Clouds.Contains(cloud)) return UsageError(stderr, $"unknown cloud '{cloud}' ({string.Join("|", Clouds)})");

        string? stack = null, projectDir = null, schema = Blank(environment("OSAI_PULUMI_SCHEMA"));
        var outputs = new List<string>();
        for (var i = 2; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--stack" when i + 1 < args.Length && command is "synth" or "targets": stack = args[++i]; break;
                case "--output" when i + 1 < args.Length && command == "targets": outputs.Add(args[++i]); break;
                case "--project-dir" when i + 1 < args.Length: projectDir = args[++i]; break;
                case "--schema" when i + 1 < args.Length && command == "validate": schema = args[++i]; break;
                default: return UsageError(stderr, $"{command}: unexpected argument '{args[i]}'");
            }
        }
        stack ??= Blank(environment("PULUMI_STACK"));
        if (command == "targets" && (stack is null || outputs.Count == 0)) return UsageError(stderr, "targets: which stack and output? (--stack NAME --output NAME)");
        if (!Implemented.TryGetValue(cloud, out var impl))
        {
            stderr.WriteLine($"osforai-stacks: the {cloud} stack is not implemented yet");
            return 2;
        }

        try
        {
            projectDir = ResolveProjectDir(projectDir, cloud, currentDirectory);
            var build = (extensions ?? StackExtensions.None).Compose(cloud, projectDir, impl.Build);
            return command switch
            {
                "synth" => Synth(build, impl.Validate, projectDir, stack, stdout),
                "targets" => Targets(build, impl.Validate, projectDir, stack!, outputs, stdout),
                _ => Validate(build, impl.Validate, projectDir, schema, stdout, stderr),
            };
        }
        catch (StackConfigException e)
        {
            stderr.WriteLine($"osforai-stacks: {e.Message}");
            return 1;
        }
    }

    private static int Synth(Func<string, StackFile?, PulumiProgram> build, Action<StackFile> validate, string projectDir, string? stack, TextWriter stdout)
    {
        var project = StackFile.ProjectName(projectDir);
        var file = stack is null ? null : StackFile.Load(projectDir, stack);
        if (file is not null) validate(file);
        // Written only once everything is valid, so a failed synth prints nothing on stdout.
        stdout.Write(build(project, file).ToYaml());
        return 0;
    }

    private static int Targets(Func<string, StackFile?, PulumiProgram> build, Action<StackFile> validate, string projectDir, string stack, IReadOnlyList<string> outputs, TextWriter stdout)
    {
        var file = StackFile.Load(projectDir, stack);
        validate(file);
        var urns = StackTargets.Urns(build(StackFile.ProjectName(projectDir), file), stack, outputs);
        stdout.Write(string.Concat(urns.Select(u => u + "\n")));
        return 0;
    }

    private static int Validate(Func<string, StackFile?, PulumiProgram> build, Action<StackFile> validate, string projectDir, string? schemaFolder, TextWriter stdout, TextWriter stderr)
    {
        var project = StackFile.ProjectName(projectDir);
        var program = build(project, null);
        CheckReadsBack(program.ToYaml());
        PulumiSchema? schema = null;
        if (schemaFolder is null)
            stderr.WriteLine("osforai-stacks: no schema folder (--schema or OSAI_PULUMI_SCHEMA): provider schema checks skipped");
        else
        {
            if (!Directory.Exists(schemaFolder)) throw new StackConfigException($"the schema folder {schemaFolder} does not exist", []);
            schema = PulumiSchema.Load(schemaFolder);
            var violations = ProgramValidator.Validate(program, schema);
            if (violations.Count > 0)
                throw new StackConfigException($"the program breaks the provider schemas:{Environment.NewLine}  " +
                    string.Join(Environment.NewLine + "  ", violations), []);
        }

        var stackFiles = Directory.GetFiles(projectDir, "Pulumi.*.yaml").Order(StringComparer.Ordinal).ToList();
        if (stackFiles.Count == 0) throw new StackConfigException($"no stack settings files (Pulumi.<stack>.yaml) in {projectDir}", []);
        var messages = StackExtensions.OrphanOverrideFiles(projectDir).ToList();
        foreach (var file in stackFiles)
        {
            var stack = Path.GetFileName(file)["Pulumi.".Length..^".yaml".Length];
            try
            {
                var stackFile = StackFile.Load(projectDir, stack);
                validate(stackFile);
                // The stack's own program (its settings and overrides files shape it) against the schemas too.
                if (schema is not null && ProgramValidator.Validate(build(project, stackFile), schema) is { Count: > 0 } violations)
                    messages.Add($"stack '{stack}': the program breaks the provider schemas:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", violations));
            }
            catch (StackConfigException e) { messages.Add(e.Message); }
        }
        if (messages.Count > 0) throw new StackConfigException(string.Join(Environment.NewLine, messages), []);
        stdout.WriteLine($"{project}: program valid; stacks {string.Join(", ", stackFiles.Select(f => Path.GetFileName(f)["Pulumi.".Length..^".yaml".Length]))} valid");
        return 0;
    }

    private static int TrimSchemas(string[] args, TextWriter stdout, TextWriter stderr, string? schema, string currentDirectory)
    {
        string? output = null;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out" when i + 1 < args.Length: output = args[++i]; break;
                case "--schema" when i + 1 < args.Length: schema = args[++i]; break;
                default: return UsageError(stderr, $"trim-schemas: unexpected argument '{args[i]}'");
            }
        }
        if (output is null) return UsageError(stderr, "trim-schemas: where to? (--out DIR)");
        if (schema is null) return UsageError(stderr, "trim-schemas: which schemas? (--schema DIR or OSAI_PULUMI_SCHEMA)");
        try
        {
            if (!Directory.Exists(schema)) throw new StackConfigException($"the schema folder {schema} does not exist", []);
            foreach (var file in SchemaTrimmer.Write(schema, StackPrograms(currentDirectory), Path.GetFullPath(output, currentDirectory)))
                stdout.WriteLine(file);
            return 0;
        }
        catch (StackConfigException e)
        {
            stderr.WriteLine($"osforai-stacks: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Every program the stacks deploy: per cloud, the program without a stack (what validate checks) and the one of
    /// each stack settings file of its project, as it is and with every option on (<see cref="StackFile.EveryOptionOn"/>),
    /// overrides files included; then each cloud's stock program with its example overrides (stacks/examples/overrides).
    /// </summary>
    public static IEnumerable<PulumiProgram> StackPrograms(string currentDirectory)
    {
        foreach (var (cloud, impl) in Implemented)
        {
            var projectDir = ResolveProjectDir(null, cloud, currentDirectory);
            var project = StackFile.ProjectName(projectDir);
            var build = StackExtensions.None.Compose(cloud, projectDir, impl.Build);
            yield return build(project, null);
            foreach (var file in Directory.GetFiles(projectDir, "Pulumi.*.yaml").Order(StringComparer.Ordinal))
            {
                var stack = StackFile.Load(projectDir, Path.GetFileName(file)["Pulumi.".Length..^".yaml".Length]);
                yield return build(project, stack);
                yield return build(project, stack.With(StackFile.EveryOptionOn));
            }
        }
        // The committed example overrides, so that they are checked and the trimmed schemas cover them.
        foreach (var (cloud, impl) in Implemented)
            if (StackExtensions.ExampleOverrides(currentDirectory, cloud) is { } example)
            {
                var program = impl.Build(StackFile.ProjectName(ResolveProjectDir(null, cloud, currentDirectory)), null);
                StackExtensions.ApplyOverrides(program, example);
                yield return program;
            }
    }

    /// <summary>The written program must read back as one YAML mapping with resources and the parity outputs.</summary>
    private static void CheckReadsBack(string yaml)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlDotNet.Core.YamlException e) { throw new StackConfigException($"the synthesized program is not valid YAML: {e.Message}", []); }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new StackConfigException("the synthesized program is not one YAML mapping", []);
        if (!root.Children.TryGetValue(new YamlScalarNode("outputs"), out var outputs) || outputs is not YamlMappingNode o)
            throw new StackConfigException("the synthesized program has no outputs", []);
        foreach (var name in new[] { "gatewayUrl", "bucketUri", "kubeconfig" })
            if (!o.Children.ContainsKey(new YamlScalarNode(name)))
                throw new StackConfigException($"the synthesized program lacks the output '{name}'", []);
    }

    /// <summary>
    /// --project-dir when given; else the current directory when it holds Pulumi.yaml (Pulumi runs the compiler in the
    /// project directory) — except the repository root for a cloud, whose root Pulumi.yaml is the byo project; else
    /// stacks/&lt;cloud&gt; under the repository root, found by walking up to OSForAI.sln, or that root itself for byo.
    /// </summary>
    public static string ResolveProjectDir(string? projectDir, string cloud, string currentDirectory)
    {
        if (projectDir is not null)
        {
            var full = Path.GetFullPath(projectDir, currentDirectory);
            return Directory.Exists(full) ? full : throw new StackConfigException($"project directory {full} does not exist", []);
        }
        var isRepoRoot = File.Exists(Path.Combine(currentDirectory, "OSForAI.sln"));
        if (File.Exists(Path.Combine(currentDirectory, "Pulumi.yaml")) && (cloud == "byo" || !isRepoRoot)) return currentDirectory;
        for (var dir = new DirectoryInfo(currentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OSForAI.sln")))
            {
                var candidate = cloud == "byo" ? dir.FullName : Path.Combine(dir.FullName, "stacks", cloud);
                if (cloud == "byo" && !File.Exists(Path.Combine(candidate, "Pulumi.yaml")))
                    throw new StackConfigException($"no Pulumi.yaml in the repository root {candidate} (the bring-your-own-cluster project)", []);
                return Directory.Exists(candidate) ? candidate : throw new StackConfigException($"no project directory {candidate}", []);
            }
        }
        throw new StackConfigException($"cannot find the {cloud} stack project: {currentDirectory} has no Pulumi.yaml and no OSForAI.sln above it; pass --project-dir", []);
    }

    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"osforai-stacks: {message}");
        stderr.WriteLine(Usage);
        return 2;
    }

    private static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
