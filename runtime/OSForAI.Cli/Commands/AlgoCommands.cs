using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai algo publish|build|list|info|deprecate|delete|audit</c>.</summary>
internal static class AlgoCommands
{
    /// <summary><c>osai algo publish DIR</c>: upload, build (its log shown as it runs), and publish the build as a version.</summary>
    public static async Task<int> PublishAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "DIR, the folder with the algorithm's code");
        var (owner, name) = ParseName(args.Require("name", "OWNER/NAME of the algorithm"));
        var version = args.Require("version", "MAJOR.MINOR.PATCH, e.g. 1.0.0");
        if (!IsValidVersion(version))
            throw new UsageException($"'{version}' is not a version of the form MAJOR.MINOR.PATCH (digits, e.g. 1.0.0)");
        if (args.Has("public") && args.Has("private"))
            throw new UsageException("--public and --private cannot be used together");
        string? visibility = args.Has("public") ? "public" : args.Has("private") ? "private" : null;

        CodeFolder(args);
        using var client = ClientContext.Create(args, host, Timeout.InfiniteTimeSpan);
        // A version number that is taken (or was deleted) is refused before anything is packed or uploaded.
        await RequireUnpublishedAsync(client, AlgorithmPath(owner, name), owner, name, version);
        var buildHash = await UploadAndBuildAsync(args, host, client, owner, name);

        // Publish the build as the version.
        var versionBody = new Dictionary<string, object?> { ["build"] = buildHash, ["version"] = version };
        if (visibility is not null)
            versionBody["visibility"] = visibility;
        (await client.SendJsonAsync(HttpMethod.Post, $"{AlgorithmPath(owner, name)}/versions", versionBody)).EnsureSuccess();

        await host.Out.WriteLineAsync($"Published {owner}/{name} {version} (build {Short(buildHash)})");
        return 0;
    }

    /// <summary>
    /// <c>osai algo build DIR</c>: upload and build, stopping before a version is published; prints the build's hash (its owner
    /// can call it as OWNER/NAME/HASH, and publish it later). A failed build prints its log and exits 1.
    /// </summary>
    public static async Task<int> BuildAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "DIR, the folder with the algorithm's code");
        var (owner, name) = ParseName(args.Require("name", "OWNER/NAME of the algorithm"));
        using var client = ClientContext.Create(args, host, Timeout.InfiniteTimeSpan);
        var buildHash = await UploadAndBuildAsync(args, host, client, owner, name);
        await host.Error.WriteLineAsync($"Call it as {owner}/{name}/{Short(buildHash)}, or publish it: " +
            $"curl -X POST .../v1/algorithms/{owner}/{name}/versions -d '{{\"build\": \"{buildHash}\", \"version\": \"X.Y.Z\"}}'");
        await host.Out.WriteLineAsync(buildHash);
        return 0;
    }

    private static string AlgorithmPath(string owner, string name) => $"v1/algorithms/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(name)}";

    /// <summary>The folder DIR names, checked before anything talks to the server: a usage error (exit 2) when it cannot be the code.</summary>
    private static string CodeFolder(Arguments args)
    {
        var directory = Path.GetFullPath(args.Positionals[0]);
        if (!Directory.Exists(directory))
            throw new CliException($"{args.Positionals[0]} is not a folder", 2);
        if (!File.Exists(Path.Combine(directory, CodePackager.ManifestFile)))
            throw new CliException($"{args.Positionals[0]} has no {CodePackager.ManifestFile}: add one (e.g. 'runtime: python3' and 'entrypoint: main:apply')", 2);
        return directory;
    }

    /// <summary>The media type of a build's log streamed as it is written (one JSON object a line).</summary>
    private const string BuildStream = "application/x-ndjson";

    /// <summary>
    /// Creates the algorithm if needed, packs and uploads DIR as a build with upload progress, shows the build's log on stderr
    /// as the server writes it, and returns the hash of the succeeded build. A failed build throws with its error (exit 1)
    /// after its log has been shown.
    /// </summary>
    private static async Task<string> UploadAndBuildAsync(Arguments args, CliHost host, ClientContext client, string owner, string name)
    {
        var directory = CodeFolder(args);
        var ownerPath = AlgorithmPath(owner, name);

        // 1. Create the algorithm (409: it already exists, which is fine).
        var createBody = new Dictionary<string, object?> { ["owner"] = owner, ["name"] = name };
        if (args.Get("description") is { } description)
            createBody["description"] = description;
        var created = await client.SendJsonAsync(HttpMethod.Post, "v1/algorithms", createBody);
        if (!created.IsSuccess && created.Status != HttpStatusCode.Conflict)
            throw created.ToError();

        // 2. Pack and upload the code; the server builds it while the request waits, streaming the build's log.
        await using var archive = CreateTempFile();
        PackResult packed;
        try
        {
            packed = CodePackager.Pack(directory, archive);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot pack {args.Positionals[0]}: {e.Message}", 2);
        }
        archive.Position = 0;

        var progress = new UploadProgress(host.Error, host.ErrorIsTerminal, "Uploading");
        using var content = new ProgressContent(archive, progress.Report);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        var uploaded = false;
        void Uploaded()
        {
            if (uploaded)
                return;
            uploaded = true;
            progress.Complete($"Uploaded {UploadProgress.FormatBytes(archive.Length)} ({packed.Files} files); building ...");
        }
        JsonElement? build = null;
        string? streamError = null;
        ApiResponse? whole;
        try
        {
            whole = await client.SendStreamingAsync(HttpMethod.Post, $"{ownerPath}/builds", content, BuildStream, async line =>
            {
                Uploaded();   // the server streams once it has the whole upload
                if (line.Str("log") is { } text)
                    await host.Error.WriteLineAsync("  " + text);
                else if (line.Prop("build") is { ValueKind: JsonValueKind.Object } b)
                    build = b;
                else if (line.Prop("error") is { ValueKind: JsonValueKind.Object } e)
                    streamError = e.Str("message") ?? "the build could not run";
            });
        }
        catch
        {
            progress.Abort();
            throw;
        }
        if (whole is not null)
        {
            // A refusal of the upload (or a server that does not stream): read whole.
            if (!whole.IsSuccess)
            {
                progress.Abort();
                throw whole.ToError();
            }
            Uploaded();
            build = whole.EnsureSuccess();
            if (build.Value.Str("log") is { Length: > 0 } log && build.Value.Str("status") == "failed")
                foreach (var l in log.TrimEnd('\n').Split('\n'))
                    await host.Error.WriteLineAsync("  " + l);
        }
        else
            Uploaded();
        if (streamError is not null)
            throw new CliException(streamError, 1);
        if (build is not { } done)
            throw new CliException("the server's answer ended before the build did");
        var hash = done.Str("build") ?? throw new CliException("the server's answer has no build hash");
        // A server from before builds had a status took every upload that it stored.
        if (done.Str("status") is { } status && status != "succeeded")
            throw new CliException($"the build of {owner}/{name} failed: {done.Str("error") ?? status} " +
                $"(the log is above; GET /{ownerPath}/builds/{Short(hash)}/log has it too)", 1);
        await host.Error.WriteLineAsync($"Built {owner}/{name} build {Short(hash)}"
            + (done.Str("runtime") is { } runtime ? $" [{runtime} {done.Str("entrypoint")}]" : "")
            + (done.Str("environment") is { } env ? $" with environment {Short(env)}" : ""));
        return hash;
    }

    public static async Task<int> ListAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        using var client = ClientContext.Create(args, host);
        var list = (await client.SendJsonAsync(HttpMethod.Get, "v1/algorithms")).EnsureSuccess();
        var rows = list.Items("algorithms").Select(a => (IReadOnlyList<string?>)
        [
            $"{a.Str("owner")}/{a.Str("name")}",
            a.Str("latest_version"),
            TableWriter.Time(a.Str("created_at")),
            a.Str("description"),
        ]);
        TableWriter.Write(host.Out, ["NAME", "LATEST", "CREATED", "DESCRIPTION"], rows);
        return 0;
    }

    public static async Task<int> InfoAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "OWNER/NAME");
        var (owner, name) = ParseName(args.Positionals[0]);
        using var client = ClientContext.Create(args, host);
        var info = (await client.SendJsonAsync(
            HttpMethod.Get, $"v1/algorithms/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(name)}")).EnsureSuccess();

        var output = host.Out;
        await output.WriteLineAsync($"{info.Str("owner") ?? owner}/{info.Str("name") ?? name}");
        await output.WriteLineAsync($"Description: {(info.Str("description") is { Length: > 0 } d ? d : "-")}");
        if (info.Str("created_at") is { } createdAt)
            await output.WriteLineAsync($"Created:     {TableWriter.Time(createdAt)}");
        await output.WriteLineAsync();

        var versions = info.Items("versions").ToList();
        if (versions.Count == 0)
            await output.WriteLineAsync("No published versions.");
        else
            TableWriter.Write(output, ["VERSION", "BUILD", "RUNTIME", "ENTRYPOINT", "VISIBILITY", "PUBLISHED"],
                versions.Select(v => (IReadOnlyList<string?>)
                [
                    v.Str("version") + (v.Prop("deprecated") is { ValueKind: JsonValueKind.True } ? " (deprecated)" : ""),
                    v.Str("build") is { } b ? Short(b) : null,
                    v.Str("runtime"),
                    v.Str("entrypoint"),
                    v.Str("visibility"),
                    TableWriter.Time(v.Str("published_at")),
                ]));

        // Builds are listed only to the owner, admins and grantees; any build is callable by its hash.
        var published = versions.Select(v => v.Str("build")).ToHashSet();
        var unpublished = info.Items("builds").Where(b => !published.Contains(b.Str("build"))).ToList();
        if (unpublished.Count > 0)
        {
            await output.WriteLineAsync();
            await output.WriteLineAsync("Unpublished builds (call them as OWNER/NAME/BUILD):");
            TableWriter.Write(output, ["BUILD", "STATUS", "RUNTIME", "ENTRYPOINT", "SIZE", "UPLOADED"],
                unpublished.Select(b => (IReadOnlyList<string?>)
                [
                    b.Str("build") is { } h ? Short(h) : null,
                    b.Str("status"),
                    b.Str("runtime"),
                    b.Str("entrypoint"),
                    b.TryGetProperty("size", out var size) ? size.ToString() : null,
                    TableWriter.Time(b.Str("created_at")),
                ]));
        }
        return 0;
    }

    /// <summary>
    /// Refuses, before anything is uploaded, a version number the algorithm has already used: published (versions are immutable) or
    /// deleted (numbers are never reused). The server refuses it at publish too (409); this saves sending a large upload for nothing.
    /// </summary>
    private static async Task RequireUnpublishedAsync(ClientContext client, string ownerPath, string owner, string name, string version)
    {
        var existing = await client.SendJsonAsync(HttpMethod.Get, $"{ownerPath}/versions/{version}");
        switch (existing.Status)
        {
            case HttpStatusCode.NotFound:
                return;
            case HttpStatusCode.Gone:
                throw new CliException($"{owner}/{name} {version} was deleted, and version numbers are never reused: publish a new version number", 1);
            case HttpStatusCode.OK:
                var build = existing.Json?.Str("build");
                throw new CliException($"{owner}/{name} {version} is already published{(build is null ? "" : $" (build {Short(build)})")}; "
                    + "versions are immutable: publish a new version number", 1);
            default:
                throw existing.ToError();
        }
    }

    public static async Task<int> DeprecateAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(2, 2, "OWNER/NAME and VERSION");
        var (owner, name) = ParseName(args.Positionals[0]);
        var version = args.Positionals[1];
        if (!IsValidVersion(version))
            throw new UsageException($"'{version}' is not a version of the form MAJOR.MINOR.PATCH: deprecate one exact version");
        var undo = args.Has("undo");
        using var client = ClientContext.Create(args, host);
        (await client.SendJsonAsync(HttpMethod.Patch, $"{AlgorithmPath(owner, name)}/versions/{version}",
            new Dictionary<string, object?> { ["deprecated"] = !undo })).EnsureSuccess();
        await host.Out.WriteLineAsync(undo
            ? $"{owner}/{name} {version} is no longer deprecated"
            : $"Deprecated {owner}/{name} {version}: ranges and latest skip it; {owner}/{name}/{version} still calls it");
        return 0;
    }

    public static async Task<int> DeleteAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "OWNER/NAME (the algorithm) or OWNER/NAME/VERSION (one version)");
        var parts = args.Positionals[0].Split('/');
        if (parts.Length == 3 && !IsValidVersion(parts[2]))
            throw new UsageException($"'{parts[2]}' is not a version of the form MAJOR.MINOR.PATCH: delete one exact version");
        var (owner, name) = ParseName(parts.Length == 3 ? $"{parts[0]}/{parts[1]}" : args.Positionals[0]);
        using var client = ClientContext.Create(args, host);
        if (parts.Length == 3)
        {
            var deleted = (await client.SendJsonAsync(HttpMethod.Delete, $"{AlgorithmPath(owner, name)}/versions/{parts[2]}")).EnsureSuccess();
            var build = deleted.Str("build") is { } b ? Short(b) : "?";
            await host.Out.WriteLineAsync($"Deleted {owner}/{name} {parts[2]}: calls to it now answer 410; "
                + (deleted.Prop("build_deleted") is { ValueKind: JsonValueKind.True } ? $"build {build} deleted" : $"build {build} kept (another version uses it)"));
            return 0;
        }
        var result = (await client.SendJsonAsync(HttpMethod.Delete, AlgorithmPath(owner, name))).EnsureSuccess();
        var builds = result.Items("deleted_builds").Count();
        await host.Out.WriteLineAsync($"Deleted {owner}/{name} and {builds} build{(builds == 1 ? "" : "s")}");
        return 0;
    }

    public static async Task<int> AuditAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "OWNER/NAME");
        var (owner, name) = ParseName(args.Positionals[0]);
        var limit = args.Get("limit");
        if (limit is not null && (!int.TryParse(limit, out var n) || n < 1))
            throw new UsageException($"--limit must be a positive whole number, not '{limit}'");
        using var client = ClientContext.Create(args, host);
        var audit = (await client.SendJsonAsync(HttpMethod.Get, $"{AlgorithmPath(owner, name)}/audit" + (limit is null ? "" : $"?limit={limit}"))).EnsureSuccess();
        TableWriter.Write(host.Out, ["WHEN", "WHO", "KEY", "ACTION", "VERSION", "BUILD", "DETAIL"],
            audit.Items("entries").Select(e => (IReadOnlyList<string?>)
            [
                TableWriter.Time(e.Str("at")),
                e.Str("actor"),
                e.Str("key_id"),
                e.Str("action"),
                e.Str("version"),
                e.Str("build") is { } b ? Short(b) : null,
                e.Str("detail"),
            ]));
        return 0;
    }

    /// <summary>Splits "OWNER/NAME"; a usage error for anything else.</summary>
    internal static (string Owner, string Name) ParseName(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Trim() != p))
            throw new UsageException($"'{text}' is not an algorithm name of the form OWNER/NAME");
        return (parts[0], parts[1]);
    }

    /// <summary>Whether <paramref name="version"/> is MAJOR.MINOR.PATCH, by the catalog's own rules.</summary>
    internal static bool IsValidVersion(string? version) => OSForAI.Runtime.Catalog.SemVer.TryParse(version, out _);

    internal static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static FileStream CreateTempFile() =>
        new(Path.Combine(Path.GetTempPath(), $"osai-upload-{Guid.NewGuid():N}.tar.gz"),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 81920,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
}
