using OSForAI.Cli;
using OSForAI.Cli.Commands;
using OSForAI.Simulation;
using OSForAI.Tests.Scaling;

namespace OSForAI.Tests.Cli;

public class SimCommandTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await OSForAI.Cli.Cli.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [SkippableFact]
    public async Task Quick_keepalive_run_writes_the_report_and_the_figure()
    {
        var traces = SharedTraces.Find();
        Skip.If(traces is null, SharedTraces.SkipReason);
        var outDir = Directory.CreateTempSubdirectory("osai-sim-out-").FullName;
        var docs = Path.Combine(Directory.CreateTempSubdirectory("osai-sim-docs-").FullName, "scaling.md");

        var (code, stdout, stderr) = await Run("sim", "--quick", "--only", "keepalive", "--traces", traces!, "--out", outDir, "--docs", docs);

        Assert.True(code == 0, stderr);
        Assert.Contains("keepalive", stdout);
        Assert.Contains("sim: running keepalive", stderr);
        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("osai sim", report);
        Assert.Contains("--quick", report);
        Assert.Contains($"]({KeepAliveStudy.FigureFile})", report);
        Assert.True(File.Exists(Path.Combine(outDir, KeepAliveStudy.FigureFile)));
        var docsText = File.ReadAllText(docs);
        Assert.Contains($"](scaling/{KeepAliveStudy.FigureFile})", docsText);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(docs)!, "scaling", KeepAliveStudy.FigureFile)));
    }

    [Fact]
    public async Task Unknown_study_is_a_usage_error()
    {
        var (code, _, stderr) = await Run("sim", "--only", "keepalive,bogus", "--out", Directory.CreateTempSubdirectory().FullName);
        Assert.Equal(2, code);
        Assert.Contains("unknown study 'bogus'", stderr);
        Assert.Contains("keepalive", stderr);
    }

    [Fact]
    public async Task Missing_traces_folder_is_a_usage_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "osai-no-such-traces-" + Guid.NewGuid().ToString("N"));
        var (code, _, stderr) = await Run("sim", "--traces", missing, "--out", Directory.CreateTempSubdirectory().FullName);
        Assert.Equal(2, code);
        Assert.Contains("traces folder not found", stderr);
        Assert.Contains(missing, stderr);
    }

    [Fact]
    public async Task Quick_is_a_flag_and_traces_needs_a_value()
    {
        var (code, _, stderr) = await Run("sim", "--traces");
        Assert.Equal(2, code);
        Assert.Contains("--traces needs a value", stderr);
        (code, _, stderr) = await Run("sim", "--quick=yes");
        Assert.Equal(2, code);
        Assert.Contains("does not take a value", stderr);
    }

    private sealed class FakeStudy(string name, Func<StudyResult> run) : ISimulationStudy
    {
        public string Name => name;
        public Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct) => Task.FromResult(run());
    }

    [Fact]
    public async Task A_failing_study_is_reported_and_the_others_still_run()
    {
        var outDir = Directory.CreateTempSubdirectory("osai-sim-out-").FullName;
        ISimulationStudy[] studies =
        [
            new FakeStudy("broken", () => throw new InvalidOperationException("boom")),
            new FakeStudy("todo", () => throw new NotImplementedException()),
            new FakeStudy("fine", () => new StudyResult("fine", "## Fine\n\nall good", [], new Dictionary<string, double> { ["x"] = 1 })),
        ];
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var host = new CliHost { Out = stdout, Error = stderr, GetEnvironmentVariable = _ => null };
        var args = Arguments.Parse(["--out", outDir], SimCommand.Options, SimCommand.Flags);

        var code = await SimCommand.RunAsync(args, host, studies);

        Assert.Equal(1, code);
        Assert.Contains("broken failed: InvalidOperationException: boom", stderr.ToString());
        Assert.Contains("not implemented yet", stdout.ToString());
        Assert.Contains("FAILED", stdout.ToString());
        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("all good", report);
        Assert.Contains("Skipped: failed: InvalidOperationException: boom", report);
        Assert.Contains("Skipped: not implemented yet", report);
    }

    [Fact]
    public async Task Help_lists_the_options()
    {
        var (code, stdout, _) = await Run("sim", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--traces DIR", stdout);
        Assert.Contains("OSAI_TRACES", stdout);
    }
}
