using System.Globalization;
using System.Text;

namespace OSForAI.Cli;

/// <summary>Writes rows as a left-aligned plain-text table with a header.</summary>
internal static class TableWriter
{
    public static void Write(TextWriter writer, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string?>> rows)
    {
        var cells = rows.Select(r => r.Select(c => Clean(c)).ToArray()).ToList();
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in cells)
            for (var i = 0; i < widths.Length && i < row.Length; i++)
                widths[i] = Math.Max(widths[i], row[i].Length);

        WriteRow(writer, headers, widths);
        foreach (var row in cells)
            WriteRow(writer, row, widths);
    }

    private static void WriteRow(TextWriter writer, IReadOnlyList<string> row, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < widths.Length; i++)
        {
            var cell = i < row.Count ? row[i] : "";
            if (i == widths.Length - 1) line.Append(cell);
            else line.Append(cell.PadRight(widths[i])).Append("  ");
        }
        writer.WriteLine(line.ToString().TrimEnd());
    }

    /// <summary>An ISO 8601 timestamp as "yyyy-MM-dd HH:mm:ssZ" (UTC, whole seconds); anything else unchanged.</summary>
    public static string? Time(string? value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : value;

    private static string Clean(string? cell) =>
        string.IsNullOrEmpty(cell) ? "-" : cell.ReplaceLineEndings(" ").Replace('\t', ' ');
}
