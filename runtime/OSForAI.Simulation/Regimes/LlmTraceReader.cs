using System.Globalization;

namespace OSForAI.Simulation.Regimes;

/// <summary>One row of the Azure LLM inference trace 2023: arrival (seconds from the first row) and token counts.</summary>
public readonly record struct LlmRequest(double ArrivalSeconds, int ContextTokens, int GeneratedTokens);

/// <summary>Reads AzureLLMInferenceTrace_{code,conv}.csv (TIMESTAMP,ContextTokens,GeneratedTokens; sorted by time).</summary>
public static class LlmTraceReader
{
    /// <summary>Rows with arrival below <paramref name="maxSeconds"/> (relative to the first row); malformed lines are skipped.</summary>
    public static List<LlmRequest> Read(string path, double maxSeconds = double.PositiveInfinity)
    {
        var rows = new List<LlmRequest>();
        DateTime? first = null;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var parts = line.Split(',');
            if (parts.Length < 3) continue;
            if (!DateTime.TryParse(parts[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts)) continue;
            if (!int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ctx)) continue;
            if (!int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var gen)) continue;
            first ??= ts;
            var at = (ts - first.Value).TotalSeconds;
            if (at >= maxSeconds) break;
            rows.Add(new LlmRequest(at, ctx, gen));
        }
        return rows;
    }
}
