using System.Diagnostics;
using System.Globalization;
using OSForAI.Simulation;
using OSForAI.Simulation.Report;

namespace OSForAI.Cli.Commands;

/// <summary>
/// <c>osai sim</c>: runs the trace-driven studies (keep-alive, autoscaling, ...), writes their figures and a markdown
/// report into the output folder (and optionally into a docs file) and, with <c>--json FILE</c>, every study's result rows
/// (<c>{"rows":[…]}</c>, the same numbers as the markdown), prints a summary table.
/// Exit code 0, 1 when a study failed, 2 for a usage problem.
/// </summary>
internal static class SimCommand
{
    public const string TracesVariable = "OSAI_TRACES";
    public const string DefaultOut = "sim-out";
    public const string ReportFile = "report.md";
    public const string DocsFigureFolder = "scaling";

    public static string[] Options => ["traces", "out", "only", "docs", "json"];
    public static string[] Flags => ["quick"];

    public static Task<int> RunAsync(Arguments args, CliHost host) => RunAsync(args, host, Studies.All());

    internal static async Task<int> RunAsync(Arguments args, CliHost host, IReadOnlyList<ISimulationStudy> all)
    {
        args.ExpectPositionals(0, 0, "");
        var traces = args.Get("traces") ?? host.Env(TracesVariable);
        if (traces is not null && !Directory.Exists(traces))
            throw new UsageException($"traces folder not found: {traces}");
        var studies = Select(all, args.Get("only"));
        var outDir = Path.GetFullPath(args.Get("out") is { Length: > 0 } o ? o : DefaultOut);
        var docs = args.Get("docs") is { Length: > 0 } d ? Path.GetFullPath(d) : null;
        var json = args.Get("json") is { Length: > 0 } j ? Path.GetFullPath(j) : null;
        var quick = args.Has("quick");
        Directory.CreateDirectory(outDir);
        if (traces is null)
            await host.Error.WriteLineAsync($"sim: no --traces and no ${TracesVariable}: studies that need traces are skipped");

        var context = new SimulationContext(traces is null ? null : Path.GetFullPath(traces), outDir, quick,
            line => host.Error.WriteLine($"sim: {line}"));
        var runs = new List<StudyRun>();
        foreach (var study in studies)
        {
            host.ShutdownToken.ThrowIfCancellationRequested();
            await host.Error.WriteLineAsync($"sim: running {study.Name}{(quick ? " (quick)" : "")}");
            runs.Add(await RunOne(study, context, host));
        }

        var command = CommandLine(args, traces);
        var results = runs.Select(r => r.Result).ToList();
        var now = DateTimeOffset.UtcNow;
        var reportPath = Path.Combine(outDir, ReportFile);
        await File.WriteAllTextAsync(reportPath, MarkdownReport.Write("OSForAI simulation report", results, command, "", now));
        if (docs is not null)
            WriteDocs(docs, results, command, outDir, now);
        if (json is not null)
        {
            if (Path.GetDirectoryName(json) is { Length: > 0 } jsonDir) Directory.CreateDirectory(jsonDir);
            await File.WriteAllTextAsync(json, ResultJson.Write(results.SelectMany(r => r.AllRows)));
        }

        TableWriter.Write(host.Out, ["STUDY", "STATUS", "SECONDS", "HEADLINE"],
            runs.Select(r => (IReadOnlyList<string?>)[r.Result.Name, r.Status, r.Seconds.ToString("0.0", CultureInfo.InvariantCulture), Headline(r.Result)]));
        await host.Out.WriteLineAsync($"Report: {reportPath}");
        if (docs is not null) await host.Out.WriteLineAsync($"Docs: {docs}");
        if (json is not null) await host.Out.WriteLineAsync($"JSON: {json} ({results.Sum(r => r.AllRows.Count)} rows)");
        return runs.Any(r => r.Failed) ? 1 : 0;
    }

    private sealed record StudyRun(StudyResult Result, string Status, double Seconds, bool Failed);

    private static async Task<StudyRun> RunOne(ISimulationStudy study, SimulationContext context, CliHost host)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var result = await study.RunAsync(context, host.ShutdownToken);
            var status = result.SkippedBecause is null ? "ok" : "skipped";
            if (result.SkippedBecause is { } why) await host.Error.WriteLineAsync($"sim: {study.Name} skipped: {why}");
            return new StudyRun(result, status, clock.Elapsed.TotalSeconds, false);
        }
        catch (NotImplementedException)
        {
            await host.Error.WriteLineAsync($"sim: {study.Name}: not implemented yet");
            return new StudyRun(Empty(study.Name, "not implemented yet"), "not implemented yet", clock.Elapsed.TotalSeconds, false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            await host.Error.WriteLineAsync($"sim: {study.Name} failed: {e.GetType().Name}: {e.Message}");
            if (host.Env("OSFORAI_DEBUG") is not null) await host.Error.WriteLineAsync(e.ToString());
            return new StudyRun(Empty(study.Name, $"failed: {e.GetType().Name}: {e.Message}"), "FAILED", clock.Elapsed.TotalSeconds, true);
        }
    }

    private static StudyResult Empty(string name, string why) => new(name, "", [], new Dictionary<string, double>(), why);

    /// <summary>The studies named in <paramref name="only"/> (comma-separated, case-insensitive), in report order; all when null.</summary>
    internal static IReadOnlyList<ISimulationStudy> Select(IReadOnlyList<ISimulationStudy> all, string? only)
    {
        if (only is null) return all;
        var wanted = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => n.ToLowerInvariant()).ToHashSet();
        if (wanted.Count == 0) throw new UsageException("--only needs at least one study name");
        var unknown = wanted.Where(n => all.All(s => s.Name != n)).Order().ToList();
        if (unknown.Count > 0)
            throw new UsageException($"unknown study '{string.Join("', '", unknown)}' (known: {string.Join(", ", all.Select(s => s.Name))})");
        return all.Where(s => wanted.Contains(s.Name)).ToList();
    }

    /// <summary>Writes the report to <paramref name="docs"/> with the figures copied into a <c>scaling/</c> folder beside it.</summary>
    private static void WriteDocs(string docs, List<StudyResult> results, string command, string outDir, DateTimeOffset now)
    {
        var folder = Path.GetDirectoryName(docs) ?? ".";
        var figures = Path.Combine(folder, DocsFigureFolder);
        Directory.CreateDirectory(figures);
        foreach (var figure in results.SelectMany(r => r.Figures))
        {
            var source = Path.Combine(outDir, figure.FileName);
            if (File.Exists(source)) File.Copy(source, Path.Combine(figures, figure.FileName), overwrite: true);
        }
        File.WriteAllText(docs, MarkdownReport.Write("Elastic scaling: simulation results", results, command, DocsFigureFolder, now));
    }

    /// <summary>The command as typed, rebuilt from the parsed options (the traces folder as resolved).</summary>
    private static string CommandLine(Arguments args, string? traces)
    {
        var parts = new List<string> { "osai sim" };
        if (traces is not null) parts.Add(args.Get("traces") is null ? $"--traces ${TracesVariable}" : $"--traces {args.Get("traces")}");
        foreach (var name in new[] { "out", "only", "docs", "json" })
            if (args.Get(name) is { } value) parts.Add($"--{name} {value}");
        if (args.Has("quick")) parts.Add("--quick");
        return string.Join(' ', parts);
    }

    private static string Headline(StudyResult result)
    {
        if (result.SkippedBecause is { } why) return why;
        return string.Join("  ", result.Numbers.Take(4).Select(n => $"{n.Key}={Format(n.Value)}"));
    }

    private static string Format(double value) =>
        Math.Abs(value) >= 1000 ? value.ToString("N0", CultureInfo.InvariantCulture) : value.ToString("0.###", CultureInfo.InvariantCulture);
}
