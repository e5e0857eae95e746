using System.Globalization;

namespace OSForAI.Components.Synthesis;

/// <summary>
/// A value in a Pulumi YAML program: a literal, a list, an object, a reference to a resource output, a config
/// value or a variable, an interpolated string, or a built-in function. References are typed nodes that point at
/// the <see cref="Resource"/> object itself, never hand-built "${...}" strings, so a renamed or missing resource
/// cannot leave a dangling reference behind.
/// </summary>
public abstract record Expr
{
    public static implicit operator Expr(string value) => new Lit(value);
    public static implicit operator Expr(int value) => new Lit(value);
    public static implicit operator Expr(long value) => new Lit(value);
    public static implicit operator Expr(double value) => new Lit(value);
    public static implicit operator Expr(bool value) => new Lit(value);

    public static Expr Null { get; } = new Lit(null);

    public static Arr List(params Expr[] items) => new(items);
    public static Arr List(IEnumerable<Expr> items) => new(items.ToList());

    /// <summary>An object from (key, value) pairs; null values are left out, so optional inputs can be written inline.</summary>
    public static Obj Object(params (string Key, Expr? Value)[] entries) =>
        new(entries.Where(e => e.Value is not null).Select(e => new KeyValuePair<string, Expr>(e.Key, e.Value!)).ToList());

    /// <summary>A string built from text and references: <c>Expr.Format($"https://{host}/")</c> is not possible in C#, so pass parts.</summary>
    public static Interp Concat(params Expr[] parts) => new(parts);

    public static Fn Secret(Expr value) => new("fn::secret", value);
    public static Fn ToBase64(Expr value) => new("fn::toBase64", value);
    public static Fn FromBase64(Expr value) => new("fn::fromBase64", value);
    public static Fn ToJson(Expr value) => new("fn::toJSON", value);
    public static Fn Join(Expr separator, Expr values) => new("fn::join", List(separator, values));
    public static Fn Select(int index, Expr values) => new("fn::select", List(index, values));
    public static Fn Split(Expr delimiter, Expr text) => new("fn::split", List(delimiter, text));
    /// <summary><paramref name="text"/> with every <paramref name="find"/> replaced by <paramref name="replacement"/> (split, then join).</summary>
    public static Fn Replace(Expr text, string find, Expr replacement) => Join(replacement, Split(find, text));
}

/// <summary>A literal: string, number, boolean or null. Strings are written so that a literal "${" stays literal.</summary>
public sealed record Lit(object? Value) : Expr
{
    public override string ToString() => Value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var v => v.ToString() ?? "",
    };
}

public sealed record Arr(IReadOnlyList<Expr> Items) : Expr;

/// <summary>An object with keys in the order given (the YAML keeps it, so programs diff cleanly).</summary>
public sealed record Obj(IReadOnlyList<KeyValuePair<string, Expr>> Entries) : Expr
{
    public Expr? this[string key] => Entries.FirstOrDefault(e => e.Key == key).Value;
}

/// <summary>
/// <c>${resource.path}</c>: an output of a resource (a path like "arn", "vpcConfig.clusterSecurityGroupId",
/// "status.loadBalancer.ingress[0].hostname"), or the resource itself when the path is empty.
/// </summary>
public sealed record Ref(Resource Resource, string Path = "") : Expr;

/// <summary><c>${key}</c>: a value of the program's <c>config:</c> section.</summary>
public sealed record ConfigRef(ConfigKey Key) : Expr;

/// <summary><c>${name.path}</c>: a program variable (usually an invoke's result).</summary>
public sealed record VarRef(Variable Variable, string Path = "") : Expr;

/// <summary><c>${pulumi.stack}</c>, <c>${pulumi.project}</c>.</summary>
public sealed record PulumiRef(string Name) : Expr
{
    public static PulumiRef Stack { get; } = new("stack");
    public static PulumiRef Project { get; } = new("project");
}

/// <summary>A string made of literal text and references, written as one interpolated YAML string.</summary>
public sealed record Interp(IReadOnlyList<Expr> Parts) : Expr;

/// <summary>A built-in function with one argument, e.g. <c>fn::secret</c>, <c>fn::toJSON</c>, <c>fn::join</c>.</summary>
public sealed record Fn(string Name, Expr Argument) : Expr;

/// <summary><c>fn::invoke</c> of a provider function; <see cref="Return"/> picks one property of its result.</summary>
public sealed record Invoke(string Token, Obj Arguments, string? Return = null, Resource? Provider = null) : Expr;
