using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Building;
using OSForAI.Runtime.Catalog;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>
/// Builds (docs/api.md, "Builds"): <c>POST …/builds</c> uploads code and builds it while the request waits, answering 201 with
/// the build (status succeeded or failed; a failed one carries its error and log). With <c>Accept: application/x-ndjson</c>
/// the answer is streamed instead: one JSON object per line, <c>{"log": "…"}</c> for each line of the build log as it is
/// written, then <c>{"build": {…}}</c>. Refusals of the upload itself (a bad manifest or requirements.txt, a bad archive)
/// come before any of that, as ordinary 4xx errors. A build and its log are the owner's (and admins') to read.
/// </summary>
internal static class BuildEndpoints
{
    public const string StreamMediaType = "application/x-ndjson";

    public static async Task PostAsync(HttpContext c, string owner, string name, KeyStore keys, CatalogStore catalog, BuildService builds, OsaiOptions options)
    {
        ReceivedUpload upload;
        try
        {
            var caller = Authentication.Require(c, keys, Scopes.Publish);
            ManagementEndpoints.RequireOwner(caller, owner);
            catalog.GetAlgorithm(owner, name);
            var fileName = c.Request.Query["filename"].ToString();
            var kind = ManagementEndpoints.UploadKind(c.Request.ContentType, fileName);
            RequestBody.RejectIfDeclaredOver(c.Request, options.MaxCodeUploadBytes);
            upload = await builds.ReceiveAsync(owner, name, c.Request.Body, kind, fileName, c.RequestAborted);
        }
        catch (Exception e) when (e is not OperationCanceledException || !c.RequestAborted.IsCancellationRequested)
        {
            await ApiErrors.WriteAsync(c, e);
            return;
        }
        if (WantsStream(c.Request)) await StreamAsync(c, builds, upload);
        else await ManagementEndpoints.Run(c, async () =>
        {
            var log = new BuildLog();
            var build = await builds.BuildAsync(upload, log, c.RequestAborted);
            return (201, View(build, build.Status == BuildStatus.Failed ? log.ToString() : null));
        });
    }

    private static bool WantsStream(HttpRequest request) =>
        request.Headers.Accept.Any(a => a is not null && a.Split(',').Any(part =>
            MediaTypeHeaderValue.TryParse(part.Trim(), out var m) && string.Equals(m.MediaType, StreamMediaType, StringComparison.OrdinalIgnoreCase)));

    /// <summary>The build's log as it is written, one JSON line each, then the build; a fault of the server ends it with an error line.</summary>
    private static async Task StreamAsync(HttpContext c, BuildService builds, ReceivedUpload upload)
    {
        c.Response.StatusCode = 201;
        c.Response.ContentType = StreamMediaType + "; charset=utf-8";
        var lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        var pump = Task.Run(async () =>
        {
            while (await lines.Reader.WaitToReadAsync(c.RequestAborted))
            {
                // Whatever has come meanwhile goes in one write.
                var batch = new System.Text.StringBuilder();
                while (lines.Reader.TryRead(out var line)) batch.Append(line).Append('\n');
                await c.Response.WriteAsync(batch.ToString(), c.RequestAborted);
                await c.Response.Body.FlushAsync(c.RequestAborted);
            }
        });
        var log = new BuildLog();
        log.Follow(line => lines.Writer.TryWrite(JsonSerializer.Serialize(new { log = line }, ServerJson.Options)));
        string last;
        try
        {
            var build = await builds.BuildAsync(upload, log, c.RequestAborted);
            last = JsonSerializer.Serialize(new { build = View(build, null) }, ServerJson.Options);
        }
        catch (OperationCanceledException) when (c.RequestAborted.IsCancellationRequested) { return; }
        catch (Exception e)
        {
            var api = ApiErrors.From(e);
            if (api.Status == 500) ApiErrors.LogFault(c, e);
            last = JsonSerializer.Serialize(new { error = new { message = api.Message, error_type = api.ErrorType } }, ServerJson.Options);
        }
        lines.Writer.TryWrite(last);
        lines.Writer.Complete();
        try { await pump; }
        catch (OperationCanceledException) when (c.RequestAborted.IsCancellationRequested) { }
    }

    /// <summary>A build of owner/name that the caller owns (or an admin); anyone else is answered as if it did not exist.</summary>
    public static BuildRecord OwnBuild(HttpContext c, string owner, string name, string hash, KeyStore keys, CatalogStore catalog)
    {
        var caller = Authentication.Require(c, keys, Scopes.None);
        var notFound = ApiErrors.NotFound($"build '{hash}' of {owner}/{name} not found");
        if (!caller.IsAdmin && caller.Owner != owner) throw notFound;
        catalog.GetAlgorithm(owner, name);
        return catalog.FindBuild(owner, name, hash) ?? throw notFound;
    }

    /// <summary>The whole log of a build, as text/plain.</summary>
    public static async Task GetLogAsync(HttpContext c, string owner, string name, string hash, KeyStore keys, CatalogStore catalog)
    {
        string text;
        try
        {
            var build = OwnBuild(c, owner, name, hash, keys, catalog);
            text = catalog.BuildLog(owner, name, build.Hash) ?? "";
        }
        catch (Exception e)
        {
            await ApiErrors.WriteAsync(c, e);
            return;
        }
        c.Response.StatusCode = 200;
        c.Response.ContentType = "text/plain; charset=utf-8";
        await c.Response.WriteAsync(text, c.RequestAborted);
    }

    public static object View(BuildRecord b, string? log) => new BuildDetails(
        b.Hash, b.Status, b.Error, b.Manifest.Runtime, b.Manifest.Entrypoint, b.Size, b.Environment, b.Manifest.SystemPackages,
        b.CreatedAt, b.FinishedAt, b.DurationMs, $"/v1/algorithms/{b.Owner}/{b.Name}/builds/{b.Hash}/log", log);

    private sealed record BuildDetails(string Build, BuildStatus Status, string? Error, string Runtime, string Entrypoint, long Size,
        string? Environment, bool SystemPackages, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, long? DurationMs, string LogUrl, string? Log);
}
