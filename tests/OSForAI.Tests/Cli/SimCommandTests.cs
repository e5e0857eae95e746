using System.Globalization;
using System.Text.Json;
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
        var figure = KeepAliveStudy.FigureFile(SharedTraces.FunctionsSample);
        Assert.Contains($"]({figure})", report);
        Assert.True(File.Exists(Path.Combine(outDir, figure)));
        var docsText = File.ReadAllText(docs);
        Assert.Contains($"](scaling/{figure})", docsText);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(docs)!, "scaling", figure)));
    }

    /// <summary>The fields every row must have (the list), whatever else is added.</summary>
    private static readonly string[] RequiredFields =
    [
        "study", "trace", "policy", "calls", "cold_starts", "cold_pct", "app_cold_p75_pct", "wasted_instance_s", "wasted_gb_s",
        "instance_s", "ideal_instance_s", "p50_added_ms", "p99_added_ms", "rejected",
    ];

    [Fact]
    public async Task Json_has_one_row_per_study_trace_policy_with_every_field_and_matches_the_markdown()
    {
        var root = TraceFolders.NewRoot();
        var functions = TraceFolders.HandComputedTrace(root, "my-functions");
        TraceFolders.Write(root, "llm/AzureLLMInferenceTrace_conv.csv", TraceFolders.Llm(600, 0.5));
        var outDir = Directory.CreateTempSubdirectory("osai-sim-out-").FullName;
        var json = Path.Combine(outDir, "sub", "results.json");

        var (code, stdout, stderr) = await Run("sim", "--quick", "--traces", root, "--out", outDir, "--json", json);

        Assert.True(code == 0, stderr);
        Assert.Contains("JSON: ", stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(["rows"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        foreach (var row in rows)
        {
            var names = row.EnumerateObject().Select(p => p.Name).ToHashSet();
            foreach (var field in RequiredFields) Assert.Contains(field, names);
            foreach (var field in new[] { "study", "trace", "policy", "part" })
                Assert.Equal(JsonValueKind.String, row.GetProperty(field).ValueKind);
            foreach (var field in new[] { "calls", "wasted_instance_s", "instance_s", "ideal_instance_s" })
                Assert.Equal(JsonValueKind.Number, row.GetProperty(field).ValueKind);
        }
        var keys = rows.Select(r => (Study: S(r, "study"), Trace: S(r, "trace"), Policy: S(r, "policy"))).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(["autoscaler", "chains", "gpu", "keepalive", "seefood"], keys.Select(k => k.Study).Distinct().Order().ToArray());

        // GPU timeline: the three policies on the synthetic day, counted from time 0, cost in GPU node-seconds.
        var gpu = rows.Where(r => S(r, "study") == "gpu").ToDictionary(r => S(r, "policy"));
        foreach (var policy in new[] { "kserve", "osforai", "osforai-w0" })
        {
            Assert.Equal("synthetic-gpu-day", S(gpu[policy], "trace"));
            Assert.Equal("all", S(gpu[policy], "part"));
            Assert.True(gpu[policy].GetProperty("instance_s").GetDouble() >= gpu[policy].GetProperty("ideal_instance_s").GetDouble());
        }

        // Keep-alive: every figure present, no rejection figure; the documented policy ids.
        var keepalive = rows.Where(r => S(r, "study") == "keepalive").ToDictionary(r => S(r, "policy"));
        foreach (var policy in new[] { "fixed-10m", "fixed-20m", "hybrid-histogram", "osforai", "osforai-default", "oracle", "never-unload", "always-cold" })
        {
            var r = keepalive[policy];
            Assert.Equal(functions, S(r, "trace"));
            Assert.Equal("second-half", S(r, "part"));
            foreach (var field in RequiredFields.Where(f => f != "rejected").Skip(3))
                Assert.Equal(JsonValueKind.Number, r.GetProperty(field).ValueKind);
            Assert.Equal(JsonValueKind.Null, r.GetProperty("rejected").ValueKind);
            Assert.Equal("memory", S(r, "load_model"));
            foreach (var s in new[] { 1, 5, 30 })
                Assert.Equal($"fixed-{s}s", S(keepalive[$"{policy}@load={s}s"], "load_model"));
        }
        // Service studies: no per-application or memory figures.
        foreach (var r in rows.Where(r => S(r, "study") is "autoscaler" or "seefood" or "chains"))
        {
            Assert.Equal(JsonValueKind.Null, r.GetProperty("app_cold_p75_pct").ValueKind);
            Assert.Equal(JsonValueKind.Null, r.GetProperty("wasted_gb_s").ValueKind);
        }
        var autoscaler = rows.Where(r => S(r, "study") == "autoscaler").ToDictionary(r => S(r, "policy"));
        foreach (var policy in new[] { "kpa", "osforai", "kpa@0.5", "kpa@1.0", "osforai@0.5", "osforai@1.0" })
            Assert.Equal(JsonValueKind.Number, autoscaler[policy].GetProperty("rejected").ValueKind);
        Assert.Equal("conv", S(autoscaler["kpa"], "trace"));
        var seefood = rows.Where(r => S(r, "study") == "seefood").ToDictionary(r => S(r, "policy"));
        Assert.Equal(JsonValueKind.Null, seefood["ideal"].GetProperty("cold_starts").ValueKind);
        Assert.Equal(JsonValueKind.Number, seefood["kpa"].GetProperty("cold_starts").ValueKind);

        // The markdown comes from the same rows: the keep-alive line of fixed-10m shows the JSON's numbers.
        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        var f10 = keepalive["fixed-10m"];
        var line = report.Split('\n').First(l => l.StartsWith("| fixed-10m |", StringComparison.Ordinal));
        Assert.Contains(f10.GetProperty("cold_pct").GetDouble().ToString("0.0000", CultureInfo.InvariantCulture), line);
        Assert.Contains(f10.GetProperty("wasted_gb_s").GetDouble().ToString("N0", CultureInfo.InvariantCulture), line);
        Assert.Contains("Reference: traces folder and JSON fields", report);
    }

    private static string S(JsonElement row, string field) => row.GetProperty(field).GetString()!;

    [Fact]
    public async Task A_bad_csv_fails_the_study_naming_the_file_and_line()
    {
        var root = TraceFolders.NewRoot();
        var path = TraceFolders.Write(root, "t/invocations.csv", "HashOwner,HashApp,HashFunction,1,2\no,a,f,1,1\no,a,g,1\n");
        var (code, stdout, stderr) = await Run("sim", "--quick", "--only", "keepalive", "--traces", root, "--out", Directory.CreateTempSubdirectory().FullName);
        Assert.Equal(1, code);
        Assert.Contains($"{path}:3:", stderr);
        Assert.Contains("FAILED", stdout);
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
