using System.IO.Compression;
using System.Text;
using System.Text.Json;
using OSForAI.Simulation;
using OSForAI.Simulation.KeepAlive;
using OSForAI.Simulation.Regimes;
using OSForAI.Simulation.Report;
using OSForAI.Simulation.Traces;

namespace OSForAI.Tests.Scaling;

/// <summary>Small trace folders written by the tests: any layout, any folder names.</summary>
internal static class TraceFolders
{
    public static string NewRoot() => Directory.CreateTempSubdirectory("osai-traces-").FullName;

    public static string Write(string root, string relative, string text)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (path.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var file = File.Create(path);
            using var gz = new GZipStream(file, CompressionLevel.Fastest);
            gz.Write(Encoding.UTF8.GetBytes(text));
        }
        else File.WriteAllText(path, text);
        return path;
    }

    /// <summary>An invocations file: header with the given minute labels, one row per (owner, app, function, trigger?, counts).</summary>
    public static string Invocations(IEnumerable<int> minuteLabels, bool trigger, params (string App, string Function, int[] Counts)[] rows)
    {
        var sb = new StringBuilder("HashOwner,HashApp,HashFunction" + (trigger ? ",Trigger" : "") + "," + string.Join(',', minuteLabels) + "\n");
        foreach (var (app, function, counts) in rows)
            sb.Append("o-").Append(app).Append(',').Append(app).Append(',').Append(function).Append(trigger ? ",http" : "").Append(',')
                .Append(string.Join(',', counts)).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// One application, one function, 60 minutes (labels 1..60), no Trigger column: one invocation in minutes 0, 20, 35 and 50
    /// (arrivals 30, 1230, 2130, 3030 s), duration 0, memory 1024 MB (per application). The split is at 1800 s.
    /// </summary>
    public static string HandComputedTrace(string root, string folder = "anything/here")
    {
        var counts = new int[60];
        counts[0] = counts[20] = counts[35] = counts[50] = 1;
        Write(root, $"{folder}/invocations.csv", Invocations(Enumerable.Range(1, 60), trigger: false, ("app1", "fn1", counts)));
        Write(root, $"{folder}/durations.csv", "HashOwner,HashApp,HashFunction,Average,Count\no-app1,app1,fn1,0,4\n");
        Write(root, $"{folder}/memory.csv", "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no-app1,app1,4,1024\n");
        return folder;
    }

    /// <summary>An LLM trace: <paramref name="n"/> requests every <paramref name="gapSeconds"/> s.</summary>
    public static string Llm(int n, double gapSeconds)
    {
        var sb = new StringBuilder("TIMESTAMP,ContextTokens,GeneratedTokens\n");
        var t0 = new DateTime(2023, 11, 16, 18, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < n; i++)
            sb.Append(t0.AddSeconds(i * gapSeconds).ToString("yyyy-MM-dd HH:mm:ss.fffffff", System.Globalization.CultureInfo.InvariantCulture))
                .Append(',').Append(500 + i % 7 * 100).Append(',').Append(10 + i % 5 * 20).Append('\n');
        return sb.ToString();
    }
}

public class SimulationMeasurementTests
{
    private static SimulationContext Context(string? traces, bool quick = false) =>
        new(traces, Directory.CreateTempSubdirectory("osai-sim-out-").FullName, quick, _ => { });

    [Fact]
    public void Discovery_finds_traces_by_file_name_in_any_folder()
    {
        var root = TraceFolders.NewRoot();
        var minutes = Enumerable.Range(480, 3);
        TraceFolders.Write(root, "renamed/deep/invocations.csv", TraceFolders.Invocations(minutes, true, ("a", "f", [1, 0, 2])));
        TraceFolders.Write(root, "renamed/deep/durations.csv", "HashOwner,HashApp,HashFunction,Average\no-a,a,f,10\n");
        TraceFolders.Write(root, "renamed/deep/memory.csv", "HashFunction,HashOwner,HashApp,AverageAllocatedMb\nf,o-a,a,100\n");
        TraceFolders.Write(root, "release/invocations_per_function_md.anon.d03.csv", TraceFolders.Invocations(Enumerable.Range(1, 1440), true, ("a", "f", new int[1440])));
        TraceFolders.Write(root, "release/function_durations_percentiles.anon.d03.csv", "HashOwner,HashApp,HashFunction,Average\no-a,a,f,10\n");
        TraceFolders.Write(root, "release/app_memory_percentiles.anon.d02.csv", "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no-a,a,1,300\n");
        TraceFolders.Write(root, "release/app_memory_percentiles.anon.d09.csv", "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no-a,a,1,900\n");
        TraceFolders.Write(root, "invocations_per_function_md.anon.d14.csv.gz", TraceFolders.Invocations(Enumerable.Range(1, 2), false, ("a", "f", [1, 1])));
        TraceFolders.Write(root, "x/AzureLLMInferenceTrace_code_1week.csv", TraceFolders.Llm(3, 1));
        TraceFolders.Write(root, "y/AzureLLMInferenceTrace_conv.csv", TraceFolders.Llm(3, 1));
        TraceFolders.Write(root, "z/AzureLLMInferenceTrace_conv.csv.gz", TraceFolders.Llm(3, 1));
        TraceFolders.Write(root, ".hidden/invocations.csv", "not a trace");
        TraceFolders.Write(root, "other/readme.txt", "nothing");

        var catalog = TraceCatalog.Discover(root);

        var functions = catalog.Functions.ToDictionary(f => f.Id);
        Assert.Equal(3, functions.Count);
        var sample = functions["renamed/deep"];
        Assert.EndsWith("durations.csv", sample.DurationsFile);
        Assert.EndsWith("memory.csv", sample.MemoryFile);
        var day = functions["release/d03"];
        Assert.EndsWith("function_durations_percentiles.anon.d03.csv", day.DurationsFile);
        Assert.EndsWith("app_memory_percentiles.anon.d02.csv", day.MemoryFile); // nearest day
        var top = functions[Path.GetFileName(root) + "/d14"];
        Assert.Null(top.DurationsFile);
        Assert.Null(top.MemoryFile);
        Assert.Equal(["code_1week", "y/conv", "z/conv"], catalog.LlmTraces.Select(l => l.Id).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Reader_takes_the_original_release_schema_with_per_app_memory_and_no_trigger()
    {
        var root = TraceFolders.NewRoot();
        var counts = new int[1440];
        counts[0] = 2;
        counts[1439] = 1;
        TraceFolders.Write(root, "d/invocations_per_function_md.anon.d01.csv", TraceFolders.Invocations(Enumerable.Range(1, 1440), false,
            ("a", "f1", counts), ("a", "f2", counts), ("b", "g", counts)));
        TraceFolders.Write(root, "d/function_durations_percentiles.anon.d01.csv",
            "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum\no-a,a,f1,2000,3,0.0,1\no-b,b,g,500,3,0.0,1\n");
        TraceFolders.Write(root, "d/app_memory_percentiles.anon.d01.csv",
            "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1\no-a,a,5,300,1\n");
        var trace = AzureFunctionsTraceReader.Read(TraceCatalog.Discover(root).Functions.Single());

        Assert.Equal(1440, trace.Minutes);
        var a = trace.Apps.Single(x => x.Id == "a");
        Assert.Equal(300, a.MemoryMb);                 // per application: not summed over its two functions
        Assert.Equal(300, trace.Apps.Single(x => x.Id == "b").MemoryMb); // missing: the median of the others
        Assert.Equal(2, a.Functions.Single(f => f.Id == "f1").DurationSec);
        Assert.Equal(2, a.Functions.Single(f => f.Id == "f2").DurationSec); // missing: the median of the file (upper middle of 500, 2000)
        Assert.Equal("", a.Functions[0].Trigger);
        Assert.Equal([0, 1439], a.Functions[0].Minutes);
        Assert.Equal(6, a.Invocations);
    }

    [Fact]
    public void Reader_defaults_missing_memory_and_durations_and_says_so()
    {
        var root = TraceFolders.NewRoot();
        TraceFolders.Write(root, "t/invocations.csv", TraceFolders.Invocations([1, 2], true, ("a", "f", [1, 1])));
        var trace = AzureFunctionsTraceReader.Read(TraceCatalog.Discover(root).Functions.Single());
        Assert.Equal(AzureFunctionsTraceReader.DefaultMemoryMb, trace.Apps[0].MemoryMb);
        Assert.Equal(AzureFunctionsTraceReader.DefaultDurationSec, trace.Apps[0].Functions[0].DurationSec);
        Assert.Contains("no memory file", trace.MemoryNote);
        Assert.Contains("no durations file", trace.DurationNote);
    }

    [Theory]
    [InlineData("invocations.csv", "HashOwner,HashApp,HashFunction,1,3\no,a,f,1,1\n", 1, "consecutive")]
    [InlineData("invocations.csv", "HashOwner,HashApp,HashFunction,1,2\no,a,f,1,1\no,a,g,1,-1\n", 3, "'-1'")]
    [InlineData("invocations.csv", "HashOwner,HashApp,HashFunction,Extra,1\no,a,f,x,1\n", 1, "'Extra'")]
    [InlineData("invocations.csv", "HashOwner,HashFunction,1\no,f,1\n", 1, "HashApp")]
    [InlineData("memory.csv", "HashOwner,HashApp,AverageAllocatedMb\no,a,lots\n", 2, "'lots'")]
    [InlineData("durations.csv", "HashOwner,HashApp,HashFunction,Average\no,a,f\n", 2, "columns")]
    public void Bad_functions_files_name_the_file_and_the_line(string file, string text, int line, string problem)
    {
        var root = TraceFolders.NewRoot();
        TraceFolders.Write(root, "t/invocations.csv", "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,1\n");
        var path = TraceFolders.Write(root, $"t/{file}", text);
        var e = Assert.Throws<TraceFormatException>(() => AzureFunctionsTraceReader.Read(TraceCatalog.Discover(root).Functions.Single()));
        Assert.StartsWith($"{path}:{line}:", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Bad_llm_files_name_the_file_and_the_line()
    {
        var root = TraceFolders.NewRoot();
        var path = TraceFolders.Write(root, "AzureLLMInferenceTrace_x.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,1,2\nyesterday,1,2\n");
        var e = Assert.Throws<TraceFormatException>(() => LlmTraceReader.Read(path));
        Assert.StartsWith($"{path}:3:", e.Message);
        Assert.Contains("TIMESTAMP", e.Message);
        var header = TraceFolders.Write(root, "AzureLLMInferenceTrace_y.csv", "time,ctx,gen\n");
        Assert.StartsWith($"{header}:1:", Assert.Throws<TraceFormatException>(() => LlmTraceReader.Read(header)).Message);
    }

    [Fact]
    public async Task Keepalive_study_counts_only_the_second_half_by_hand()
    {
        var root = TraceFolders.NewRoot();
        var id = TraceFolders.HandComputedTrace(root);
        var result = await new KeepAliveStudy().RunAsync(Context(root), CancellationToken.None);
        Assert.Null(result.SkippedBecause);
        var rows = result.AllRows.Where(r => r.Trace == id).ToDictionary(r => r.Policy);
        var load = 1 + 1024 / 200.0; // the memory load model for 1 GB

        // Second half: arrivals 2130 and 3030 (gaps of 900 s: fixed-10m is cold for both); idle warm 30 + 600 + 570 s.
        var f10 = rows["fixed-10m"];
        Assert.Equal("second-half", f10.Part);
        Assert.Equal(2, f10.Calls);
        Assert.Equal(2, f10.ColdStarts);
        Assert.Equal(100, f10.ColdPct);
        Assert.Equal(100, f10.AppColdP75Pct);
        Assert.Equal(2, f10.Loads);
        Assert.Equal(1200 + 2 * load, f10.WastedInstanceS!.Value, 6);
        Assert.Equal(1200 + 2 * load, f10.WastedGbS!.Value, 6);   // 1 GB
        Assert.Equal(0, f10.IdealInstanceS);
        Assert.Equal(load * 1000, f10.P99AddedMs!.Value, 6);
        Assert.Equal("memory", f10.LoadModel);
        Assert.Null(f10.Rejected);

        // fixed-20m keeps warm across both 900-s gaps: no cold start in the second half; idle: [1800, 2130], 900, 570.
        Assert.Equal(0, rows["fixed-20m"].ColdStarts);
        Assert.Equal(330 + 900 + 570, rows["fixed-20m"].WastedInstanceS!.Value, 6);
        // Never-unload: warm the whole second half, loaded once in the first.
        Assert.Equal(1800, rows["never-unload"].WastedInstanceS!.Value, 6);
        Assert.Equal(0, rows["never-unload"].Loads);
        // Oracle: re-warms just in time for both (gaps > one load): two loads, no cold start, no idle.
        Assert.Equal(0, rows["oracle"].ColdStarts);
        Assert.Equal(2 * load, rows["oracle"].WastedInstanceS!.Value, 6);
        // Always-cold: each invocation loads.
        Assert.Equal(2, rows["always-cold"].ColdStarts);
        Assert.Equal(2 * load, rows["always-cold"].WastedInstanceS!.Value, 6);

        // Sensitivity rows: the same policies with a fixed load time for every application.
        foreach (var seconds in new[] { 1, 5, 30 })
        {
            var row = rows[$"fixed-10m@load={seconds}s"];
            Assert.Equal($"fixed-{seconds}s", row.LoadModel);
            Assert.Equal(1200 + 2.0 * seconds, row.WastedInstanceS!.Value, 6);
            Assert.Equal(2.0 * seconds, rows[$"always-cold@load={seconds}s"].WastedInstanceS!.Value, 6);
            Assert.True(rows.ContainsKey($"osforai@load={seconds}s"));
            Assert.True(rows.ContainsKey($"hybrid-histogram@load={seconds}s"));
        }
    }

    [Fact]
    public async Task Keepalive_grid_is_chosen_on_the_first_half_alone()
    {
        // Two traces that share their first half and differ in the second: the choice (in the note) must be the same.
        var root = TraceFolders.NewRoot();
        var random = new Random(3);
        var first = Enumerable.Range(0, 60).Select(_ => random.Next(0, 3)).ToArray();
        int[] Trace(int seed)
        {
            var r = new Random(seed);
            return [.. first, .. Enumerable.Range(0, 60).Select(_ => r.Next(0, 2) * r.Next(0, 9))];
        }
        foreach (var (folder, seed) in new[] { ("one", 1), ("two", 2) })
        {
            TraceFolders.Write(root, $"{folder}/invocations.csv", TraceFolders.Invocations(Enumerable.Range(1, 120), true,
                ("a", "f", Trace(seed)), ("b", "g", Trace(seed + 10).Select((c, i) => i % 7 == 0 ? c : 0).ToArray())));
        }
        var result = await new KeepAliveStudy().RunAsync(Context(root), CancellationToken.None);
        var notes = result.AllRows.Where(r => r.Policy == "osforai").Select(r => r.Note).ToList();
        Assert.Equal(2, notes.Count);
        Assert.Equal(notes[0], notes[1]);
        Assert.NotEqual(
            result.AllRows.Single(r => r.Trace == "one" && r.Policy == "fixed-10m").Calls,
            result.AllRows.Single(r => r.Trace == "two" && r.Policy == "fixed-10m").Calls);
    }

    [Fact]
    public async Task A_folder_without_a_kind_of_trace_skips_that_study_with_the_reason()
    {
        var root = TraceFolders.NewRoot();
        TraceFolders.Write(root, "only/AzureLLMInferenceTrace_code.csv", TraceFolders.Llm(50, 2));
        var keepalive = await new KeepAliveStudy().RunAsync(Context(root), CancellationToken.None);
        Assert.Contains("no Azure Functions invocation file", keepalive.SkippedBecause);
        var autoscaler = await new AutoscalerStudy().RunAsync(Context(TraceFolders.NewRoot()), CancellationToken.None);
        Assert.Contains("no Azure LLM inference trace", autoscaler.SkippedBecause);
    }

    [Fact]
    public async Task Autoscaler_rows_cover_the_second_half_and_both_frontiers()
    {
        var root = TraceFolders.NewRoot();
        TraceFolders.Write(root, "any/AzureLLMInferenceTrace_code_1week.csv", TraceFolders.Llm(400, 0.5)); // 200 s
        var result = await new AutoscalerStudy().RunAsync(Context(root), CancellationToken.None);
        Assert.Null(result.SkippedBecause);
        var rows = result.AllRows.ToDictionary(r => r.Policy);
        Assert.All(rows.Values, r => Assert.Equal("code_1week", r.Trace));
        Assert.All(rows.Values, r => Assert.Equal("second-half", r.Part));
        Assert.Equal(200, rows["kpa"].Calls);          // arrivals at 100 s and later: the second half
        foreach (var u in AutoscalerGrid.Utilizations)
        {
            Assert.Equal(u, rows[$"kpa@{u:0.0}"].TargetUtilization);
            Assert.Equal(u, rows[$"osforai@{u:0.0}"].TargetUtilization);
        }
        Assert.Equal(rows["kpa"].InstanceS, rows["kpa@0.7"].InstanceS);
        Assert.Contains("grid choice on the first half", rows["osforai"].Note);
        Assert.Null(rows["kpa"].AppColdP75Pct);
        Assert.Null(rows["kpa"].WastedGbS);
        Assert.NotNull(rows["kpa"].Rejected);
    }

    [Fact]
    public void Frontier_chart_is_well_formed_svg_with_a_line_and_labelled_dots_per_series()
    {
        var svg = SvgFrontierChart.Render("T <&>", "x", "y",
        [
            new FrontierSeries("KPA", [new ScatterPoint("0.5", 10, 5), new ScatterPoint("1.0", 5, 9)]),
            new FrontierSeries("OSForAI & co", [new ScatterPoint("0.5", 8, 3), new ScatterPoint("1.0", 4, 6)]),
        ]);
        var root = System.Xml.Linq.XDocument.Parse(svg).Root!;
        Assert.Equal(2, root.Elements().Count(e => e.Name.LocalName == "polyline"));
        Assert.Equal(4, root.Elements().Count(e => e.Name.LocalName == "circle"));
        Assert.Contains(root.Elements(), e => e.Name.LocalName == "text" && e.Value == "OSForAI & co");
    }

    [Fact]
    public void Json_writes_every_field_of_every_row_with_nulls()
    {
        var json = ResultJson.Write([new ResultRow { Study = "s", Trace = "t", Policy = "p", Part = "second-half", Calls = 3, ColdPct = double.NaN }]);
        using var doc = JsonDocument.Parse(json);
        var row = doc.RootElement.GetProperty("rows").EnumerateArray().Single();
        Assert.Equal(ResultRow.FieldNames, row.EnumerateObject().Select(p => p.Name).ToList());
        Assert.Equal(3, row.GetProperty("calls").GetInt64());
        Assert.Equal(JsonValueKind.Null, row.GetProperty("cold_pct").ValueKind); // non-finite → null
        Assert.Equal(JsonValueKind.Null, row.GetProperty("rejected").ValueKind);
    }
}
