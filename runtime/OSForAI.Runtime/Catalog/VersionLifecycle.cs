using Microsoft.Extensions.Logging;
using OSForAI.Runtime.Auth;

namespace OSForAI.Runtime.Catalog;

/// <summary>What deleting a version did: its number, its build, and whether the build's code was removed (no other version used it).</summary>
public sealed record VersionDeleted(string Owner, string Name, string Version, string Build, DateTimeOffset DeletedAt, bool BuildDeleted);

/// <summary>
/// Deprecation and deletion of versions and algorithms: the catalog's change (<see cref="CatalogStore"/>), then the garbage collection
/// of the code a deletion released: the archive in the data store (data://.osforai/code/OWNER/NAME/HASH.tar.gz) and this server's
/// cached copy, which is shared by hash and so kept while any algorithm has a build with that hash.
/// Calls already running when a version is deleted finish: a worker has the code it loaded (a sandboxed worker its own links to
/// the files, a pod its own copy). Only a call that resolved the version just before the deletion and then needs a new instance of
/// it fails (503, its code is gone). Warm instances of the deleted version get no new calls and stop at their keep-alive.
/// </summary>
public sealed class VersionLifecycle(CatalogStore catalog, CodeStore code, ILogger<VersionLifecycle> log)
{
    public VersionRecord SetDeprecated(string owner, string name, string version, bool deprecated, Principal actor) =>
        catalog.SetDeprecated(owner, name, version, deprecated, actor);

    public async Task<VersionDeleted> DeleteVersionAsync(string owner, string name, string version, Principal actor)
    {
        var deletion = catalog.DeleteVersion(owner, name, version, actor);
        if (deletion.ReleasedBuild is { } build) await CollectAsync(build);
        var v = deletion.Version;
        return new VersionDeleted(owner, name, v.VersionLabel, v.Build, v.DeletedAt!.Value, deletion.ReleasedBuild is not null);
    }

    /// <summary>Deletes an algorithm without live versions and the code of all its builds; returns the builds' hashes.</summary>
    public async Task<IReadOnlyList<string>> DeleteAlgorithmAsync(string owner, string name, Principal actor)
    {
        var builds = catalog.DeleteAlgorithm(owner, name, actor);
        foreach (var build in builds) await CollectAsync(build);
        return builds.Select(b => b.Hash).ToList();
    }

    /// <summary>
    /// Removes a released build's code. The catalog no longer knows the build, so a failure here leaves only unreachable bytes: it is
    /// logged with the archive's URI, and the deletion itself stands. Not tied to the request: a client that goes away does not stop it.
    /// </summary>
    private async Task CollectAsync(BuildRecord build)
    {
        try
        {
            await code.DeleteBuildAsync(build.Hash, build.CodeUri, keepCache: catalog.IsBuildHashInUse(build.Hash), CancellationToken.None);
        }
        catch (Exception e) when (e is DataException or IOException or UnauthorizedAccessException)
        {
            log.LogWarning(e, "the code of deleted build {Build} of {Owner}/{Name} could not be removed: {Uri}", build.Hash, build.Owner, build.Name,
                build.CodeUri);
        }
    }
}
