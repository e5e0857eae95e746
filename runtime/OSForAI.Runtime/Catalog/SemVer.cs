using System.Globalization;

namespace OSForAI.Runtime.Catalog;

/// <summary>A published version number MAJOR.MINOR.PATCH (digits only, no leading zeros beyond "0").</summary>
public readonly record struct SemVer(int Major, int Minor, int Patch) : IComparable<SemVer>
{
    public int CompareTo(SemVer other) =>
        Major != other.Major ? Major.CompareTo(other.Major)
        : Minor != other.Minor ? Minor.CompareTo(other.Minor)
        : Patch.CompareTo(other.Patch);

    public override string ToString() => $"{Major}.{Minor}.{Patch}";

    public static bool TryParse(string? text, out SemVer version)
    {
        version = default;
        if (string.IsNullOrEmpty(text)) return false;
        var parts = text.Split('.');
        if (parts.Length != 3) return false;
        if (!TryPart(parts[0], out var a) || !TryPart(parts[1], out var b) || !TryPart(parts[2], out var c)) return false;
        version = new SemVer(a, b, c);
        return true;
    }

    internal static bool TryPart(string s, out int value)
    {
        value = 0;
        if (s.Length is 0 or > 9) return false;
        if (s.Length > 1 && s[0] == '0') return false;
        foreach (var ch in s) if (ch is < '0' or > '9') return false;
        value = int.Parse(s, CultureInfo.InvariantCulture);
        return true;
    }

    public static SemVer Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException($"'{text}' is not a version of the form MAJOR.MINOR.PATCH");
}

/// <summary>What a caller asked for: latest, an exact version, a wildcard, or an unpublished build hash.</summary>
public sealed record VersionSpec
{
    public enum SpecKind { Latest, Exact, Minor, Major, Build }

    public required SpecKind Kind { get; init; }
    public int Major { get; init; }
    public int Minor { get; init; }
    public SemVer Exact { get; init; }
    public string? BuildHash { get; init; }

    public static readonly VersionSpec Latest = new() { Kind = SpecKind.Latest };

    /// <summary>Parses "", "latest", "1.2.3", "1.2.*", "1.*" or a hex build hash (12–64 chars).</summary>
    public static bool TryParse(string? text, out VersionSpec spec, out string? error)
    {
        spec = Latest;
        error = null;
        if (string.IsNullOrEmpty(text) || text == "latest") return true;
        if (SemVer.TryParse(text, out var exact))
        {
            spec = new VersionSpec { Kind = SpecKind.Exact, Exact = exact, Major = exact.Major, Minor = exact.Minor };
            return true;
        }
        var parts = text.Split('.');
        if (parts.Length == 2 && parts[1] == "*" && SemVer.TryPart(parts[0], out var maj))
        {
            spec = new VersionSpec { Kind = SpecKind.Major, Major = maj };
            return true;
        }
        if (parts.Length == 3 && parts[2] == "*" && SemVer.TryPart(parts[0], out maj) && SemVer.TryPart(parts[1], out var min))
        {
            spec = new VersionSpec { Kind = SpecKind.Minor, Major = maj, Minor = min };
            return true;
        }
        if (text.Length is >= 12 and <= 64 && text.All(Uri.IsHexDigit))
        {
            spec = new VersionSpec { Kind = SpecKind.Build, BuildHash = text.ToLowerInvariant() };
            return true;
        }
        error = $"'{text}' is not a valid version: use 1.2.3, 1.2.*, 1.*, latest or a build hash";
        return false;
    }

    public bool Matches(SemVer v) => Kind switch
    {
        SpecKind.Latest => true,
        SpecKind.Exact => v == Exact,
        SpecKind.Minor => v.Major == Major && v.Minor == Minor,
        SpecKind.Major => v.Major == Major,
        _ => false,
    };

    public override string ToString() => Kind switch
    {
        SpecKind.Latest => "latest",
        SpecKind.Exact => Exact.ToString(),
        SpecKind.Minor => $"{Major}.{Minor}.*",
        SpecKind.Major => $"{Major}.*",
        _ => BuildHash!,
    };
}
