using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Building;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Jobs;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>Management API: algorithms, code builds, versions, grants, API keys and async jobs (docs/api.md).</summary>
public static class ManagementEndpoints
{
    public static void MapManagement(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/algorithms", (HttpContext c, KeyStore k, CatalogStore cat) => Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            var req = await ReadJsonAsync<CreateAlgorithmRequest>(c);
            var (owner, name) = SplitName(req.Owner, req.Name, caller);
            RequireOwner(caller, owner);
            var created = cat.CreateAlgorithm(owner, name, req.Description);
            cat.Audit(owner, name, caller, AuditAction.CreateAlgorithm);
            return (201, (object)AlgorithmView(created, cat, caller));
        }));

        app.MapGet("/v1/algorithms", (HttpContext c, KeyStore k, CatalogStore cat) => Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.None);
            var list = cat.ListAlgorithms().Where(a => Visible(cat, caller, a.Owner, a.Name).Any() || cat.IsPrivileged(caller, a.Owner, a.Name))
                .Select(a => AlgorithmView(a, cat, caller)).ToList();
            return Task.FromResult((200, (object)new { algorithms = list }));
        }));

        app.MapGet("/v1/algorithms/{owner}/{name}", (HttpContext c, string owner, string name, KeyStore k, CatalogStore cat) => Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.None);
            var summary = AlgorithmView(cat.GetAlgorithm(owner, name), cat, caller);
            var privileged = cat.IsPrivileged(caller, owner, name);
            var versions = Visible(cat, caller, owner, name).Select(VersionView).ToList();
            if (!privileged && versions.Count == 0) throw ApiErrors.NotFound($"algorithm {owner}/{name} not found");
            var builds = privileged
                ? cat.ListBuilds(owner, name).Select(b => new BuildView(b.Hash, b.Status.ToString().ToLowerInvariant(), b.Manifest.Runtime,
                    b.Manifest.Entrypoint, b.Size, b.CreatedAt)).ToList()
                : null;
            return Task.FromResult((200, (object)new
            {
                owner = summary.Owner, name = summary.Name, description = summary.Description, latest_version = summary.LatestVersion,
                created_at = summary.CreatedAt, versions, builds,
            }));
        }));

        app.MapPost("/v1/algorithms/{owner}/{name}/builds", (HttpContext c, string owner, string name, KeyStore k, CatalogStore cat,
            BuildService builds, IOptions<OsaiOptions> o) => BuildEndpoints.PostAsync(c, owner, name, k, cat, builds, o.Value));

        app.MapGet("/v1/algorithms/{owner}/{name}/builds/{hash}", (HttpContext c, string owner, string name, string hash, KeyStore k,
            CatalogStore cat) => Run(c, () =>
            Task.FromResult((200, (object)BuildEndpoints.View(BuildEndpoints.OwnBuild(c, owner, name, hash, k, cat), log: null)))));

        app.MapGet("/v1/algorithms/{owner}/{name}/builds/{hash}/log", (HttpContext c, string owner, string name, string hash, KeyStore k,
            CatalogStore cat) => BuildEndpoints.GetLogAsync(c, owner, name, hash, k, cat));

        app.MapPost("/v1/algorithms/{owner}/{name}/versions", (HttpContext c, string owner, string name, KeyStore k, CatalogStore cat,
            IOptions<OsaiOptions> o) => Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            RequireOwner(caller, owner);
            var req = await ReadJsonAsync<PublishRequest>(c);
            if (string.IsNullOrEmpty(req.Build)) throw ApiErrors.BadRequest("'build' (the hash of a succeeded build, from POST .../builds) is required");
            if (string.IsNullOrEmpty(req.Version)) throw ApiErrors.BadRequest("'version' (MAJOR.MINOR.PATCH) is required");
            var visibility = req.Visibility is null ? (Visibility?)null : AlgorithmManifest.ParseVisibility(req.Visibility);
            var v = cat.Publish(owner, name, req.Build, req.Version, visibility, req.Description, req.Tags,
                m => AlgorithmManifest.RequireFits(m.Resources, o.Value.Workers.Node));
            cat.Audit(owner, name, caller, AuditAction.Publish, v.VersionLabel, v.Build);
            return (201, (object)VersionView(v));
        }));

        app.MapGet("/v1/algorithms/{owner}/{name}/versions/{version}", (HttpContext c, string owner, string name, string version,
            KeyStore k, CallService calls) => Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.None);
            return Task.FromResult((200, (object)VersionView(calls.Resolve(owner, name, version, caller))));
        }));

        app.MapPost("/v1/algorithms/{owner}/{name}/grants", (HttpContext c, string owner, string name, KeyStore k, CatalogStore cat) => Run(c, async () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Publish);
            RequireOwner(caller, owner);
            var req = await ReadJsonAsync<GrantRequest>(c);
            cat.Grant(owner, name, req.Grantee ?? throw ApiErrors.BadRequest("'grantee' is required"));
            return (201, (object)new { owner, name, grantee = req.Grantee });
        }));

        app.MapPost("/v1/keys", (HttpContext c, KeyStore k) => Run(c, async () =>
        {
            Authentication.Require(c, k, Scopes.Admin);
            var req = await ReadJsonAsync<CreateKeyRequest>(c);
            if (string.IsNullOrEmpty(req.Owner)) throw ApiErrors.BadRequest("'owner' is required");
            Scopes scopes;
            try { scopes = Principal.ParseScopes(req.Scopes ?? []); }
            catch (ArgumentException e) { throw ApiErrors.BadRequest(e.Message); }
            var grants = (req.DataGrants ?? []).Select(DataGrant.Parse).ToList();
            var (info, key) = k.Create(req.Owner, scopes, req.Name, grants);
            return (201, (object)new { id = info.Id, key, owner = info.Owner, scopes = Principal.ScopeNames(info.Scopes), name = info.Name,
                data_grants = info.Grants.Select(g => g.ToString()), created_at = info.CreatedAt });
        }));

        app.MapGet("/v1/keys", (HttpContext c, KeyStore k) => Run(c, () =>
        {
            Authentication.Require(c, k, Scopes.Admin);
            var keys = k.List().Select(i => new { id = i.Id, owner = i.Owner, scopes = Principal.ScopeNames(i.Scopes), name = i.Name,
                data_grants = i.Grants.Select(g => g.ToString()), created_at = i.CreatedAt, revoked = i.Revoked });
            return Task.FromResult((200, (object)new { keys }));
        }));

        app.MapDelete("/v1/keys/{id}", (HttpContext c, string id, KeyStore k) => Run(c, () =>
        {
            Authentication.Require(c, k, Scopes.Admin);
            if (!k.Revoke(id)) throw ApiErrors.NotFound($"no active key with id '{id}'");
            return Task.FromResult((204, (object)null!));
        }));

        app.MapGet("/v1/jobs", (HttpContext c, KeyStore k, JobStore jobs) => Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Call);
            var limit = 50;
            if (c.Request.Query.TryGetValue("limit", out var l) && (!int.TryParse(l.ToString(), out limit) || limit is < 1 or > 1000))
                throw ApiErrors.BadRequest("limit must be a whole number from 1 to 1000");
            // Admins see every caller's jobs; anyone else their own.
            var list = jobs.List(caller.IsAdmin ? null : caller.Owner, limit).Select(j => new
            {
                id = j.Id, status = j.Status, algorithm = $"{j.Owner}/{j.Name}/{j.VersionLabel}", caller = j.Caller,
                created_at = j.CreatedAt, completed_at = j.CompletedAt,
            });
            return Task.FromResult((200, (object)new { jobs = list }));
        }));

        app.MapGet("/v1/jobs/{id}", (HttpContext c, string id, KeyStore k, JobStore jobs) => Run(c, () =>
        {
            var caller = Authentication.Require(c, k, Scopes.Call);
            var job = jobs.Get(id);
            if (job is null || (!caller.IsAdmin && job.Caller != caller.Owner)) throw ApiErrors.NotFound($"no job '{id}'");
            return Task.FromResult((200, (object)JobView(job)));
        }));
    }

    internal static async Task Run(HttpContext ctx, Func<Task<(int Status, object Body)>> handler)
    {
        try
        {
            var (status, body) = await handler();
            ctx.Response.StatusCode = status;
            if (status != 204) await ctx.Response.WriteAsJsonAsync(body, body.GetType(), ServerJson.Options, ctx.RequestAborted);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
        {
            await ApiErrors.WriteAsync(ctx, e);
        }
    }

    internal static async Task<T> ReadJsonAsync<T>(HttpContext ctx) where T : new()
    {
        var media = MediaTypeHeaderValue.TryParse(ctx.Request.ContentType, out var m) ? m.MediaType : null;
        if (media is not null && media != "application/json")
            throw ApiErrors.UnsupportedMediaType($"send application/json, not '{media}'");
        var body = await RequestBody.ReadAsync(ctx.Request, 1024 * 1024, ctx.RequestAborted);
        if (body.Length == 0) return new T();
        try { return JsonSerializer.Deserialize<T>(body, ServerJson.Options) ?? new T(); }
        catch (JsonException e) { throw ApiErrors.BadRequest("the request body is not valid JSON for this call: " + e.Message); }
    }

    private static (string Owner, string Name) SplitName(string? owner, string? name, Principal caller)
    {
        if (name is not null && name.Contains('/'))
        {
            var parts = name.Split('/', 2);
            return (parts[0], parts[1]);
        }
        return (owner ?? caller.Owner, name ?? throw ApiErrors.BadRequest("'name' is required"));
    }

    internal static void RequireOwner(Principal caller, string owner)
    {
        if (!caller.IsAdmin && caller.Owner != owner)
            throw ApiErrors.Forbidden($"your key belongs to '{caller.Owner}' and may not publish as '{owner}'");
    }

    internal static CodeUploadKind UploadKind(string? contentType, string fileName)
    {
        if (!string.IsNullOrEmpty(fileName)) return CodeUploadKind.SingleFile;
        var media = MediaTypeHeaderValue.TryParse(contentType, out var m) ? m.MediaType?.ToLowerInvariant() : null;
        return media switch
        {
            "application/gzip" or "application/x-gzip" or "application/x-compressed-tar" or "application/x-tgz" => CodeUploadKind.TarGz,
            "application/x-tar" => CodeUploadKind.Tar,
            _ => throw ApiErrors.UnsupportedMediaType(
                "upload code as application/gzip (a .tar.gz of the folder), application/x-tar, or any type with ?filename=NAME for a single file"),
        };
    }

    private static IEnumerable<VersionRecord> Visible(CatalogStore cat, Principal caller, string owner, string name)
    {
        var privileged = cat.IsPrivileged(caller, owner, name);
        return cat.ListVersions(owner, name).Where(v => privileged || v.Visibility == Visibility.Public);
    }

    private static AlgorithmSummary AlgorithmView(AlgorithmRecord a, CatalogStore cat, Principal caller)
    {
        // The version latest resolves to: deprecated ones are skipped.
        var visible = Visible(cat, caller, a.Owner, a.Name).ToList();
        var latest = visible.FirstOrDefault(v => v.DeprecatedAt is null);
        // Without a description of its own, an algorithm shows its latest version's (from algorithm.yaml).
        var description = a.Description.Length > 0 ? a.Description : (latest ?? visible.FirstOrDefault())?.Description ?? "";
        return new(a.Owner, a.Name, description, latest?.Version?.ToString(), a.CreatedAt);
    }

    internal static object VersionView(VersionRecord v) => new
    {
        owner = v.Owner, name = v.Name, version = v.Version?.ToString(), build = v.Build, runtime = v.Runtime, entrypoint = v.Entrypoint,
        visibility = v.Visibility, description = v.Description, tags = v.Tags, concurrency = v.Concurrency, timeout_s = v.TimeoutSeconds,
        resources = new { cpu = v.Resources.Cpu, memory_mb = v.Resources.MemoryMb, gpu_memory_mb = v.Resources.GpuMemoryMb },
        sample_input = v.SampleInput, sample_output = v.SampleOutput, code_uri = v.CodeUri, published_at = v.PublishedAt,
        deprecated = v.DeprecatedAt is not null, deprecated_at = v.DeprecatedAt,
    };

    private static object JobView(JobRecord j)
    {
        object? result = null;
        if (j.Result is not null)
            result = j.ResultKind switch
            {
                "json" => JsonSerializer.Deserialize<JsonElement>(j.Result),
                "text" => System.Text.Encoding.UTF8.GetString(j.Result),
                _ => Convert.ToBase64String(j.Result),
            };
        return new
        {
            id = j.Id, status = j.Status, algorithm = $"{j.Owner}/{j.Name}/{j.VersionLabel}", created_at = j.CreatedAt, completed_at = j.CompletedAt,
            result, metadata = j.ResultKind is null ? null : new { content_type = j.ResultKind },
            error = j.Error is null ? (object?)null : JsonSerializer.Deserialize<JsonElement>(j.Error),
        };
    }

    private sealed record AlgorithmSummary(string Owner, string Name, string Description, string? LatestVersion, DateTimeOffset CreatedAt);
    private sealed record BuildView(string Build, string Status, string Runtime, string Entrypoint, long Size, DateTimeOffset CreatedAt);
    private sealed class CreateAlgorithmRequest { public string? Owner { get; set; } public string? Name { get; set; } public string? Description { get; set; } }
    private sealed class PublishRequest
    {
        public string? Build { get; set; }
        public string? Version { get; set; }
        public string? Visibility { get; set; }
        public string? Description { get; set; }
        public List<string>? Tags { get; set; }
    }
    private sealed class GrantRequest { public string? Grantee { get; set; } }
    private sealed class CreateKeyRequest
    {
        public string? Owner { get; set; }
        public List<string>? Scopes { get; set; }
        public string? Name { get; set; }
        /// <summary>"rw:s3+prod://bucket/prefix/" and the like (see DataGrant).</summary>
        public List<string>? DataGrants { get; set; }
    }
}
