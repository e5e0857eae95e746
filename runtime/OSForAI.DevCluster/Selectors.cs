using System.Text.Json.Nodes;

namespace OSForAI.DevCluster;

/// <summary>Thrown for a request the API refuses: becomes a Kubernetes <c>Status</c> with this code.</summary>
internal sealed class ApiException(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    public int Code { get; } = code;
    public string Reason { get; } = reason;
    public JsonObject? Details { get; } = details;

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);
}

/// <summary>Label selectors (equality- and set-based) and field selectors, as the API server parses them.</summary>
internal static class Selectors
{
    /// <summary>A predicate over an object's labels; null text or "" selects everything.</summary>
    public static Func<IReadOnlyDictionary<string, string>, bool> ParseLabels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return _ => true;
        var tests = new List<Func<IReadOnlyDictionary<string, string>, bool>>();
        foreach (var raw in SplitTopLevel(text))
        {
            var part = raw.Trim();
            if (part.Length == 0) throw ApiException.BadRequest($"unable to parse requirement: empty requirement in \"{text}\"");
            string key;
            if (TrySet(part, " notin ", out key, out var notIn))
                tests.Add(l => !l.TryGetValue(key, out var v) || !notIn.Contains(v));
            else if (TrySet(part, " in ", out key, out var inSet))
                tests.Add(l => l.TryGetValue(key, out var v) && inSet.Contains(v));
            else if (part.Contains("!="))
            {
                var (k, v) = Pair(part, "!=");
                tests.Add(l => !l.TryGetValue(k, out var x) || x != v);
            }
            else if (part.Contains("=="))
            {
                var (k, v) = Pair(part, "==");
                tests.Add(l => l.TryGetValue(k, out var x) && x == v);
            }
            else if (part.Contains('='))
            {
                var (k, v) = Pair(part, "=");
                tests.Add(l => l.TryGetValue(k, out var x) && x == v);
            }
            else if (part.StartsWith('!'))
            {
                var k = CheckKey(part[1..].Trim());
                tests.Add(l => !l.ContainsKey(k));
            }
            else
            {
                var k = CheckKey(part);
                tests.Add(l => l.ContainsKey(k));
            }
        }
        return labels => tests.All(t => t(labels));
    }

    private static string CheckKey(string key)
    {
        if (Validation.LabelKeyProblem(key) is { } problem)
            throw ApiException.BadRequest($"unable to parse requirement: invalid label key \"{key}\": {problem}");
        return key;
    }

    private static (string Key, string Value) Pair(string part, string op)
    {
        var i = part.IndexOf(op, StringComparison.Ordinal);
        var key = CheckKey(part[..i].Trim());
        var value = part[(i + op.Length)..].Trim();
        if (value.Length > 0 && Validation.LabelValueProblem(value) is { } problem)
            throw ApiException.BadRequest($"unable to parse requirement: invalid label value: \"{value}\": {problem}");
        return (key, value);
    }

    private static bool TrySet(string part, string op, out string key, out HashSet<string> values)
    {
        key = "";
        values = [];
        var i = part.IndexOf(op, StringComparison.Ordinal);
        if (i < 0) return false;
        key = CheckKey(part[..i].Trim());
        var rest = part[(i + op.Length)..].Trim();
        if (!rest.StartsWith('(') || !rest.EndsWith(')'))
            throw ApiException.BadRequest($"unable to parse requirement: found '{rest}', expected: '('");
        values = rest[1..^1].Split(',').Select(v => v.Trim()).ToHashSet(StringComparer.Ordinal);
        return true;
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '(') depth++;
            else if (text[i] == ')') depth--;
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    /// <summary>Field selectors on pods: metadata.name, metadata.namespace, spec.nodeName, status.phase, status.podIP
    /// with =, == or !=. Others are refused, as the API server refuses fields it does not index.</summary>
    public static Func<JsonObject, bool> ParseFields(string? text, IReadOnlyDictionary<string, Func<JsonObject, string?>> fields, string kind)
    {
        if (string.IsNullOrWhiteSpace(text)) return _ => true;
        var tests = new List<Func<JsonObject, bool>>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            var negate = part.Contains("!=");
            var op = negate ? "!=" : part.Contains("==") ? "==" : "=";
            var i = part.IndexOf(op, StringComparison.Ordinal);
            if (i < 0) throw ApiException.BadRequest($"invalid selector: '{part}'; can't understand '{part}'");
            var name = part[..i].Trim();
            var value = part[(i + op.Length)..].Trim();
            if (!fields.TryGetValue(name, out var read))
                throw ApiException.BadRequest($"field label not supported: {name}");
            tests.Add(o => (read(o) ?? "") == value != negate);
        }
        _ = kind;
        return o => tests.All(t => t(o));
    }
}
