using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace OSForAI.Simulation.Report;

/// <summary>
/// One machine-readable result: one study × trace × policy (sweep points and load-time sensitivity rows carry their own
/// policy id, e.g. <c>kpa@0.6</c>, <c>osforai@load=5s</c>). Every row has every field; a figure a study does not have is null.
/// The markdown tables of the report are rendered from these rows, so the two always agree. Fields are documented in
/// docs/scaling.md ("Machine-readable results").
/// </summary>
public sealed record ResultRow
{
    public required string Study { get; init; }
    public required string Trace { get; init; }
    public required string Policy { get; init; }
    /// <summary>Which part of the data the figures come from: "second-half", "held-out-day", "all".</summary>
    public required string Part { get; init; }
    public long? Calls { get; init; }
    public long? ColdStarts { get; init; }
    /// <summary>Cold starts per invocation, percent.</summary>
    public double? ColdPct { get; init; }
    public double? AppColdP50Pct { get; init; }
    public double? AppColdP75Pct { get; init; }
    public double? AppColdP90Pct { get; init; }
    public double? WastedInstanceS { get; init; }
    public double? WastedGbS { get; init; }
    public double? InstanceS { get; init; }
    public double? IdealInstanceS { get; init; }
    public double? P50AddedMs { get; init; }
    public double? P99AddedMs { get; init; }
    public long? Rejected { get; init; }
    public long? Loads { get; init; }
    public string? LoadModel { get; init; }
    public double? TargetUtilization { get; init; }
    /// <summary>Free text: what the policy id stands for (e.g. the knobs a grid chose).</summary>
    public string? Note { get; init; }

    /// <summary>The fields in the order they are written, with their JSON names.</summary>
    public IEnumerable<(string Name, object? Value)> Fields()
    {
        yield return ("study", Study);
        yield return ("trace", Trace);
        yield return ("policy", Policy);
        yield return ("part", Part);
        yield return ("calls", Calls);
        yield return ("cold_starts", ColdStarts);
        yield return ("cold_pct", ColdPct);
        yield return ("app_cold_p50_pct", AppColdP50Pct);
        yield return ("app_cold_p75_pct", AppColdP75Pct);
        yield return ("app_cold_p90_pct", AppColdP90Pct);
        yield return ("wasted_instance_s", WastedInstanceS);
        yield return ("wasted_gb_s", WastedGbS);
        yield return ("instance_s", InstanceS);
        yield return ("ideal_instance_s", IdealInstanceS);
        yield return ("p50_added_ms", P50AddedMs);
        yield return ("p99_added_ms", P99AddedMs);
        yield return ("rejected", Rejected);
        yield return ("loads", Loads);
        yield return ("load_model", LoadModel);
        yield return ("target_utilization", TargetUtilization);
        yield return ("note", Note);
    }

    /// <summary>The fields every row has (the required set of the issue plus the extras above).</summary>
    public static IReadOnlyList<string> FieldNames { get; } =
        new ResultRow { Study = "", Trace = "", Policy = "", Part = "" }.Fields().Select(f => f.Name).ToList();
}

/// <summary>Writes <c>{"rows":[…]}</c>: every field of every row, nulls written out, numbers as JSON numbers (non-finite → null).</summary>
public static class ResultJson
{
    public static string Write(IEnumerable<ResultRow> rows)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartArray("rows");
            foreach (var row in rows)
            {
                json.WriteStartObject();
                foreach (var (name, value) in row.Fields())
                {
                    switch (value)
                    {
                        case null: json.WriteNull(name); break;
                        case string s: json.WriteString(name, s); break;
                        case long l: json.WriteNumber(name, l); break;
                        case double d when double.IsFinite(d): json.WriteNumber(name, Math.Round(d, 6)); break;
                        case double: json.WriteNull(name); break;
                        default: throw new InvalidOperationException($"field {name}: unexpected {value.GetType().Name}");
                    }
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
