using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Storage;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Catalog;

/// <summary>
/// The version lifecycle in the catalog (deprecate, delete, delete an algorithm, the audit trail) against one backend;
/// <see cref="SqliteLifecycleStoreTests"/> and <see cref="PostgresLifecycleStoreTests"/> run it on each.
/// </summary>
public abstract class LifecycleStoreSuite : DatabaseSuite
{
    private const string HashA = "aaaaaaaaaaaa0123456789abcdef0123456789abcdef0123456789abcdef0123";
    private const string HashB = "bbbbbbbbbbbb0123456789abcdef0123456789abcdef0123456789abcdef0123";
    private static readonly Principal Pat = new("key-pat", "pat", Scopes.Call | Scopes.Publish);
    private static readonly Principal Bob = new("key-bob", "bob", Scopes.Call);

    private static VersionSpec Spec(string text) =>
        VersionSpec.TryParse(text, out var spec, out var error) ? spec : throw new ArgumentException(error);

    private static string? Resolved(CatalogStore catalog, string spec, Principal caller, string name = "echo") =>
        catalog.Resolve("pat", name, Spec(spec), caller).Version?.ToString();

    private static CatalogException Refused(Action action) => Assert.Throws<CatalogException>(action);

    /// <summary>pat/echo with builds A and B; 1.0.0, 1.1.0 and 2.0.0 from A, 1.2.0 from B, all public.</summary>
    private async Task<CatalogStore> CatalogAsync()
    {
        var catalog = new CatalogStore(await DbAsync(), Clock);
        catalog.CreateAlgorithm("pat", "echo", null);
        var manifest = AlgorithmManifest.Parse("runtime: python3\nentrypoint: main:apply\n");
        catalog.AddBuild(new BuildRecord("pat", "echo", HashA, "data://.osforai/code/pat/echo/a.tar.gz", 10, manifest, Clock.GetUtcNow()));
        catalog.AddBuild(new BuildRecord("pat", "echo", HashB, "data://.osforai/code/pat/echo/b.tar.gz", 10, manifest, Clock.GetUtcNow()));
        foreach (var (version, build) in new[] { ("1.0.0", HashA), ("1.1.0", HashA), ("1.2.0", HashB), ("2.0.0", HashA) })
            catalog.Publish("pat", "echo", build, version, Visibility.Public);
        return catalog;
    }

    [SkippableFact]
    public async Task A_deprecated_version_is_called_only_by_its_exact_version_until_the_deprecation_is_taken_back()
    {
        var catalog = await CatalogAsync();
        Clock.Advance(TimeSpan.FromMinutes(1));
        var deprecated = catalog.SetDeprecated("pat", "echo", "1.2.0", deprecated: true, Pat);
        Assert.Equal(Clock.GetUtcNow(), deprecated.DeprecatedAt);

        Assert.Equal("1.1.0", Resolved(catalog, "1.*", Bob));
        Assert.Equal("2.0.0", Resolved(catalog, "latest", Bob));
        var exact = catalog.Resolve("pat", "echo", Spec("1.2.0"), Bob);
        Assert.Equal(("1.2.0", Clock.GetUtcNow()), (exact.VersionLabel, exact.DeprecatedAt));
        var only = Refused(() => catalog.Resolve("pat", "echo", Spec("1.2.*"), Bob));
        Assert.Equal(CatalogError.NotFound, only.Kind);
        Assert.Equal("only deprecated versions of pat/echo match 1.2.*: call one by its exact version, e.g. 1.2.0", only.Message);
        // Still listed (and flagged): deprecated is not deleted.
        Assert.Contains(catalog.ListVersions("pat", "echo"), v => v.VersionLabel == "1.2.0" && v.DeprecatedAt is not null);

        // Deprecating twice keeps the first time; latest moves down past every deprecated version.
        Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(deprecated.DeprecatedAt, catalog.SetDeprecated("pat", "echo", "1.2.0", true, Pat).DeprecatedAt);
        catalog.SetDeprecated("pat", "echo", "2.0.0", true, Pat);
        Assert.Equal("1.1.0", Resolved(catalog, "latest", Bob));

        // Another server on the same state sees it.
        var other = new CatalogStore(Track(Reopen()), Clock);
        Assert.Equal("1.1.0", Resolved(other, "latest", Bob));

        catalog.SetDeprecated("pat", "echo", "1.2.0", false, Pat);
        Assert.Null(catalog.Resolve("pat", "echo", Spec("1.2.0"), Bob).DeprecatedAt);
        Assert.Equal("1.2.0", Resolved(catalog, "1.*", Bob));

        Assert.Equal(
            [(AuditAction.Undeprecate, "1.2.0"), (AuditAction.Deprecate, "2.0.0"), (AuditAction.Deprecate, "1.2.0")],
            catalog.ListAudit("pat", "echo", 10).Select(e => (e.Action, e.Version!)));
        Assert.All(catalog.ListAudit("pat", "echo", 10), e => Assert.Equal(("pat", "key-pat"), (e.Actor, e.KeyId)));

        Assert.Equal(CatalogError.Invalid, Refused(() => catalog.SetDeprecated("pat", "echo", "1.*", true, Pat)).Kind);
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.SetDeprecated("pat", "echo", "9.9.9", true, Pat)).Kind);
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.SetDeprecated("pat", "nosuch", "1.0.0", true, Pat)).Kind);
    }

    [SkippableFact]
    public async Task Every_version_deprecated_leaves_latest_with_a_message_that_names_an_exact_one()
    {
        var catalog = await CatalogAsync();
        foreach (var v in new[] { "1.0.0", "1.1.0", "1.2.0", "2.0.0" }) catalog.SetDeprecated("pat", "echo", v, true, Pat);
        var e = Refused(() => catalog.Resolve("pat", "echo", VersionSpec.Latest, Bob));
        Assert.Equal(CatalogError.NotFound, e.Kind);
        Assert.Equal("every version of pat/echo you can call is deprecated: call one by its exact version, e.g. 2.0.0", e.Message);
    }

    [SkippableFact]
    public async Task A_deleted_version_is_gone_for_good_and_releases_its_build_only_when_no_live_version_uses_it()
    {
        var catalog = await CatalogAsync();
        Clock.Advance(TimeSpan.FromMinutes(5));

        // 1.2.0 is the only user of build B: deleting it releases B.
        var deletion = catalog.DeleteVersion("pat", "echo", "1.2.0", Pat);
        Assert.Equal((HashB, Clock.GetUtcNow()), (deletion.ReleasedBuild?.Hash, deletion.Version.DeletedAt));
        Assert.Null(catalog.FindBuild("pat", "echo", HashB));
        var gone = Refused(() => catalog.Resolve("pat", "echo", Spec("1.2.0"), Bob));
        Assert.Equal(CatalogError.Gone, gone.Kind);
        Assert.Contains("version 1.2.0 of pat/echo was deleted", gone.Message);
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.Resolve("pat", "echo", Spec("1.2.*"), Bob)).Kind);
        Assert.Equal("1.1.0", Resolved(catalog, "1.*", Bob));
        Assert.DoesNotContain(catalog.ListVersions("pat", "echo"), v => v.VersionLabel == "1.2.0");
        // Its build hash answers 410 to the owner too: the build went with it.
        var buildGone = Refused(() => catalog.Resolve("pat", "echo", Spec(HashB[..16]), Pat));
        Assert.Equal(CatalogError.Gone, buildGone.Kind);
        Assert.Contains("deleted with version 1.2.0", buildGone.Message);
        // To a caller who may not see builds, a build hash is as missing as ever.
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.Resolve("pat", "echo", Spec(HashB[..16]), Bob)).Kind);

        // Build A has other users: kept while any live version uses it, released with the last one.
        foreach (var v in new[] { "1.0.0", "2.0.0" }) Assert.Null(catalog.DeleteVersion("pat", "echo", v, Pat).ReleasedBuild);
        Assert.NotNull(catalog.FindBuild("pat", "echo", HashA));
        Assert.Equal(HashA, catalog.Resolve("pat", "echo", Spec(HashA), Pat).Build);
        Assert.Equal("1.1.0", Resolved(catalog, "latest", Bob));
        Assert.Equal(HashA, catalog.DeleteVersion("pat", "echo", "1.1.0", Pat).ReleasedBuild?.Hash);
        Assert.Null(catalog.FindBuild("pat", "echo", HashA));
        Assert.False(catalog.IsBuildHashInUse(HashA));

        // Deleting again is 410; a number once used is never published again; a range is not a version to delete.
        Assert.Equal(CatalogError.Gone, Refused(() => catalog.DeleteVersion("pat", "echo", "1.1.0", Pat)).Kind);
        Assert.Equal(CatalogError.Invalid, Refused(() => catalog.DeleteVersion("pat", "echo", "1.*", Pat)).Kind);
        catalog.AddBuild(new BuildRecord("pat", "echo", HashB, "data://.osforai/code/pat/echo/b.tar.gz", 10,
            AlgorithmManifest.Parse("runtime: python3\nentrypoint: main:apply\n"), Clock.GetUtcNow()));
        var reuse = Refused(() => catalog.Publish("pat", "echo", HashB, "1.2.0"));
        Assert.Equal(CatalogError.Conflict, reuse.Kind);
        Assert.Contains("was deleted", reuse.Message);
        Assert.Contains("never reused", reuse.Message);
        Assert.Equal("1.3.0", catalog.Publish("pat", "echo", HashB, "1.3.0").VersionLabel);

        var other = new CatalogStore(Track(Reopen()), Clock);
        Assert.Equal(CatalogError.Gone, Refused(() => other.Resolve("pat", "echo", Spec("1.0.0"), Bob)).Kind);
        Assert.Equal("1.3.0", Resolved(other, "latest", Bob));
        Assert.Equal(4, catalog.ListAudit("pat", "echo", 10).Count(e => e.Action == AuditAction.DeleteVersion));
        Assert.Equal(["build deleted", "build kept: another version uses it", "build kept: another version uses it", "build deleted"],
            catalog.ListAudit("pat", "echo", 10).Where(e => e.Action == AuditAction.DeleteVersion).Select(e => e.Detail));
    }

    [SkippableFact]
    public async Task A_private_deleted_version_stays_invisible_to_strangers()
    {
        var catalog = await CatalogAsync();
        catalog.Publish("pat", "echo", HashA, "3.0.0", Visibility.Private);
        catalog.DeleteVersion("pat", "echo", "3.0.0", Pat);
        var missing = Refused(() => catalog.Resolve("pat", "echo", Spec("3.0.1"), Bob));
        var deleted = Refused(() => catalog.Resolve("pat", "echo", Spec("3.0.0"), Bob));
        Assert.Equal((CatalogError.NotFound, missing.Message.Replace("3.0.1", "3.0.0")), (deleted.Kind, deleted.Message));
        Assert.Equal(CatalogError.Gone, Refused(() => catalog.Resolve("pat", "echo", Spec("3.0.0"), Pat)).Kind);
    }

    [SkippableFact]
    public async Task An_algorithm_is_deleted_only_without_live_versions_and_takes_its_builds_and_grants_but_not_its_history()
    {
        var catalog = await CatalogAsync();
        catalog.Grant("pat", "echo", "bob");
        var refused = Refused(() => catalog.DeleteAlgorithm("pat", "echo", Pat));
        Assert.Equal(CatalogError.Conflict, refused.Kind);
        Assert.Equal("pat/echo still has versions 1.0.0, 1.1.0, 1.2.0, 2.0.0: delete them first", refused.Message);

        foreach (var v in new[] { "1.0.0", "1.1.0", "1.2.0" }) catalog.DeleteVersion("pat", "echo", v, Pat);
        catalog.SetDeprecated("pat", "echo", "2.0.0", true, Pat);
        // A deprecated version is still a version.
        Assert.Equal("pat/echo still has version 2.0.0: delete it first", Refused(() => catalog.DeleteAlgorithm("pat", "echo", Pat)).Message);
        catalog.DeleteVersion("pat", "echo", "2.0.0", Pat);
        // An unpublished build goes with the algorithm.
        catalog.AddBuild(new BuildRecord("pat", "echo", HashB, "data://.osforai/code/pat/echo/b.tar.gz", 10,
            AlgorithmManifest.Parse("runtime: python3\nentrypoint: main:apply\n"), Clock.GetUtcNow()));

        Assert.Equal([HashB], catalog.DeleteAlgorithm("pat", "echo", Pat).Select(b => b.Hash));
        Assert.Null(catalog.FindAlgorithm("pat", "echo"));
        Assert.Empty(catalog.ListBuilds("pat", "echo"));
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.DeleteAlgorithm("pat", "echo", Pat)).Kind);
        Assert.Equal(CatalogError.NotFound, Refused(() => catalog.Resolve("pat", "echo", VersionSpec.Latest, Pat)).Kind);

        // Created again: no grant carried over, and the old numbers stay used.
        catalog.CreateAlgorithm("pat", "echo", null);
        Assert.False(catalog.IsPrivileged(Bob, "pat", "echo"));
        catalog.AddBuild(new BuildRecord("pat", "echo", HashA, "data://.osforai/code/pat/echo/a.tar.gz", 10,
            AlgorithmManifest.Parse("runtime: python3\nentrypoint: main:apply\n"), Clock.GetUtcNow()));
        Assert.Equal(CatalogError.Conflict, Refused(() => catalog.Publish("pat", "echo", HashA, "1.0.0")).Kind);
        Assert.Equal(CatalogError.Gone, Refused(() => catalog.Resolve("pat", "echo", Spec("2.0.0"), Pat)).Kind);

        var trail = catalog.ListAudit("pat", "echo", 100);
        Assert.Equal(AuditAction.DeleteAlgorithm, trail[0].Action);
        Assert.Equal("1 build deleted", trail[0].Detail);
        Assert.Equal(2, catalog.ListAudit("pat", "echo", 2).Count);
    }

    [SkippableFact]
    public async Task A_server_on_shared_state_sees_another_servers_deletion_within_the_cache_time()
    {
        var catalog = await CatalogAsync();
        var db = Track(Reopen());
        var other = new CatalogStore(db, Clock);
        Assert.Equal("2.0.0", Resolved(other, "latest", Bob));   // cached there now
        catalog.DeleteVersion("pat", "echo", "2.0.0", Pat);
        catalog.SetDeprecated("pat", "echo", "1.2.0", true, Pat);
        if (!db.IsShared) return;   // SQLite is one server's alone: nothing else changes it
        Clock.Advance(CatalogStore.SharedCacheFor);
        Assert.Equal(CatalogError.Gone, Refused(() => other.Resolve("pat", "echo", Spec("2.0.0"), Bob)).Kind);
        Assert.Equal("1.1.0", Resolved(other, "latest", Bob));
    }
}

public sealed class SqliteLifecycleStoreTests : LifecycleStoreSuite
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "osai-lifecycle-" + Guid.NewGuid().ToString("N") + ".db");

    protected override Task<Database> CreateAsync() => Task.FromResult(Reopen());

    protected override Database Reopen() => new SqliteDatabase(_path, Clock);
}

public sealed class PostgresLifecycleStoreTests : LifecycleStoreSuite
{
    private OSForAI.Postgres.PostgresConnectionSettings? _settings;

    protected override async Task<Database> CreateAsync()
    {
        _settings ??= await TestPostgres.CreateDatabaseAsync();
        return Reopen();
    }

    protected override Database Reopen() => new PostgresDatabase(_settings!, Clock);
}
