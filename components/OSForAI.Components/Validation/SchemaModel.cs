namespace OSForAI.Components.Validation;

/// <summary>The kinds of a mini-schema typeref (see shared/pulumi-schema/README.md).</summary>
public enum SchemaKind { String, Number, Boolean, Any, Asset, Archive, Array, Map, Object, Enum, Union, Resource }

/// <summary>
/// A typeref of the mini-schema: a primitive, <c>array</c> (<see cref="Element"/> = items), <c>map</c>
/// (<see cref="Element"/> = values), <c>object</c> (<see cref="Ref"/> into the package's types, or inline properties
/// for a function's result), <c>enum</c> (<see cref="EnumValues"/>), <c>union</c> (<see cref="Of"/>) or <c>resource</c>
/// (<see cref="Token"/>; null for "any resource").
/// </summary>
public sealed class SchemaType
{
    private readonly IReadOnlyDictionary<string, SchemaProperty>? _inline;

    private SchemaType(SchemaKind kind, SchemaType? element = null, string? @ref = null, PackageSchema? package = null,
        IReadOnlyList<object>? enumValues = null, IReadOnlyList<SchemaType>? of = null, string? token = null,
        IReadOnlyDictionary<string, SchemaProperty>? inline = null)
    {
        Kind = kind;
        Element = element;
        Ref = @ref;
        Package = package;
        EnumValues = enumValues ?? [];
        Of = of ?? [];
        Token = token;
        _inline = inline;
    }

    public SchemaKind Kind { get; }
    /// <summary>Items of an array, values of a map.</summary>
    public SchemaType? Element { get; }
    /// <summary>The object type's name in <see cref="Package"/>'s types.</summary>
    public string? Ref { get; }
    /// <summary>The package whose types an object's <see cref="Ref"/> names.</summary>
    public PackageSchema? Package { get; }
    /// <summary>Strings, doubles or booleans.</summary>
    public IReadOnlyList<object> EnumValues { get; }
    public IReadOnlyList<SchemaType> Of { get; }
    /// <summary>The resource token of a resource typeref (null: any resource; "pulumi:providers:*": any provider).</summary>
    public string? Token { get; }

    public static SchemaType String { get; } = new(SchemaKind.String);
    public static SchemaType Number { get; } = new(SchemaKind.Number);
    public static SchemaType Boolean { get; } = new(SchemaKind.Boolean);
    public static SchemaType Any { get; } = new(SchemaKind.Any);
    public static SchemaType Asset { get; } = new(SchemaKind.Asset);
    public static SchemaType Archive { get; } = new(SchemaKind.Archive);

    public static SchemaType ArrayOf(SchemaType items) => new(SchemaKind.Array, element: items);
    public static SchemaType MapOf(SchemaType values) => new(SchemaKind.Map, element: values);
    public static SchemaType ObjectRef(string name, PackageSchema? package) => new(SchemaKind.Object, @ref: name, package: package);
    /// <summary>An object whose properties are given here (a function's result, a resource's outputs, a literal object).</summary>
    public static SchemaType InlineObject(string name, IReadOnlyDictionary<string, SchemaProperty> properties) =>
        new(SchemaKind.Object, @ref: name, inline: properties);
    public static SchemaType EnumOf(IReadOnlyList<object> values) => new(SchemaKind.Enum, enumValues: values);
    public static SchemaType UnionOf(IReadOnlyList<SchemaType> of) => new(SchemaKind.Union, of: of);
    public static SchemaType ResourceOf(string? token) => new(SchemaKind.Resource, token: token);

    /// <summary>The properties of an object type, or null when it cannot be resolved (an unknown or missing ref).</summary>
    public IReadOnlyDictionary<string, SchemaProperty>? Properties =>
        Kind != SchemaKind.Object ? null : _inline ?? (Ref is null ? null : Package?.FindType(Ref));

    /// <summary>A short description for messages: "a number", "a list of string", "one of "A", "B"".</summary>
    public string Describe() => Kind switch
    {
        SchemaKind.String => "a string",
        SchemaKind.Number => "a number",
        SchemaKind.Boolean => "a boolean",
        SchemaKind.Any => "any value",
        SchemaKind.Asset => "an asset",
        SchemaKind.Archive => "an archive",
        SchemaKind.Array => "a list",
        SchemaKind.Map => "a map",
        SchemaKind.Object => Ref is null ? "an object" : $"an object ({Ref})",
        SchemaKind.Enum => "one of " + string.Join(", ", EnumValues.Select(FormatValue)),
        SchemaKind.Union => string.Join(" or ", Of.Select(o => o.Describe())),
        SchemaKind.Resource => Token is null ? "a resource" : $"a {Token} resource",
        _ => Kind.ToString(),
    };

    public override string ToString() => Kind switch
    {
        SchemaKind.Array => $"array<{Element}>",
        SchemaKind.Map => $"map<{Element}>",
        SchemaKind.Object => Ref ?? "object",
        SchemaKind.Enum => "enum[" + string.Join(", ", EnumValues.Select(FormatValue)) + "]",
        SchemaKind.Union => string.Join(" | ", Of),
        SchemaKind.Resource => Token ?? "resource",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    internal static string FormatValue(object v) => v switch
    {
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };
}

/// <summary>An input property (of a resource, a function or an object type).</summary>
public sealed record SchemaProperty(string Name, SchemaType Type, bool Required, bool Plain = false);

/// <summary>A resource token's inputs and outputs (outputs include <c>urn</c>, and <c>id</c> unless a component).</summary>
public sealed record ResourceSchema(
    string Token,
    PackageSchema Package,
    IReadOnlyDictionary<string, SchemaProperty> Inputs,
    IReadOnlyDictionary<string, SchemaType> Outputs,
    bool IsComponent,
    bool IsOverlay)
{
    public bool IsProvider => Token.StartsWith(PulumiSchema.ProviderPrefix, StringComparison.Ordinal);
}

/// <summary>A provider function: its arguments and its result (an object of <see cref="Outputs"/>, or <see cref="Returns"/>).</summary>
public sealed record FunctionSchema(
    string Token,
    PackageSchema Package,
    IReadOnlyDictionary<string, SchemaProperty> Inputs,
    IReadOnlyDictionary<string, SchemaType> Outputs,
    SchemaType? Returns);
