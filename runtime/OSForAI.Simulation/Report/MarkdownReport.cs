using System.Globalization;
using System.Text;

namespace OSForAI.Simulation.Report;

/// <summary>
/// Turns study results into one markdown document: a title, how it was produced (the exact command), how to read it, then
/// one section per study (its own markdown, or why it was skipped) followed by its figures, linked relative to the document,
/// and the reference (traces folder layout, JSON fields).
/// </summary>
public static class MarkdownReport
{
    /// <param name="results">The studies, in report order.</param>
    /// <param name="command">The exact command that produced the results (e.g. <c>osai sim --quick</c>).</param>
    /// <param name="figureFolder">Folder of the figures relative to the document ("" when they lie beside it).</param>
    /// <param name="producedAt">When the results were produced (UTC).</param>
    public static string Write(string title, IReadOnlyList<StudyResult> results, string command, string figureFolder, DateTimeOffset producedAt)
    {
        var md = new StringBuilder();
        md.Append("# ").Append(title).Append("\n\n");
        md.Append("Produced by `").Append(command).Append("` on ")
            .Append(producedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))
            .Append(". The numbers below come from that run; rerun the command to reproduce them");
        if (command.StartsWith("osai ", StringComparison.Ordinal))
            md.Append(" (from the repository root: `dotnet run -c Release --project runtime/OSForAI.Cli -- ").Append(command["osai ".Length..]).Append("`)");
        md.Append(".\n\n");
        if (results.Count > 1)
        {
            md.Append("Studies: ").Append(string.Join(", ", results.Select(r => r.SkippedBecause is null ? r.Name : $"{r.Name} (skipped)"))).Append(".\n\n");
        }
        md.Append(ReportGuide.Method.Trim()).Append("\n\n");
        foreach (var result in results)
        {
            if (result.SkippedBecause is { } reason)
            {
                md.Append("## ").Append(result.Name).Append("\n\nSkipped: ").Append(reason).Append("\n\n");
                continue;
            }
            md.Append(result.Markdown.TrimEnd()).Append("\n\n");
            foreach (var figure in result.Figures)
                md.Append("![").Append(figure.Caption).Append("](").Append(FigureLink(figureFolder, figure.FileName)).Append(")\n\n")
                    .Append('*').Append(figure.Caption).Append("*\n\n");
        }
        md.Append(ReportGuide.Reference.Trim()).Append('\n');
        return md.ToString().TrimEnd() + "\n";
    }

    private static string FigureLink(string folder, string file) =>
        string.IsNullOrEmpty(folder) ? file : folder.TrimEnd('/') + "/" + file;
}
