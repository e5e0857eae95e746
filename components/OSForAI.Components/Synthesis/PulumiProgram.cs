using System.Text;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Components.Synthesis;

/// <summary>
/// A whole Pulumi YAML program (runtime: yaml): config declarations, variables, resources and outputs, written
/// deterministically by <see cref="ToYaml"/>. Names must be unique; every reference must point at something the
/// program declares (checked when writing).
/// </summary>
public sealed partial class PulumiProgram(string name, string? description = null)
{
    private readonly List<ConfigKey> _config = [];
    private readonly List<Variable> _variables = [];
    private readonly List<Resource> _resources = [];
    private readonly List<KeyValuePair<string, Expr>> _outputs = [];

    public string Name { get; } = name;
    public string? Description { get; } = description;
    public IReadOnlyList<ConfigKey> Config => _config;
    public IReadOnlyList<Variable> Variables => _variables;
    public IReadOnlyList<Resource> Resources => _resources;
    public IReadOnlyList<KeyValuePair<string, Expr>> Outputs => _outputs;

    public ConfigKey AddConfig(ConfigKey key)
    {
        if (_config.Any(c => c.Name == key.Name)) throw new InvalidOperationException($"config key '{key.Name}' is declared twice");
        _config.Add(key);
        return key;
    }

    public Variable AddVariable(string name, Expr value) => AddVariable(new Variable(name, value));

    /// <summary>Adds a variable a component made (components cannot declare program variables themselves).</summary>
    public Variable AddVariable(Variable variable)
    {
        CheckName(variable.Name);
        _variables.Add(variable);
        return variable;
    }

    public T Add<T>(T resource) where T : Resource
    {
        CheckName(resource.Name);
        _resources.Add(resource);
        return resource;
    }

    /// <summary>Adds every resource of a component tree.</summary>
    public void Add(ComponentResource component)
    {
        foreach (var r in component.AllResources()) Add(r);
    }

    public void AddOutput(string name, Expr value) => _outputs.Add(new(name, value));

    /// <summary>Sets an output: replaces the value of one the program has (in its place), else adds it.</summary>
    public void SetOutput(string name, Expr value)
    {
        var i = _outputs.FindIndex(o => o.Key == name);
        if (i >= 0) _outputs[i] = new(name, value);
        else _outputs.Add(new(name, value));
    }

    /// <summary>Removes an output; false when the program has none of that name.</summary>
    public bool RemoveOutput(string name) => _outputs.RemoveAll(o => o.Key == name) > 0;

    /// <summary>
    /// Removes a resource from the program. Anything that still refers to it would leave a dangling reference, so
    /// that is refused with the list of referrers (<see cref="ReferencesTo"/>): change or remove those first.
    /// </summary>
    public void Remove(Resource resource)
    {
        if (!_resources.Contains(resource)) throw new InvalidOperationException($"{resource} is not in the program");
        var referrers = ReferencesTo(resource);
        if (referrers.Count > 0)
            throw new InvalidOperationException($"{resource.Name} is still referred to by {string.Join(", ", referrers)}");
        _resources.Remove(resource);
    }

    /// <summary>Where the program refers to <paramref name="resource"/>: "name (properties.x)", "name (options.dependsOn)", "output o", "variable v".</summary>
    public IReadOnlyList<string> ReferencesTo(Resource resource)
    {
        var found = new List<string>();
        foreach (var r in _resources)
        {
            if (r == resource) continue;
            foreach (var (key, value) in r.Properties)
                if (ExprTree.Resources(value).Contains(resource)) found.Add($"{r.Name} (properties.{key})");
            if (r.Options.Provider == resource) found.Add($"{r.Name} (options.provider)");
            if (r.Options.DependsOn.Contains(resource)) found.Add($"{r.Name} (options.dependsOn)");
        }
        foreach (var v in _variables)
            if (ExprTree.Resources(v.Value).Contains(resource)) found.Add($"variable {v.Name}");
        foreach (var (name, value) in _outputs)
            if (ExprTree.Resources(value).Contains(resource)) found.Add($"output {name}");
        return found;
    }

    /// <summary>
    /// The packages (plugins) the program needs: those of its resource types and of the functions it invokes. Pulumi
    /// asks the compiler for them without a stack, so a stack's program must need no package the stack-less one lacks.
    /// </summary>
    public IReadOnlySet<string> Packages()
    {
        static string PackageOf(string token) =>
            token.StartsWith("pulumi:providers:", StringComparison.Ordinal) ? token["pulumi:providers:".Length..] : token.Split(':')[0];
        var packages = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var r in _resources)
        {
            packages.Add(PackageOf(r.Type));
            foreach (var (_, value) in r.Properties) packages.UnionWith(ExprTree.Functions(value).Select(PackageOf));
        }
        foreach (var v in _variables) packages.UnionWith(ExprTree.Functions(v.Value).Select(PackageOf));
        foreach (var (_, value) in _outputs) packages.UnionWith(ExprTree.Functions(value).Select(PackageOf));
        return packages;
    }

    private void CheckName(string name)
    {
        if (_resources.Any(r => r.Name == name) || _variables.Any(v => v.Name == name))
            throw new InvalidOperationException($"the name '{name}' is used twice in the program");
    }

    /// <summary>The program as Pulumi YAML.</summary>
    public string ToYaml() => new YamlWriter(this).Write();

    private sealed partial class YamlWriter(PulumiProgram program)
    {
        private readonly HashSet<Resource> _declared = [.. program._resources];
        private readonly HashSet<Variable> _variables = [.. program._variables];
        private readonly HashSet<ConfigKey> _config = [.. program._config];

        public string Write()
        {
            var root = new YamlMappingNode
            {
                { "name", program.Name },
                { "runtime", "yaml" },
            };
            if (program.Description is { } d) root.Add("description", d);
            if (program._config.Count > 0)
            {
                var config = new YamlMappingNode();
                foreach (var c in program._config)
                {
                    var node = new YamlMappingNode { { "type", c.Type } };
                    if (c.Items is { } items) node.Add("items", new YamlMappingNode { { "type", items } });
                    if (c.Default is { } def) node.Add("default", Node(def));
                    if (c.Secret) node.Add("secret", Scalar(true));
                    config.Add(c.Name, node);
                }
                root.Add("config", config);
            }
            if (program._variables.Count > 0)
            {
                var variables = new YamlMappingNode();
                foreach (var v in program._variables) variables.Add(v.Name, Node(v.Value));
                root.Add("variables", variables);
            }
            var resources = new YamlMappingNode();
            foreach (var r in program._resources) resources.Add(r.Name, ResourceNode(r));
            root.Add("resources", resources);
            if (program._outputs.Count > 0)
            {
                var outputs = new YamlMappingNode();
                foreach (var (k, v) in program._outputs) outputs.Add(k, Node(v));
                root.Add("outputs", outputs);
            }
            var stream = new YamlStream(new YamlDocument(root));
            var sb = new StringBuilder();
            using (var w = new StringWriter(sb) { NewLine = "\n" }) stream.Save(w, assignAnchors: false);
            var text = sb.ToString();
            // YamlDotNet ends a document with "...": not needed for a single program.
            if (text.EndsWith("...\n", StringComparison.Ordinal)) text = text[..^4];
            return text;
        }

        private YamlMappingNode ResourceNode(Resource r)
        {
            var node = new YamlMappingNode { { "type", r.Type } };
            if (r.Properties.Count > 0)
            {
                var props = new YamlMappingNode();
                foreach (var (k, v) in r.Properties) props.Add(k, Node(v));
                node.Add("properties", props);
            }
            var o = r.Options;
            var options = new YamlMappingNode();
            if (o.Provider is { } p) options.Add("provider", Node(p.Self));
            if (o.DependsOn.Count > 0) options.Add("dependsOn", new YamlSequenceNode(o.DependsOn.Select(d => Node(d.Self))));
            if (o.Protect) options.Add("protect", Scalar(true));
            if (o.IgnoreChanges.Count > 0) options.Add("ignoreChanges", new YamlSequenceNode(o.IgnoreChanges.Select(s => (YamlNode)new YamlScalarNode(s))));
            if (o.DeleteBeforeReplace) options.Add("deleteBeforeReplace", Scalar(true));
            if (o.AdditionalSecretOutputs.Count > 0)
                options.Add("additionalSecretOutputs", new YamlSequenceNode(o.AdditionalSecretOutputs.Select(s => (YamlNode)new YamlScalarNode(s))));
            if (o.Version is { } version) options.Add("version", version);
            if (o.RetainOnDelete) options.Add("retainOnDelete", Scalar(true));
            if (o.ReplaceOnChanges.Count > 0) options.Add("replaceOnChanges", new YamlSequenceNode(o.ReplaceOnChanges.Select(s => (YamlNode)new YamlScalarNode(s))));
            if (o.Import is { } import) options.Add("import", Text(import));
            if (o.CustomTimeouts is { } t)
                options.Add("customTimeouts", Mapping(new (string, YamlNode)?[]
                {
                    t.Create is { } c ? ("create", Text(c)) : null,
                    t.Update is { } u ? ("update", Text(u)) : null,
                    t.Delete is { } d ? ("delete", Text(d)) : null,
                }.Where(x => x is not null).Select(x => x!.Value)));
            if (options.Children.Count > 0) node.Add("options", options);
            return node;
        }

        private YamlNode Node(Expr e) => e switch
        {
            Lit { Value: null } => new YamlScalarNode("null") { Style = YamlDotNet.Core.ScalarStyle.Plain },
            Lit { Value: string s } => Text(Escape(s)),
            Lit l => Scalar(l.Value!),
            Arr a => new YamlSequenceNode(a.Items.Select(Node)),
            Obj o => Mapping(o.Entries.Select(kv => (kv.Key, Node(kv.Value)))),
            Ref or ConfigRef or VarRef or PulumiRef => Text("${" + Reference(e) + "}"),
            Interp i => Text(string.Concat(i.Parts.Select(p => p is Lit { Value: string s } ? Escape(s) : p is Lit l ? l.ToString() : "${" + Reference(p) + "}"))),
            Fn f => Mapping([(f.Name, Node(f.Argument))]),
            Invoke inv => Mapping([("fn::invoke", Mapping(new (string, YamlNode)?[]
            {
                ("function", Text(inv.Token)),
                ("arguments", Node(inv.Arguments)),
                inv.Provider is { } ip ? ("options", Mapping([("provider", Node(ip.Self))])) : null,
                inv.Return is { } ret ? ("return", Text(ret)) : null,
            }.Where(x => x is not null).Select(x => x!.Value)))]),
            _ => throw new InvalidOperationException($"cannot write {e.GetType().Name}"),
        };

        private string Reference(Expr e) => e switch
        {
            Ref r => _declared.Contains(r.Resource)
                ? Path(r.Resource.Name, r.Path)
                : throw new InvalidOperationException($"a reference points at {r.Resource}, which is not in the program"),
            VarRef v => _variables.Contains(v.Variable)
                ? Path(v.Variable.Name, v.Path)
                : throw new InvalidOperationException($"a reference points at variable '{v.Variable.Name}', which is not in the program"),
            ConfigRef c => _config.Contains(c.Key)
                ? c.Key.Name
                : throw new InvalidOperationException($"a reference points at config key '{c.Key.Name}', which is not declared"),
            PulumiRef p => "pulumi." + p.Name,
            _ => throw new InvalidOperationException($"{e.GetType().Name} cannot be interpolated into a string"),
        };

        private static string Path(string name, string path) =>
            path.Length == 0 ? name : path.StartsWith('[') ? name + path : name + "." + path;

        /// <summary>Pulumi YAML reads "${" as the start of an expression; a literal one is written "$${".</summary>
        private static string Escape(string s) => s.Replace("${", "$${", StringComparison.Ordinal);

        private static YamlScalarNode Text(string s) => new(s) { Style = NeedsQuotes(s) ? YamlDotNet.Core.ScalarStyle.DoubleQuoted : YamlDotNet.Core.ScalarStyle.Any };

        /// <summary>
        /// Strings that would read back as another type are quoted: numbers, booleans, null, and what YAML 1.1 readers
        /// also resolve — dates ("2012-10-17", the IAM policy version), hex/octal/binary integers, y/n, .inf/.nan.
        /// </summary>
        private static bool NeedsQuotes(string s) =>
            s.Length == 0 || bool.TryParse(s, out _) || double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _) ||
            s is "null" or "~" or "yes" or "no" or "on" or "off" or "Yes" or "No" or "On" or "Off" or "NULL" or "Null" or "YES" or "NO" or "ON" or "OFF" or "y" or "n" or "Y" or "N" ||
            OtherTypedScalar().IsMatch(s);

        [System.Text.RegularExpressions.GeneratedRegex(@"^(\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?)$")]
        private static partial System.Text.RegularExpressions.Regex OtherTypedScalar();

        private static YamlScalarNode Scalar(object v) => new(new Lit(v).ToString()) { Style = YamlDotNet.Core.ScalarStyle.Plain };

        private static YamlMappingNode Mapping(IEnumerable<(string Key, YamlNode Value)> entries)
        {
            var m = new YamlMappingNode();
            foreach (var (k, v) in entries) m.Add(k, v);
            return m;
        }
    }
}
