using System.Text.RegularExpressions;

namespace OSForAI.Runtime.Catalog;

/// <summary>Owner and algorithm names: letters, digits, '_' and '-', 1–64 chars, not starting with '-'.</summary>
public static partial class Names
{
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")]
    private static partial Regex NamePattern();

    public static bool IsValid(string? name) => name is not null && NamePattern().IsMatch(name);

    public static void Require(string? name, string what)
    {
        if (!IsValid(name))
            throw new CatalogException(CatalogError.Invalid,
                $"invalid {what} '{name}': use 1-64 letters, digits, '_' or '-', not starting with '-'");
    }
}
