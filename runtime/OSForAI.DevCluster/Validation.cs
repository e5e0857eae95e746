using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace OSForAI.DevCluster;

/// <summary>One problem in an object, as the API server reports it in <c>Status.details.causes</c>.</summary>
internal sealed record FieldError(string Field, string Reason, string Message)
{
    public static FieldError Required(string field) => new(field, "FieldValueRequired", $"{field}: Required value");
    public static FieldError Invalid(string field, string value, string detail) =>
        new(field, "FieldValueInvalid", $"{field}: Invalid value: \"{value}\": {detail}");
    public static FieldError Unsupported(string field, string detail) =>
        new(field, "FieldValueForbidden", $"{field}: Forbidden: {detail}");
}

/// <summary>Strict validation of pods: every field the dev cluster does not implement is refused
/// rather than silently ignored, so a worker host that relies on one finds out here.</summary>
internal static partial class Validation
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Label();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedName();

    [GeneratedRegex("^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();

    public const string SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    public const string LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    private const string QualifiedMessage =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    public static string? SubdomainProblem(string name) =>
        name.Length > 253 ? "must be no more than 253 characters" : Subdomain().IsMatch(name) ? null : SubdomainMessage;

    public static string? DnsLabelProblem(string name) =>
        name.Length > 63 ? "must be no more than 63 characters" : Label().IsMatch(name) ? null : LabelMessage;

    public static string? LabelKeyProblem(string key)
    {
        var slash = key.IndexOf('/');
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0)
        {
            var prefix = key[..slash];
            if (prefix.Length == 0 || SubdomainProblem(prefix) is not null) return "prefix part " + SubdomainMessage;
        }
        if (name.Length == 0) return "name part must be non-empty";
        if (name.Length > 63) return "name part must be no more than 63 characters";
        return QualifiedName().IsMatch(name) ? null : QualifiedMessage;
    }

    public static string? LabelValueProblem(string value) =>
        value.Length == 0 ? null
        : value.Length > 63 ? "must be no more than 63 characters"
        : QualifiedName().IsMatch(value) ? null
        : "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    /// <summary>An integer JSON value, or null when absent or not an integer.</summary>
    public static long? Long(JsonNode? node) =>
        node is not null && node.GetValueKind() == JsonValueKind.Number
        && long.TryParse(node.ToJsonString(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null;

    private static readonly string[] PodFields = ["apiVersion", "kind", "metadata", "spec", "status"];
    private static readonly string[] MetadataFields = ["name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion", "creationTimestamp", "ownerReferences"];
    private static readonly string[] OwnerReferenceFields = ["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"];
    private static readonly string[] SpecFields =
        ["containers", "restartPolicy", "nodeSelector", "tolerations", "terminationGracePeriodSeconds", "automountServiceAccountToken", "securityContext", "enableServiceLinks", "volumes"];
    private static readonly string[] ContainerFields = ["name", "image", "imagePullPolicy", "args", "env", "ports", "resources", "securityContext", "workingDir", "volumeMounts"];
    private static readonly string[] ResourceNames = ["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"];
    private static readonly string[] ContainerSecurityFields =
        ["runAsNonRoot", "runAsUser", "runAsGroup", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "privileged", "capabilities", "seccompProfile"];
    private static readonly string[] PodSecurityFields = ["runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"];
    private static readonly string[] FieldRefPaths = ["status.podIP", "status.hostIP", "metadata.name", "metadata.namespace", "spec.nodeName"];

    /// <summary>All problems with a pod to be created (empty when valid).</summary>
    public static List<FieldError> Pod(JsonObject pod)
    {
        var errors = new List<FieldError>();
        Known(pod, "", PodFields, errors);
        if (pod["kind"] is { } kind && kind.GetValueKind() == JsonValueKind.String && (string?)kind != "Pod")
            errors.Add(FieldError.Invalid("kind", (string)kind!, "must be Pod"));
        if (pod["apiVersion"] is { } av && av.GetValueKind() == JsonValueKind.String && (string?)av != "v1")
            errors.Add(FieldError.Invalid("apiVersion", (string)av!, "must be v1"));

        var metadata = Object(pod, "metadata", "metadata", errors);
        if (metadata is not null)
        {
            Known(metadata, "metadata", MetadataFields, errors);
            var name = String(metadata, "name", "metadata.name", errors);
            var generate = String(metadata, "generateName", "metadata.generateName", errors);
            if (name is null && generate is null)
                errors.Add(new FieldError("metadata.name", "FieldValueRequired", "metadata.name: Required value: name or generateName is required"));
            else if (name is not null && SubdomainProblem(name) is { } problem)
                errors.Add(FieldError.Invalid("metadata.name", name, problem));
            else if (name is null && generate is not null && SubdomainProblem(generate + "x") is { } gproblem)
                errors.Add(FieldError.Invalid("metadata.generateName", generate, gproblem));
            Labels(metadata, "labels", errors, values: true);
            Labels(metadata, "annotations", errors, values: false);
            OwnerReferences(metadata, errors);
        }
        else errors.Add(FieldError.Required("metadata"));

        var spec = Object(pod, "spec", "spec", errors);
        if (spec is null)
        {
            errors.Add(FieldError.Required("spec"));
            return errors;
        }
        Known(spec, "spec", SpecFields, errors);
        if (String(spec, "restartPolicy", "spec.restartPolicy", errors) is { } rp && rp is not ("Always" or "OnFailure" or "Never"))
            errors.Add(new FieldError("spec.restartPolicy", "FieldValueNotSupported",
                $"spec.restartPolicy: Unsupported value: \"{rp}\": supported values: \"Always\", \"Never\", \"OnFailure\""));
        if (spec["terminationGracePeriodSeconds"] is { } grace && (Long(grace) is not >= 0))
            errors.Add(FieldError.Invalid("spec.terminationGracePeriodSeconds", grace.ToJsonString(), "must be greater than or equal to 0"));
        Bool(spec, "automountServiceAccountToken", "spec", errors);
        Bool(spec, "enableServiceLinks", "spec", errors);
        if (Object(spec, "nodeSelector", "spec.nodeSelector", errors) is not null) Labels(spec, "nodeSelector", errors, values: true, prefix: "spec");
        if (Object(spec, "securityContext", "spec.securityContext", errors) is { } psc)
            SecurityContext(psc, "spec.securityContext", PodSecurityFields, errors);
        if (Array(spec, "tolerations", "spec.tolerations", errors) is { } tolerations)
        {
            for (var i = 0; i < tolerations.Count; i++)
            {
                var path = $"spec.tolerations[{i}]";
                if (tolerations[i] is not JsonObject t) { errors.Add(FieldError.Invalid(path, tolerations[i]?.ToJsonString() ?? "null", "must be an object")); continue; }
                Known(t, path, ["key", "operator", "value", "effect", "tolerationSeconds"], errors);
                var op = String(t, "operator", path + ".operator", errors) ?? "Equal";
                if (op is not ("Equal" or "Exists"))
                    errors.Add(new FieldError(path + ".operator", "FieldValueNotSupported", $"{path}.operator: Unsupported value: \"{op}\": supported values: \"Equal\", \"Exists\""));
                if (op == "Exists" && String(t, "value", path + ".value", errors) is { Length: > 0 })
                    errors.Add(FieldError.Invalid(path + ".operator", op, "value must be empty when `operator` is 'Exists'"));
                if (String(t, "effect", path + ".effect", errors) is { Length: > 0 } effect && effect is not ("NoSchedule" or "PreferNoSchedule" or "NoExecute"))
                    errors.Add(new FieldError(path + ".effect", "FieldValueNotSupported", $"{path}.effect: Unsupported value: \"{effect}\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""));
                if (String(t, "key", path + ".key", errors) is { Length: > 0 } key && LabelKeyProblem(key) is { } kp)
                    errors.Add(FieldError.Invalid(path + ".key", key, kp));
            }
        }

        var containers = Array(spec, "containers", "spec.containers", errors);
        if (containers is null || containers.Count == 0)
            errors.Add(FieldError.Required("spec.containers"));
        else if (containers.Count > 1)
            errors.Add(new FieldError("spec.containers", "FieldValueTooMany", "spec.containers: Too many: " + containers.Count + ": the OSForAI dev cluster runs one container per pod"));
        else
        {
            var volumes = Volumes(spec, errors);
            Container(containers[0], "spec.containers[0]", errors);
            if (containers[0] is JsonObject c0) VolumeMounts(c0, "spec.containers[0]", volumes, errors);
        }
        return errors;
    }

    /// <summary>Only emptyDir volumes (a pod's scratch space: its process writes where it likes, so they need no setting up here).</summary>
    private static HashSet<string> Volumes(JsonObject spec, List<FieldError> errors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (Array(spec, "volumes", "spec.volumes", errors) is not { } volumes) return names;
        for (var i = 0; i < volumes.Count; i++)
        {
            var path = $"spec.volumes[{i}]";
            if (volumes[i] is not JsonObject v) { errors.Add(FieldError.Invalid(path, volumes[i]?.ToJsonString() ?? "null", "must be an object")); continue; }
            Known(v, path, ["name", "emptyDir"], errors);
            var name = String(v, "name", path + ".name", errors);
            if (name is null) errors.Add(FieldError.Required(path + ".name"));
            else if (!names.Add(name)) errors.Add(new FieldError(path + ".name", "FieldValueDuplicate", $"{path}.name: Duplicate value: \"{name}\""));
            if (Object(v, "emptyDir", path + ".emptyDir", errors) is { } e) Known(e, path + ".emptyDir", ["medium", "sizeLimit"], errors);
            else errors.Add(FieldError.Unsupported(path, "only emptyDir volumes are supported by the OSForAI dev cluster"));
        }
        return names;
    }

    private static void VolumeMounts(JsonObject c, string path, HashSet<string> volumes, List<FieldError> errors)
    {
        if (Array(c, "volumeMounts", path + ".volumeMounts", errors) is not { } mounts) return;
        for (var i = 0; i < mounts.Count; i++)
        {
            var mp = $"{path}.volumeMounts[{i}]";
            if (mounts[i] is not JsonObject m) { errors.Add(FieldError.Invalid(mp, mounts[i]?.ToJsonString() ?? "null", "must be an object")); continue; }
            Known(m, mp, ["name", "mountPath", "readOnly"], errors);
            var name = String(m, "name", mp + ".name", errors);
            if (name is null || !volumes.Contains(name)) errors.Add(new FieldError(mp + ".name", "FieldValueNotFound", $"{mp}.name: Not found: \"{name}\""));
            if (String(m, "mountPath", mp + ".mountPath", errors) is not { Length: > 0 } mount || !mount.StartsWith('/'))
                errors.Add(FieldError.Required(mp + ".mountPath"));
            Bool(m, "readOnly", mp, errors);
        }
    }

    private static void Container(JsonNode? node, string path, List<FieldError> errors)
    {
        if (node is not JsonObject c)
        {
            errors.Add(FieldError.Invalid(path, node?.ToJsonString() ?? "null", "must be an object"));
            return;
        }
        if (c.ContainsKey("command"))
            errors.Add(FieldError.Unsupported(path + ".command",
                "the OSForAI dev cluster runs the command mapped to the image (DevClusterOptions.Images); use args, which are appended to it"));
        Known(c, path, [.. ContainerFields, "command"], errors);
        var name = String(c, "name", path + ".name", errors);
        if (name is null) errors.Add(FieldError.Required(path + ".name"));
        else if (DnsLabelProblem(name) is { } np) errors.Add(FieldError.Invalid(path + ".name", name, np));
        var image = String(c, "image", path + ".image", errors);
        if (string.IsNullOrWhiteSpace(image)) errors.Add(FieldError.Required(path + ".image"));
        if (String(c, "imagePullPolicy", path + ".imagePullPolicy", errors) is { } pull && pull is not ("Always" or "IfNotPresent" or "Never"))
            errors.Add(new FieldError(path + ".imagePullPolicy", "FieldValueNotSupported", $"{path}.imagePullPolicy: Unsupported value: \"{pull}\": supported values: \"Always\", \"IfNotPresent\", \"Never\""));
        String(c, "workingDir", path + ".workingDir", errors);
        if (Array(c, "args", path + ".args", errors) is { } args)
            for (var i = 0; i < args.Count; i++)
                if (args[i]?.GetValueKind() != JsonValueKind.String)
                    errors.Add(FieldError.Invalid($"{path}.args[{i}]", args[i]?.ToJsonString() ?? "null", "must be a string"));
        if (Array(c, "env", path + ".env", errors) is { } env)
        {
            for (var i = 0; i < env.Count; i++)
            {
                var ep = $"{path}.env[{i}]";
                if (env[i] is not JsonObject e) { errors.Add(FieldError.Invalid(ep, env[i]?.ToJsonString() ?? "null", "must be an object")); continue; }
                Known(e, ep, ["name", "value", "valueFrom"], errors);
                var en = String(e, "name", ep + ".name", errors);
                if (en is null) errors.Add(FieldError.Required(ep + ".name"));
                else if (!EnvName().IsMatch(en))
                    errors.Add(FieldError.Invalid(ep + ".name", en, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"));
                String(e, "value", ep + ".value", errors);
                if (Object(e, "valueFrom", ep + ".valueFrom", errors) is { } from)
                {
                    if (e.ContainsKey("value"))
                        errors.Add(FieldError.Invalid(ep + ".valueFrom", "", "may not be specified when `value` is not empty"));
                    foreach (var (key, _) in from)
                        if (key != "fieldRef")
                            errors.Add(FieldError.Unsupported($"{ep}.valueFrom.{key}", "the OSForAI dev cluster supports only valueFrom.fieldRef (secrets and config maps are not implemented)"));
                    if (Object(from, "fieldRef", ep + ".valueFrom.fieldRef", errors) is { } fr)
                    {
                        Known(fr, ep + ".valueFrom.fieldRef", ["fieldPath", "apiVersion"], errors);
                        var fp = String(fr, "fieldPath", ep + ".valueFrom.fieldRef.fieldPath", errors);
                        if (fp is null) errors.Add(FieldError.Required(ep + ".valueFrom.fieldRef.fieldPath"));
                        else if (!FieldRefPaths.Contains(fp))
                            errors.Add(new FieldError(ep + ".valueFrom.fieldRef.fieldPath", "FieldValueNotSupported",
                                $"{ep}.valueFrom.fieldRef.fieldPath: Unsupported value: \"{fp}\": supported values: {string.Join(", ", FieldRefPaths.Select(p => $"\"{p}\""))}"));
                    }
                }
            }
        }
        if (Array(c, "ports", path + ".ports", errors) is { } ports)
        {
            for (var i = 0; i < ports.Count; i++)
            {
                var pp = $"{path}.ports[{i}]";
                if (ports[i] is not JsonObject p) { errors.Add(FieldError.Invalid(pp, ports[i]?.ToJsonString() ?? "null", "must be an object")); continue; }
                Known(p, pp, ["containerPort", "name", "protocol"], errors);
                if (p["containerPort"] is not { } cp || Long(cp) is not (>= 1 and <= 65535))
                    errors.Add(FieldError.Invalid(pp + ".containerPort", p["containerPort"]?.ToJsonString() ?? "0", "must be between 1 and 65535, inclusive"));
                if (String(p, "protocol", pp + ".protocol", errors) is { } proto && proto is not ("TCP" or "UDP" or "SCTP"))
                    errors.Add(new FieldError(pp + ".protocol", "FieldValueNotSupported", $"{pp}.protocol: Unsupported value: \"{proto}\": supported values: \"SCTP\", \"TCP\", \"UDP\""));
                String(p, "name", pp + ".name", errors);
            }
        }
        if (Object(c, "resources", path + ".resources", errors) is { } resources)
        {
            Known(resources, path + ".resources", ["requests", "limits"], errors);
            var parsed = new Dictionary<string, Dictionary<string, decimal>>();
            foreach (var kind in new[] { "requests", "limits" })
            {
                parsed[kind] = [];
                if (Object(resources, kind, $"{path}.resources.{kind}", errors) is not { } map) continue;
                foreach (var (rname, rvalue) in map)
                {
                    var rp = $"{path}.resources.{kind}[{rname}]";
                    if (!ResourceNames.Contains(rname))
                        errors.Add(FieldError.Unsupported(rp, $"resource '{rname}' is not one the OSForAI dev cluster knows ({string.Join(", ", ResourceNames)})"));
                    var text = rvalue?.GetValueKind() switch
                    {
                        JsonValueKind.String => (string?)rvalue,
                        JsonValueKind.Number => rvalue!.ToJsonString(),
                        _ => null,
                    };
                    if (!Quantity.TryParse(text, out var q))
                        errors.Add(FieldError.Invalid(rp, text ?? rvalue?.ToJsonString() ?? "null", "must be a valid quantity (e.g. 500m, 2, 1Gi)"));
                    else if (rname == "nvidia.com/gpu" && q != decimal.Truncate(q))
                        errors.Add(FieldError.Invalid(rp, text!, "must be an integer"));
                    else parsed[kind][rname] = q;
                }
            }
            foreach (var (rname, request) in parsed["requests"])
            {
                if (parsed["limits"].TryGetValue(rname, out var limit) && request > limit)
                    errors.Add(FieldError.Invalid($"{path}.resources.requests", request.ToString(System.Globalization.CultureInfo.InvariantCulture), $"must be less than or equal to {rname} limit"));
                if (rname == "nvidia.com/gpu" && (!parsed["limits"].TryGetValue(rname, out var gl) || gl != request))
                    errors.Add(FieldError.Invalid($"{path}.resources.requests[{rname}]", request.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be equal to nvidia.com/gpu limit"));
            }
        }
        if (Object(c, "securityContext", path + ".securityContext", errors) is { } sc)
            SecurityContext(sc, path + ".securityContext", ContainerSecurityFields, errors);
    }

    private static void SecurityContext(JsonObject sc, string path, string[] allowed, List<FieldError> errors)
    {
        Known(sc, path, allowed, errors);
        foreach (var b in new[] { "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "privileged" })
            Bool(sc, b, path, errors);
        if (Object(sc, "seccompProfile", path + ".seccompProfile", errors) is { } sp)
        {
            Known(sp, path + ".seccompProfile", ["type"], errors);
            if (String(sp, "type", path + ".seccompProfile.type", errors) is not ("RuntimeDefault" or "Unconfined"))
                errors.Add(new FieldError(path + ".seccompProfile.type", "FieldValueNotSupported",
                    $"{path}.seccompProfile.type: Unsupported value: {sp["type"]?.ToJsonString() ?? "null"}: supported values: \"RuntimeDefault\", \"Unconfined\""));
        }
        if (Object(sc, "capabilities", path + ".capabilities", errors) is { } caps)
            Known(caps, path + ".capabilities", ["add", "drop"], errors);
    }

    private static void Labels(JsonObject owner, string key, List<FieldError> errors, bool values, string prefix = "metadata")
    {
        var path = $"{prefix}.{key}";
        if (Object(owner, key, path, errors) is not { } map) return;
        foreach (var (k, v) in map)
        {
            if (LabelKeyProblem(k) is { } kp) errors.Add(FieldError.Invalid(path, k, kp));
            if (v?.GetValueKind() != JsonValueKind.String)
                errors.Add(FieldError.Invalid($"{path}[{k}]", v?.ToJsonString() ?? "null", "must be a string"));
            else if (values && LabelValueProblem((string)v!) is { } vp)
                errors.Add(FieldError.Invalid(path, (string)v!, vp));
        }
    }

    /// <summary>metadata.ownerReferences: each names its owner's apiVersion, kind, name and uid; at most one is the controller.</summary>
    private static void OwnerReferences(JsonObject metadata, List<FieldError> errors)
    {
        if (metadata["ownerReferences"] is not { } node) return;
        if (node is not JsonArray refs)
        {
            errors.Add(FieldError.Invalid("metadata.ownerReferences", node.ToJsonString(), "must be a list"));
            return;
        }
        var controllers = 0;
        for (var i = 0; i < refs.Count; i++)
        {
            var path = $"metadata.ownerReferences[{i}]";
            if (refs[i] is not JsonObject r)
            {
                errors.Add(FieldError.Invalid(path, refs[i]?.ToJsonString() ?? "null", "must be an object"));
                continue;
            }
            Known(r, path, OwnerReferenceFields, errors);
            foreach (var key in new[] { "apiVersion", "kind", "name", "uid" })
                if (String(r, key, $"{path}.{key}", errors) is not { Length: > 0 })
                    errors.Add(FieldError.Required($"{path}.{key}"));
            if (r["controller"] is { } c && c.GetValueKind() == JsonValueKind.True) controllers++;
        }
        if (controllers > 1)
            errors.Add(FieldError.Invalid("metadata.ownerReferences", "", "Only one reference can have Controller set to true"));
    }

    private static void Known(JsonObject o, string path, string[] allowed, List<FieldError> errors)
    {
        foreach (var (key, _) in o)
            if (!allowed.Contains(key))
                errors.Add(new FieldError(Join(path, key), "FieldValueNotSupported",
                    $"{Join(path, key)}: Unsupported value: unknown field \"{Join(path, key)}\" (the OSForAI dev cluster refuses fields it does not implement)"));
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    private static JsonObject? Object(JsonObject o, string key, string path, List<FieldError> errors)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonObject obj) return obj;
        errors.Add(FieldError.Invalid(path, node.ToJsonString(), "must be an object"));
        return null;
    }

    private static JsonArray? Array(JsonObject o, string key, string path, List<FieldError> errors)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonArray a) return a;
        errors.Add(FieldError.Invalid(path, node.ToJsonString(), "must be a list"));
        return null;
    }

    private static string? String(JsonObject o, string key, string path, List<FieldError> errors)
    {
        var node = o[key];
        if (node is null) return null;
        if (node.GetValueKind() == JsonValueKind.String) return (string?)node;
        errors.Add(FieldError.Invalid(path, node.ToJsonString(), "must be a string"));
        return null;
    }

    private static void Bool(JsonObject o, string key, string path, List<FieldError> errors)
    {
        if (o[key] is { } node && node.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            errors.Add(FieldError.Invalid($"{path}.{key}", node.ToJsonString(), "must be a boolean"));
    }
}
