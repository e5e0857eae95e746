using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace OSForAI.DevCluster;

/// <summary>The HTTP side: paths, verbs, discovery documents, tables for kubectl, and Status errors.</summary>
internal sealed class ApiHandler(ClusterState state)
{
    private static readonly Dictionary<string, Func<JsonObject, string?>> PodFields = new()
    {
        ["metadata.name"] = p => (string?)p["metadata"]?["name"],
        ["metadata.namespace"] = p => (string?)p["metadata"]?["namespace"],
        ["spec.nodeName"] = p => (string?)p["spec"]?["nodeName"],
        ["status.phase"] = p => (string?)p["status"]?["phase"],
        ["status.podIP"] = p => (string?)p["status"]?["podIP"],
    };

    private static readonly Dictionary<string, Func<JsonObject, string?>> NameFields = new()
    {
        ["metadata.name"] = p => (string?)p["metadata"]?["name"],
    };

    public async Task HandleAsync(HttpContext context)
    {
        try
        {
            await RouteAsync(context).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteStatus(context, e.Code, e.Reason, e.Message, e.Details).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await WriteStatus(context, 400, "BadRequest", $"the body of the request was in an unknown format: {e.Message}").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await WriteStatus(context, 500, "InternalError", $"OSForAI dev cluster: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
        }
    }

    private async Task RouteAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value?.TrimEnd('/') ?? "";
        var method = ctx.Request.Method;
        var s = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var q = ctx.Request.Query;

        switch (s)
        {
            case ["version"]:
                await Json(ctx, 200, new JsonObject
                {
                    ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0-osforai-dev", ["gitCommit"] = "osforai-dev",
                    ["gitTreeState"] = "clean", ["buildDate"] = "2025-01-01T00:00:00Z", ["goVersion"] = "none",
                    ["compiler"] = "none", ["platform"] = "linux/amd64",
                });
                return;
            case ["healthz"] or ["livez"] or ["readyz"]:
                ctx.Response.ContentType = "text/plain";
                await ctx.Response.WriteAsync("ok");
                return;
            case ["api"]:
                await Json(ctx, 200, new JsonObject
                {
                    ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1"),
                    ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = ctx.Request.Host.Value }),
                });
                return;
            case ["apis"]:
                await Json(ctx, 200, new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = new JsonArray() });
                return;
            case ["api", "v1"]:
                await Json(ctx, 200, ResourceList());
                return;
        }

        if (s.Length < 3 || s[0] != "api" || s[1] != "v1")
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        var rest = s[2..];
        switch (rest)
        {
            case ["nodes"] when method == "GET":
                await List(ctx, "NodeList", state.Nodes.Select(NodeObject).Where(Selected(q, NameFields, "nodes")).ToList(), NodeTable);
                return;
            case ["nodes", var name] when method == "GET":
                await Get(ctx, NodeObject(state.Nodes.FirstOrDefault(n => n.Name == name) ?? throw ClusterState.NotFound("nodes", name)), NodeTable);
                return;
            case ["namespaces"] when method == "GET":
                await List(ctx, "NamespaceList", state.ListNamespaces().Where(Selected(q, NameFields, "namespaces")).ToList(), NamespaceTable);
                return;
            case ["namespaces"] when method == "POST":
                await Json(ctx, 201, state.CreateNamespace(await Body(ctx)));
                return;
            case ["namespaces", var name] when method == "GET":
                await Get(ctx, state.GetNamespace(name), NamespaceTable);
                return;
            case ["pods"] when method == "GET":
                await Pods(ctx, null);
                return;
            case ["events"] or ["namespaces", _, "events"] when method == "GET":
                await Json(ctx, 200, new JsonObject { ["kind"] = "EventList", ["apiVersion"] = "v1", ["metadata"] = new JsonObject { ["resourceVersion"] = Rv() }, ["items"] = new JsonArray() });
                return;
            case ["namespaces", var ns, "pods"] when method == "GET":
                state.GetNamespace(ns);
                await Pods(ctx, ns);
                return;
            case ["namespaces", var ns, "pods"] when method == "POST":
                if (q["dryRun"].Count > 0) throw ApiException.BadRequest("dryRun is not supported by the OSForAI dev cluster");
                await Json(ctx, 201, state.CreatePod(ns, await Body(ctx)));
                return;
            case ["namespaces", var ns, "pods", var name] when method == "GET":
                await Get(ctx, state.GetPod(ns, name), PodTable);
                return;
            case ["namespaces", var ns, "pods", var name, "status"] when method == "GET":
                await Json(ctx, 200, state.GetPod(ns, name));
                return;
            case ["namespaces", var ns, "pods", var name, "log"] when method == "GET":
                if (q["follow"] == "true") throw ApiException.BadRequest("follow is not supported by the OSForAI dev cluster");
                var log = state.Log(ns, name, q["previous"] == "true");
                if (int.TryParse(q["tailLines"], NumberStyles.None, CultureInfo.InvariantCulture, out var tail))
                {
                    var lines = log.Split('\n');
                    var kept = lines[^1].Length == 0 ? lines[..^1] : lines;
                    log = string.Concat(kept.Skip(Math.Max(0, kept.Length - tail)).Select(l => l + "\n"));
                }
                ctx.Response.ContentType = "text/plain";
                await ctx.Response.WriteAsync(log);
                return;
            case ["namespaces", var ns, "pods", var name] when method == "DELETE":
                long? grace = long.TryParse(q["gracePeriodSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var g) ? g : null;
                if (ctx.Request.ContentLength is > 0 || ctx.Request.Headers.TransferEncoding.Count > 0)
                {
                    var body = await Body(ctx);
                    if (Validation.Long(body["gracePeriodSeconds"]) is { } bg) grace = bg;
                }
                await Json(ctx, 200, state.DeletePod(ns, name, grace));
                return;
            case ["namespaces", var ns, "pods", var name] when method == "PATCH":
                var type = ctx.Request.ContentType?.Split(';')[0].Trim();
                if (type is not ("application/merge-patch+json" or "application/strategic-merge-patch+json"))
                    throw new ApiException(415, "UnsupportedMediaType",
                        $"the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {type})");
                await Json(ctx, 200, state.PatchPod(ns, name, await Body(ctx)));
                return;
        }
        if (rest is ["nodes", ..] or ["namespaces", ..] or ["pods", ..])
            throw new ApiException(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource ({method} {path})");
        throw new ApiException(404, "NotFound", "the server could not find the requested resource");
    }

    private string Rv() => state.ResourceVersion.ToString(CultureInfo.InvariantCulture);

    private static Func<JsonObject, bool> Selected(IQueryCollection q, Dictionary<string, Func<JsonObject, string?>> fields, string kind)
    {
        var labels = Selectors.ParseLabels(q["labelSelector"]);
        var byField = Selectors.ParseFields(q["fieldSelector"], fields, kind);
        return o => byField(o) && labels(LabelsOf(o));
    }

    private static Dictionary<string, string> LabelsOf(JsonObject o) =>
        (o["metadata"]?["labels"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => (string?)kv.Value ?? "") ?? [];

    private async Task Pods(HttpContext ctx, string? ns)
    {
        var q = ctx.Request.Query;
        var filter = Selected(q, PodFields, "pods");
        if (q["watch"] is var w && (w == "true" || w == "1"))
        {
            await WatchPods(ctx, ns, filter);
            return;
        }
        var (items, rv) = state.ListPods(ns, filter);
        await List(ctx, "PodList", items, PodTable, rv);
    }

    private async Task WatchPods(HttpContext ctx, string? ns, Func<JsonObject, bool> filter)
    {
        var q = ctx.Request.Query;
        var watcher = state.Watch(ns, filter, q["resourceVersion"], out var initial);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
            if (int.TryParse(q["timeoutSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
                timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/json";
            await ctx.Response.StartAsync(ctx.RequestAborted);
            foreach (var e in initial) await WriteEvent(ctx, e);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            try
            {
                await foreach (var e in watcher.Events.Reader.ReadAllAsync(timeout.Token))
                {
                    await WriteEvent(ctx, e);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
        finally
        {
            state.Unwatch(watcher);
        }
    }

    private static async Task WriteEvent(HttpContext ctx, WatchEvent e)
    {
        var line = new JsonObject { ["type"] = e.Type, ["object"] = e.Object.DeepClone() }.ToJsonString() + "\n";
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), ctx.RequestAborted);
    }

    private static async Task<JsonObject> Body(HttpContext ctx)
    {
        var node = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        return node as JsonObject ?? throw ApiException.BadRequest("the body of the request must be a JSON object");
    }

    private static bool WantsTable(HttpContext ctx) => ctx.Request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal);

    private async Task List(HttpContext ctx, string kind, IReadOnlyList<JsonObject> items, Func<JsonObject, JsonArray> rowCells, long? rv = null)
    {
        var version = (rv ?? state.ResourceVersion).ToString(CultureInfo.InvariantCulture);
        if (WantsTable(ctx))
        {
            await Json(ctx, 200, Table(kind, items, rowCells, version));
            return;
        }
        var array = new JsonArray();
        foreach (var item in items)
        {
            var copy = item.DeepClone().AsObject();
            copy.Remove("kind");
            copy.Remove("apiVersion");
            array.Add(copy);
        }
        await Json(ctx, 200, new JsonObject { ["kind"] = kind, ["apiVersion"] = "v1", ["metadata"] = new JsonObject { ["resourceVersion"] = version }, ["items"] = array });
    }

    private async Task Get(HttpContext ctx, JsonObject item, Func<JsonObject, JsonArray> rowCells)
    {
        if (WantsTable(ctx))
            await Json(ctx, 200, Table((string)item["kind"]! + "List", [item], rowCells, Rv()));
        else
            await Json(ctx, 200, item);
    }

    private static JsonObject Table(string kind, IReadOnlyList<JsonObject> items, Func<JsonObject, JsonArray> rowCells, string rv)
    {
        var columns = kind switch
        {
            "PodList" => new[] { ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Status", "string", "", 0), ("Restarts", "string", "", 0), ("Age", "string", "", 0), ("IP", "string", "", 1), ("Node", "string", "", 1) },
            "NodeList" => [("Name", "string", "name", 0), ("Status", "string", "", 0), ("Roles", "string", "", 0), ("Age", "string", "", 0), ("Version", "string", "", 0)],
            _ => [("Name", "string", "name", 0), ("Status", "string", "", 0), ("Age", "string", "", 0)],
        };
        var defs = new JsonArray();
        foreach (var (name, type, format, priority) in columns)
            defs.Add(new JsonObject { ["name"] = name, ["type"] = type, ["format"] = format, ["description"] = name, ["priority"] = priority });
        var rows = new JsonArray();
        foreach (var item in items)
        {
            var partial = new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = item["metadata"]!.DeepClone() };
            rows.Add(new JsonObject { ["cells"] = rowCells(item), ["object"] = partial });
        }
        return new JsonObject
        {
            ["kind"] = "Table", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = new JsonObject { ["resourceVersion"] = rv },
            ["columnDefinitions"] = defs, ["rows"] = rows,
        };
    }

    internal static string Age(JsonObject item)
    {
        if (!DateTime.TryParse((string?)item["metadata"]?["creationTimestamp"], CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var created)) return "<unknown>";
        var age = DateTime.UtcNow - created;
        return age.TotalMinutes < 2 ? $"{(int)age.TotalSeconds}s" : age.TotalHours < 2 ? $"{(int)age.TotalMinutes}m" : age.TotalDays < 2 ? $"{(int)age.TotalHours}h" : $"{(int)age.TotalDays}d";
    }

    private static JsonArray PodTable(JsonObject pod)
    {
        var cs = pod["status"]?["containerStatuses"]?[0];
        var ready = cs?["ready"]?.GetValue<bool>() == true ? 1 : 0;
        var status = (string?)cs?["state"]?["waiting"]?["reason"] ?? (string?)cs?["state"]?["terminated"]?["reason"] ?? (string?)pod["status"]?["phase"] ?? "Pending";
        if (pod["metadata"]?["deletionTimestamp"] is not null) status = "Terminating";
        var restarts = cs?["restartCount"]?.ToString() ?? "0";
        return new JsonArray((string?)pod["metadata"]!["name"], $"{ready}/1", status, restarts, Age(pod),
            (string?)pod["status"]?["podIP"] ?? "<none>", (string?)pod["spec"]?["nodeName"] ?? "<none>");
    }

    private static JsonArray NodeTable(JsonObject node) =>
        new((string?)node["metadata"]!["name"], "Ready", "<none>", Age(node), "v1.32.0-osforai-dev");

    private static JsonArray NamespaceTable(JsonObject ns) =>
        new((string?)ns["metadata"]!["name"], (string?)ns["status"]?["phase"] ?? "Active", Age(ns));

    private static JsonObject NodeObject(DevNode node)
    {
        var labels = new JsonObject();
        foreach (var (k, v) in node.Labels) labels[k] = v;
        var taints = new JsonArray();
        foreach (var t in node.Taints) taints.Add(new JsonObject { ["key"] = t.Key, ["value"] = t.Value, ["effect"] = t.Effect });
        var resources = new JsonObject();
        foreach (var (k, v) in node.Allocatable) resources[k] = v.ToString(CultureInfo.InvariantCulture);
        var created = ClusterState.Time(node.Created);
        var spec = new JsonObject();
        if (taints.Count > 0) spec["taints"] = taints;
        return new JsonObject
        {
            ["kind"] = "Node", ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject { ["name"] = node.Name, ["uid"] = $"node-{node.Name}", ["resourceVersion"] = "1", ["creationTimestamp"] = created, ["labels"] = labels },
            ["spec"] = spec,
            ["status"] = new JsonObject
            {
                ["capacity"] = resources.DeepClone(), ["allocatable"] = resources,
                ["conditions"] = new JsonArray(new JsonObject
                {
                    ["type"] = "Ready", ["status"] = "True", ["reason"] = "KubeletReady", ["message"] = "OSForAI dev node is ready",
                    ["lastHeartbeatTime"] = created, ["lastTransitionTime"] = created,
                }),
                ["addresses"] = new JsonArray(new JsonObject { ["type"] = "InternalIP", ["address"] = "127.0.0.1" }, new JsonObject { ["type"] = "Hostname", ["address"] = node.Name }),
                ["nodeInfo"] = new JsonObject
                {
                    ["kubeletVersion"] = "v1.32.0-osforai-dev", ["operatingSystem"] = "linux", ["architecture"] = node.Labels["kubernetes.io/arch"],
                    ["containerRuntimeVersion"] = "process://local", ["osImage"] = "local processes", ["kernelVersion"] = Environment.OSVersion.Version.ToString(),
                    ["machineID"] = "", ["systemUUID"] = "", ["bootID"] = "", ["kubeProxyVersion"] = "",
                },
            },
        };
    }

    private static JsonObject ResourceList()
    {
        JsonObject R(string name, string kind, bool namespaced, params string[] verbs) => new()
        {
            ["name"] = name, ["singularName"] = name.Contains('/') ? "" : kind.ToLowerInvariant(), ["namespaced"] = namespaced,
            ["kind"] = kind, ["verbs"] = new JsonArray(verbs.Select(v => (JsonNode)v).ToArray()),
        };
        var pods = R("pods", "Pod", true, "create", "delete", "get", "list", "patch", "watch");
        pods["shortNames"] = new JsonArray("po");
        pods["categories"] = new JsonArray("all");
        var nodes = R("nodes", "Node", false, "get", "list");
        nodes["shortNames"] = new JsonArray("no");
        var namespaces = R("namespaces", "Namespace", false, "create", "get", "list");
        namespaces["shortNames"] = new JsonArray("ns");
        return new JsonObject
        {
            ["kind"] = "APIResourceList", ["groupVersion"] = "v1",
            ["resources"] = new JsonArray(pods, R("pods/status", "Pod", true, "get"), R("pods/log", "Pod", true, "get"), nodes, namespaces,
                R("events", "Event", true, "list")),
        };
    }

    private static async Task Json(HttpContext ctx, int code, JsonObject body)
    {
        ctx.Response.StatusCode = code;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body.ToJsonString(), ctx.RequestAborted);
    }

    private static Task WriteStatus(HttpContext ctx, int code, string reason, string message, JsonObject? details = null)
    {
        if (ctx.Response.HasStarted) return Task.CompletedTask;
        var status = new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
            ["message"] = message, ["reason"] = reason, ["code"] = code,
        };
        if (details is not null) status["details"] = details;
        return Json(ctx, code, status);
    }
}
