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
    /// <summary>Leave the cloud resource in place when Pulumi deletes it from the stack.</summary>
    public bool RetainOnDelete { get; init; }
    /// <summary>Input paths whose change replaces the resource instead of updating it.</summary>
    public IReadOnlyList<string> ReplaceOnChanges { get; init; } = [];
    /// <summary>The cloud id of an existing resource to adopt instead of creating one.</summary>
    public string? Import { get; init; }
    public CustomTimeouts? CustomTimeouts { get; init; }

    public static ResourceOptions None { get; } = new();
}

/// <summary>How long Pulumi waits for a create, update or delete, as Go durations ("30m", "1h30m"); null: the provider's default.</summary>
public sealed record CustomTimeouts(string? Create = null, string? Update = null, string? Delete = null);

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
        CheckType(type);
        Type = type;
        _options = options ?? ResourceOptions.None;
        Name = _options.Parent is { } parent ? $"{parent.Name}-{name}" : name;
        if (properties is not null) _properties.AddRange(properties.Entries);
        Options.Parent?.Register(this);
    }

    private static void CheckType(string type)
    {
        if (string.IsNullOrWhiteSpace(type) || type.Count(c => c == ':') < 2 && !type.StartsWith("pulumi:providers:", StringComparison.Ordinal))
            throw new ArgumentException($"'{type}' is not a resource type token (package:module:Type)", nameof(type));
    }

    private ResourceOptions _options;

    public string Type { get; private set; }
    /// <summary>The logical name in the program (unique within it).</summary>
    public string Name { get; }

    /// <summary>The resource's options; a transform may replace them (the parent, which made the name, stays).</summary>
    public ResourceOptions Options
    {
        get => _options;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Parent != _options.Parent) throw new InvalidOperationException($"{this}: the parent of a resource cannot change (it is part of the name)");
            _options = value;
        }
    }
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

    /// <summary>
    /// Applies a JSON merge patch (RFC 7396) to the inputs: objects merge key by key, <c>null</c> deletes, anything else
    /// (lists included) replaces. Returns the paths that <c>null</c> was to delete but that were not set ("tags.team").
    /// </summary>
    public IReadOnlyList<string> Patch(Obj patch)
    {
        var missing = new List<string>();
        foreach (var (key, value) in patch.Entries)
        {
            if (value is Lit { Value: null })
            {
                if (!Remove(key)) missing.Add(key);
            }
            else Set(key, MergePatch.Apply(Get(key), value, key, missing));
        }
        return missing;
    }

    /// <summary>Removes an input property; false when it was not set.</summary>
    public bool Remove(string key) => _properties.RemoveAll(p => p.Key == key) > 0;

    /// <summary>
    /// Gives the resource a new definition under the same name: every reference to it (outputs, provider, dependsOn)
    /// now means the new one. For replacing a resource a component made without rebuilding what refers to it.
    /// </summary>
    public void Redefine(string type, IEnumerable<KeyValuePair<string, Expr>> properties, ResourceOptions options)
    {
        CheckType(type);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Parent != _options.Parent) throw new InvalidOperationException($"{this}: the parent of a resource cannot change (it is part of the name)");
        Type = type;
        _options = options;
        _properties.Clear();
        _properties.AddRange(properties);
    }

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
