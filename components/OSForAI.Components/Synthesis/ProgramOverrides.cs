using System.Globalization;
using System.Text;
using OSForAI.Components.Validation;
using YamlDotNet.RepresentationModel;

namespace OSForAI.Components.Synthesis;

/// <summary>An overrides file that does not apply: every problem, each with its file, line and what it names.</summary>
public sealed class ProgramOverridesException(string message, IReadOnlyList<string> problems) : Exception(message)
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Changes to a synthesized program, written as data (YAML, the shape of a Pulumi YAML program) rather than code, so a
/// platform team can customise a stack without forking the components. Sections, applied in this order:
/// <list type="bullet">
/// <item><c>config</c>: new config keys (<c>type</c>, <c>default</c>, <c>secret</c>, <c>items</c>, as Pulumi YAML).</item>
/// <item><c>variables</c>: new program variables (a variable may refer to those above it).</item>
/// <item><c>replace</c>: a resource the program has, given a new definition (<c>type</c>, <c>properties</c>,
/// <c>options</c>) under the same name; every reference to it then means the replacement.</item>
/// <item><c>resources</c>: new resources (Pulumi YAML's shape); names must be new.</item>
/// <item><c>patches</c>: a list of merge patches (RFC 7396: objects merge key by key, <c>null</c> deletes, anything
/// else — lists included — replaces), each addressed to one resource by <c>resource: name</c> or to every resource of
/// a type by <c>type: token</c>, on its <c>properties</c> and/or <c>options</c>.</item>
/// <item><c>remove</c>: names of resources to drop; nothing left in the program may refer to them.</item>
/// <item><c>outputs</c>: outputs added or replaced; <c>null</c> removes one.</item>
/// </list>
/// Strings take Pulumi YAML's <c>${name.path}</c> references to the program's resources, variables, config keys and
/// <c>${pulumi.stack}</c>, resolved to typed references, so a dangling one is an error here and not at deploy time;
/// <c>$${</c> is a literal <c>${</c>; a one-key mapping <c>fn::…</c> is a built-in function. A new resource (or a
/// replacement) without <c>options.provider</c> gets the program's provider of its package when it has exactly one,
/// so it lands in the stack's account, region or cluster. Every name, type, output or deleted property a file
/// addresses must exist: otherwise the error names it and the nearest names the program has.
/// </summary>
public sealed class ProgramOverrides
{
    /// <summary>The top-level keys of an overrides file.</summary>
    public static IReadOnlyList<string> Sections { get; } = ["config", "variables", "replace", "resources", "patches", "remove", "outputs"];

    /// <summary>The resource options an overrides file may set, as Pulumi YAML spells them.</summary>
    public static IReadOnlyList<string> OptionNames { get; } =
        ["additionalSecretOutputs", "customTimeouts", "deleteBeforeReplace", "dependsOn", "ignoreChanges", "import", "protect", "provider", "replaceOnChanges", "retainOnDelete", "version"];

    private readonly YamlMappingNode _root;

    private ProgramOverrides(string source, YamlMappingNode root)
    {
        Source = source;
        _root = root;
    }

    /// <summary>Where the overrides came from (the file's name), the prefix of every message.</summary>
    public string Source { get; }

    /// <summary>Reads overrides from YAML text; <paramref name="source"/> names it in messages.</summary>
    public static ProgramOverrides Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new ProgramOverridesException($"{source}: not valid YAML: {e.Message} (line {e.Start.Line})", [e.Message]);
        }
        if (stream.Documents.Count == 0) return new ProgramOverrides(source, new YamlMappingNode());
        if (stream.Documents.Count > 1) throw new ProgramOverridesException($"{source}: holds {stream.Documents.Count} YAML documents; write one", []);
        return stream.Documents[0].RootNode switch
        {
            YamlMappingNode root => new ProgramOverrides(source, root),
            YamlScalarNode { Value: null or "" or "~" or "null" } => new ProgramOverrides(source, new YamlMappingNode()),
            _ => throw new ProgramOverridesException($"{source}: must be a YAML mapping with the sections {string.Join(", ", Sections)}", []),
        };
    }

    /// <summary>Reads an overrides file; messages name it by its file name.</summary>
    public static ProgramOverrides Load(string path) => Parse(File.ReadAllText(path), Path.GetFileName(path));

    /// <summary>
    /// Applies the overrides to <paramref name="program"/>, or throws a <see cref="ProgramOverridesException"/> listing
    /// every problem (the program is then half changed: build it again to use it).
    /// </summary>
    /// <param name="keptOutputs">Outputs that may be replaced but not removed (the stacks' parity outputs).</param>
    public void ApplyTo(PulumiProgram program, IReadOnlySet<string>? keptOutputs = null) =>
        new Applier(this, program, keptOutputs ?? new HashSet<string>()).Run();

    private sealed class Applier(ProgramOverrides overrides, PulumiProgram program, IReadOnlySet<string> keptOutputs)
    {
        private readonly List<(long Line, string Message)> _problems = [];
        private readonly HashSet<Resource> _removed = [];

        public void Run()
        {
            var root = overrides._root;
            foreach (var (key, _) in root.Children)
            {
                var name = Scalar(key);
                if (name is null || !Sections.Contains(name))
                    Problem(key, $"unknown section '{name}'{Nearest(name ?? "", Sections)}; the sections are {string.Join(", ", Sections)}");
            }
            if (Section<YamlMappingNode>("config") is { } config) Config(config);
            // New resources exist (without their bodies) before any expression is read, so anything may refer to them.
            var added = new List<(Resource Resource, YamlMappingNode Body)>();
            if (Section<YamlMappingNode>("resources") is { } resources)
                foreach (var (key, value) in resources.Children)
                    if (Declare(key, value) is { } r) added.Add((r, (YamlMappingNode)value));
            if (Section<YamlMappingNode>("variables") is { } variables) Variables(variables);
            var removed = Section<YamlSequenceNode>("remove") is { } remove ? Removals(remove) : [];
            if (Section<YamlMappingNode>("replace") is { } replace)
                foreach (var (key, value) in replace.Children) Replace(key, value);
            foreach (var (resource, body) in added) Define(resource, body, $"resources.{resource.Name}");
            if (Section<YamlSequenceNode>("patches") is { } patches)
                for (var i = 0; i < patches.Children.Count; i++) Patch(patches.Children[i], $"patches[{i}]");
            foreach (var (node, resource) in removed)
            {
                try { program.Remove(resource); }
                catch (InvalidOperationException)
                {
                    var referrers = program.ReferencesTo(resource);
                    Problem(node, $"remove {resource.Name}: it is still referred to by {string.Join(", ", referrers.Take(5))}" +
                        (referrers.Count > 5 ? $" and {referrers.Count - 5} more" : "") + "; patch or remove those too");
                }
            }
            if (Section<YamlMappingNode>("outputs") is { } outputs) Outputs(outputs);
            if (_problems.Count > 0)
            {
                var problems = _problems.OrderBy(p => p.Line).Select(p => p.Message).ToList();
                throw new ProgramOverridesException(
                    $"{overrides.Source} does not apply to the {program.Name} program:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", problems), problems);
            }
        }

        private T? Section<T>(string name) where T : YamlNode
        {
            if (!overrides._root.Children.TryGetValue(new YamlScalarNode(name), out var node) || IsNull(node)) return null;
            if (node is T t) return t;
            Problem(node, $"{name}: expected a {(typeof(T) == typeof(YamlSequenceNode) ? "list" : "mapping")}");
            return null;
        }

        // ------------------------------------------------------------------ sections

        private static readonly string[] ConfigTypes = ["string", "integer", "boolean", "array", "object"];

        private void Config(YamlMappingNode config)
        {
            foreach (var (key, value) in config.Children)
            {
                var name = Scalar(key) ?? "";
                var at = $"config.{name}";
                if (program.Config.Any(c => c.Name == name)) { Problem(key, $"{at}: the program already declares config key '{name}'"); continue; }
                if (value is not YamlMappingNode m) { Problem(value, $"{at}: expected a mapping with type (and default, secret, items)"); continue; }
                string? type = null, items = null;
                Expr? @default = null;
                var secret = false;
                foreach (var (k, v) in m.Children)
                {
                    switch (Scalar(k))
                    {
                        case "type": type = Scalar(v); break;
                        case "items": items = v is YamlMappingNode im && im.Children.TryGetValue(new YamlScalarNode("type"), out var it) ? Scalar(it) : Scalar(v); break;
                        case "default": @default = Literal(v, $"{at}.default"); break;
                        case "secret": secret = Bool(v, $"{at}.secret") ?? false; break;
                        default: Problem(k, $"{at}: unknown field '{Scalar(k)}' (type, default, secret, items)"); break;
                    }
                }
                if (type is null || !ConfigTypes.Contains(type)) { Problem(value, $"{at}: type must be one of {string.Join(", ", ConfigTypes)}"); continue; }
                program.AddConfig(new ConfigKey(name, type, @default, secret, items));
            }
        }

        private void Variables(YamlMappingNode variables)
        {
            foreach (var (key, value) in variables.Children)
            {
                var name = Scalar(key) ?? "";
                if (Taken(name)) { Problem(key, $"variables.{name}: the program already has something named '{name}'"); continue; }
                if (Expression(value, $"variables.{name}") is { } e) program.AddVariable(name, e);
            }
        }

        private Resource? Declare(YamlNode key, YamlNode value)
        {
            var name = Scalar(key) ?? "";
            var at = $"resources.{name}";
            if (Taken(name))
            {
                Problem(key, $"{at}: the program already has a resource named '{name}'; change it under patches, or give it a new definition under replace");
                return null;
            }
            if (value is not YamlMappingNode body) { Problem(value, $"{at}: expected a mapping with type, properties and options"); return null; }
            if (TypeOf(body, at) is not { } type) return null;
            try { return program.Add(new Resource(type, name)); }
            catch (ArgumentException e) { Problem(value, $"{at}: {e.Message.Split(" (Parameter")[0]}"); return null; }
        }

        private void Replace(YamlNode key, YamlNode value)
        {
            var name = Scalar(key) ?? "";
            var at = $"replace.{name}";
            if (FindResource(key, name, at) is not { } resource) return;
            if (_removed.Contains(resource)) { Problem(key, $"{at}: '{name}' is also removed by this file"); return; }
            if (value is not YamlMappingNode body) { Problem(value, $"{at}: expected a mapping with type, properties and options"); return; }
            if (TypeOf(body, at) is not { } type) return;
            if (Body(body, at, type, resource.Options.Parent) is not { } definition) return;
            try { resource.Redefine(type, definition.Properties, definition.Options); }
            catch (ArgumentException e) { Problem(value, $"{at}: {e.Message.Split(" (Parameter")[0]}"); }
        }

        private void Define(Resource resource, YamlMappingNode body, string at)
        {
            if (Body(body, at, resource.Type, parent: null) is not { } definition) return;
            foreach (var (k, v) in definition.Properties) resource.Set(k, v);
            resource.Options = definition.Options;
        }

        /// <summary>The properties and options of a new definition; the provider defaults to the program's one of the package.</summary>
        private (List<KeyValuePair<string, Expr>> Properties, ResourceOptions Options)? Body(YamlMappingNode body, string at, string type, ComponentResource? parent)
        {
            var properties = new List<KeyValuePair<string, Expr>>();
            var options = new ResourceOptions { Parent = parent };
            var ok = true;
            foreach (var (k, v) in body.Children)
            {
                switch (Scalar(k))
                {
                    case "type": break;
                    case "properties":
                        if (IsNull(v)) break;
                        if (v is not YamlMappingNode props) { Problem(v, $"{at}.properties: expected a mapping"); ok = false; break; }
                        foreach (var (pk, pv) in props.Children)
                            if (Expression(pv, $"{at}.properties.{Scalar(pk)}") is { } e) properties.Add(new(Scalar(pk) ?? "", e));
                            else ok = false;
                        break;
                    case "options":
                        if (IsNull(v)) break;
                        if (v is not YamlMappingNode opts) { Problem(v, $"{at}.options: expected a mapping"); ok = false; break; }
                        options = Options(options, opts, $"{at}.options");
                        break;
                    case "get":
                        Problem(k, $"{at}: 'get' (reading an existing resource) is not supported here; use an fn::invoke variable, or options.import to adopt it");
                        ok = false;
                        break;
                    default:
                        Problem(k, $"{at}: unknown field '{Scalar(k)}' (type, properties, options)");
                        ok = false;
                        break;
                }
            }
            if (options.Provider is null && !type.StartsWith("pulumi:providers:", StringComparison.Ordinal))
            {
                var package = type.Split(':')[0];
                var providers = program.Resources.Where(r => r.Type == "pulumi:providers:" + package && !_removed.Contains(r)).ToList();
                if (providers.Count == 1) options = options with { Provider = providers[0] };
                else if (providers.Count > 1)
                {
                    Problem(body, $"{at}: the program has {providers.Count} {package} providers ({string.Join(", ", providers.Select(p => p.Name))}); name one in options.provider");
                    ok = false;
                }
            }
            return ok ? (properties, options) : null;
        }

        private void Patch(YamlNode node, string at)
        {
            if (node is not YamlMappingNode patch) { Problem(node, $"{at}: expected a mapping with resource or type, and properties and/or options"); return; }
            string? name = null, type = null;
            YamlMappingNode? properties = null, options = null;
            foreach (var (k, v) in patch.Children)
            {
                switch (Scalar(k))
                {
                    case "resource": name = Scalar(v); break;
                    case "type": type = Scalar(v); break;
                    case "properties" when v is YamlMappingNode p: properties = p; break;
                    case "options" when v is YamlMappingNode o: options = o; break;
                    case "properties" or "options": Problem(v, $"{at}.{Scalar(k)}: expected a mapping"); return;
                    default: Problem(k, $"{at}: unknown field '{Scalar(k)}' (resource or type, properties, options)"); return;
                }
            }
            if ((name is null) == (type is null)) { Problem(patch, $"{at}: name the target with exactly one of resource (a name) or type (a type token)"); return; }
            if (properties is null && options is null) { Problem(patch, $"{at}: patches nothing (give properties and/or options)"); return; }

            List<Resource> targets;
            if (name is not null)
            {
                at = $"{at} (resource {name})";
                if (FindResource(patch, name, at) is not { } r) return;
                targets = [r];
            }
            else
            {
                at = $"{at} (type {type})";
                targets = program.Resources.Where(r => r.Type == type).ToList();
                if (targets.Count == 0)
                {
                    Problem(patch, $"{at}: the {program.Name} program has no resource of that type{Nearest(type!, program.Resources.Select(r => r.Type).Distinct())}");
                    return;
                }
            }
            if (targets.FirstOrDefault(_removed.Contains) is { } gone) { Problem(patch, $"{at}: '{gone.Name}' is removed by this file"); return; }

            if (properties is not null)
            {
                var patchExpr = new List<KeyValuePair<string, Expr>>();
                foreach (var (k, v) in properties.Children)
                {
                    if (Expression(v, $"{at}.properties.{Scalar(k)}") is not { } e) return;
                    patchExpr.Add(new(Scalar(k) ?? "", e));
                }
                // A property to delete must be there: on the resource, or on at least one resource of the type.
                HashSet<string>? missingEverywhere = null;
                foreach (var target in targets)
                {
                    var missing = target.Patch(new Obj(patchExpr));
                    if (missingEverywhere is null) missingEverywhere = [.. missing];
                    else missingEverywhere.IntersectWith(missing);
                }
                foreach (var path in missingEverywhere!.Order(StringComparer.Ordinal))
                    Problem(properties, $"{at}: properties.{path} is null (delete), but {(targets.Count == 1 ? "the resource has no such property" : $"none of its {targets.Count} resources has such a property")}");
            }
            if (options is not null)
                foreach (var target in targets)
                {
                    var before = _problems.Count;
                    var changed = Options(target.Options, options, $"{at}.options");
                    if (_problems.Count > before) return;
                    target.Options = changed;
                }
        }

        private List<(YamlNode Node, Resource Resource)> Removals(YamlSequenceNode remove)
        {
            var found = new List<(YamlNode, Resource)>();
            foreach (var item in remove.Children)
            {
                var name = Scalar(item) ?? "";
                if (FindResource(item, name, "remove") is not { } r) continue;
                if (!_removed.Add(r)) { Problem(item, $"remove: '{name}' is listed twice"); continue; }
                found.Add((item, r));
            }
            return found;
        }

        private void Outputs(YamlMappingNode outputs)
        {
            foreach (var (key, value) in outputs.Children)
            {
                var name = Scalar(key) ?? "";
                if (IsNull(value))
                {
                    if (keptOutputs.Contains(name)) Problem(key, $"outputs.{name}: every stack keeps this output (it can be given a new value, not removed)");
                    else if (!program.RemoveOutput(name))
                        Problem(key, $"outputs.{name} is null (remove), but the {program.Name} program has no such output{Nearest(name, program.Outputs.Select(o => o.Key))}");
                }
                else if (Expression(value, $"outputs.{name}") is { } e) program.SetOutput(name, e);
            }
        }

        // ------------------------------------------------------------------ options

        private ResourceOptions Options(ResourceOptions o, YamlMappingNode m, string at)
        {
            foreach (var (k, v) in m.Children)
            {
                var key = Scalar(k) ?? "";
                var path = $"{at}.{key}";
                var isNull = IsNull(v);
                switch (key)
                {
                    case "protect": o = o with { Protect = !isNull && (Bool(v, path) ?? o.Protect) }; break;
                    case "retainOnDelete": o = o with { RetainOnDelete = !isNull && (Bool(v, path) ?? o.RetainOnDelete) }; break;
                    case "deleteBeforeReplace": o = o with { DeleteBeforeReplace = !isNull && (Bool(v, path) ?? o.DeleteBeforeReplace) }; break;
                    case "ignoreChanges": o = o with { IgnoreChanges = isNull ? [] : Strings(v, path) ?? o.IgnoreChanges }; break;
                    case "replaceOnChanges": o = o with { ReplaceOnChanges = isNull ? [] : Strings(v, path) ?? o.ReplaceOnChanges }; break;
                    case "additionalSecretOutputs": o = o with { AdditionalSecretOutputs = isNull ? [] : Strings(v, path) ?? o.AdditionalSecretOutputs }; break;
                    case "version": o = o with { Version = isNull ? null : Scalar(v) }; break;
                    case "import": o = o with { Import = isNull ? null : Scalar(v) }; break;
                    case "provider": o = o with { Provider = isNull ? null : ResourceRef(v, path) ?? o.Provider }; break;
                    case "dependsOn":
                        if (isNull) o = o with { DependsOn = [] };
                        else if (v is YamlSequenceNode list)
                        {
                            var resources = list.Children.Select((item, i) => ResourceRef(item, $"{path}[{i}]")).ToList();
                            if (resources.All(r => r is not null)) o = o with { DependsOn = resources! };
                        }
                        else Problem(v, $"{path}: expected a list of ${{resource}} references");
                        break;
                    case "customTimeouts":
                        if (isNull) { o = o with { CustomTimeouts = null }; break; }
                        if (v is not YamlMappingNode t) { Problem(v, $"{path}: expected a mapping of create, update, delete"); break; }
                        var timeouts = o.CustomTimeouts ?? new CustomTimeouts();
                        foreach (var (tk, tv) in t.Children)
                        {
                            var value = IsNull(tv) ? null : Scalar(tv);
                            switch (Scalar(tk))
                            {
                                case "create": timeouts = timeouts with { Create = value }; break;
                                case "update": timeouts = timeouts with { Update = value }; break;
                                case "delete": timeouts = timeouts with { Delete = value }; break;
                                default: Problem(tk, $"{path}: unknown timeout '{Scalar(tk)}' (create, update, delete)"); break;
                            }
                        }
                        o = o with { CustomTimeouts = timeouts };
                        break;
                    default:
                        Problem(k, $"{at}: unknown or unsupported option '{key}'{Nearest(key, OptionNames)}; supported: {string.Join(", ", OptionNames)}");
                        break;
                }
            }
            return o;
        }

        private Resource? ResourceRef(YamlNode node, string at)
        {
            var e = Expression(node, at);
            if (e is null) return null;
            if (e is Ref { Path: "" } r) return r.Resource;
            Problem(node, $"{at}: expected a reference to a whole resource, ${{name}}");
            return null;
        }

        private IReadOnlyList<string>? Strings(YamlNode node, string at)
        {
            if (node is YamlSequenceNode list && list.Children.All(i => i is YamlScalarNode)) return [.. list.Children.Select(i => Scalar(i) ?? "")];
            Problem(node, $"{at}: expected a list of strings");
            return null;
        }

        private bool? Bool(YamlNode node, string at)
        {
            if (node is YamlScalarNode { Value: "true" or "True" or "TRUE" }) return true;
            if (node is YamlScalarNode { Value: "false" or "False" or "FALSE" }) return false;
            Problem(node, $"{at}: expected true or false");
            return null;
        }

        // ------------------------------------------------------------------ expressions

        /// <summary>A value: literals, lists, mappings, fn::… functions, and strings with ${…} references.</summary>
        private Expr? Expression(YamlNode node, string at)
        {
            var before = _problems.Count;
            var e = Value(node, at, references: true);
            return _problems.Count > before ? null : e;
        }

        /// <summary>A value without references (config defaults).</summary>
        private Expr? Literal(YamlNode node, string at)
        {
            var before = _problems.Count;
            var e = Value(node, at, references: false);
            return _problems.Count > before ? null : e;
        }

        private Expr Value(YamlNode node, string at, bool references)
        {
            switch (node)
            {
                case YamlScalarNode s:
                    if (s.Style is YamlDotNet.Core.ScalarStyle.Plain && s.Tag.IsEmpty && PlainScalar(s.Value ?? "") is { } typed) return typed;
                    var text = s.Value ?? "";
                    return references ? Text(s, text, at) : new Lit(text.Replace("$${", "${", StringComparison.Ordinal));
                case YamlSequenceNode list:
                    return new Arr(list.Children.Select((item, i) => Value(item, $"{at}[{i}]", references)).ToList());
                case YamlMappingNode map:
                    if (map.Children.Count == 1 && Scalar(map.Children.First().Key) is { } fn && fn.StartsWith("fn::", StringComparison.Ordinal))
                    {
                        if (!references) { Problem(map, $"{at}: {fn} is not allowed here (a literal value)"); return Expr.Null; }
                        var argument = map.Children.First().Value;
                        return fn == "fn::invoke" ? Invoke(argument, $"{at}.fn::invoke") : new Fn(fn, Value(argument, $"{at}.{fn}", references));
                    }
                    return new Obj(map.Children.Select(kv => new KeyValuePair<string, Expr>(Scalar(kv.Key) ?? "", Value(kv.Value, $"{at}.{Scalar(kv.Key)}", references))).ToList());
                default:
                    Problem(node, $"{at}: unsupported YAML node");
                    return Expr.Null;
            }
        }

        private Expr Invoke(YamlNode node, string at)
        {
            if (node is not YamlMappingNode m) { Problem(node, $"{at}: expected a mapping with function, arguments, return, options"); return Expr.Null; }
            string? function = null, ret = null;
            Obj arguments = new([]);
            Resource? provider = null;
            foreach (var (k, v) in m.Children)
            {
                switch (Scalar(k))
                {
                    case "function": function = Scalar(v); break;
                    case "return": ret = Scalar(v); break;
                    case "arguments":
                        if (Value(v, $"{at}.arguments", true) is Obj o) arguments = o;
                        else Problem(v, $"{at}.arguments: expected a mapping");
                        break;
                    case "options":
                        if (v is YamlMappingNode om && om.Children.Count == 1 && om.Children.TryGetValue(new YamlScalarNode("provider"), out var p))
                            provider = ResourceRef(p, $"{at}.options.provider");
                        else Problem(v, $"{at}.options: only provider is supported");
                        break;
                    default: Problem(k, $"{at}: unknown field '{Scalar(k)}' (function, arguments, return, options)"); break;
                }
            }
            if (function is null) { Problem(m, $"{at}: no function"); return Expr.Null; }
            return new Invoke(function, arguments, ret, provider);
        }

        /// <summary>YAML 1.2 core schema plain scalars: null, booleans, integers, floats; anything else is a string (null).</summary>
        private static Expr? PlainScalar(string s)
        {
            if (s is "" or "~" or "null" or "Null" or "NULL") return Expr.Null;
            if (s is "true" or "True" or "TRUE") return true;
            if (s is "false" or "False" or "FALSE") return false;
            if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                return l is >= int.MinValue and <= int.MaxValue ? new Lit((int)l) : new Lit(l);
            if (s.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(s[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex)) return new Lit(hex);
            if ((s.Contains('.') || s.Contains('e') || s.Contains('E')) && s.Any(char.IsAsciiDigit) &&
                double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return new Lit(d);
            return null;
        }

        /// <summary>A string with <c>${…}</c> references: the reference itself when it is the whole string, else an interpolation.</summary>
        private Expr Text(YamlNode node, string s, string at)
        {
            var parts = new List<Expr>();
            var literal = new StringBuilder();
            for (var i = 0; i < s.Length;)
            {
                if (string.CompareOrdinal(s, i, "$${", 0, 3) == 0) { literal.Append("${"); i += 3; continue; }
                if (string.CompareOrdinal(s, i, "${", 0, 2) != 0) { literal.Append(s[i++]); continue; }
                var end = ClosingBrace(s, i + 2);
                if (end < 0) { Problem(node, $"{at}: '${{' without its closing '}}' in \"{s}\""); return Expr.Null; }
                if (literal.Length > 0) { parts.Add(new Lit(literal.ToString())); literal.Clear(); }
                parts.Add(Reference(node, s[(i + 2)..end].Trim(), at));
                i = end + 1;
            }
            if (literal.Length > 0) parts.Add(new Lit(literal.ToString()));
            return parts.Count switch
            {
                0 => new Lit(""),
                1 => parts[0],
                _ => new Interp(parts),
            };
        }

        private static int ClosingBrace(string s, int from)
        {
            var quoted = false;
            for (var i = from; i < s.Length; i++)
            {
                if (s[i] == '"') quoted = !quoted;
                else if (s[i] == '}' && !quoted) return i;
            }
            return -1;
        }

        private Expr Reference(YamlNode node, string text, string at)
        {
            var split = text.IndexOfAny(['.', '[']);
            var head = split < 0 ? text : text[..split];
            var path = split < 0 ? "" : text[split] == '.' ? text[(split + 1)..] : text[split..];
            if (head == "pulumi")
            {
                if (path is "stack" or "project" or "organization") return new PulumiRef(path);
                Problem(node, $"{at}: ${{{text}}}: Pulumi's variables here are pulumi.stack, pulumi.project and pulumi.organization");
                return Expr.Null;
            }
            if (program.Resources.FirstOrDefault(r => r.Name == head) is { } resource) return new Ref(resource, path);
            if (program.Variables.FirstOrDefault(v => v.Name == head) is { } variable) return new VarRef(variable, path);
            if (program.Config.FirstOrDefault(c => c.Name == head) is { } key)
            {
                if (path.Length == 0) return key.Ref;
                Problem(node, $"{at}: ${{{text}}}: config key '{head}' is a value, not an object with '{path}'");
                return Expr.Null;
            }
            var names = program.Resources.Select(r => r.Name).Concat(program.Variables.Select(v => v.Name)).Concat(program.Config.Select(c => c.Name));
            Problem(node, $"{at}: ${{{text}}}: the {program.Name} program has no resource, variable or config key named '{head}'{Nearest(head, names)}");
            return Expr.Null;
        }

        // ------------------------------------------------------------------ helpers

        private string? TypeOf(YamlMappingNode body, string at)
        {
            if (body.Children.TryGetValue(new YamlScalarNode("type"), out var t) && Scalar(t) is { Length: > 0 } type) return type;
            Problem(body, $"{at}: no type (a resource type token such as aws:route53/record:Record)");
            return null;
        }

        private Resource? FindResource(YamlNode node, string name, string at)
        {
            if (program.Resources.FirstOrDefault(r => r.Name == name) is { } r) return r;
            Problem(node, $"{at}: the {program.Name} program has no resource named '{name}'{NearestResources(name)}");
            return null;
        }

        /// <summary>
        /// The nearest resource names: first those whose name or type has a word of <paramref name="name"/> that is not
        /// in most names (so osforai-bucket finds the aws:s3/bucket:Bucket named osforai-data), then by spelling.
        /// </summary>
        private string NearestResources(string name)
        {
            var resources = program.Resources.ToList();
            var words = name.ToLowerInvariant().Split('-', '_', '.')
                .Where(w => w.Length >= 3 && resources.Count(r => r.Name.Contains(w, StringComparison.OrdinalIgnoreCase)) * 2 < resources.Count)
                .ToList();
            var byWord = resources
                .Where(r => words.Any(w => r.Name.Contains(w, StringComparison.OrdinalIgnoreCase) || r.Type.Contains(w, StringComparison.OrdinalIgnoreCase)))
                .Select(r => r.Name).ToList();
            var nearest = NameSuggestions.Nearest(name, byWord).Concat(NameSuggestions.Nearest(name, resources.Select(r => r.Name))).Distinct().Take(3).ToList();
            return nearest.Count == 0 ? "" : $" (nearest: {string.Join(", ", nearest)})";
        }

        private bool Taken(string name) =>
            program.Resources.Any(r => r.Name == name) || program.Variables.Any(v => v.Name == name);

        private void Problem(YamlNode node, string message) =>
            _problems.Add((node.Start.Line, node.Start.Line > 0 ? $"{overrides.Source}:{node.Start.Line}: {message}" : $"{overrides.Source}: {message}"));

        private static string? Scalar(YamlNode node) => node is YamlScalarNode s ? s.Value : null;

        private static bool IsNull(YamlNode node) => node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: "" or "~" or "null" or "Null" or "NULL" };

        private static string Nearest(string name, IEnumerable<string> candidates)
        {
            var nearest = NameSuggestions.Nearest(name, candidates);
            return nearest.Count == 0 ? "" : $" (nearest: {string.Join(", ", nearest)})";
        }
    }
}

/// <summary>The names closest to a mistyped one, for error messages.</summary>
public static class NameSuggestions
{
    /// <summary>
    /// Up to <paramref name="count"/> of <paramref name="candidates"/>, closest first: those that contain the name or
    /// are contained in it, then by edit distance (case-insensitive). Empty when there are no candidates.
    /// </summary>
    public static IReadOnlyList<string> Nearest(string name, IEnumerable<string> candidates, int count = 3)
    {
        var lower = name.ToLowerInvariant();
        return candidates.Distinct(StringComparer.Ordinal)
            .Select(c => (Name: c, Lower: c.ToLowerInvariant()))
            .OrderBy(c => lower.Length > 0 && (c.Lower.Contains(lower) || lower.Contains(c.Lower)) ? 0 : 1)
            .ThenBy(c => EditDistance.Between(c.Lower, lower))
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .Take(count)
            .Select(c => c.Name)
            .ToList();
    }
}
