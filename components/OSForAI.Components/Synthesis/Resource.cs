namespace OSForAI.Components.Synthesis;

/// <summary>Resource options, as Pulumi YAML spells them.</summary>
public sealed record ResourceOptions
{
    /// <summary>The component (or resource) this one belongs to; components pass themselves to their children.</summary>
    public ComponentResource? Parent { get; init; }
    public Resource? Provider { get; init; }
    public IReadOnlyList<Resource> DependsOn { get; init; } = [];
    public bool Protect { get; init; }
    public IReadOnlyList<string> IgnoreChanges { get; init; } = [];
    public bool DeleteBeforeReplace { get; init; }
    public IReadOnlyList<string> AdditionalSecretOutputs { get; init; } = [];
    public string? Version { get; init; }

    public static ResourceOptions None { get; } = new();
}

/// <summary>
/// One custom resource of the program: a logical name, a type token (canonical form, e.g.
/// <c>aws:eks/nodeGroup:NodeGroup</c>), input properties and options. A resource created with a parent component is
/// registered with it and named "&lt;component&gt;-&lt;name&gt;" in the program, as Pulumi names children.
/// </summary>
public class Resource
{
    private readonly List<KeyValuePair<string, Expr>> _properties = [];

    public Resource(string type, string name, Obj? properties = null, ResourceOptions? options = null)
    {
        if (string.IsNullOrWhiteSpace(type) || type.Count(c => c == ':') < 2 && !type.StartsWith("pulumi:providers:", StringComparison.Ordinal))
            throw new ArgumentException($"'{type}' is not a resource type token (package:module:Type)", nameof(type));
        Type = type;
        Options = options ?? ResourceOptions.None;
        Name = Options.Parent is { } parent ? $"{parent.Name}-{name}" : name;
        if (properties is not null) _properties.AddRange(properties.Entries);
        Options.Parent?.Register(this);
    }

    public string Type { get; }
    /// <summary>The logical name in the program (unique within it).</summary>
    public string Name { get; }
    public ResourceOptions Options { get; }
    public IReadOnlyList<KeyValuePair<string, Expr>> Properties => _properties;

    /// <summary>A reference to one of this resource's outputs (or nested output path).</summary>
    public Ref Output(string path) => new(this, path);
    /// <summary>A reference to the resource itself (for options such as provider and dependsOn).</summary>
    public Ref Self => new(this);

    /// <summary>Sets or replaces an input property (for transformations by platform teams).</summary>
    public void Set(string key, Expr value)
    {
        var i = _properties.FindIndex(p => p.Key == key);
        if (i >= 0) _properties[i] = new(key, value);
        else _properties.Add(new(key, value));
    }

    public Expr? Get(string key) => _properties.FirstOrDefault(p => p.Key == key).Value;

    public override string ToString() => $"{Name} ({Type})";
}

/// <summary>A named variable of the program, usually the result of a provider function (fn::invoke).</summary>
public sealed record Variable(string Name, Expr Value)
{
    public VarRef Output(string path = "") => new(this, path);
}

/// <summary>A key of the program's config section.</summary>
/// <param name="Items">The element type of an <c>array</c> key (<c>string</c>…); null for other types.</param>
public sealed record ConfigKey(string Name, string Type, Expr? Default = null, bool Secret = false, string? Items = null)
{
    public ConfigRef Ref => new(this);
}

/// <summary>
/// A component: a named group of resources (and other components) built from typed args. Pulumi YAML has no
/// component resources of its own, so a component exists in the graph (for naming, parenting, outputs and
/// customisation) and its custom resources are written out flat.
/// </summary>
public abstract class ComponentResource
{
    private readonly List<Resource> _resources = [];
    private readonly List<ComponentResource> _children = [];

    protected ComponentResource(string type, string name, ComponentResource? parent = null)
    {
        Type = type;
        Name = parent is null ? name : $"{parent.Name}-{name}";
        Parent = parent;
        parent?._children.Add(this);
    }

    public string Type { get; }
    public string Name { get; }
    public ComponentResource? Parent { get; }

    /// <summary>Options for a child resource: parented to this component.</summary>
    protected ResourceOptions Child(Resource? provider = null, params Resource[] dependsOn) =>
        new() { Parent = this, Provider = provider, DependsOn = dependsOn };

    internal void Register(Resource resource) => _resources.Add(resource);

    /// <summary>Every custom resource of this component and its child components, in creation order.</summary>
    public IEnumerable<Resource> AllResources() => _resources.Concat(_children.SelectMany(c => c.AllResources()));

    /// <summary>Applies <paramref name="transform"/> to every resource of the component tree (tags, sizes, policies).</summary>
    public void Transform(Action<Resource> transform)
    {
        foreach (var r in AllResources()) transform(r);
    }
}
