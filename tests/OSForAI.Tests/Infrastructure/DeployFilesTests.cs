using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Static checks of the container images (deploy/docker/*.Dockerfile, .dockerignore) and the CI pipeline
/// example (.github/workflows/stacks.yml). No Docker engine or GitHub runner is needed: the files are
/// parsed and checked against the repository, the way a reviewer would read them.
/// </summary>
public sealed class DeployFilesTests
{
    private static readonly string Root = OSForAI.Testing.Repository.Root;
    private const string RuntimeDockerfile = "deploy/docker/runtime.Dockerfile";
    private const string GpuDockerfile = "deploy/docker/worker-gpu.Dockerfile";
    private const string PythonWorkerDockerfile = "deploy/docker/worker-python.Dockerfile";
    private const string Workflow = ".github/workflows/stacks.yml";

    /// <summary>The images that hold a whole server (osai serve).</summary>
    public static TheoryData<string> Dockerfiles => new() { RuntimeDockerfile, GpuDockerfile };
    /// <summary>Every image, the Python worker pod's included.</summary>
    public static TheoryData<string> AllDockerfiles => new() { RuntimeDockerfile, GpuDockerfile, PythonWorkerDockerfile };

    // ---------------------------------------------------------------------------------------------- Dockerfiles

    [Fact]
    public void The_python_worker_image_runs_the_runner_as_uid_10001_on_a_read_only_root_filesystem()
    {
        var file = Parse(PythonWorkerDockerfile);
        var stage = file.FinalStage;
        Assert.Equal("10001:10001", stage.Last(i => i.Keyword == "USER").Arguments.Trim());
        // The runner at the fixed path is the entry point: the worker host's pod spec needs no command.
        var entrypoint = CommandWords(stage.Last(i => i.Keyword == "ENTRYPOINT").Arguments);
        Assert.Equal("/app/runners/python/osai_runner.py", entrypoint[^1]);
        Assert.Contains("/usr/bin/python3", entrypoint);
        var copy = stage.Single(i => i.Keyword == "COPY");
        Assert.Contains("runtime/runners/python/osai_runner.py /app/runners/python/osai_runner.py", copy.Arguments);
        // Nothing written outside /tmp (the host mounts an emptyDir there): no bytecode, HOME in /tmp, no volume, no server port.
        var env = string.Join(" ", stage.Where(i => i.Keyword == "ENV").Select(i => i.Arguments));
        Assert.Contains("PYTHONDONTWRITEBYTECODE=1", env);
        Assert.Contains("HOME=/tmp", env);
        Assert.DoesNotContain(stage, i => i.Keyword is "VOLUME" or "EXPOSE" or "CMD");
    }

    [Theory]
    [MemberData(nameof(AllDockerfiles))]
    public void Every_copy_source_from_the_build_context_exists(string dockerfile)
    {
        var copies = Parse(dockerfile).Instructions.Where(i => i.Keyword is "COPY" or "ADD").ToList();
        Assert.NotEmpty(copies);
        var fromContext = 0;
        foreach (var copy in copies)
        {
            var (flags, sources, _) = CopyArguments(copy);
            if (flags.ContainsKey("from")) continue; // from another stage or image, not the context
            foreach (var source in sources)
            {
                fromContext++;
                Assert.True(ContextMatches(source).Any(), $"{dockerfile} line {copy.Line}: '{source}' is not in the repository");
            }
        }
        Assert.True(fromContext > 0, $"{dockerfile} copies nothing from the build context");
    }

    [Theory]
    [MemberData(nameof(AllDockerfiles))]
    public void Every_base_image_has_an_explicit_tag_that_is_not_latest(string dockerfile)
    {
        var file = Parse(dockerfile);
        var stages = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var froms = file.Instructions.Where(i => i.Keyword == "FROM").ToList();
        Assert.NotEmpty(froms);
        foreach (var from in froms)
        {
            var words = Words(from.Arguments).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            var image = file.Substitute(words[0]);
            var isEarlierStage = stages.Contains(image);
            if (words.Count >= 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)) stages.Add(words[2]);
            if (image == "scratch" || isEarlierStage) continue;
            Assert.False(image.Contains('$'), $"{dockerfile} line {from.Line}: '{words[0]}' uses an ARG without a default");
            var name = image.Split('@')[0];
            var lastSlash = name.LastIndexOf('/');
            var colon = name.LastIndexOf(':');
            Assert.True(colon > lastSlash, $"{dockerfile} line {from.Line}: '{image}' has no tag");
            var tag = name[(colon + 1)..];
            Assert.False(tag.Length == 0 || tag.Equals("latest", StringComparison.OrdinalIgnoreCase),
                $"{dockerfile} line {from.Line}: '{image}' must name a version, not '{tag}'");
        }
    }

    [Theory]
    [MemberData(nameof(AllDockerfiles))]
    public void The_image_runs_as_a_non_root_user(string dockerfile)
    {
        var user = Parse(dockerfile).FinalStage.LastOrDefault(i => i.Keyword == "USER");
        Assert.True(user is not null, $"{dockerfile}: the final stage sets no USER, so it runs as root");
        var name = user!.Arguments.Trim().Split(':')[0];
        Assert.DoesNotContain(name, new[] { "root", "0", "" });
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_image_serves_on_all_interfaces_at_the_exposed_port(string dockerfile)
    {
        var stage = Parse(dockerfile).FinalStage;
        var entrypoint = stage.LastOrDefault(i => i.Keyword == "ENTRYPOINT") is { } e ? CommandWords(e.Arguments) : [];
        var cmd = stage.LastOrDefault(i => i.Keyword == "CMD") is { } c ? CommandWords(c.Arguments) : [];
        var command = entrypoint.Concat(cmd).ToList();
        // Kubernetes `args` replace CMD only: the stacks' gateway passes "serve --host ... --home ...", so the
        // entry point must stop at the osai executable and leave the subcommand to CMD.
        Assert.DoesNotContain("serve", entrypoint);
        Assert.Equal("serve", cmd.FirstOrDefault());
        Assert.Contains("serve", command);
        Assert.Contains(command, w => w.EndsWith("osai", StringComparison.Ordinal) || w.EndsWith("osai.dll", StringComparison.Ordinal));
        Assert.Equal("0.0.0.0", ValueAfter(command, "--host"));

        var port = ValueAfter(command, "--port") ?? "8080"; // osai serve's default
        var exposed = stage.Where(i => i.Keyword == "EXPOSE").SelectMany(i => Words(i.Arguments)).Select(p => p.Split('/')[0]);
        Assert.Contains(port, exposed);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Workers_run_in_the_bubblewrap_sandbox_with_the_system_python(string dockerfile)
    {
        var env = Parse(dockerfile).FinalEnvironment();
        // Required, not "auto": the server fails closed when bubblewrap cannot work instead of running algorithms unsandboxed.
        Assert.Equal("bubblewrap", env.GetValueOrDefault("OSForAI__Workers__Sandbox"));
        Assert.Equal("/usr/bin/bwrap", env.GetValueOrDefault("OSForAI__Workers__BubblewrapPath", "/usr/bin/bwrap"));
        Assert.Equal("/usr/bin/python3", env.GetValueOrDefault("OSForAI__Workers__PythonPath"));
        Assert.StartsWith("/var/lib/osforai", env.GetValueOrDefault("OSFORAI_HOME"));
        var installs = string.Join('\n', Parse(dockerfile).FinalStage.Where(i => i.Keyword == "RUN").Select(i => i.Arguments));
        Assert.Matches(@"apt-get install[^\n]*\bpython3\b", installs);
        Assert.Matches(@"apt-get install[^\n]*\bbubblewrap\b", installs);
    }

    [Fact]
    public void The_dockerignore_keeps_what_the_images_copy_and_drops_build_output()
    {
        var ignore = DockerIgnore.Load(Path.Combine(Root, ".dockerignore"));
        foreach (var dockerfile in new[] { RuntimeDockerfile, GpuDockerfile })
        {
            foreach (var copy in Parse(dockerfile).Instructions.Where(i => i.Keyword is "COPY" or "ADD"))
            {
                var (flags, sources, _) = CopyArguments(copy);
                if (flags.ContainsKey("from")) continue;
                foreach (var source in sources)
                {
                    foreach (var path in ContextMatches(source))
                    {
                        Assert.False(ignore.Excludes(path), $"{dockerfile} line {copy.Line}: .dockerignore excludes '{path}', which COPY needs");
                        if (!Directory.Exists(Path.Combine(Root, path))) continue;
                        var files = SourceFilesUnder(path).ToList();
                        Assert.NotEmpty(files);
                        var excluded = files.Where(ignore.Excludes).ToList();
                        Assert.True(excluded.Count == 0, $".dockerignore drops sources under '{path}': {string.Join(", ", excluded.Take(5))}");
                    }
                }
            }
        }

        // What must stay out: the host's build output (it would land on top of the image's own) and the VCS.
        Assert.True(ignore.Excludes("runtime/OSForAI.Cli/bin/Debug/net10.0/osai.dll"));
        Assert.True(ignore.Excludes("runtime/OSForAI.Worker/obj/project.assets.json"));
        Assert.True(ignore.Excludes(".git/HEAD"));
        Assert.True(ignore.Excludes("tests/node-client/node_modules/algorithmia/package.json"));
        Assert.False(ignore.Excludes("runtime/runners/python/osai_runner.py"));
    }

    [Fact]
    public void The_dockerignore_matcher_follows_dockers_rules()
    {
        var ignore = DockerIgnore.Parse("""
            # comment
            **/bin
            /docs
            *.md
            !README.md
            tests
            !tests/keep
            a/*/c
            """);
        Assert.True(ignore.Excludes("bin/x"));
        Assert.True(ignore.Excludes("deep/er/bin/x.dll"));
        Assert.False(ignore.Excludes("binary/x"));
        Assert.True(ignore.Excludes("docs/api.md"));
        Assert.True(ignore.Excludes("CHANGES.md"));
        Assert.False(ignore.Excludes("sub/CHANGES.md")); // '*' does not cross '/'
        Assert.False(ignore.Excludes("README.md"));       // the last matching pattern wins
        Assert.True(ignore.Excludes("tests/x.cs"));
        Assert.False(ignore.Excludes("tests/keep"));
        Assert.True(ignore.Excludes("a/b/c/d"));
        Assert.False(ignore.Excludes("a/b/x/c"));
    }

    // ---------------------------------------------------------------------------------------------- workflow

    [Fact]
    public void The_workflow_has_the_pipeline_jobs_and_prod_waits_for_dev_and_an_approval()
    {
        var jobs = Map(LoadWorkflow(), "jobs");
        foreach (var job in new[] { "validate", "images", "dev", "prod" })
            Assert.True(jobs.Children.ContainsKey(new YamlScalarNode(job)), $"{Workflow} has no job '{job}'");

        var prod = Map(jobs, "prod");
        Assert.Contains("dev", Strings(prod, "needs"));
        var environment = Child(prod, "environment");
        var environmentName = environment switch
        {
            YamlScalarNode s => s.Value,
            YamlMappingNode m => (Child(m, "name") as YamlScalarNode)?.Value,
            _ => null,
        };
        Assert.False(string.IsNullOrWhiteSpace(environmentName), "prod needs an environment (its required reviewers are the approval gate)");

        Assert.Contains("images", Strings(Map(jobs, "dev"), "needs"));
        Assert.Contains("validate", Strings(Map(jobs, "images"), "needs"));
    }

    [Fact]
    public void Validation_covers_every_stack_on_pull_requests()
    {
        var root = LoadWorkflow();
        var on = Child(root, "on");
        var triggers = on switch
        {
            YamlMappingNode m => m.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList(),
            YamlSequenceNode s => s.Children.Select(k => ((YamlScalarNode)k).Value!).ToList(),
            YamlScalarNode s => [s.Value!],
            _ => [],
        };
        Assert.Contains("pull_request", triggers);
        Assert.Contains("push", triggers);

        var validate = Map(Map(root, "jobs"), "validate");
        var clouds = Strings(Map(Map(validate, "strategy"), "matrix"), "cloud");
        // Every cloud the synthesizer implements is validated (a cloud it does not implement would fail the job).
        Assert.Equal(OSForAI.Stacks.StacksCli.ImplementedClouds.Order(StringComparer.Ordinal), clouds.Order(StringComparer.Ordinal));
        var runs = RunScripts(validate);
        Assert.Contains(runs, r => r.Contains("dotnet test") && r.Contains("FullyQualifiedName~Infrastructure"));
        Assert.Contains(runs, r => r.Contains("dotnet run --project stacks/OSForAI.Stacks -- validate ${{ matrix.cloud }}"));
    }

    [Fact]
    public void Images_are_built_once_tagged_with_the_commit_and_handed_to_the_deploy_legs_as_archives()
    {
        var jobs = Map(LoadWorkflow(), "jobs");
        var images = Map(jobs, "images");
        var steps = Steps(images).ToList();
        var builds = steps.Where(s => (Child(s, "uses") as YamlScalarNode)?.Value?.StartsWith("docker/build-push-action@", StringComparison.Ordinal) == true).ToList();
        var dockerfiles = builds.Select(b => Text(Map(b, "with"), "file")).ToList();
        Assert.Equal(new[] { GpuDockerfile, RuntimeDockerfile, PythonWorkerDockerfile }.Order(StringComparer.Ordinal), dockerfiles.Order(StringComparer.Ordinal));
        foreach (var build in builds)
        {
            var with = Map(build, "with");
            var file = Text(with, "file");
            Assert.True(File.Exists(Path.Combine(Root, file)), file);
            // deploy/docker/worker-gpu.Dockerfile → osforai-worker-gpu:<sha>, saved as worker-gpu.tar; pushed by no one here.
            var image = Path.GetFileName(file)[..^".Dockerfile".Length];
            Assert.Equal($"osforai-{image}:${{{{ github.sha }}}}", Text(with, "tags"));
            Assert.Equal($"type=docker,dest=${{{{ runner.temp }}}}/images/{image}.tar", Text(with, "outputs"));
            Assert.NotEqual("true", (Child(with, "push") as YamlScalarNode)?.Value);
        }
        var upload = Assert.Single(steps, s => (Child(s, "uses") as YamlScalarNode)?.Value?.StartsWith("actions/upload-artifact@", StringComparison.Ordinal) == true);
        Assert.True(steps.IndexOf(upload) > steps.IndexOf(builds[^1]));
        Assert.Equal("images", Text(Map(upload, "with"), "name"));
        Assert.Equal("${{ runner.temp }}/images", Text(Map(upload, "with"), "path"));
        // No shared registry: no login and no IMAGE_REGISTRY in the build.
        var text = Flatten(images);
        Assert.DoesNotContain("IMAGE_REGISTRY", text);
        Assert.DoesNotContain("login", text);
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public void Each_deploy_leg_pushes_the_images_to_its_own_stacks_registry_before_preview_and_up(string stack)
    {
        var job = Map(Map(LoadWorkflow(), "jobs"), stack);
        var steps = Steps(job).ToList();
        var download = Assert.Single(steps, s => (Child(s, "uses") as YamlScalarNode)?.Value?.StartsWith("actions/download-artifact@", StringComparison.Ordinal) == true);
        Assert.Equal("images", Text(Map(download, "with"), "name"));
        var push = Assert.Single(steps, s => (Child(s, "run") as YamlScalarNode)?.Value?.Contains("push-stack-images.sh", StringComparison.Ordinal) == true);
        Assert.Contains($"pulumi stack select {stack} --create", Text(push, "run"));
        Assert.Contains($"../../.github/scripts/push-stack-images.sh ${{{{ matrix.cloud }}}} {stack} \"$GITHUB_SHA\"", Text(push, "run"));
        Assert.Equal("${{ env.STACK_DIR }}", Text(push, "working-directory"));
        var env = Map(push, "env");
        Assert.Equal(Text(Map(download, "with"), "path"), Text(env, "IMAGES_DIR"));
        // IMAGE_REGISTRY is optional: only for a stack whose registry key names that host.
        Assert.Equal("${{ vars.IMAGE_REGISTRY }}", Text(env, "IMAGE_REGISTRY"));
        Assert.Equal("${{ secrets.IMAGE_REGISTRY_PASSWORD }}", Text(env, "IMAGE_REGISTRY_PASSWORD"));
        // Images first, then the update that rolls the runtime onto them.
        Assert.True(steps.IndexOf(download) < steps.IndexOf(push));
        var firstPulumiAction = steps.FindIndex(s => (Child(s, "uses") as YamlScalarNode)?.Value?.StartsWith("pulumi/actions@", StringComparison.Ordinal) == true && Child(s, "with") is not null);
        Assert.True(steps.IndexOf(push) < firstPulumiAction);
        // The cloud's own credentials are there before it (the script logs in with them).
        Assert.True(steps.FindIndex(s => Flatten(s).Contains("configure-aws-credentials")) < steps.IndexOf(push));

        var script = File.ReadAllText(Path.Combine(Root, ".github", "scripts", "push-stack-images.sh"));
        Assert.True(OperatingSystem.IsWindows() || File.GetUnixFileMode(Path.Combine(Root, ".github", "scripts", "push-stack-images.sh")).HasFlag(UnixFileMode.UserExecute));
        // Where to: the stack's own registry output (the script's behaviour is PushStackImagesTests').
        Assert.Contains("output() { pulumi stack output \"$1\" --stack \"$stack\"", script);
        Assert.Contains("registry=\"$(output registry)\"", script);
        foreach (var login in new[] { "aws ecr get-login-password | docker login", "az acr login --name", "gcloud auth configure-docker" })
            Assert.Contains(login, script);
    }

    [Fact]
    public void Dev_deploys_then_prod_gets_devs_image_config()
    {
        var jobs = Map(LoadWorkflow(), "jobs");
        var dev = Map(jobs, "dev");
        Assert.Equal(new[] { "preview", "up" }, PulumiCommands(dev, "dev"));

        var prod = Map(jobs, "prod");
        Assert.Contains("up", PulumiCommands(prod, "prod"));
        var promote = string.Join('\n', RunScripts(prod));
        // Prod promotes only this commit, as dev runs it: dev's runtimeImage must be this commit's.
        Assert.Contains("pulumi config get runtimeImage --stack dev", promote);
        Assert.Contains("\"$GITHUB_SHA\" | *\":$GITHUB_SHA\")", promote);
        // After the push to prod's registry, every image key the stacks read must equal dev's, or prod is not updated.
        Assert.Contains("for key in runtimeImage workerPythonImage workerGpuImage; do", promote);
        Assert.Contains("pulumi config get \"$key\" --stack dev", promote);
        Assert.Contains("pulumi config get \"$key\" --stack prod", promote);
        // The promotion happens before prod's update.
        var steps = Steps(prod).ToList();
        var promoteAt = steps.FindIndex(s => Flatten(s).Contains("push-stack-images.sh") && Flatten(s).Contains(" prod "));
        var upAt = steps.FindIndex(s => Flatten(s).Contains("command: up"));
        Assert.InRange(promoteAt, 0, upAt - 1);

        // The script sets every key the stacks read, on the stack it is given.
        var script = File.ReadAllText(Path.Combine(Root, ".github", "scripts", "push-stack-images.sh"));
        foreach (var key in new[] { "runtimeImage", "workerPythonImage", "workerGpuImage" }) Assert.Contains(key, script);
        Assert.Contains("pulumi config set \"${keys[$i]}\" \"${values[$i]}\" --stack \"$stack\"", script);

        foreach (var name in new[] { "dev", "prod" })
        {
            var permissions = Map(Map(jobs, name), "permissions");
            Assert.Equal("write", (Child(permissions, "id-token") as YamlScalarNode)?.Value);
        }
    }

    [Fact]
    public void The_workflow_names_no_registry_host_or_credential()
    {
        var text = File.ReadAllText(Path.Combine(Root, Workflow));
        var scalars = Scalars(LoadWorkflow()).Concat([text]);
        foreach (var value in scalars)
        {
            foreach (var host in new[] { "amazonaws.com", "azurecr.io", "gcr.io", "docker.io" })
                Assert.False(value.Contains(host, StringComparison.OrdinalIgnoreCase), $"{Workflow} names '{host}': take registries from variables");
            Assert.False(value.Contains("AKIA", StringComparison.Ordinal), $"{Workflow} contains what looks like an AWS access key id");
        }
        Assert.DoesNotMatch(@"(?im)^\s*(password|client-secret|aws-secret-access-key)\s*:\s*[^$\s]", text);
    }

    [Fact]
    public void Every_action_is_pinned_to_a_version()
    {
        foreach (var uses in Scalars(LoadWorkflow(), key: "uses"))
            Assert.Matches(@"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$", uses);
    }

    // ---------------------------------------------------------------------------------------------- Dockerfile parsing

    private sealed record Instruction(string Keyword, string Arguments, int Line);

    private sealed class DockerfileModel(List<Instruction> instructions, Dictionary<string, string> globalArgs)
    {
        public List<Instruction> Instructions { get; } = instructions;

        public List<Instruction> FinalStage => Instructions.Skip(Instructions.FindLastIndex(i => i.Keyword == "FROM")).ToList();

        /// <summary>Replaces $NAME and ${NAME} with the default of an ARG declared before the first FROM.</summary>
        public string Substitute(string value) =>
            Regex.Replace(value, @"\$\{(\w+)\}|\$(\w+)", m =>
                globalArgs.TryGetValue(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, out var v) ? v : m.Value);

        public Dictionary<string, string> FinalEnvironment()
        {
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var i in FinalStage.Where(i => i.Keyword == "ENV"))
            {
                var words = Words(i.Arguments);
                if (words.Count == 2 && !words[0].Contains('=')) { env[words[0]] = words[1]; continue; } // ENV KEY value
                foreach (var w in words)
                {
                    var eq = w.IndexOf('=');
                    if (eq > 0) env[w[..eq]] = w[(eq + 1)..];
                }
            }
            return env;
        }
    }

    private static DockerfileModel Parse(string relativePath)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, relativePath));
        var instructions = new List<Instruction>();
        var current = new StringBuilder();
        var start = 0;
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n];
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith('#') || (current.Length == 0 && trimmed.Length == 0)) continue; // comments, also inside continuations
            if (current.Length == 0) start = n + 1;
            var continues = line.TrimEnd().EndsWith('\\');
            current.Append(continues ? line.TrimEnd()[..^1] : line).Append(' ');
            if (continues) continue;
            var text = current.ToString().Trim();
            current.Clear();
            if (text.Length == 0) continue;
            var space = text.IndexOfAny([' ', '\t']);
            instructions.Add(space < 0
                ? new Instruction(text.ToUpperInvariant(), "", start)
                : new Instruction(text[..space].ToUpperInvariant(), text[(space + 1)..].Trim(), start));
        }
        Assert.True(current.Length == 0, $"{relativePath} ends inside a line continuation");

        var globalArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var arg in instructions.TakeWhile(i => i.Keyword != "FROM").Where(i => i.Keyword == "ARG"))
        {
            var w = Words(arg.Arguments)[0];
            var eq = w.IndexOf('=');
            if (eq > 0) globalArgs[w[..eq]] = w[(eq + 1)..];
        }
        return new DockerfileModel(instructions, globalArgs);
    }

    /// <summary>Flags (--from=..., --chown=...), sources and destination of a COPY or ADD, shell or JSON form.</summary>
    private static (Dictionary<string, string> Flags, List<string> Sources, string Destination) CopyArguments(Instruction copy)
    {
        var words = Words(copy.Arguments);
        var flags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (words.Count > 0 && words[0].StartsWith("--", StringComparison.Ordinal))
        {
            var flag = words[0][2..];
            var eq = flag.IndexOf('=');
            flags[eq < 0 ? flag : flag[..eq]] = eq < 0 ? "" : flag[(eq + 1)..];
            words.RemoveAt(0);
        }
        var rest = string.Join(' ', words);
        if (rest.StartsWith('[')) words = JsonSerializer.Deserialize<List<string>>(rest)!;
        Assert.True(words.Count >= 2, $"line {copy.Line}: {copy.Keyword} needs a source and a destination");
        var sources = words[..^1].Where(s => !Regex.IsMatch(s, "^(https?|git)://|^git@")).ToList();
        return (flags, sources, words[^1]);
    }

    /// <summary>Repository paths (relative, '/'-separated) that a COPY source names; wildcards as Go's filepath.Match.</summary>
    private static IEnumerable<string> ContextMatches(string source)
    {
        var path = source.Replace('\\', '/').TrimStart('/');
        while (path.StartsWith("./", StringComparison.Ordinal)) path = path[2..];
        path = path.TrimEnd('/');
        if (path is "" or ".") return ["."];
        if (path.IndexOfAny(['*', '?', '[']) < 0)
            return File.Exists(Path.Combine(Root, path)) || Directory.Exists(Path.Combine(Root, path)) ? [path] : [];
        var regex = new Regex("^" + GlobToRegex(path, doubleStar: false) + "$");
        return Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Where(p => regex.IsMatch(p));
    }

    /// <summary>Files under a copied folder that a build needs: everything but build output and editor/cache files.</summary>
    private static IEnumerable<string> SourceFilesUnder(string directory)
    {
        var skippedDirectories = new HashSet<string>(StringComparer.Ordinal) { "bin", "obj", "node_modules", "__pycache__" };
        return Directory.EnumerateFiles(Path.Combine(Root, directory), "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Where(p => !p.Split('/')[..^1].Any(skippedDirectories.Contains))
            .Where(p => !p.EndsWith(".swp", StringComparison.Ordinal) && !p.EndsWith(".pyc", StringComparison.Ordinal));
    }

    /// <summary>Words of a shell-form argument list, honouring single and double quotes.</summary>
    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else if (c == '\\' && quote == '"' && i + 1 < text.Length) word.Append(text[++i]);
                else word.Append(c);
            }
            else if (c is '"' or '\'') { quote = c; inWord = true; }
            else if (char.IsWhiteSpace(c)) { if (inWord) { words.Add(word.ToString()); word.Clear(); inWord = false; } }
            else { word.Append(c); inWord = true; }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }

    private static List<string> CommandWords(string arguments) =>
        arguments.TrimStart().StartsWith('[') ? JsonSerializer.Deserialize<List<string>>(arguments)! : Words(arguments);

    private static string? ValueAfter(List<string> words, string option)
    {
        var i = words.IndexOf(option);
        if (i >= 0 && i + 1 < words.Count) return words[i + 1];
        return words.FirstOrDefault(w => w.StartsWith(option + "=", StringComparison.Ordinal))?[(option.Length + 1)..];
    }

    /// <summary>A glob as a regex: '*' and '?' stay within one path segment; with doubleStar, '**' crosses segments.</summary>
    private static string GlobToRegex(string pattern, bool doubleStar)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*')
            {
                if (doubleStar && i + 1 < pattern.Length && pattern[i + 1] == '*')
                {
                    i++;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '/') i++;
                    sb.Append(i + 1 >= pattern.Length ? ".*" : "(.*/)?");
                }
                else sb.Append("[^/]*");
            }
            else if (c == '?') sb.Append("[^/]");
            else if (c == '[')
            {
                var end = pattern.IndexOf(']', i + 1);
                if (end < 0) { sb.Append(@"\["); continue; }
                var set = pattern[(i + 1)..end];
                if (set.StartsWith('!')) set = "^" + set[1..];
                sb.Append('[').Append(set.Replace(@"\", @"\\")).Append(']');
                i = end;
            }
            else if (c == '\\' && i + 1 < pattern.Length) sb.Append(Regex.Escape(pattern[++i].ToString()));
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return sb.ToString();
    }

    /// <summary>
    /// .dockerignore as Docker reads it: one pattern a line, '#' comments, paths relative to the context root
    /// (a leading '/' is dropped), '!' re-includes, the last matching pattern decides, and a pattern that
    /// matches a folder excludes everything in it.
    /// </summary>
    private sealed class DockerIgnore
    {
        private readonly List<(Regex Pattern, bool Exclude)> _patterns = [];

        public static DockerIgnore Load(string path) => Parse(File.ReadAllText(path));

        public static DockerIgnore Parse(string text)
        {
            var ignore = new DockerIgnore();
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                var exclude = true;
                if (line.StartsWith('!')) { exclude = false; line = line[1..].Trim(); }
                line = CleanPath(line);
                if (line.Length == 0) continue;
                ignore._patterns.Add((new Regex("^" + GlobToRegex(line, doubleStar: true) + "$"), exclude));
            }
            return ignore;
        }

        public bool Excludes(string relativePath)
        {
            var path = CleanPath(relativePath);
            var parts = path.Split('/');
            var excluded = false;
            foreach (var (pattern, exclude) in _patterns)
            {
                var match = pattern.IsMatch(path);
                for (var i = 1; !match && i < parts.Length; i++)
                    match = pattern.IsMatch(string.Join('/', parts[..i]));
                if (match) excluded = exclude;
            }
            return excluded;
        }

        private static string CleanPath(string p)
        {
            var parts = new List<string>();
            foreach (var part in p.Replace('\\', '/').Split('/'))
            {
                if (part is "" or ".") continue;
                if (part == ".." && parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                else parts.Add(part);
            }
            return string.Join('/', parts);
        }
    }

    // ---------------------------------------------------------------------------------------------- workflow parsing

    private static YamlMappingNode LoadWorkflow()
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, Workflow))) stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static YamlNode? Child(YamlMappingNode? map, string key) =>
        map is not null && map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    private static YamlMappingNode Map(YamlMappingNode map, string key) =>
        Assert.IsType<YamlMappingNode>(Child(map, key) ?? throw new Xunit.Sdk.XunitException($"'{key}' is missing"));

    private static List<string> Strings(YamlMappingNode map, string key) => Child(map, key) switch
    {
        YamlScalarNode s => [s.Value!],
        YamlSequenceNode seq => seq.Children.OfType<YamlScalarNode>().Select(s => s.Value!).ToList(),
        _ => [],
    };

    private static string Text(YamlMappingNode map, string key) =>
        Assert.IsType<YamlScalarNode>(Child(map, key) ?? throw new Xunit.Sdk.XunitException($"'{key}' is missing")).Value!;

    private static IEnumerable<YamlMappingNode> Steps(YamlMappingNode job) =>
        (Child(job, "steps") as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [];

    private static List<string> RunScripts(YamlMappingNode job) =>
        Steps(job).Select(s => (Child(s, "run") as YamlScalarNode)?.Value).OfType<string>().ToList();

    /// <summary>The pulumi/actions commands a job runs on a stack, in order.</summary>
    private static List<string> PulumiCommands(YamlMappingNode job, string stack) =>
        Steps(job)
            .Where(s => (Child(s, "uses") as YamlScalarNode)?.Value?.StartsWith("pulumi/actions@", StringComparison.Ordinal) == true)
            .Select(s => Child(s, "with") as YamlMappingNode)
            .Where(w => (Child(w, "stack-name") as YamlScalarNode)?.Value == stack)
            .Select(w => (Child(w, "command") as YamlScalarNode)?.Value)
            .OfType<string>()
            .ToList();

    /// <summary>All scalars of a node (keys and values), or only the values of one key.</summary>
    private static IEnumerable<string> Scalars(YamlNode node, string? key = null)
    {
        switch (node)
        {
            case YamlScalarNode s when key is null:
                yield return s.Value ?? "";
                break;
            case YamlSequenceNode seq:
                foreach (var child in seq.Children)
                    foreach (var v in Scalars(child, key)) yield return v;
                break;
            case YamlMappingNode map:
                foreach (var (k, v) in map.Children)
                {
                    if (key is null) yield return ((YamlScalarNode)k).Value ?? "";
                    if (key is not null && v is YamlScalarNode sv && ((YamlScalarNode)k).Value == key) yield return sv.Value ?? "";
                    else foreach (var inner in Scalars(v, key)) yield return inner;
                }
                break;
        }
    }

    /// <summary>A node written back as "key: value" lines, for substring checks.</summary>
    private static string Flatten(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode seq => string.Join('\n', seq.Children.Select(Flatten)),
        YamlMappingNode map => string.Join('\n', map.Children.Select(kv =>
            kv.Value is YamlScalarNode v ? $"{((YamlScalarNode)kv.Key).Value}: {v.Value}" : $"{((YamlScalarNode)kv.Key).Value}:\n{Flatten(kv.Value)}")),
        _ => "",
    };

}
