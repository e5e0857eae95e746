namespace OSForAI.Runtime.Auth;

[Flags]
public enum Scopes
{
    None = 0,
    Call = 1,
    Publish = 2,
    Admin = 4,
}

/// <summary>
/// Who is calling: the key's owner, what the key may do, and the data it may reach beyond its owner's own data://
/// space (<see cref="DataGrants"/>; an algorithm called with this key acts with the same grants, never more).
/// </summary>
public sealed record Principal(string KeyId, string Owner, Scopes Scopes, IReadOnlyList<DataGrant>? DataGrants = null)
{
    public IReadOnlyList<DataGrant> Grants => DataGrants ?? [];

    public bool IsAdmin => Scopes.HasFlag(Scopes.Admin);
    /// <summary>Admin keys may do everything.</summary>
    public bool Has(Scopes scope) => IsAdmin || Scopes.HasFlag(scope);

    public static Scopes ParseScopes(IEnumerable<string> names)
    {
        var s = Scopes.None;
        foreach (var raw in names)
        {
            var name = raw.Trim().ToLowerInvariant();
            if (name.Length == 0) continue;
            s |= name switch
            {
                "call" => Scopes.Call,
                "publish" => Scopes.Publish,
                "admin" => Scopes.Admin,
                _ => throw new ArgumentException($"unknown scope '{raw}' (known: call, publish, admin)"),
            };
        }
        if (s == Scopes.None) throw new ArgumentException("a key needs at least one scope (call, publish, admin)");
        return s;
    }

    public static string[] ScopeNames(Scopes s) =>
        new[] { (Scopes.Call, "call"), (Scopes.Publish, "publish"), (Scopes.Admin, "admin") }
            .Where(p => s.HasFlag(p.Item1)).Select(p => p.Item2).ToArray();
}
