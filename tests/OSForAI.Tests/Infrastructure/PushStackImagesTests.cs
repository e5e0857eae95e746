using System.Diagnostics;
using OSForAI.Stacks;
using static OSForAI.Tests.Infrastructure.StackHarness;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// .github/scripts/push-stack-images.sh, the step of the dev and prod legs of stacks.yml that pushes this commit's images to
/// the stack's own registry and sets the stack's image keys. The script and the synthesizer it asks (synth, targets) are the
/// real ones; pulumi, docker and the clouds' CLIs cannot run here, so they are small stand-ins on PATH that record their
/// arguments and answer from files (the stack's outputs), the way the real ones would be called by the script.
/// </summary>
public sealed class PushStackImagesTests
{
    private static readonly string Script = Path.Combine(RepoRoot, ".github", "scripts", "push-stack-images.sh");
    private const string Tag = "0123456789abcdef0123456789abcdef01234567";

    private sealed class Sandbox : IDisposable
    {
        public Sandbox(string cloud, Dictionary<string, string> outputs, Dictionary<string, string>? outputsAfterUp = null)
        {
            Cloud = cloud;
            Dir = Path.Combine(Path.GetTempPath(), "osforai-push-" + Guid.NewGuid().ToString("N"));
            foreach (var sub in new[] { "bin", "state", "images", "project" }) Directory.CreateDirectory(Path.Combine(Dir, sub));
            var source = Path.Combine(RepoRoot, "stacks", cloud);
            foreach (var file in Directory.GetFiles(source, "Pulumi*.yaml")) File.Copy(file, Path.Combine(Dir, "project", Path.GetFileName(file)));
            foreach (var image in new[] { "runtime", "worker-python", "worker-gpu" }) File.WriteAllText(Path.Combine(Dir, "images", image + ".tar"), "archive");
            foreach (var (name, value) in outputs) File.WriteAllText(Path.Combine(Dir, "state", "output-" + name), value + "\n");
            foreach (var (name, value) in outputsAfterUp ?? []) File.WriteAllText(Path.Combine(Dir, "state", "after-up-" + name), value + "\n");

            Fake("pulumi", """
                case "$1 ${2:-}" in
                  "stack output")
                    if [ -f "$FAKE_STATE/output-$3" ]; then cat "$FAKE_STATE/output-$3"; else echo "error: no output $3" >&2; exit 255; fi ;;
                  "config set") ;;
                  "up --stack")
                    for f in "$FAKE_STATE"/after-up-*; do [ -e "$f" ] && cp "$f" "$FAKE_STATE/output-${f##*/after-up-}"; done; true ;;
                  *) echo "unexpected: pulumi $*" >&2; exit 3 ;;
                esac
                """);
            Fake("docker", """
                case "$1" in
                  login) echo "stdin: $(cat)" >> "$FAKE_LOG" ;;
                  load) [ "$2" = --input ] && [ -f "$3" ] || { echo "no archive $3" >&2; exit 1; } ;;
                  tag|push) ;;
                  *) echo "unexpected: docker $*" >&2; exit 3 ;;
                esac
                """);
            Fake("aws", """[ "$*" = "ecr get-login-password" ] && echo ecr-token""");
            Fake("az", "true");
            Fake("gcloud", "true");
        }

        public string Cloud { get; }
        public string Dir { get; }
        public string Log => Path.Combine(Dir, "log");

        private void Fake(string name, string body)
        {
            var path = Path.Combine(Dir, "bin", name);
            File.WriteAllText(path, "#!/usr/bin/env bash\nset -u\necho \"" + name + " $*\" >> \"$FAKE_LOG\"\n" + body + "\n");
            MakeExecutable(path);
        }

        /// <summary>Runs the script as the workflow does (in the project folder); returns the exit code, its output and the calls made.</summary>
        public (int Code, string Output, List<string> Calls) Run(string stack = "dev", Dictionary<string, string>? env = null, string? stacksCli = null)
        {
            var start = new ProcessStartInfo("bash", [Script, Cloud, stack, Tag])
            {
                WorkingDirectory = Path.Combine(Dir, "project"),
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var name in new[] { "IMAGE_REGISTRY", "IMAGE_REGISTRY_USERNAME", "IMAGE_REGISTRY_PASSWORD", "PULUMI_STACK" }) start.Environment.Remove(name);
            start.Environment["PATH"] = Path.Combine(Dir, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
            start.Environment["FAKE_LOG"] = Log;
            start.Environment["FAKE_STATE"] = Path.Combine(Dir, "state");
            start.Environment["IMAGES_DIR"] = Path.Combine(Dir, "images");
            start.Environment["DOTNET_NOLOGO"] = "1";
            // The synthesizer this test build holds (the workflow runs it with dotnet run from the checkout).
            start.Environment["STACKS_CLI"] = stacksCli ?? $"dotnet {typeof(StacksCli).Assembly.Location}";
            foreach (var (name, value) in env ?? []) start.Environment[name] = value;
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(120_000), "the script did not finish");
            var calls = File.Exists(Log) ? File.ReadAllLines(Log).ToList() : [];
            return (process.ExitCode, stdout.Result + stderr.Result, calls);
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    private static void MakeExecutable(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>The calls in this order (others may come between).</summary>
    private static void InOrder(List<string> calls, params string[] expected)
    {
        var at = -1;
        foreach (var call in expected)
        {
            var next = calls.FindIndex(at + 1, c => c == call);
            Assert.True(next > at, $"expected '{call}' after position {at} in:\n{string.Join("\n", calls)}");
            at = next;
        }
    }

    private static string[] Pushes(string repository, string image) =>
    [
        $"docker load --input IMAGES/{image}.tar",
        $"docker tag osforai-{image}:{Tag} {repository}:{Tag}",
        $"docker push {repository}:{Tag}",
    ];

    private static List<string> Normalised(Sandbox sandbox, List<string> calls) =>
        calls.Select(c => c.Replace(Path.Combine(sandbox.Dir, "images"), "IMAGES")).ToList();

    [Fact]
    public void Aws_pushes_each_image_to_its_ecr_repository_with_an_ecr_token_and_sets_the_keys_to_the_tag()
    {
        const string host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        using var sandbox = new Sandbox("aws", new()
        {
            ["registry"] = host,
            ["runtimeRepository"] = $"{host}/osforai-images-runtime-1a2b3c",
            ["workerPythonRepository"] = $"{host}/osforai-images-worker-python-4d5e6f",
            ["workerGpuRepository"] = $"{host}/osforai-images-worker-gpu-7a8b9c",
        });
        var (code, output, raw) = sandbox.Run();
        Assert.True(code == 0, output);
        var calls = Normalised(sandbox, raw);
        // The token comes from the AWS CLI through a pipe (the two run side by side, so their log lines come in either order).
        Assert.Contains("aws ecr get-login-password", calls);
        InOrder(calls,
        [
            $"docker login {host} --username AWS --password-stdin",
            "stdin: ecr-token",
            .. Pushes($"{host}/osforai-images-runtime-1a2b3c", "runtime"),
            .. Pushes($"{host}/osforai-images-worker-python-4d5e6f", "worker-python"),
            .. Pushes($"{host}/osforai-images-worker-gpu-7a8b9c", "worker-gpu"),
            $"pulumi config set runtimeImage {Tag} --stack dev",
            $"pulumi config set workerPythonImage {Tag} --stack dev",
            $"pulumi config set workerGpuImage {Tag} --stack dev",
        ]);
        Assert.DoesNotContain(calls, c => c.StartsWith("pulumi up", StringComparison.Ordinal));
        // The keys are set only after every push.
        Assert.True(calls.FindLastIndex(c => c.StartsWith("docker push", StringComparison.Ordinal)) < calls.FindIndex(c => c.StartsWith("pulumi config set", StringComparison.Ordinal)));
    }

    [Fact]
    public void Azure_logs_in_to_the_stacks_acr_and_sets_names_relative_to_it()
    {
        const string registry = "osforai7f3a9c.azurecr.io";
        using var sandbox = new Sandbox("azure", new() { ["registry"] = registry });
        var (code, output, raw) = sandbox.Run("prod");
        Assert.True(code == 0, output);
        InOrder(Normalised(sandbox, raw),
        [
            "az acr login --name osforai7f3a9c",
            .. Pushes($"{registry}/osforai-runtime", "runtime"),
            .. Pushes($"{registry}/osforai-worker-python", "worker-python"),
            .. Pushes($"{registry}/osforai-worker-gpu", "worker-gpu"),
            $"pulumi config set runtimeImage osforai-runtime:{Tag} --stack prod",
            $"pulumi config set workerPythonImage osforai-worker-python:{Tag} --stack prod",
            $"pulumi config set workerGpuImage osforai-worker-gpu:{Tag} --stack prod",
        ]);
        Assert.DoesNotContain(raw, c => c.StartsWith("docker login", StringComparison.Ordinal));
    }

    [Fact]
    public void Gcp_creates_the_registry_alone_on_a_first_deployment_then_pushes_with_gclouds_helper()
    {
        const string registry = "europe-west4-docker.pkg.dev/acme-ml/osforai-1a2b3c-images";
        using var sandbox = new Sandbox("gcp", outputs: [], outputsAfterUp: new() { ["registry"] = registry });
        var (code, output, raw) = sandbox.Run();
        Assert.True(code == 0, output);
        var calls = Normalised(sandbox, raw);
        var up = Assert.Single(calls, c => c.StartsWith("pulumi up", StringComparison.Ordinal));
        // Only the registry and what it needs (the targets the synthesizer derives from the program), the root stack first.
        var targets = up.Split(' ').SkipWhile(w => w != "--target").Where(w => w != "--target").ToList();
        Assert.Equal(
            StackTargets.Urns(OSForAI.Components.Gcp.GcpStackProgram.Build(stack: OSForAI.Components.Stacks.StackFile.Load(Path.Combine(sandbox.Dir, "project"), "dev")), "dev", ["registry"]),
            targets);
        Assert.StartsWith("pulumi up --stack dev --yes --target urn:pulumi:dev::osforai-gcp::pulumi:pulumi:Stack::osforai-gcp-dev", up);
        Assert.Contains("urn:pulumi:dev::osforai-gcp::gcp:artifactregistry/repository:Repository::osforai-images-repository", targets);
        Assert.DoesNotContain(targets, t => t.Contains("container/cluster", StringComparison.Ordinal) || t.Contains("kubernetes:", StringComparison.Ordinal));
        InOrder(calls,
        [
            up,
            "gcloud auth configure-docker europe-west4-docker.pkg.dev --quiet",
            .. Pushes($"{registry}/osforai-runtime", "runtime"),
            $"pulumi config set runtimeImage osforai-runtime:{Tag} --stack dev",
        ]);
    }

    [Fact]
    public void Aws_first_deployment_creates_every_ecr_repository_the_pushes_need()
    {
        const string host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        using var sandbox = new Sandbox("aws", outputs: [], outputsAfterUp: new()
        {
            ["registry"] = host,
            ["runtimeRepository"] = $"{host}/r",
            ["workerPythonRepository"] = $"{host}/p",
            ["workerGpuRepository"] = $"{host}/g",
        });
        var (code, output, raw) = sandbox.Run();
        Assert.True(code == 0, output);
        var up = Assert.Single(raw, c => c.StartsWith("pulumi up", StringComparison.Ordinal));
        foreach (var repository in new[] { "osforai-images-runtime", "osforai-images-worker-python", "osforai-images-worker-gpu" })
            Assert.Contains($"--target urn:pulumi:dev::osforai-aws::aws:ecr/repository:Repository::{repository}", up);
        Assert.Contains($"docker push {host}/g:{Tag}", raw);
    }

    [Fact]
    public void A_registry_that_stays_missing_after_the_first_update_stops_the_leg_before_any_push()
    {
        using var sandbox = new Sandbox("azure", outputs: []);
        var (code, output, raw) = sandbox.Run();
        Assert.Equal(1, code);
        Assert.Contains("::error::the dev stack still has no registry output", output);
        Assert.DoesNotContain(raw, c => c.StartsWith("docker", StringComparison.Ordinal) || c.StartsWith("pulumi config set", StringComparison.Ordinal));
    }

    [Fact]
    public void A_stack_whose_registry_is_on_the_image_registry_host_logs_in_there_with_its_secrets()
    {
        using var sandbox = new Sandbox("gcp", new() { ["registry"] = "registry.example.com/platform/osforai" });
        var (code, output, raw) = sandbox.Run(env: new()
        {
            ["IMAGE_REGISTRY"] = "registry.example.com",
            ["IMAGE_REGISTRY_USERNAME"] = "ci-bot",
            ["IMAGE_REGISTRY_PASSWORD"] = "s3cret",
        });
        Assert.True(code == 0, output);
        InOrder(raw,
        [
            "docker login registry.example.com --username ci-bot --password-stdin",
            "stdin: s3cret",
            $"docker push registry.example.com/platform/osforai/osforai-runtime:{Tag}",
        ]);
        Assert.DoesNotContain(raw, c => c.StartsWith("gcloud", StringComparison.Ordinal));
        // The password went through stdin, never the command line.
        Assert.DoesNotContain(raw, c => c.StartsWith("docker", StringComparison.Ordinal) && c.Contains("s3cret", StringComparison.Ordinal));
    }

    [Fact]
    public void A_program_without_workerGpuImage_gets_no_gpu_image_or_key()
    {
        using var sandbox = new Sandbox("azure", new() { ["registry"] = "r.azurecr.io" });
        // A synthesizer whose program declares the two other image keys only (as a program without a GPU pool would).
        var fake = Path.Combine(sandbox.Dir, "bin", "stacks-without-gpu");
        File.WriteAllText(fake, "#!/usr/bin/env bash\nprintf 'name: p\\nconfig:\\n  runtimeImage:\\n    type: string\\n  workerPythonImage:\\n    type: string\\n'\n");
        MakeExecutable(fake);
        var (code, output, raw) = sandbox.Run(stacksCli: fake);
        Assert.True(code == 0, output);
        Assert.Contains($"docker push r.azurecr.io/osforai-worker-python:{Tag}", raw);
        Assert.DoesNotContain(raw, c => c.Contains("worker-gpu", StringComparison.Ordinal) || c.Contains("workerGpuImage", StringComparison.Ordinal));
    }

    [Fact]
    public void The_script_needs_its_three_arguments()
    {
        var start = new ProcessStartInfo("bash", [Script, "aws", "dev"]) { RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var err = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("usage: push-stack-images.sh <cloud> <stack> <tag>", err);
    }
}
