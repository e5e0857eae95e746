using System.Globalization;
using OSForAI.Simulation.Traces;

namespace OSForAI.Simulation.KeepAlive;

/// <summary>One function of the trace: its non-zero per-minute invocation counts (minute index from the first minute
/// column, ascending) and its average duration.</summary>
public sealed record TraceFunction(string Id, string Trigger, int[] Minutes, int[] Counts, double DurationSec)
{
    public long Invocations => Counts.Sum(c => (long)c);

    /// <summary>Builds a function from dense per-minute counts (zeros allowed).</summary>
    public static TraceFunction FromPerMinute(string id, string trigger, int[] perMinute, double durationSec)
    {
        var minutes = new List<int>();
        var counts = new List<int>();
        for (var m = 0; m < perMinute.Length; m++)
            if (perMinute[m] > 0) { minutes.Add(m); counts.Add(perMinute[m]); }
        return new TraceFunction(id, trigger, [.. minutes], [.. counts], durationSec);
    }
}

/// <summary>One application (HashApp): its functions share one warm instance. MemoryMb is the app's memory.</summary>
public sealed record TraceApp(string Id, string Owner, IReadOnlyList<TraceFunction> Functions, double MemoryMb)
{
    public long Invocations => Functions.Sum(f => f.Invocations);
}

/// <summary>An Azure Functions 2019 invocation trace, with where its memory and durations came from (for the report).</summary>
public sealed record AzureFunctionsTrace(string Id, IReadOnlyList<TraceApp> Apps, int Minutes, string MemoryNote, string DurationNote)
{
    public double DurationSec => Minutes * 60.0;
}

/// <summary>
/// Reads the Azure Functions 2019 files, in the original release's schema or the 500-function sample's:
/// <list type="bullet">
/// <item>invocations: <c>HashOwner,HashApp,HashFunction[,Trigger],&lt;minute columns&gt;</c>: the id columns by name (Trigger
/// may be missing), then one column per minute named by its number (1..1440 in the release, 480..959 in the sample), consecutive
/// and ascending; each cell a non-negative count;</item>
/// <item>durations (<c>durations.csv</c> or <c>function_durations_percentiles.anon.dNN.csv</c>): <c>HashApp,HashFunction,Average</c>
/// (ms) by name; a function without a row gets the median of the others, every function 1 s when there is no file;</item>
/// <item>memory: per function (<c>memory.csv</c> of the sample: <c>HashFunction,HashApp,AverageAllocatedMb</c>, an app's memory is
/// the sum of its rows) or per application (<c>app_memory_percentiles.anon.dNN.csv</c>: <c>HashApp,AverageAllocatedMb</c>); an
/// app without a row gets the median of the others, every app <see cref="DefaultMemoryMb"/> when there is no file.</item>
/// </list>
/// A malformed file raises <see cref="TraceFormatException"/> naming the file and the line.
/// </summary>
public static class AzureFunctionsTraceReader
{
    public const double DefaultMemoryMb = 128;
    public const double DefaultDurationSec = 1;

    /// <summary>The sample layout in one folder (invocations.csv, durations.csv, memory.csv; the last two optional).</summary>
    public static AzureFunctionsTrace Read(string folder, int? maxMinutes = null)
    {
        string? Optional(string name) => File.Exists(Path.Combine(folder, name)) ? Path.Combine(folder, name) : null;
        return Read(new FunctionsTraceSource(Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)),
            Path.Combine(folder, "invocations.csv"), Optional("durations.csv"), Optional("memory.csv")), maxMinutes);
    }

    /// <summary>Reads one trace; <paramref name="maxMinutes"/> keeps only the first minutes (quick mode).</summary>
    public static AzureFunctionsTrace Read(FunctionsTraceSource source, int? maxMinutes = null)
    {
        var durations = ReadDurations(source.DurationsFile);
        var (memory, perFunctionMemory) = ReadMemory(source.MemoryFile);
        var medianDurationMs = Median(durations.Values, fallback: DefaultDurationSec * 1000);

        var file = source.InvocationsFile;
        using var reader = TraceText.Open(file);
        var header = reader.ReadLine()?.TrimEnd('\r');
        if (string.IsNullOrEmpty(header)) throw new TraceFormatException(file, 1, "empty file, expected a header");
        var columns = header.Split(',');
        int owner = -1, app = -1, function = -1, trigger = -1, firstMinute = -1, minuteColumns = 0, firstLabel = 0;
        for (var c = 0; c < columns.Length; c++)
        {
            var name = columns[c].Trim();
            switch (name)
            {
                case "HashOwner": owner = c; continue;
                case "HashApp": app = c; continue;
                case "HashFunction": function = c; continue;
                case "Trigger": trigger = c; continue;
            }
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var label))
                throw new TraceFormatException(file, 1, $"column {c + 1} ('{name}') is neither HashOwner, HashApp, HashFunction, Trigger nor a minute number");
            if (firstMinute < 0) { firstMinute = c; firstLabel = label; }
            else if (c != firstMinute + minuteColumns || label != firstLabel + minuteColumns)
                throw new TraceFormatException(file, 1, $"minute columns must be consecutive numbers in consecutive columns; column {c + 1} is '{name}'");
            minuteColumns++;
        }
        if (app < 0 || function < 0) throw new TraceFormatException(file, 1, "header needs HashApp and HashFunction columns");
        if (minuteColumns == 0) throw new TraceFormatException(file, 1, "header has no minute columns (numbers such as 1..1440)");
        var minutes = maxMinutes is { } max ? Math.Min(minuteColumns, Math.Max(1, max)) : minuteColumns;

        var apps = new Dictionary<string, (string Owner, List<TraceFunction> Functions)>(StringComparer.Ordinal);
        var cells = new string[columns.Length];
        var lineNumber = 1;
        var nz = new List<int>();
        var counts = new List<int>();
        while (reader.ReadLine() is { } raw)
        {
            lineNumber++;
            var line = raw.AsSpan().TrimEnd('\r');
            if (line.IsEmpty) continue;
            // Split without allocating a string per minute cell: ids as strings, counts parsed in place.
            var column = 0;
            var start = 0;
            nz.Clear();
            counts.Clear();
            for (var i = 0; i <= line.Length; i++)
            {
                if (i < line.Length && line[i] != ',') continue;
                if (column >= columns.Length) throw new TraceFormatException(file, lineNumber, $"expected {columns.Length} columns, found more");
                var cell = line[start..i];
                if (column >= firstMinute && column < firstMinute + minuteColumns)
                {
                    var minute = column - firstMinute;
                    if (minute < minutes)
                    {
                        if (!int.TryParse(cell, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                            throw new TraceFormatException(file, lineNumber, $"column {columns[column]}: '{cell.ToString()}' is not a non-negative count");
                        if (count > 0) { nz.Add(minute); counts.Add(count); }
                    }
                }
                else cells[column] = cell.ToString();
                column++;
                start = i + 1;
            }
            if (column != columns.Length)
                throw new TraceFormatException(file, lineNumber, $"expected {columns.Length} columns, found {column}");
            var appId = cells[app];
            var functionId = cells[function];
            if (appId.Length == 0 || functionId.Length == 0) throw new TraceFormatException(file, lineNumber, "empty HashApp or HashFunction");
            var durationMs = durations.TryGetValue(Key(appId, functionId), out var d) || durations.TryGetValue(Key("", functionId), out d) ? d : medianDurationMs;
            var fn = new TraceFunction(functionId, trigger >= 0 ? cells[trigger] : "", [.. nz], [.. counts], durationMs / 1000.0);
            if (!apps.TryGetValue(appId, out var entry))
                apps[appId] = entry = (owner >= 0 ? cells[owner] : "", []);
            entry.Functions.Add(fn);
        }

        var known = apps.Keys.Where(memory.ContainsKey).Select(a => memory[a]).ToList();
        var fallbackMemory = source.MemoryFile is null ? DefaultMemoryMb : Median(memory.Values, DefaultMemoryMb);
        var list = apps.Select(a => new TraceApp(a.Key, a.Value.Owner, a.Value.Functions, memory.GetValueOrDefault(a.Key, fallbackMemory))).ToList();
        var memoryText = source.MemoryFile is null
            ? FormattableString.Invariant($"no memory file: every application {DefaultMemoryMb:0} MB")
            : FormattableString.Invariant($"{Path.GetFileName(source.MemoryFile)} ({(perFunctionMemory ? "per function, summed per application" : "per application")}); {known.Count} of {apps.Count} applications found, the others get the median {fallbackMemory:0.#} MB");
        var functionCount = list.Sum(a => a.Functions.Count);
        var withDuration = apps.Sum(a => a.Value.Functions.Count(f => durations.ContainsKey(Key(a.Key, f.Id)) || durations.ContainsKey(Key("", f.Id))));
        var durationText = source.DurationsFile is null
            ? FormattableString.Invariant($"no durations file: every function {DefaultDurationSec:0} s")
            : FormattableString.Invariant($"{Path.GetFileName(source.DurationsFile)} (Average); {withDuration} of {functionCount} functions found, the others get the median {medianDurationMs:0} ms");
        return new AzureFunctionsTrace(source.Id, list, minutes, memoryText, durationText);
    }

    private static string Key(string app, string function) => app + "\u0001" + function;

    private static Dictionary<string, double> ReadDurations(string? file)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (file is null) return result;
        var (header, rows) = Table(file, ["HashFunction", "Average"]);
        var app = Array.IndexOf(header, "HashApp");
        var function = Array.IndexOf(header, "HashFunction");
        var average = Array.IndexOf(header, "Average");
        foreach (var (line, cells) in rows)
            result[Key(app >= 0 ? cells[app] : "", cells[function])] = Number(file, line, cells[average], "Average");
        return result;
    }

    private static (Dictionary<string, double> PerApp, bool PerFunction) ReadMemory(string? file)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (file is null) return (result, false);
        var (header, rows) = Table(file, ["HashApp", "AverageAllocatedMb"]);
        var perFunction = Array.IndexOf(header, "HashFunction") >= 0;
        var app = Array.IndexOf(header, "HashApp");
        var mb = Array.IndexOf(header, "AverageAllocatedMb");
        foreach (var (line, cells) in rows)
        {
            var value = Number(file, line, cells[mb], "AverageAllocatedMb");
            result[cells[app]] = perFunction ? result.GetValueOrDefault(cells[app]) + value : value;
        }
        return (result, perFunction);
    }

    /// <summary>The header (checked for <paramref name="required"/> columns) and the data rows, each with its line number.</summary>
    private static (string[] Header, IEnumerable<(int Line, string[] Cells)> Rows) Table(string file, string[] required)
    {
        var lines = TraceText.Lines(file).GetEnumerator();
        if (!lines.MoveNext() || lines.Current.Text.Length == 0) throw new TraceFormatException(file, 1, "empty file, expected a header");
        var header = lines.Current.Text.Split(',').Select(h => h.Trim()).ToArray();
        foreach (var column in required)
            if (Array.IndexOf(header, column) < 0) throw new TraceFormatException(file, 1, $"header lacks column {column}");
        return (header, Rows());

        IEnumerable<(int, string[])> Rows()
        {
            using (lines)
                while (lines.MoveNext())
                {
                    var (number, text) = lines.Current;
                    if (text.Length == 0) continue;
                    var cells = text.Split(',');
                    if (cells.Length != header.Length)
                        throw new TraceFormatException(file, number, $"expected {header.Length} columns, found {cells.Length}");
                    yield return (number, cells);
                }
        }
    }

    private static double Number(string file, int line, string cell, string column) =>
        double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && double.IsFinite(v)
            ? v
            : throw new TraceFormatException(file, line, $"{column}: '{cell}' is not a non-negative number");

    private static double Median(IEnumerable<double> values, double fallback)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? fallback : sorted[sorted.Length / 2];
    }
}
