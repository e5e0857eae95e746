using System.Globalization;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Validation;

/// <summary>
/// Checks a <see cref="PulumiProgram"/> against the provider mini-schemas the way Pulumi's YAML runtime and the
/// providers would at preview, so that a wrong program fails in a unit test instead of in <c>pulumi up</c>:
/// resource and function tokens exist; required inputs are present and no unknown property is set (recursively
/// through object types, list items and map values); literals have the right kind and enum literals an allowed value;
/// references name declared resources, variables and config keys, and resource outputs that exist; invoke
/// arguments and <c>return</c> match the function; <c>provider</c> options point at provider resources; and the
/// resources do not depend on each other in a cycle. References and function results are checked only as far as
/// their type is known; a type the schema cannot resolve is accepted.
/// </summary>
public static class ProgramValidator
{
    /// <summary>Every violation found, in program order (config, resources, variables, outputs, then cycles); empty when the program is valid.</summary>
    public static IReadOnlyList<Violation> Validate(PulumiProgram program, PulumiSchema schema)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(schema);
        return new Checker(program, schema).Run();
    }

    /// <summary>Throws an <see cref="InvalidOperationException"/> listing every violation, if there is any.</summary>
    public static void EnsureValid(PulumiProgram program, PulumiSchema schema)
    {
        var violations = Validate(program, schema);
        if (violations.Count > 0)
            throw new InvalidOperationException($"program '{program.Name}' has {violations.Count} problem(s):\n  " + string.Join("\n  ", violations));
    }

    private readonly record struct Subject(string Name, string? Type);

    /// <summary>One step of a reference path: <c>.name</c>, <c>[0]</c> or <c>["key"]</c>.</summary>
    private readonly record struct Segment(string? Name, int Index)
    {
        public override string ToString() => Name is null ? $"[{Index}]" : Name;
    }

    private sealed class Checker(PulumiProgram program, PulumiSchema schema)
    {
        private static readonly HashSet<string> PulumiVariables = ["stack", "project", "organization", "cwd", "rootDirectory"];
        private static readonly HashSet<string> StringFunctions = new(["fn::toJSON", "fn::toBase64", "fn::fromBase64", "fn::join", "fn::readFile"], StringComparer.OrdinalIgnoreCase);
        private static readonly HashSet<string> AssetFunctions = new(["fn::fileAsset", "fn::stringAsset", "fn::remoteAsset"], StringComparer.OrdinalIgnoreCase);
        private static readonly HashSet<string> ArchiveFunctions = new(["fn::fileArchive", "fn::remoteArchive", "fn::assetArchive"], StringComparer.OrdinalIgnoreCase);
        private static readonly HashSet<string> OtherFunctions = new(["fn::secret", "fn::split", "fn::select", "fn::invoke", "fn::method"], StringComparer.OrdinalIgnoreCase);

        private readonly List<Violation> _violations = [];
        private readonly HashSet<Resource> _resources = [.. program.Resources];
        private readonly HashSet<Variable> _variables = [.. program.Variables];
        private readonly HashSet<ConfigKey> _config = [.. program.Config];
        private readonly Dictionary<object, SchemaType> _outputObjects = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<SchemaType> _outputTypes = new(ReferenceEqualityComparer.Instance);

        public IReadOnlyList<Violation> Run()
        {
            foreach (var key in program.Config) CheckConfig(key);
            foreach (var resource in program.Resources) CheckResource(resource);
            foreach (var variable in program.Variables) VisitReferences(variable.Value, new(variable.Name, "variable"), "");
            foreach (var (name, value) in program.Outputs) VisitReferences(value, new(name, "output"), "");
            CheckCycles();
            return _violations;
        }

        private void Report(Subject s, string path, string message) => _violations.Add(new(s.Name, path, message, s.Type));
        private static Violation At(Subject s, string path, string message) => new(s.Name, path, message, s.Type);

        // ---- config ----

        private void CheckConfig(ConfigKey key)
        {
            var s = new Subject(key.Name, "config");
            var type = ConfigType(key.Type);
            if (type is null)
            {
                Report(s, "type", $"unknown config type '{key.Type}' (expected string, integer, boolean, array or object)");
                return;
            }
            if (key.Default is { } d) Check(d, type, s, "default", _violations);
        }

        /// <summary>The value type of a config key's declared type, or null when the type is not one Pulumi knows.</summary>
        private static SchemaType? ConfigType(string type)
        {
            var t = type.Trim();
            if (t.StartsWith("List<", StringComparison.OrdinalIgnoreCase) && t.EndsWith('>'))
                return SchemaType.ArrayOf(ConfigType(t[5..^1]) ?? SchemaType.Any);
            return t.ToLowerInvariant() switch
            {
                "string" => SchemaType.String,
                "integer" or "int" or "number" => SchemaType.Number,
                "boolean" or "bool" => SchemaType.Boolean,
                "array" or "list" => SchemaType.ArrayOf(SchemaType.Any),
                "object" => SchemaType.MapOf(SchemaType.Any),
                _ => null,
            };
        }

        // ---- resources ----

        private void CheckResource(Resource r)
        {
            var s = new Subject(r.Name, r.Type);
            var rs = schema.FindResource(r.Type);
            if (rs is null) Report(s, "", UnknownToken(r.Type, "resource type", p => p.Resources.Keys));
            else
            {
                if (rs.IsOverlay) Report(s, "", $"{rs.Token} is an SDK-only class that Pulumi YAML cannot create");
                CheckProperties(r.Properties, rs.Inputs, rs.Token, "property", s, "", _violations);
            }
            foreach (var (key, value) in r.Properties) VisitReferences(value, s, Join("", key));
            CheckOptions(r, rs, s);
        }

        private void CheckOptions(Resource r, ResourceSchema? rs, Subject s)
        {
            var o = r.Options;
            if (o.Provider is { } p)
            {
                const string path = "options.provider";
                if (!_resources.Contains(p)) Report(s, path, $"refers to resource '{p.Name}', which is not in the program");
                if (!p.Type.StartsWith(PulumiSchema.ProviderPrefix, StringComparison.Ordinal))
                    Report(s, path, $"'{p.Name}' is a {p.Type}, not a provider resource ({PulumiSchema.ProviderPrefix}<package>)");
                else if (rs is { IsComponent: false } && PulumiSchema.PackageOf(p.Type) != PulumiSchema.PackageOf(rs.Token))
                    Report(s, path, $"'{p.Name}' is a provider for package '{PulumiSchema.PackageOf(p.Type)}', but {rs.Token} belongs to package '{PulumiSchema.PackageOf(rs.Token)}'");
            }
            for (var i = 0; i < o.DependsOn.Count; i++)
                if (!_resources.Contains(o.DependsOn[i]))
                    Report(s, $"options.dependsOn[{i}]", $"refers to resource '{o.DependsOn[i].Name}', which is not in the program");
            if (rs is null) return;
            foreach (var (option, paths) in new[] { ("ignoreChanges", o.IgnoreChanges), ("replaceOnChanges", o.ReplaceOnChanges) })
                foreach (var change in paths)
                {
                    var first = change.Split('.', '[')[0];
                    if (!rs.Inputs.ContainsKey(first))
                        Report(s, "options." + option, $"'{change}': '{first}' is not an input of {rs.Token}{Suggest(first, rs.Inputs.Keys)}");
                }
            foreach (var output in o.AdditionalSecretOutputs)
                if (!rs.Outputs.ContainsKey(output))
                    Report(s, "options.additionalSecretOutputs", $"'{output}' is not an output of {rs.Token}{Suggest(output, rs.Outputs.Keys)}");
        }

        private string UnknownToken(string token, string what, Func<PackageSchema, IEnumerable<string>> tokens)
        {
            var name = PulumiSchema.PackageOf(token);
            var pkg = schema.Package(name);
            if (pkg is null)
                return $"no schema for package '{name}' (the schema folder has {string.Join(", ", schema.AvailablePackages)})";
            var last = token.Split(':')[^1];
            var similar = tokens(pkg).Where(t => t.Split(':')[^1].Equals(last, StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).Take(3).ToList();
            return $"unknown {what} '{token}' in {pkg}" + (similar.Count > 0 ? $" (did you mean {string.Join(" or ", similar)}?)" : "");
        }

        // ---- type checks ----

        /// <summary>Checks the entries of an object (resource inputs, invoke arguments, a nested object type) against its properties.</summary>
        private void CheckProperties(IReadOnlyList<KeyValuePair<string, Expr>> entries, IReadOnlyDictionary<string, SchemaProperty> props,
            string owner, string noun, Subject s, string path, List<Violation> sink)
        {
            var present = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, value) in entries)
            {
                if (value is Lit { Value: null }) continue; // null leaves the property unset
                present.Add(key);
                var at = Join(path, key);
                if (!props.TryGetValue(key, out var prop))
                {
                    sink.Add(At(s, at, $"unknown {noun} of {owner}{Suggest(key, props.Keys, list: props.Count <= 8)}"));
                    continue;
                }
                Check(value, prop.Type, s, at, sink);
                if (prop.Plain && !IsKnown(value))
                    sink.Add(At(s, at, "a plain input: it must be a value known before deployment, not an output of a resource"));
            }
            foreach (var prop in props.Values)
                if (prop.Required && !present.Contains(prop.Name))
                    sink.Add(At(s, Join(path, prop.Name), $"missing required {noun} ({prop.Type.Describe()})"));
        }

        /// <summary>Checks that <paramref name="e"/> can be assigned to an input of type <paramref name="t"/>.</summary>
        private void Check(Expr e, SchemaType t, Subject s, string path, List<Violation> sink)
        {
            if (e is Lit { Value: null } || t.Kind == SchemaKind.Any) return;
            if (e is Fn f && f.Name.Equals("fn::secret", StringComparison.OrdinalIgnoreCase))
            {
                Check(f.Argument, t, s, path, sink);
                return;
            }
            if (t.Kind == SchemaKind.Union)
            {
                CheckUnion(e, t, s, path, sink);
                return;
            }
            switch (e)
            {
                case Lit l:
                    if (!LiteralFits(l.Value!, t)) sink.Add(At(s, path, $"expected {t.Describe()}, got {DescribeLiteral(l.Value!)}"));
                    return;
                case Arr a:
                    if (t.Kind != SchemaKind.Array) sink.Add(At(s, path, $"expected {t.Describe()}, got a list"));
                    else for (var i = 0; i < a.Items.Count; i++) Check(a.Items[i], t.Element ?? SchemaType.Any, s, $"{path}[{i}]", sink);
                    return;
                case Obj o:
                    if (t.Kind == SchemaKind.Object)
                    {
                        if (t.Properties is { } props) CheckProperties(o.Entries, props, t.Ref ?? "object", "property", s, path, sink);
                    }
                    else if (t.Kind == SchemaKind.Map)
                        foreach (var (key, value) in o.Entries) Check(value, t.Element ?? SchemaType.Any, s, Join(path, key), sink);
                    else sink.Add(At(s, path, $"expected {t.Describe()}, got an object"));
                    return;
                default:
                    if (Infer(e) is { } from && !Assignable(from, t))
                        sink.Add(At(s, path, $"expected {t.Describe()}, got {from.Describe()} ({Display(e)})"));
                    return;
            }
        }

        private void CheckUnion(Expr e, SchemaType t, Subject s, string path, List<Violation> sink)
        {
            var attempts = new List<List<Violation>>();
            foreach (var member in t.Of)
            {
                var tried = new List<Violation>();
                Check(e, member, s, path, tried);
                if (tried.Count == 0) return;
                attempts.Add(tried);
            }
            // No member accepts the value: explain with the one member of the same shape, if there is exactly one.
            var shaped = t.Of.Select((m, i) => (m, i)).Where(x => SameShape(e, x.m)).ToList();
            if (shaped.Count == 1) sink.AddRange(attempts[shaped[0].i]);
            else sink.Add(At(s, path, $"expected {t.Describe()}, got {DescribeExpr(e)}"));
        }

        private static bool SameShape(Expr e, SchemaType t) => e switch
        {
            Obj => t.Kind is SchemaKind.Object or SchemaKind.Map,
            Arr => t.Kind == SchemaKind.Array,
            Lit { Value: string } => t.Kind is SchemaKind.String or SchemaKind.Enum,
            Lit { Value: bool } => t.Kind is SchemaKind.Boolean or SchemaKind.Enum,
            Lit => t.Kind is SchemaKind.Number or SchemaKind.Enum,
            _ => false,
        };

        /// <summary>A literal against a type: as in Pulumi YAML, numbers and booleans coerce to strings, nothing else coerces.</summary>
        private static bool LiteralFits(object value, SchemaType t) => t.Kind switch
        {
            SchemaKind.String => true,
            SchemaKind.Number => IsNumber(value),
            SchemaKind.Boolean => value is bool,
            SchemaKind.Enum => t.EnumValues.Any(v => EnumMatches(value, v)),
            SchemaKind.Any => true,
            _ => false,
        };

        private static bool EnumMatches(object value, object allowed) => (value, allowed) switch
        {
            (string a, string b) => a == b,
            (bool a, bool b) => a == b,
            (bool a, string b) => (a ? "true" : "false") == b,
            (_, double b) when IsNumber(value) => Convert.ToDouble(value, CultureInfo.InvariantCulture) == b,
            (_, string b) when IsNumber(value) => Convert.ToString(value, CultureInfo.InvariantCulture) == b,
            _ => false,
        };

        private static bool IsNumber(object v) => v is int or long or double or float or decimal or short or byte or uint or ulong;

        private static string DescribeLiteral(object v) => v switch
        {
            string s => $"string \"{s}\"",
            bool b => $"boolean {(b ? "true" : "false")}",
            _ => $"number {Convert.ToString(v, CultureInfo.InvariantCulture)}",
        };

        private string DescribeExpr(Expr e) => e switch
        {
            Lit { Value: { } v } => DescribeLiteral(v),
            Arr => "a list",
            Obj => "an object",
            _ => Infer(e) is { } t ? $"{t.Describe()} ({Display(e)})" : Display(e),
        };

        /// <summary>Whether a value of type <paramref name="from"/> may be assigned to an input of type <paramref name="to"/> (lenient where unknown).</summary>
        private bool Assignable(SchemaType from, SchemaType to)
        {
            if (to.Kind == SchemaKind.Any || from.Kind == SchemaKind.Any) return true;
            if (to.Kind == SchemaKind.Union) return to.Of.Any(m => Assignable(from, m));
            if (from.Kind == SchemaKind.Union) return from.Of.Any(m => Assignable(m, to));
            return to.Kind switch
            {
                SchemaKind.String => from.Kind is SchemaKind.String or SchemaKind.Number or SchemaKind.Boolean or SchemaKind.Enum or SchemaKind.Resource,
                SchemaKind.Number => from.Kind == SchemaKind.Number || from.Kind == SchemaKind.Enum && from.EnumValues.All(IsNumber),
                SchemaKind.Boolean => from.Kind == SchemaKind.Boolean || from.Kind == SchemaKind.Enum && from.EnumValues.All(v => v is bool),
                SchemaKind.Enum => from.Kind is SchemaKind.String or SchemaKind.Number or SchemaKind.Boolean or SchemaKind.Enum,
                SchemaKind.Array => from.Kind == SchemaKind.Array && Assignable(from.Element ?? SchemaType.Any, to.Element ?? SchemaType.Any),
                SchemaKind.Map => from.Kind == SchemaKind.Object || from.Kind == SchemaKind.Map && Assignable(from.Element ?? SchemaType.Any, to.Element ?? SchemaType.Any),
                SchemaKind.Object => from.Kind is SchemaKind.Object or SchemaKind.Map,
                SchemaKind.Resource => from.Kind == SchemaKind.Resource && SameResourceType(from.Token, to.Token),
                SchemaKind.Asset => from.Kind is SchemaKind.Asset or SchemaKind.Archive,
                SchemaKind.Archive => from.Kind == SchemaKind.Archive,
                _ => true,
            };
        }

        private bool SameResourceType(string? from, string? to)
        {
            if (from is null || to is null) return true;
            if (to == PulumiSchema.ProviderPrefix + "*") return from.StartsWith(PulumiSchema.ProviderPrefix, StringComparison.Ordinal);
            return (schema.CanonicalResourceToken(from) ?? from) == (schema.CanonicalResourceToken(to) ?? to);
        }

        /// <summary>Whether an expression is known before deployment (what a plain input needs).</summary>
        private static bool IsKnown(Expr e) => e switch
        {
            Lit or ConfigRef or PulumiRef => true,
            Arr a => a.Items.All(IsKnown),
            Obj o => o.Entries.All(kv => IsKnown(kv.Value)),
            Interp i => i.Parts.All(IsKnown),
            Fn f => IsKnown(f.Argument),
            VarRef v => IsKnown(v.Variable.Value),
            Invoke inv => IsKnown(inv.Arguments),
            _ => false,
        };

        // ---- type inference for references and functions ----

        /// <summary>The type of an expression's value when it can be known; null when not (the value is then accepted).</summary>
        private SchemaType? Infer(Expr e) => e switch
        {
            Lit { Value: null } => null,
            Lit { Value: string } => SchemaType.String,
            Lit { Value: bool } => SchemaType.Boolean,
            Lit => SchemaType.Number,
            Arr a => SchemaType.ArrayOf(CommonType(a.Items.Select(Infer).ToList())),
            Obj o => SchemaType.InlineObject("object", o.Entries.ToDictionary(kv => kv.Key, kv => new SchemaProperty(kv.Key, Infer(kv.Value) ?? SchemaType.Any, true))),
            Interp or PulumiRef => SchemaType.String,
            ConfigRef c => ConfigType(c.Key.Type),
            Ref r => _resources.Contains(r.Resource) ? ResolveRef(r).Type : null,
            VarRef v => _variables.Contains(v.Variable) ? ResolveVar(v).Type : null,
            Invoke inv => InvokeResult(inv),
            Fn f => FunctionResult(f),
            _ => null,
        };

        private static SchemaType CommonType(IReadOnlyList<SchemaType?> items) =>
            items.Count > 0 && items.All(t => t is not null && t.Kind is SchemaKind.String or SchemaKind.Number or SchemaKind.Boolean && t.Kind == items[0]!.Kind)
                ? items[0]! : SchemaType.Any;

        private SchemaType? InvokeResult(Invoke inv)
        {
            var fs = schema.FindFunction(inv.Token);
            if (fs is null) return null;
            if (inv.Return is { } ret)
                return fs.Outputs.FirstOrDefault(o => o.Key.Equals(ret, StringComparison.OrdinalIgnoreCase)).Value;
            return fs.Returns ?? OutputsObject(fs, fs.Token, fs.Outputs);
        }

        private SchemaType? FunctionResult(Fn f)
        {
            if (f.Name.Equals("fn::secret", StringComparison.OrdinalIgnoreCase)) return Infer(f.Argument);
            if (StringFunctions.Contains(f.Name)) return SchemaType.String;
            if (f.Name.Equals("fn::split", StringComparison.OrdinalIgnoreCase)) return SchemaType.ArrayOf(SchemaType.String);
            if (AssetFunctions.Contains(f.Name)) return SchemaType.Asset;
            if (ArchiveFunctions.Contains(f.Name)) return SchemaType.Archive;
            if (f.Name.Equals("fn::select", StringComparison.OrdinalIgnoreCase) && f.Argument is Arr { Items.Count: 2 } sel)
                return Infer(sel.Items[1]) is { Kind: SchemaKind.Array } list ? list.Element : null;
            if (f.Name.Equals("fn::invoke", StringComparison.OrdinalIgnoreCase)) return AsInvoke(f) is { } written ? InvokeResult(written) : null;
            if (ShorthandInvoke(f) is { } token && schema.FindFunction(token) is { } fs) return fs.Returns ?? OutputsObject(fs, fs.Token, fs.Outputs);
            return null;
        }

        /// <summary>An <c>fn::invoke</c> written as a plain function (<c>function</c>, <c>arguments</c>, <c>return</c>), or null if malformed.</summary>
        private static Invoke? AsInvoke(Fn f)
        {
            if (f.Argument is not Obj o || o["function"] is not Lit { Value: string token }) return null;
            var arguments = o["arguments"] switch
            {
                null => new Obj([]),
                Obj a => a,
                _ => null,
            };
            if (arguments is null) return null;
            var ret = o["return"] switch
            {
                null => "",
                Lit { Value: string r } => r,
                _ => null,
            };
            return ret is null ? null : new Invoke(token, arguments, ret.Length == 0 ? null : ret);
        }

        /// <summary><c>fn::aws:eks:getClusterAuth</c>: the function token of an invoke shorthand, or null.</summary>
        private static string? ShorthandInvoke(Fn f) =>
            f.Name.StartsWith("fn::", StringComparison.OrdinalIgnoreCase) && f.Name.IndexOf(':', 4) > 4 ? f.Name[4..] : null;

        /// <summary>A resource's outputs or a function's result as an object type (built once per schema entry).</summary>
        private SchemaType OutputsObject(object owner, string token, IReadOnlyDictionary<string, SchemaType> outputs)
        {
            if (!_outputObjects.TryGetValue(owner, out var t))
            {
                _outputObjects[owner] = t = SchemaType.InlineObject(token, outputs.ToDictionary(o => o.Key, o => new SchemaProperty(o.Key, o.Value, true)));
                _outputTypes.Add(t);
            }
            return t;
        }

        private bool IsOutputsObject(SchemaType t) => _outputTypes.Contains(t);

        private (SchemaType? Type, string? Error) ResolveRef(Ref r)
        {
            if (!TryParsePath(r.Path, out var segments)) return (null, $"'{r.Path}' is not a property path");
            var rs = schema.FindResource(r.Resource.Type);
            if (rs is null) return (null, null);
            if (segments.Count == 0) return (SchemaType.ResourceOf(rs.Token), null);
            return Walk(OutputsObject(rs, rs.Token, rs.Outputs), segments, 0, r.Resource.Name);
        }

        private (SchemaType? Type, string? Error) ResolveVar(VarRef v)
        {
            if (!TryParsePath(v.Path, out var segments)) return (null, $"'{v.Path}' is not a property path");
            var root = Infer(v.Variable.Value);
            if (root is null) return (null, null);
            return Walk(root, segments, 0, v.Variable.Name);
        }

        /// <summary>Follows a reference path into a type; an error says which step does not exist.</summary>
        private (SchemaType? Type, string? Error) Walk(SchemaType type, IReadOnlyList<Segment> segments, int from, string running)
        {
            for (var i = from; i < segments.Count; i++)
            {
                var seg = segments[i];
                if (type.Kind == SchemaKind.Resource)
                {
                    if (type.Token is null || schema.FindResource(type.Token) is not { } rs) return (SchemaType.Any, null);
                    type = OutputsObject(rs, rs.Token, rs.Outputs);
                }
                switch (type.Kind)
                {
                    case SchemaKind.Any:
                        return (SchemaType.Any, null);
                    case SchemaKind.Union:
                        (SchemaType? Type, string? Error) first = default;
                        foreach (var member in type.Of)
                        {
                            var attempt = Walk(member, segments, i, running);
                            if (attempt.Error is null) return attempt;
                            if (first.Error is null) first = attempt;
                        }
                        return first;
                    case SchemaKind.Object when seg.Name is { } name:
                        if (type.Properties is not { } props) return (SchemaType.Any, null);
                        if (!props.TryGetValue(name, out var prop))
                            return (null, $"'{name}' is not {(IsOutputsObject(type) ? "an output" : "a property")} of {type.Ref}{Suggest(name, props.Keys)}");
                        type = prop.Type;
                        break;
                    case SchemaKind.Map when seg.Name is not null:
                    case SchemaKind.Array when seg.Name is null:
                        type = type.Element ?? SchemaType.Any;
                        break;
                    default:
                        return (null, seg.Name is { } n
                            ? $"{running} is {type.Describe()}; it has no property '{n}'"
                            : $"{running} is {type.Describe()}; it cannot be indexed with [{seg.Index}]");
                }
                running += seg.Name is null ? seg.ToString() : "." + seg.Name;
            }
            return (type, null);
        }

        /// <summary>Parses <c>a.b[0]["k"].c</c> (the path of a Ref or VarRef, without the resource name).</summary>
        private static bool TryParsePath(string path, out List<Segment> segments)
        {
            segments = [];
            var i = 0;
            while (i < path.Length)
            {
                if (path[i] == '[')
                {
                    var close = path.IndexOf(']', i);
                    if (close < 0) return false;
                    var inner = path[(i + 1)..close];
                    if (inner.Length >= 2 && inner[0] == '"' && inner[^1] == '"') segments.Add(new(inner[1..^1], 0));
                    else if (int.TryParse(inner, NumberStyles.None, CultureInfo.InvariantCulture, out var index)) segments.Add(new(null, index));
                    else return false;
                    i = close + 1;
                    continue;
                }
                if (path[i] == '.')
                {
                    if (i == 0) return false;
                    i++;
                }
                else if (i != 0) return false;
                var start = i;
                while (i < path.Length && path[i] != '.' && path[i] != '[') i++;
                if (i == start) return false;
                segments.Add(new(path[start..i], 0));
            }
            return true;
        }

        // ---- references, invokes and built-in functions ----

        /// <summary>Checks every reference, invoke and built-in function inside an expression.</summary>
        private void VisitReferences(Expr e, Subject s, string path)
        {
            switch (e)
            {
                case Ref r:
                    if (!_resources.Contains(r.Resource))
                        Report(s, path, $"refers to resource '{r.Resource.Name}', which is not in the program");
                    else if (ResolveRef(r).Error is { } refError)
                        Report(s, path, $"{Display(r)}: {refError}");
                    break;
                case VarRef v:
                    if (!_variables.Contains(v.Variable))
                        Report(s, path, $"refers to variable '{v.Variable.Name}', which is not in the program");
                    else if (ResolveVar(v).Error is { } varError)
                        Report(s, path, $"{Display(v)}: {varError}");
                    break;
                case ConfigRef c:
                    if (!_config.Contains(c.Key)) Report(s, path, $"refers to config key '{c.Key.Name}', which the program does not declare");
                    break;
                case PulumiRef p:
                    if (!PulumiVariables.Contains(p.Name)) Report(s, path, $"'pulumi.{p.Name}' is not a Pulumi variable (stack, project, organization, cwd, rootDirectory)");
                    break;
                case Invoke inv:
                    CheckInvoke(inv.Token, inv.Arguments, inv.Return, inv.Provider, s, path);
                    break;
                case Fn f:
                    if (ShorthandInvoke(f) is { } token)
                    {
                        if (f.Argument is Obj args) CheckInvoke(token, args, null, null, s, path);
                        else Report(s, path, $"fn::{token} takes an object of arguments");
                        break;
                    }
                    if (f.Name.Equals("fn::invoke", StringComparison.OrdinalIgnoreCase))
                    {
                        if (AsInvoke(f) is { } written) CheckInvoke(written.Token, written.Arguments, written.Return, written.Provider, s, path);
                        else Report(s, path, "fn::invoke needs a function token and an object of arguments");
                        break;
                    }
                    if (!StringFunctions.Contains(f.Name) && !AssetFunctions.Contains(f.Name) && !ArchiveFunctions.Contains(f.Name) && !OtherFunctions.Contains(f.Name))
                        Report(s, path, $"'{f.Name}' is not a Pulumi YAML built-in function");
                    VisitReferences(f.Argument, s, path);
                    break;
                case Arr a:
                    for (var i = 0; i < a.Items.Count; i++) VisitReferences(a.Items[i], s, $"{path}[{i}]");
                    break;
                case Obj o:
                    foreach (var (key, value) in o.Entries) VisitReferences(value, s, Join(path, key));
                    break;
                case Interp i:
                    foreach (var part in i.Parts) VisitReferences(part, s, path);
                    break;
            }
        }

        private void CheckInvoke(string token, Obj arguments, string? ret, Resource? provider, Subject s, string path)
        {
            var fs = schema.FindFunction(token);
            if (fs is null) Report(s, path, "fn::invoke: " + UnknownToken(token, "function", p => p.Functions.Keys));
            else
            {
                CheckProperties(arguments.Entries, fs.Inputs, fs.Token, "argument", s, Join(path, "arguments"), _violations);
                if (ret is not null)
                {
                    if (fs.Returns is not null)
                        Report(s, Join(path, "return"), $"{fs.Token} returns {fs.Returns.Describe()}, not an object: leave out return");
                    else if (!fs.Outputs.Keys.Any(k => k.Equals(ret, StringComparison.OrdinalIgnoreCase)))
                        Report(s, Join(path, "return"), $"'{ret}' is not an output of {fs.Token}{Suggest(ret, fs.Outputs.Keys, list: fs.Outputs.Count <= 8)}");
                }
            }
            if (provider is not null)
            {
                var at = Join(path, "options.provider");
                if (!_resources.Contains(provider)) Report(s, at, $"refers to resource '{provider.Name}', which is not in the program");
                if (!provider.Type.StartsWith(PulumiSchema.ProviderPrefix, StringComparison.Ordinal))
                    Report(s, at, $"'{provider.Name}' is a {provider.Type}, not a provider resource ({PulumiSchema.ProviderPrefix}<package>)");
            }
            foreach (var (key, value) in arguments.Entries) VisitReferences(value, s, Join(Join(path, "arguments"), key));
        }

        // ---- dependency cycles ----

        private void CheckCycles()
        {
            var nodes = new List<object>();
            nodes.AddRange(program.Resources);
            nodes.AddRange(program.Variables);
            var edges = new Dictionary<object, List<object>>(ReferenceEqualityComparer.Instance);
            foreach (var r in program.Resources)
            {
                var targets = new List<object>();
                foreach (var (_, value) in r.Properties) CollectDependencies(value, targets);
                if (r.Options.Provider is { } p) targets.Add(p);
                targets.AddRange(r.Options.DependsOn);
                edges[r] = targets.Where(IsDeclared).Distinct(ReferenceEqualityComparer.Instance).ToList()!;
            }
            foreach (var v in program.Variables)
            {
                var targets = new List<object>();
                CollectDependencies(v.Value, targets);
                edges[v] = targets.Where(IsDeclared).Distinct(ReferenceEqualityComparer.Instance).ToList()!;
            }

            foreach (var component in StronglyConnected(nodes, edges))
            {
                var start = component[0];
                var members = new HashSet<object>(component, ReferenceEqualityComparer.Instance);
                if (component.Count == 1 && !edges[start].Contains(start, ReferenceEqualityComparer.Instance)) continue;
                var cycle = FindCycle(start, members, edges);
                var (name, type) = NodeName(start);
                _violations.Add(new(name, "", "dependency cycle: " + string.Join(" -> ", cycle.Select(n => NodeName(n).Name)), type));
            }
        }

        private bool IsDeclared(object node) => node switch
        {
            Resource r => _resources.Contains(r),
            Variable v => _variables.Contains(v),
            _ => false,
        };

        private static (string Name, string Type) NodeName(object node) => node switch
        {
            Resource r => (r.Name, r.Type),
            Variable v => (v.Name, "variable"),
            _ => (node.ToString() ?? "", ""),
        };

        private static void CollectDependencies(Expr e, List<object> into)
        {
            switch (e)
            {
                case Ref r: into.Add(r.Resource); break;
                case VarRef v: into.Add(v.Variable); break;
                case Invoke inv:
                    if (inv.Provider is { } p) into.Add(p);
                    CollectDependencies(inv.Arguments, into);
                    break;
                case Fn f: CollectDependencies(f.Argument, into); break;
                case Arr a: foreach (var item in a.Items) CollectDependencies(item, into); break;
                case Obj o: foreach (var (_, value) in o.Entries) CollectDependencies(value, into); break;
                case Interp i: foreach (var part in i.Parts) CollectDependencies(part, into); break;
            }
        }

        /// <summary>Tarjan's strongly connected components; each listed from its member that comes first in the program.</summary>
        private static List<List<object>> StronglyConnected(List<object> nodes, Dictionary<object, List<object>> edges)
        {
            var order = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
            for (var i = 0; i < nodes.Count; i++) order[nodes[i]] = i;
            var index = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
            var low = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
            var onStack = new HashSet<object>(ReferenceEqualityComparer.Instance);
            var stack = new Stack<object>();
            var result = new List<List<object>>();
            var counter = 0;

            void Visit(object v)
            {
                index[v] = low[v] = counter++;
                stack.Push(v);
                onStack.Add(v);
                foreach (var w in edges[v])
                {
                    if (!index.ContainsKey(w))
                    {
                        Visit(w);
                        low[v] = Math.Min(low[v], low[w]);
                    }
                    else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
                }
                if (low[v] != index[v]) return;
                var component = new List<object>();
                object x;
                do
                {
                    x = stack.Pop();
                    onStack.Remove(x);
                    component.Add(x);
                } while (!ReferenceEquals(x, v));
                result.Add([.. component.OrderBy(n => order[n])]);
            }

            foreach (var n in nodes)
                if (!index.ContainsKey(n)) Visit(n);
            return [.. result.OrderBy(c => order[c[0]])];
        }

        /// <summary>A shortest cycle through <paramref name="start"/> inside its component, as start -> … -> start.</summary>
        private static List<object> FindCycle(object start, HashSet<object> members, Dictionary<object, List<object>> edges)
        {
            var previous = new Dictionary<object, object>(ReferenceEqualityComparer.Instance);
            var queue = new Queue<object>();
            queue.Enqueue(start);
            while (queue.Count > 0)
            {
                var u = queue.Dequeue();
                foreach (var w in edges[u])
                {
                    if (ReferenceEquals(w, start))
                    {
                        var path = new List<object> { start };
                        for (var n = u; !ReferenceEquals(n, start); n = previous[n]) path.Add(n);
                        path.Add(start);
                        path.Reverse();
                        return path;
                    }
                    if (members.Contains(w) && !previous.ContainsKey(w))
                    {
                        previous[w] = u;
                        queue.Enqueue(w);
                    }
                }
            }
            return [start, start];
        }

        // ---- text ----

        private static string Display(Expr e) => e switch
        {
            Ref r => "${" + PathText(r.Resource.Name, r.Path) + "}",
            VarRef v => "${" + PathText(v.Variable.Name, v.Path) + "}",
            ConfigRef c => "${" + c.Key.Name + "}",
            PulumiRef p => "${pulumi." + p.Name + "}",
            Interp => "an interpolated string",
            Invoke inv => "fn::invoke " + inv.Token + (inv.Return is { } ret ? " return " + ret : ""),
            Fn f => f.Name,
            _ => e.GetType().Name,
        };

        private static string PathText(string name, string path) => path.Length == 0 ? name : path.StartsWith('[') ? name + path : name + "." + path;

        /// <summary>A property path step: <c>a.b</c>, or <c>a["k8s.io/x"]</c> for keys that are not plain names.</summary>
        private static string Join(string path, string key)
        {
            var plain = key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$');
            if (!plain) return $"{path}[\"{key}\"]";
            return path.Length == 0 ? key : path + "." + key;
        }

        /// <summary>" (did you mean 'x'?)" for a close name, or the list of names when <paramref name="list"/> and there is none.</summary>
        private static string Suggest(string name, IEnumerable<string> candidates, bool list = false)
        {
            var all = candidates.ToList();
            var best = all
                .Select(c => (c, d: c.Equals(name, StringComparison.OrdinalIgnoreCase) ? 0 : EditDistance.Between(c.ToLowerInvariant(), name.ToLowerInvariant())))
                .Where(x => x.d <= Math.Max(2, name.Length / 3))
                .OrderBy(x => x.d).ThenBy(x => x.c, StringComparer.Ordinal)
                .Select(x => x.c).FirstOrDefault();
            if (best is not null) return $" (did you mean '{best}'?)";
            return list && all.Count > 0 ? $" (it has {string.Join(", ", all.Order(StringComparer.Ordinal))})" : "";
        }
    }
}
