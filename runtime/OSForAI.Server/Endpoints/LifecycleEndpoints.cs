using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>
/// The version lifecycle (docs/api.md, "Version lifecycle"): deprecate a version or take that back, delete a version or an algorithm
/// without versions, and read the audit trail. Changes are for the algorithm's owner (and admins) only; everyone else gets 403
/// whatever the algorithm, as for publishing.
/// </summary>
public static class LifecycleEndpoints
{
    public const int DefaultAuditEntries = 100;
    public const int MaxAuditEntries = 1000;

    public static void MapLifecycle(this IEndpointRouteBuilder app)
    {
        app.MapMethods("/v1/algorithms/{owner}/{name}/versions/{version}", [HttpMethods.Patch], (HttpContext c, string owner, string name, string version,
            KeyStore k, VersionLifecycle life) => ManagementEndpoints.Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            RequireOwner(caller, owner, "change");
            var req = await ManagementEndpoints.ReadJsonAsync<ChangeVersionRequest>(c);
            if (req.Deprecated is not { } deprecated)
                throw ApiErrors.BadRequest("'deprecated' (true or false) is required: whether a version is deprecated is all that can change about it");
            return (200, ManagementEndpoints.VersionView(life.SetDeprecated(owner, name, version, deprecated, caller)));
        }));

        app.MapDelete("/v1/algorithms/{owner}/{name}/versions/{version}", (HttpContext c, string owner, string name, string version,
            KeyStore k, VersionLifecycle life) => ManagementEndpoints.Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            RequireOwner(caller, owner, "delete");
            var d = await life.DeleteVersionAsync(owner, name, version, caller);
            return (200, (object)new
            {
                owner = d.Owner, name = d.Name, version = d.Version, build = d.Build, deleted_at = d.DeletedAt, build_deleted = d.BuildDeleted,
            });
        }));

        app.MapDelete("/v1/algorithms/{owner}/{name}", (HttpContext c, string owner, string name, KeyStore k, VersionLifecycle life) =>
            ManagementEndpoints.Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            RequireOwner(caller, owner, "delete");
            var builds = await life.DeleteAlgorithmAsync(owner, name, caller);
            return (200, (object)new { owner, name, deleted_builds = builds });
        }));

        app.MapGet("/v1/algorithms/{owner}/{name}/audit", (HttpContext c, string owner, string name, KeyStore k, CatalogStore cat) =>
            ManagementEndpoints.Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.None);
            RequireOwner(caller, owner, "read the audit trail of");
            var limit = DefaultAuditEntries;
            if (c.Request.Query.TryGetValue("limit", out var l) && (!int.TryParse(l.ToString(), out limit) || limit is < 1 or > MaxAuditEntries))
                throw ApiErrors.BadRequest($"limit must be a whole number from 1 to {MaxAuditEntries}");
            var entries = cat.ListAudit(owner, name, limit);
            // The trail outlives the algorithm; with neither, there is nothing of that name.
            if (entries.Count == 0) cat.GetAlgorithm(owner, name);
            return Task.FromResult((200, (object)new
            {
                owner, name,
                entries = entries.Select(e => new
                {
                    id = e.Id, at = e.At, actor = e.Actor, key_id = e.KeyId, action = e.Action, version = e.Version, build = e.Build,
                    detail = e.Detail.Length == 0 ? null : e.Detail,
                }),
            }));
        }));
    }

    private static void RequireOwner(Principal caller, string owner, string what)
    {
        if (!caller.IsAdmin && caller.Owner != owner)
            throw ApiErrors.Forbidden($"your key belongs to '{caller.Owner}' and may not {what} the algorithms of '{owner}'");
    }

    private sealed class ChangeVersionRequest { public bool? Deprecated { get; set; } }
}
