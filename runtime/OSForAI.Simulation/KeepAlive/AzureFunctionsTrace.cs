using System.Globalization;

namespace OSForAI.Simulation.KeepAlive;

/// <summary>A malformed trace file: the message names the file and the line.</summary>
public sealed class TraceFormatException(string file, int line, string problem)
    : Exception($"{file}:{line}: {problem}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
}

/// <summary>One function of the trace: its per-minute invocation counts and average duration.</summary>
public sealed record TraceFunction(string Id, string Trigger, int[] PerMinute, double DurationSec);

/// <summary>One application (HashApp): its functions share one warm instance. MemoryMb is the app's memory.</summary>
public sealed record TraceApp(string Id, string Owner, IReadOnlyList<TraceFunction> Functions, double MemoryMb)
{
    public long Invocations => Functions.Sum(f => f.PerMinute.Sum(c => (long)c));
}

/// <summary>The Azure Functions 2019 trace in its original schema (e.g. the 500-function sample).</summary>
public sealed record AzureFunctionsTrace(IReadOnlyList<TraceApp> Apps, int Minutes)
{
    public double DurationSec => Minutes * 60.0;
}

/// <summary>
/// Reads the Azure Functions 2019 files: invocations.csv (HashOwner,HashApp,HashFunction,Trigger,&lt;minute columns&gt;),
/// durations.csv (HashOwner,HashApp,HashFunction,Average,... in ms) and memory.csv (per function:
/// HashFunction,HashOwner,HashApp,SampleCount,AverageAllocatedMb,...). An application's memory is the sum of its
/// functions' memory; functions without a duration or memory row get the median of the others.
/// </summary>
public static class AzureFunctionsTraceReader
{
    public const string FolderName = "azure-functions-2019-sample500";

    /// <summary>Reads the trace folder; <paramref name="maxMinutes"/> keeps only the first minutes (Quick mode).</summary>
    public static AzureFunctionsTrace Read(string folder, int? maxMinutes = null)
    {
        var invocations = Path.Combine(folder, "invocations.csv");
        var durations = ReadPerFunction(Path.Combine(folder, "durations.csv"), idColumn: "HashFunction", valueColumn: "Average");
        var memory = ReadPerFunction(Path.Combine(folder, "memory.csv"), idColumn: "HashFunction", valueColumn: "AverageAllocatedMb");
        var medianDurationMs = Median(durations.Values, fallback: 1000);
        var medianMemoryMb = Median(memory.Values, fallback: 128);

        var lines = ReadLines(invocations);
        if (lines.Count == 0) throw new TraceFormatException(invocations, 1, "empty file, expected a header");
        var header = lines[0].Split(',');
        string[] expected = ["HashOwner", "HashApp", "HashFunction", "Trigger"];
        if (header.Length < 5 || !header.Take(4).SequenceEqual(expected))
            throw new TraceFormatException(invocations, 1, $"expected header {string.Join(',', expected)},<minute columns>");
        var minutes = header.Length - 4;
        if (maxMinutes is { } max) minutes = Math.Min(minutes, Math.Max(1, max));

        var apps = new Dictionary<string, (string Owner, List<TraceFunction> Functions, double MemoryMb)>(StringComparer.Ordinal);
        for (var i = 1; i < lines.Count; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = lines[i].Split(',');
            if (cells.Length != header.Length)
                throw new TraceFormatException(invocations, i + 1, $"expected {header.Length} columns, found {cells.Length}");
            var counts = new int[minutes];
            for (var m = 0; m < minutes; m++)
                if (!int.TryParse(cells[4 + m], NumberStyles.None, CultureInfo.InvariantCulture, out counts[m]))
                    throw new TraceFormatException(invocations, i + 1, $"column {header[4 + m]}: '{cells[4 + m]}' is not a non-negative count");
            var function = cells[2];
            var duration = durations.GetValueOrDefault(function, medianDurationMs) / 1000.0;
            var fn = new TraceFunction(function, cells[3], counts, duration);
            if (!apps.TryGetValue(cells[1], out var app))
                app = (cells[0], [], 0);
            app.Functions.Add(fn);
            app.MemoryMb += memory.GetValueOrDefault(function, medianMemoryMb);
            apps[cells[1]] = app;
        }
        var list = apps.Select(a => new TraceApp(a.Key, a.Value.Owner, a.Value.Functions, a.Value.MemoryMb)).ToList();
        return new AzureFunctionsTrace(list, minutes);
    }

    private static Dictionary<string, double> ReadPerFunction(string file, string idColumn, string valueColumn)
    {
        var lines = ReadLines(file);
        if (lines.Count == 0) throw new TraceFormatException(file, 1, "empty file, expected a header");
        var header = lines[0].Split(',');
        var id = Array.IndexOf(header, idColumn);
        var value = Array.IndexOf(header, valueColumn);
        if (id < 0 || value < 0)
            throw new TraceFormatException(file, 1, $"header lacks column {(id < 0 ? idColumn : valueColumn)}");
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 1; i < lines.Count; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = lines[i].Split(',');
            if (cells.Length != header.Length)
                throw new TraceFormatException(file, i + 1, $"expected {header.Length} columns, found {cells.Length}");
            if (!double.TryParse(cells[value], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v < 0 || !double.IsFinite(v))
                throw new TraceFormatException(file, i + 1, $"{valueColumn}: '{cells[value]}' is not a non-negative number");
            result[cells[id]] = v;
        }
        return result;
    }

    private static List<string> ReadLines(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"trace file not found: {file}", file);
        return File.ReadLines(file).Select(l => l.TrimEnd('\r')).ToList();
    }

    private static double Median(IEnumerable<double> values, double fallback)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? fallback : sorted[sorted.Length / 2];
    }
}
