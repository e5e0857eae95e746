namespace OSForAI.Simulation;

/// <summary>Where a simulation reads traces and writes its figures.</summary>
/// <param name="TracesRoot">The folder with the trace sets (e.g. azure-functions-2019-sample500/); null when none is available.</param>
/// <param name="OutputDir">Where figures (SVG) and tables are written.</param>
/// <param name="Quick">Smaller inputs for tests: same code paths, seconds instead of minutes.</param>
/// <param name="Progress">Progress lines for the CLI (stderr).</param>
public sealed record SimulationContext(string? TracesRoot, string OutputDir, bool Quick, Action<string> Progress);

/// <summary>One figure written by a study: a file name inside the output folder and its caption.</summary>
public sealed record Figure(string FileName, string Caption);

/// <summary>
/// What a study found: a markdown section (heading level 2, tables, verdicts against the goals in SCALING.md),
/// the figures it wrote, headline numbers (for tests and the summary table) and the machine-readable rows
/// (<c>osai sim --json</c>; the markdown tables are rendered from the same rows).
/// </summary>
public sealed record StudyResult(string Name, string Markdown, IReadOnlyList<Figure> Figures, IReadOnlyDictionary<string, double> Numbers,
    string? SkippedBecause = null, IReadOnlyList<Report.ResultRow>? Rows = null)
{
    public IReadOnlyList<Report.ResultRow> AllRows => Rows ?? [];
}

/// <summary>One experiment of `osai sim` (keep-alive on real traces, autoscaling, SeeFood regimes, chains).</summary>
public interface ISimulationStudy
{
    /// <summary>Short id, used on the command line (--only keepalive,seefood).</summary>
    string Name { get; }
    Task<StudyResult> RunAsync(SimulationContext context, CancellationToken ct);
}

/// <summary>Every study `osai sim` runs, in report order.</summary>
public static class Studies
{
    public static IReadOnlyList<ISimulationStudy> All() =>
    [
        new KeepAliveStudy(),
        new AutoscalerStudy(),
        new SeeFoodStudy(),
        new ChainStudy(),
        new GpuTimelineStudy(),
    ];
}
