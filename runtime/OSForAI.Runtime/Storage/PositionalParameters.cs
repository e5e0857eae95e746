using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace OSForAI.Runtime.Storage;

/// <summary>
/// A statement written with named parameters ($owner), rewritten for PostgreSQL's positional ones ($1): each name gets the
/// number of its first appearance. Rewrites are cached: the stores use a fixed set of statements.
/// </summary>
internal sealed partial class PositionalParameters
{
    private static readonly ConcurrentDictionary<string, PositionalParameters> Cache = new();
    private readonly string[] _names;

    private PositionalParameters(string sql, string[] names)
    {
        Sql = sql;
        _names = names;
    }

    public string Sql { get; }

    public static PositionalParameters Of(string sql) => Cache.GetOrAdd(sql, static text =>
    {
        var names = new List<string>();
        var rewritten = Name().Replace(text, m =>
        {
            var at = names.IndexOf(m.Value);
            if (at < 0)
            {
                names.Add(m.Value);
                at = names.Count - 1;
            }
            return "$" + (at + 1);
        });
        return new PositionalParameters(rewritten, [.. names]);
    });

    /// <summary>The values in positional order; every name in the statement must be given.</summary>
    public object?[] Arguments((string Name, object? Value)[] args) => _names.Select(name =>
    {
        foreach (var (n, value) in args) if (n == name) return value;
        throw new ArgumentException($"the statement uses parameter {name} and none was given");
    }).ToArray();

    [GeneratedRegex(@"\$[A-Za-z_][A-Za-z0-9_]*")]
    private static partial Regex Name();
}
