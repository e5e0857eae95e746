using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using OSForAI.Testing;
using OSForAI.Tests.NodeClient;
using OSForAI.Tests.Support;
using Xunit.Abstractions;

namespace OSForAI.Tests.Cli;

/// <summary>
/// The README's five-minute tutorial, run as written: its blocks in order, in one bash, as a reader pastes them into a terminal
/// while `osai serve` runs in another. It installs the CLI with the tutorial's own first step (install.sh: dotnet pack, then
/// dotnet tool install -g), into a HOME of the test's own, whose ~/.osforai is the home of a real server (osai serve on loopback,
/// real Python and ONNX workers). Every "# → OUTPUT" line after a command is checked against what that command printed ("…"
/// stands for anything). Python and JavaScript blocks whose info string names a file ("python shout/main.py") are saved there,
/// as the prose asks the reader to; the JavaScript one is run with node and the Algorithmia client. The only changes made to the
/// text: http://127.0.0.1:8080 becomes the test server's address (8080 may be taken here), and the output markers.
/// </summary>
public sealed class ReadmeTutorialTests(ITestOutputHelper output)
{
    [Fact]
    public void Parser_brackets_each_checked_command_and_saves_named_blocks()
    {
        var markdown = """
            ## Five-minute tutorial

            ```bash
            A=1
            curl -s x \
              y
            # → {"a":…}
            echo two
            # → line 1
            # → line 2
            ```

            ```python dir/main.py
            print("hi")
            ```

            ## Next
            ```bash
            not part of it
            ```
            """;

        var tutorial = ReadmeTutorial.Parse(markdown, "http://127.0.0.1:9");
        var script = tutorial.Script;

        Assert.Equal(2, tutorial.Expectations.Count);
        Assert.Equal("{\"a\":…}", tutorial.Expectations[0].Expected);
        Assert.Equal("line 1\nline 2", tutorial.Expectations[1].Expected);
        Assert.DoesNotContain("not part of it", script);
        // The first check brackets the whole continued curl command, not A=1.
        var begin = script.IndexOf(ReadmeTutorial.BeginMarker(0), StringComparison.Ordinal);
        Assert.True(script.IndexOf("A=1", StringComparison.Ordinal) < begin && begin < script.IndexOf("curl -s x", StringComparison.Ordinal));
        Assert.True(script.IndexOf("  y", StringComparison.Ordinal) < script.IndexOf(ReadmeTutorial.EndMarker(0), StringComparison.Ordinal));
        Assert.Contains("cat > 'dir/main.py'", script);
        Assert.True(ReadmeTutorial.Matches("{\"a\":…}", "{\"a\":1.5}"));
        Assert.False(ReadmeTutorial.Matches("{\"a\":…}", "{\"b\":1}"));
    }

    [Fact]
    public async Task Tutorial_runs_as_written_with_the_installed_cli()
    {
        var root = Directory.CreateTempSubdirectory("osai-readme-").FullName;
        var home = Path.Combine(root, "home");
        var tmp = Path.Combine(root, "tmp");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(tmp);
        try
        {
            // The server of the quick start, on its embedded defaults in ~/.osforai of the reader's (the test's) HOME.
            await using var server = await ServeProcess.StartAsync(Path.Combine(home, ".osforai"), new Dictionary<string, string>());
            var tutorial = ReadmeTutorial.Parse(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "README.md")), server.Url);
            Assert.True(tutorial.Expectations.Count >= 8, $"the tutorial should document its outputs; found {tutorial.Expectations.Count}");

            var stdoutFile = Path.Combine(root, "stdout.txt");
            var stderrFile = Path.Combine(root, "stderr.txt");
            var scriptFile = Path.Combine(root, "tutorial.sh");
            await File.WriteAllTextAsync(scriptFile,
                $"exec >{Quote(stdoutFile)} 2>{Quote(stderrFile)}\nset -euo pipefail\n{tutorial.Script}");

            var psi = new ProcessStartInfo("bash") { WorkingDirectory = Repository.Root, UseShellExecute = false };
            psi.ArgumentList.Add(scriptFile);
            psi.Environment["HOME"] = home;
            psi.Environment["TMPDIR"] = tmp;
            // The tool install reads packages from this machine's NuGet folder (no registry needed), and builds without
            // leaving compiler or MSBuild servers behind in the test's HOME.
            psi.Environment["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
                ? packages
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            psi.Environment["UseSharedCompilation"] = "false";
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_NOLOGO"] = "1";
            psi.Environment["NODE_PATH"] = Path.Combine(NodeClientInstall.EnsureInstalled(), "node_modules");
            foreach (var name in new[] { "OSFORAI_URL", "OSFORAI_KEY", "OSFORAI_HOME", "DOTNET_CLI_HOME" })
                psi.Environment.Remove(name);

            var watch = Stopwatch.StartNew();
            using (var bash = Process.Start(psi)!)
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(15));
                try
                {
                    await bash.WaitForExitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    bash.Kill(entireProcessTree: true);
                    throw new TimeoutException("the tutorial ran longer than 15 minutes:\n" + await Report(stdoutFile, stderrFile));
                }
                output.WriteLine($"tutorial ran in {watch.Elapsed.TotalSeconds:0.0} s");
                Assert.True(bash.ExitCode == 0, $"the tutorial stopped with exit code {bash.ExitCode}:\n" + await Report(stdoutFile, stderrFile));
            }

            var printed = await File.ReadAllTextAsync(stdoutFile);
            for (var i = 0; i < tutorial.Expectations.Count; i++)
            {
                var expectation = tutorial.Expectations[i];
                var actual = ReadmeTutorial.OutputOf(printed, i);
                Assert.True(actual is not null, $"no output recorded for `{expectation.Command}`:\n" + await Report(stdoutFile, stderrFile));
                Assert.True(ReadmeTutorial.Matches(expectation.Expected, actual!),
                    $"`{expectation.Command}` printed\n{actual}\nbut the README says\n{expectation.Expected}");
            }

            // The installed tool is what ran: it is in the HOME the tutorial used, not the test's own build.
            Assert.True(File.Exists(Path.Combine(home, ".dotnet", "tools", "osai")), "install.sh did not put osai in ~/.dotnet/tools");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string Quote(string path) => "'" + path.Replace("'", "'\\''") + "'";

    private static async Task<string> Report(string stdoutFile, string stderrFile)
    {
        static async Task<string> Tail(string file) =>
            File.Exists(file) ? (await File.ReadAllTextAsync(file)) is var t && t.Length > 6000 ? "…" + t[^6000..] : t : "(none)";
        return $"--- stdout ---\n{await Tail(stdoutFile)}\n--- stderr ---\n{await Tail(stderrFile)}";
    }
}

/// <summary>The tutorial section of the README turned into one bash script with its documented outputs.</summary>
internal sealed class ReadmeTutorial
{
    public const string Section = "## Five-minute tutorial";
    private const string OutputPrefix = "# → ";

    public sealed record Expectation(string Command, string Expected);

    private ReadmeTutorial(string script, IReadOnlyList<Expectation> expectations)
    {
        Script = script;
        Expectations = expectations;
    }

    public string Script { get; }
    public IReadOnlyList<Expectation> Expectations { get; }

    public static string BeginMarker(int step) => $"@@osai-readme-begin-{step}@@";
    public static string EndMarker(int step) => $"@@osai-readme-end-{step}@@";

    public static ReadmeTutorial Parse(string markdown, string serverUrl)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var start = Array.FindIndex(lines, l => l.TrimEnd() == Section);
        if (start < 0) throw new InvalidOperationException($"README.md has no '{Section}' section");
        var end = Array.FindIndex(lines, start + 1, l => l.StartsWith("## ", StringComparison.Ordinal));
        if (end < 0) end = lines.Length;

        var script = new StringBuilder();
        var expectations = new List<Expectation>();
        for (var i = start + 1; i < end; i++)
        {
            if (!lines[i].StartsWith("```", StringComparison.Ordinal)) continue;
            var info = lines[i][3..].Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
            var close = Array.FindIndex(lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
            if (close < 0 || close >= end) throw new InvalidOperationException($"README.md line {i + 1}: the code block is not closed");
            var body = lines[(i + 1)..close].Select(l => l.Replace(DocumentedUrl, serverUrl, StringComparison.Ordinal)).ToList();
            var language = info.Length > 0 ? info[0] : "";
            var file = info.Length > 1 ? info[1].Trim() : null;
            switch (language)
            {
                case "bash":
                    AddBash(body, script, expectations);
                    break;
                case "python" or "js" when file is not null:
                    SaveFile(file, body, script);
                    if (language == "js") AddNodeRun(file, body, script, expectations);
                    break;
                default:
                    throw new InvalidOperationException(
                        $"README.md line {i + 1}: a '{lines[i]}' block in the tutorial is not run by this test; name its file " +
                        "(```python DIR/main.py) or make it a bash block");
            }
            i = close;
        }
        return new ReadmeTutorial(script.ToString(), expectations);
    }

    private const string DocumentedUrl = "http://127.0.0.1:8080";

    /// <summary>Copies a bash block, bracketing each command followed by "# → " lines with markers.</summary>
    private static void AddBash(List<string> body, StringBuilder script, List<Expectation> expectations)
    {
        var beginsAt = new Dictionary<int, int>();   // line index of a checked command's first line → step
        var endsAfter = new Dictionary<int, int>();  // line index of its last line → step
        var skip = new HashSet<int>();
        for (var i = 0; i < body.Count; i++)
        {
            if (!body[i].StartsWith(OutputPrefix, StringComparison.Ordinal)) continue;
            var last = i - 1;
            if (last < 0 || body[last].StartsWith('#') || body[last].Trim().Length == 0)
                throw new InvalidOperationException($"an output line ('{body[i]}') must follow the command that prints it");
            var first = last;
            while (first > 0 && body[first - 1].EndsWith('\\')) first--;
            var expected = new List<string>();
            while (i < body.Count && body[i].StartsWith(OutputPrefix, StringComparison.Ordinal))
            {
                expected.Add(body[i][OutputPrefix.Length..]);
                skip.Add(i++);
            }
            i--;
            var step = expectations.Count;
            expectations.Add(new Expectation(string.Join("\n", body[first..(last + 1)]), string.Join("\n", expected)));
            beginsAt[first] = step;
            endsAfter[last] = step;
        }
        for (var i = 0; i < body.Count; i++)
        {
            if (skip.Contains(i)) continue;
            if (beginsAt.TryGetValue(i, out var b)) script.Append("printf '\\n%s\\n' '").Append(BeginMarker(b)).Append("'\n");
            script.Append(body[i]).Append('\n');
            if (endsAfter.TryGetValue(i, out var e)) script.Append("printf '\\n%s\\n' '").Append(EndMarker(e)).Append("'\n");
        }
    }

    private static void SaveFile(string file, List<string> body, StringBuilder script)
    {
        var quoted = "'" + file.Replace("'", "'\\''") + "'";
        script.Append($"mkdir -p \"$(dirname {quoted})\"\ncat > {quoted} <<'OSAI_README_BLOCK'\n");
        foreach (var line in body) script.Append(line).Append('\n');
        script.Append("OSAI_README_BLOCK\n");
    }

    /// <summary>Runs a saved JavaScript block as the prose says (KEY=$KEY node FILE); its "// OUTPUT" comment is checked.</summary>
    private static void AddNodeRun(string file, List<string> body, StringBuilder script, List<Expectation> expectations)
    {
        var documented = body.Select(l => Regex.Match(l, @"console\.log\(.*//\s*(.+)$")).FirstOrDefault(m => m.Success)
            ?? throw new InvalidOperationException($"{file}: the console.log line should say what it prints (// OUTPUT)");
        var step = expectations.Count;
        var command = $"KEY=$KEY node {file}";
        expectations.Add(new Expectation(command, documented.Groups[1].Value.Trim()));
        script.Append("printf '\\n%s\\n' '").Append(BeginMarker(step)).Append("'\n")
            .Append(command).Append('\n')
            .Append("printf '\\n%s\\n' '").Append(EndMarker(step)).Append("'\n");
    }

    /// <summary>What step <paramref name="step"/>'s command printed (trimmed), or null when its markers are missing.</summary>
    public static string? OutputOf(string printed, int step)
    {
        var begin = printed.IndexOf(BeginMarker(step), StringComparison.Ordinal);
        var end = printed.IndexOf(EndMarker(step), StringComparison.Ordinal);
        if (begin < 0 || end < begin) return null;
        var text = printed[(begin + BeginMarker(step).Length)..end];
        return string.Join("\n", text.ReplaceLineEndings("\n").Split('\n').Select(l => l.TrimEnd())).Trim('\n');
    }

    /// <summary>Whether <paramref name="actual"/> is <paramref name="expected"/>, where "…" stands for any text.</summary>
    public static bool Matches(string expected, string actual)
    {
        var pattern = string.Join("[\\s\\S]*?", expected.Split('…').Select(Regex.Escape));
        return Regex.IsMatch(actual, "^" + pattern + "$");
    }
}
