using System.IO.Compression;
using System.Text.RegularExpressions;

namespace OSForAI.Simulation.Traces;

/// <summary>A malformed trace file: the message names the file and the line (1 = the header).</summary>
public sealed class TraceFormatException(string file, int line, string problem)
    : Exception($"{file}:{line}: {problem}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
}

/// <summary>
/// One Azure Functions 2019 invocation file and its companions (null when absent): either the 500-function sample layout
/// (<c>invocations.csv</c>, <c>durations.csv</c>, <c>memory.csv</c> in one folder) or the original release's day files
/// (<c>invocations_per_function_md.anon.dNN.csv</c> with <c>function_durations_percentiles.anon.dNN.csv</c> and
/// <c>app_memory_percentiles.anon.dNN.csv</c>; the nearest day's companion in the same folder when that day's is missing).
/// </summary>
public sealed record FunctionsTraceSource(string Id, string InvocationsFile, string? DurationsFile, string? MemoryFile);

/// <summary>One Azure LLM inference trace file (<c>AzureLLMInferenceTrace_*.csv</c>).</summary>
public sealed record LlmTraceSource(string Id, string File);

/// <summary>
/// The traces under a folder, found by file name anywhere below it (not by folder names): each invocation file is its own
/// trace. Names are matched case-insensitively; each may also be gzip-compressed (<c>.csv.gz</c>). Trace ids come from the
/// file and its folder (relative to the root) and are unique.
/// </summary>
public sealed class TraceCatalog
{
    private static readonly Regex SampleInvocations = new(@"^invocations\.csv(\.gz)?$", RegexOptions.IgnoreCase);
    private static readonly Regex DayInvocations = new(@"^invocations_per_function_md\.anon\.d(\d+)\.csv(\.gz)?$", RegexOptions.IgnoreCase);
    private static readonly Regex DayDurations = new(@"^function_durations_percentiles\.anon\.d(\d+)\.csv(\.gz)?$", RegexOptions.IgnoreCase);
    private static readonly Regex DayMemory = new(@"^app_memory_percentiles\.anon\.d(\d+)\.csv(\.gz)?$", RegexOptions.IgnoreCase);
    private static readonly Regex LlmName = new(@"^AzureLLMInferenceTrace_(.+?)\.csv(\.gz)?$", RegexOptions.IgnoreCase);

    public TraceCatalog(string root, IReadOnlyList<FunctionsTraceSource> functions, IReadOnlyList<LlmTraceSource> llm)
    {
        Root = root;
        Functions = functions;
        LlmTraces = llm;
    }

    public string Root { get; }
    public IReadOnlyList<FunctionsTraceSource> Functions { get; }
    public IReadOnlyList<LlmTraceSource> LlmTraces { get; }

    /// <summary>What the documentation says about the layout (also printed when a study finds nothing).</summary>
    public const string LayoutHelp =
        "Azure Functions 2019: invocations.csv (+ durations.csv, memory.csv beside it) or invocations_per_function_md.anon.dNN.csv " +
        "(+ function_durations_percentiles.anon.dNN.csv, app_memory_percentiles.anon.dNN.csv); Azure LLM: AzureLLMInferenceTrace_*.csv; " +
        "anywhere under the folder, optionally .gz";

    /// <summary>Walks <paramref name="root"/> recursively (hidden folders and unreadable ones are skipped).</summary>
    public static TraceCatalog Discover(string root)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"traces folder not found: {root}");
        var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')))
            .Order(StringComparer.Ordinal)
            .ToList();

        var functions = new List<(string Folder, string Name, FunctionsTraceSource Source)>();
        var llm = new List<(string Folder, string Name, string File)>();
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            var dir = Path.GetDirectoryName(file)!;
            var folder = FolderId(root, dir);
            if (SampleInvocations.IsMatch(name))
            {
                functions.Add((folder, "", new FunctionsTraceSource("", file, Companion(dir, "durations"), Companion(dir, "memory"))));
            }
            else if (DayInvocations.Match(name) is { Success: true } day)
            {
                var n = int.Parse(day.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                functions.Add((folder, "d" + day.Groups[1].Value,
                    new FunctionsTraceSource("", file, NearestDay(dir, DayDurations, n), NearestDay(dir, DayMemory, n))));
            }
            else if (LlmName.Match(name) is { Success: true } m)
            {
                llm.Add((folder, m.Groups[1].Value, file));
            }
        }

        // Ids: the folder for invocations.csv, folder/dNN for day files, the file's suffix for LLM traces (code, conv, code_1week),
        // prefixed with the folder when two LLM files share a suffix.
        var functionIds = functions.Select(f => f.Name.Length == 0 ? f.Folder : f.Folder + "/" + f.Name).ToList();
        var llmIds = llm.Select(l => l.Name).ToList();
        var duplicated = llmIds.GroupBy(i => i, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < llm.Count; i++)
            if (duplicated.Contains(llmIds[i])) llmIds[i] = llm[i].Folder + "/" + llm[i].Name;
        return new TraceCatalog(root,
            functions.Select((f, i) => f.Source with { Id = Unique(functionIds, i) }).ToList(),
            llm.Select((l, i) => new LlmTraceSource(Unique(llmIds, i), l.File)).ToList());
    }

    private static string Unique(List<string> ids, int i)
    {
        var earlier = ids.Take(i).Count(x => string.Equals(x, ids[i], StringComparison.OrdinalIgnoreCase));
        return earlier == 0 ? ids[i] : $"{ids[i]}#{earlier + 1}";
    }

    private static string FolderId(string root, string dir)
    {
        var relative = Path.GetRelativePath(root, dir);
        return relative == "." ? Path.GetFileName(root.TrimEnd(Path.DirectorySeparatorChar)) : relative.Replace(Path.DirectorySeparatorChar, '/');
    }

    private static string? Companion(string dir, string stem) =>
        Directory.EnumerateFiles(dir).Where(f => Regex.IsMatch(Path.GetFileName(f), $@"^{stem}\.csv(\.gz)?$", RegexOptions.IgnoreCase))
            .Order(StringComparer.Ordinal).FirstOrDefault();

    private static string? NearestDay(string dir, Regex pattern, int day) =>
        Directory.EnumerateFiles(dir)
            .Select(f => (File: f, Match: pattern.Match(Path.GetFileName(f))))
            .Where(x => x.Match.Success)
            .Select(x => (x.File, Day: int.Parse(x.Match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(x => Math.Abs(x.Day - day)).ThenBy(x => x.Day).ThenBy(x => x.File, StringComparer.Ordinal)
            .Select(x => x.File).FirstOrDefault();
}

/// <summary>Reads trace text files line by line, decompressing <c>.gz</c> files.</summary>
public static class TraceText
{
    public static TextReader Open(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"trace file not found: {file}", file);
        Stream stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) stream = new GZipStream(stream, CompressionMode.Decompress);
        return new StreamReader(stream);
    }

    /// <summary>The lines with their 1-based numbers, trailing CR removed.</summary>
    public static IEnumerable<(int Number, string Text)> Lines(string file)
    {
        using var reader = Open(file);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            yield return (number, line.TrimEnd('\r'));
        }
    }
}
