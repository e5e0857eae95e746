using System.Globalization;
using OSForAI.Simulation.Traces;

namespace OSForAI.Simulation.Regimes;

/// <summary>One row of an Azure LLM inference trace: arrival (seconds from the earliest row) and token counts.</summary>
public readonly record struct LlmRequest(double ArrivalSeconds, int ContextTokens, int GeneratedTokens);

/// <summary>
/// Reads an Azure LLM inference trace (AzureLLMInferenceTrace_*.csv, 2023 and 2024 releases): columns TIMESTAMP, ContextTokens,
/// GeneratedTokens found by name (others ignored). A malformed line raises <see cref="TraceFormatException"/> naming the file and
/// the line. Rows are returned in time order.
/// </summary>
public static class LlmTraceReader
{
    /// <summary>Rows with arrival below <paramref name="maxSeconds"/>. While the file is in time order, reading stops at the first
    /// row past it (quick mode on a week-long trace).</summary>
    public static List<LlmRequest> Read(string path, double maxSeconds = double.PositiveInfinity)
    {
        var rows = new List<(DateTime At, int Context, int Generated)>();
        int ts = -1, ctx = -1, gen = -1, columns = 0;
        var sorted = true;
        foreach (var (number, line) in TraceText.Lines(path))
        {
            if (number == 1)
            {
                var header = line.Split(',').Select(h => h.Trim()).ToArray();
                columns = header.Length;
                ts = Array.FindIndex(header, h => h.Equals("TIMESTAMP", StringComparison.OrdinalIgnoreCase));
                ctx = Array.FindIndex(header, h => h.Equals("ContextTokens", StringComparison.OrdinalIgnoreCase));
                gen = Array.FindIndex(header, h => h.Equals("GeneratedTokens", StringComparison.OrdinalIgnoreCase));
                if (ts < 0 || ctx < 0 || gen < 0)
                    throw new TraceFormatException(path, 1, "expected a header with TIMESTAMP, ContextTokens and GeneratedTokens");
                continue;
            }
            if (line.Length == 0) continue;
            var cells = line.Split(',');
            if (cells.Length != columns) throw new TraceFormatException(path, number, $"expected {columns} columns, found {cells.Length}");
            if (!DateTime.TryParse(cells[ts], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
                throw new TraceFormatException(path, number, $"TIMESTAMP: '{cells[ts]}' is not a date and time");
            if (!int.TryParse(cells[ctx], NumberStyles.None, CultureInfo.InvariantCulture, out var c))
                throw new TraceFormatException(path, number, $"ContextTokens: '{cells[ctx]}' is not a non-negative integer");
            if (!int.TryParse(cells[gen], NumberStyles.None, CultureInfo.InvariantCulture, out var g))
                throw new TraceFormatException(path, number, $"GeneratedTokens: '{cells[gen]}' is not a non-negative integer");
            if (rows.Count > 0)
            {
                if (at < rows[^1].At) sorted = false;
                if (sorted && (at - rows[0].At).TotalSeconds >= maxSeconds) break;
            }
            rows.Add((at, c, g));
        }
        if (ts < 0) throw new TraceFormatException(path, 1, "empty file, expected a header");
        if (rows.Count == 0) return [];
        var first = rows.Min(r => r.At);
        return rows.Select(r => new LlmRequest((r.At - first).TotalSeconds, r.Context, r.Generated))
            .Where(r => r.ArrivalSeconds < maxSeconds)
            .OrderBy(r => r.ArrivalSeconds)
            .ToList();
    }
}
