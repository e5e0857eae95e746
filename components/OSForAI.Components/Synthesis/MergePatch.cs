namespace OSForAI.Components.Synthesis;

/// <summary>JSON merge patch (RFC 7396) on expressions: what overrides files and transforms use to change a value in place.</summary>
public static class MergePatch
{
    /// <summary>
    /// The value <paramref name="patch"/> makes of <paramref name="target"/>: an object patch merges into an object key by
    /// key (a <c>null</c> value deletes the key); any other patch replaces the target; a target that is not an object
    /// (absent, a reference, a function) is taken as <c>{}</c>. Deletions of keys that were not there are added to
    /// <paramref name="missing"/> as paths under <paramref name="path"/>.
    /// </summary>
    public static Expr Apply(Expr? target, Expr patch, string path = "", ICollection<string>? missing = null)
    {
        if (patch is not Obj p) return patch;
        var entries = (target as Obj)?.Entries.ToList() ?? [];
        foreach (var (key, value) in p.Entries)
        {
            var at = path.Length == 0 ? key : $"{path}.{key}";
            var i = entries.FindIndex(e => e.Key == key);
            if (value is Lit { Value: null })
            {
                if (i >= 0) entries.RemoveAt(i);
                else missing?.Add(at);
            }
            else if (i >= 0) entries[i] = new(key, Apply(entries[i].Value, value, at, missing));
            else entries.Add(new(key, Apply(null, value, at, missing)));
        }
        return new Obj(entries);
    }
}
