using System.Globalization;
using System.Text;

namespace OSForAI.Simulation.Regimes;

/// <summary>Builds a GitHub-flavoured markdown table; numbers are formatted with the invariant culture.</summary>
public sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public MarkdownTable Row(params object[] cells)
    {
        _rows.Add(cells.Select(Format).ToArray());
        return this;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("| ").Append(string.Join(" | ", headers)).Append(" |\n");
        sb.Append('|').Append(string.Concat(headers.Select(_ => "---|"))).Append('\n');
        foreach (var r in _rows) sb.Append("| ").Append(string.Join(" | ", r)).Append(" |\n");
        return sb.ToString();
    }

    public static string Format(object cell) => cell switch
    {
        double d => d.ToString(Math.Abs(d) >= 100 ? "0" : "0.##", CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("0.##", CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => cell.ToString() ?? "",
    };
}

internal static class RegimeText
{
    public static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
