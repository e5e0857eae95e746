using System.Text.Json;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Jobs;
using OSForAI.Runtime.Storage;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Catalog;

/// <summary>Every store against one backend; <see cref="SqliteStoreTests"/> and <see cref="PostgresStoreTests"/> run it on each.</summary>
public abstract class StoreSuite : DatabaseSuite
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private const string Hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private static readonly VersionSpec Latest = VersionSpec.TryParse(null, out var spec, out _) ? spec : throw new InvalidOperationException();

    [SkippableFact]
    public async Task Migrations_are_all_applied_once_and_reopening_changes_nothing()
    {
        var db = await DbAsync();
        Assert.Equal(SchemaMigrations.All.Max(m => m.Version), db.SchemaVersion);
        var again = Track(Reopen());
        Assert.Equal(db.SchemaVersion, again.SchemaVersion);
        Assert.Equal(SchemaMigrations.All.Length, db.Query($"SELECT COUNT(*) FROM {SchemaMigrations.Table}", r => r.GetInt64(0)).Single());
    }

    [SkippableFact]
    public async Task Catalog_keeps_algorithms_builds_versions_and_grants()
    {
        var catalog = new CatalogStore(await DbAsync(), Clock);
        var created = catalog.CreateAlgorithm("pat", "echo", "says it back");
        Assert.Equal(Clock.GetUtcNow(), created.CreatedAt);
        Assert.Equal(CatalogError.Conflict, Assert.Throws<CatalogException>(() => catalog.CreateAlgorithm("pat", "echo", null)).Kind);
        Assert.Equal([("pat", "echo", "says it back")], catalog.ListAlgorithms().Select(a => (a.Owner, a.Name, a.Description)));

        var manifest = AlgorithmManifest.Parse("runtime: python3\nentrypoint: main:apply\n");
        var build = new BuildRecord("pat", "echo", Hash, "data://pat/.code/x", 5L << 32, manifest, Clock.GetUtcNow());
        catalog.AddBuild(build);
        catalog.AddBuild(build);   // the same upload twice is one build
        Assert.Single(catalog.ListBuilds("pat", "echo"));
        var found = catalog.FindBuild("pat", "echo", Hash[..12])!;
        Assert.Equal((Hash, 5L << 32, "main:apply"), (found.Hash, found.Size, found.Manifest.Entrypoint));
        Assert.Null(catalog.FindBuild("pat", "echo", "fedcba987654"));

        catalog.Publish("pat", "echo", Hash, "1.0.0", Visibility.Public);
        catalog.Publish("pat", "echo", Hash, "1.2.0", Visibility.Private);
        Assert.Equal(CatalogError.Conflict, Assert.Throws<CatalogException>(() => catalog.Publish("pat", "echo", Hash, "1.0.0")).Kind);
        Assert.Equal(["1.2.0", "1.0.0"], catalog.ListVersions("pat", "echo").Select(v => v.Version.ToString()));

        var bob = new Principal("k", "bob", Scopes.Call);
        Assert.Equal("1.0.0", catalog.Resolve("pat", "echo", Latest, bob).Version.ToString());
        catalog.Grant("pat", "echo", "bob");
        catalog.Grant("pat", "echo", "bob");
        Assert.True(catalog.IsPrivileged(bob, "pat", "echo"));
        // Another server on the same state sees all of it.
        var other = new CatalogStore(Track(Reopen()), Clock);
        Assert.Equal("1.2.0", other.Resolve("pat", "echo", Latest, bob).Version.ToString());
    }

    [SkippableFact]
    public async Task Keys_verify_until_revoked_and_keep_scopes_and_data_grants()
    {
        var db = await DbAsync();
        var keys = new KeyStore(db, Clock);
        var (info, key) = keys.Create("pat", Scopes.Call, "ci", [DataGrant.Parse("r:data://pat/in/")]);
        var (_, adminKey) = keys.Create("root", Scopes.Admin);
        Assert.Equal(Clock.GetUtcNow(), info.CreatedAt);
        var other = new KeyStore(Track(Reopen()), Clock);   // another server: nothing cached
        var principal = other.Verify(key)!;
        Assert.Equal(("pat", Scopes.Call, "r:data://pat/in/"), (principal.Owner, principal.Scopes, principal.Grants.Single().ToString()));
        Assert.Null(other.Verify(key[..^1] + (key[^1] == 'a' ? 'b' : 'a')));
        Assert.Equal(Scopes.Admin, other.Verify(adminKey)!.Scopes);
        Assert.Equal(["ci"], keys.List("pat").Select(k => k.Name));
        Assert.Equal(2, keys.List().Count);
        Assert.NotNull(keys.FindActive(info.Id));

        Assert.True(keys.Revoke(info.Id));
        Assert.False(keys.Revoke(info.Id));
        Assert.Null(keys.Verify(key));
        Assert.Null(new KeyStore(Track(Reopen()), Clock).Verify(key));
        Assert.Null(keys.FindActive(info.Id));
        Assert.True(keys.List("pat").Single().Revoked);
        // The server that had verified it before may trust its cache a little longer, never more than KeyStore.CacheFor.
        Assert.NotNull(other.Verify(key));
        Clock.Advance(KeyStore.CacheFor);
        Assert.Null(other.Verify(key));
    }

    [SkippableFact]
    public async Task A_configured_admin_key_is_stored_once_whichever_server_starts_first()
    {
        var db = await DbAsync();
        const string key = "osai_0a1b2c3d4e5f6071_Zq3xY8wVb2Nc5Md7Lf9Kg1Hj4Pt6Rs0Uv";
        var first = new KeyStore(db, Clock);
        var second = new KeyStore(Track(Reopen()), Clock);
        first.EnsureAdminKey(key, "admin (deployment)");
        second.EnsureAdminKey(key, "admin (deployment)");
        Assert.True(second.Verify(key)!.IsAdmin);
        Assert.Single(first.List("admin"));
        Assert.Throws<ArgumentException>(() => first.EnsureAdminKey("osai_0a1b2c3d4e5f6071_short", "x"));
        // The same id with another secret is not that key.
        Assert.Throws<InvalidOperationException>(() => first.EnsureAdminKey(key[..^1] + "W", "x"));
        first.Revoke("0a1b2c3d4e5f6071");
        Assert.Contains("revoked", Assert.Throws<InvalidOperationException>(() => new KeyStore(Track(Reopen()), Clock).EnsureAdminKey(key, "x")).Message);
    }

    [SkippableFact]
    public async Task A_job_runs_to_one_recorded_result_and_keeps_its_key_and_grants()
    {
        var jobs = new JobStore(await DbAsync(), Clock);
        var queued = jobs.Enqueue("pat", "echo", "1.0.0", "bob", "json", [1, 2, 0, 255], 60, "key1", ["r:data://bob/"]);
        var claimed = jobs.ClaimNext("a", Lease)!;
        Assert.Equal((queued.Id, JobStatus.Running, "key1", "r:data://bob/"), (claimed.Id, claimed.Status, claimed.KeyId, claimed.Grants.Single()));
        Assert.Equal(new byte[] { 1, 2, 0, 255 }, claimed.Input);
        Assert.Null(jobs.ClaimNext("a", Lease));
        Assert.True(jobs.Complete(queued.Id, "a", "binary", [9, 8]));
        Assert.False(jobs.Complete(queued.Id, "a", "binary", [7]));   // a second completion is a no-op and says so
        var done = jobs.Get(queued.Id)!;
        Assert.Equal((JobStatus.Succeeded, "binary", Clock.GetUtcNow()), (done.Status, done.ResultKind, done.CompletedAt));
        Assert.Equal(new byte[] { 9, 8 }, done.Result);

        var failing = jobs.Enqueue("pat", "echo", "1.0.0", "bob", "json", [1], 60);
        jobs.ClaimNext("a", Lease);
        Assert.True(jobs.Fail(failing.Id, "a", "{\"message\":\"x\"}"));
        Assert.False(jobs.Complete(failing.Id, "a", "json", [1]));
        Assert.Equal((JobStatus.Failed, "{\"message\":\"x\"}"), (jobs.Get(failing.Id)!.Status, jobs.Get(failing.Id)!.Error));
    }

    [SkippableFact]
    public async Task A_job_whose_lease_passed_is_taken_over_and_only_the_holder_records_its_result()
    {
        var db = await DbAsync();
        var replicaA = new JobStore(db, Clock);
        var replicaB = new JobStore(Track(Reopen()), Clock);
        var job = replicaA.Enqueue("pat", "echo", "1.0.0", "bob", "json", [1], 60);
        Assert.Equal(job.Id, replicaA.ClaimNext("a", Lease)!.Id);
        Assert.Null(replicaB.ClaimNext("b", Lease));

        // A keeps beating: its lease moves on and B still cannot take the job.
        Clock.Advance(Lease * 0.6);
        Assert.Equal(1, replicaA.RenewLeases("a", Lease));
        Clock.Advance(Lease * 0.6);
        Assert.Null(replicaB.ClaimNext("b", Lease));

        // A stops beating (it died, or lost the database): once the lease has passed, B takes the job over.
        Clock.Advance(Lease + TimeSpan.FromSeconds(1));
        Assert.Equal(job.Id, replicaB.ClaimNext("b", Lease)!.Id);
        Assert.Equal(0, replicaA.RenewLeases("a", Lease));
        Assert.False(replicaA.Complete(job.Id, "a", "json", "\"from a\""u8.ToArray()));
        Assert.True(replicaB.Complete(job.Id, "b", "json", "\"from b\""u8.ToArray()));
        Assert.False(replicaB.Complete(job.Id, "b", "json", "\"again\""u8.ToArray()));
        Assert.Equal("\"from b\""u8.ToArray(), replicaA.Get(job.Id)!.Result);
        Clock.Advance(Lease * 3);
        Assert.Null(replicaA.ClaimNext("a", Lease));   // finished jobs are never claimed again
    }

    [SkippableFact]
    public async Task Concurrent_claimants_each_take_different_jobs()
    {
        var db = await DbAsync();
        var stores = new[] { new JobStore(db, Clock), new JobStore(Track(Reopen()), Clock), new JobStore(Track(Reopen()), Clock) };
        var ids = Enumerable.Range(0, 30).Select(i => stores[0].Enqueue("pat", "echo", "1.0.0", "bob", "json", [(byte)i], 60).Id).ToHashSet();
        var claims = await Task.WhenAll(stores.Select((store, n) => Task.Run(() =>
        {
            var mine = new List<string>();
            while (store.ClaimNext($"replica{n}", Lease) is { } job) mine.Add(job.Id);
            return mine;
        })));
        var all = claims.SelectMany(c => c).ToList();
        Assert.Equal(ids.Count, all.Count);
        Assert.Equal(ids, all.ToHashSet());
    }

    [SkippableFact]
    public async Task Retention_deletes_only_finished_jobs_older_than_the_cutoff()
    {
        var jobs = new JobStore(await DbAsync(), Clock);
        var done = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "1"u8.ToArray(), 10);
        var failed = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "2"u8.ToArray(), 10);
        var waiting = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "3"u8.ToArray(), 10);
        Assert.Equal(done.Id, jobs.ClaimNext("r", Lease)!.Id);
        jobs.Complete(done.Id, "r", "json", "2"u8.ToArray());
        Assert.Equal(failed.Id, jobs.ClaimNext("r", Lease)!.Id);
        jobs.Fail(failed.Id, "r", "{\"message\":\"x\"}");

        Assert.Equal(0, jobs.DeleteFinishedBefore(Clock.GetUtcNow().AddMinutes(-1)));
        Assert.Equal(2, jobs.DeleteFinishedBefore(Clock.GetUtcNow().AddMinutes(1)));
        Assert.Null(jobs.Get(done.Id));
        Assert.Null(jobs.Get(failed.Id));
        Assert.Equal(JobStatus.Queued, jobs.Get(waiting.Id)!.Status);
    }

    [SkippableFact]
    public async Task The_leader_lease_has_one_holder_until_it_runs_out_or_is_released()
    {
        var a = new Runtime.Cluster.SqlLeaseStore(await DbAsync());
        var b = new Runtime.Cluster.SqlLeaseStore(Track(Reopen()));       // another server on the same state
        var now = Clock.GetUtcNow();
        var term = TimeSpan.FromSeconds(10);
        Assert.True(a.TryAcquire("leader", "a", now, term));
        Assert.False(b.TryAcquire("leader", "b", now.AddSeconds(5), term));
        Assert.True(a.TryAcquire("leader", "a", now.AddSeconds(8), term));  // renewed: now held until 18 s
        Assert.False(b.TryAcquire("leader", "b", now.AddSeconds(15), term));
        Assert.Equal("a", b.Holder("leader")?.Holder);
        Assert.True(b.TryAcquire("leader", "b", now.AddSeconds(19), term));  // ran out: taken over
        Assert.False(a.TryAcquire("leader", "a", now.AddSeconds(20), term));
        a.Release("leader", "a");                                            // not a's to give up
        Assert.Equal("b", a.Holder("leader")?.Holder);
        b.Release("leader", "b");
        Assert.Null(a.Holder("leader"));
        Assert.True(a.TryAcquire("leader", "a", now.AddSeconds(21), term));  // released: taken at once
        Assert.True(b.TryAcquire("other", "b", now.AddSeconds(21), term));   // leases are independent
    }

    [SkippableFact]
    public async Task Running_jobs_are_requeued_at_start_only_on_state_one_server_uses_alone()
    {
        var db = await DbAsync();
        var jobs = new JobStore(db, Clock);
        var job = jobs.Enqueue("a", "b", "1.0.0", "a", "json", [1], 10);
        jobs.ClaimNext("previous-run", Lease);
        var requeued = jobs.RequeueInterrupted();
        Assert.Equal(db.IsShared ? 0 : 1, requeued);
        Assert.Equal(db.IsShared ? JobStatus.Running : JobStatus.Queued, jobs.Get(job.Id)!.Status);
    }
}

public sealed class SqliteStoreTests : StoreSuite
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "osai-store-" + Guid.NewGuid().ToString("N") + ".db");

    protected override Task<Database> CreateAsync() => Task.FromResult(Reopen());

    protected override Database Reopen() => new SqliteDatabase(_path, Clock);

    [Fact]
    public void A_home_folder_from_before_leases_upgrades_in_place_and_its_running_job_is_claimable()
    {
        // Build the file as the last release left it: migrations 1 to 4, a job running without a lease.
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path}"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = SchemaMigrations.CreateTable + ";" + string.Join(";", SchemaMigrations.All.Where(m => m.Version <= 4).Select(m => m.Sql)) +
                $";INSERT INTO {SchemaMigrations.Table} VALUES (1, 'x'), (2, 'x'), (3, 'x'), (4, 'x');" +
                "INSERT INTO jobs(id, owner, name, version_spec, caller, content_type, input, timeout_s, status, created_at, started_at) " +
                "VALUES ('job-old', 'a', 'b', '1.0.0', 'a', 'json', x'31', 10, 'running', '2025-01-01T00:00:00.0000000+00:00', '2025-01-01T00:00:00.0000000+00:00')";
            cmd.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var db = Reopen();
        Assert.Equal(SchemaMigrations.All.Max(m => m.Version), db.SchemaVersion);
        Assert.Equal("job-old", new JobStore(db, Clock).ClaimNext("new", TimeSpan.FromSeconds(30))!.Id);
    }
}

public sealed class PostgresStoreTests : StoreSuite
{
    private OSForAI.Postgres.PostgresConnectionSettings? _settings;

    protected override async Task<Database> CreateAsync()
    {
        _settings ??= await TestPostgres.CreateDatabaseAsync();
        return Reopen();
    }

    protected override Database Reopen() => new PostgresDatabase(_settings!, Clock);

    [SkippableFact]
    public async Task Servers_starting_together_on_an_empty_database_migrate_it_once()
    {
        _settings = await TestPostgres.CreateDatabaseAsync();
        var opened = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Reopen)));
        foreach (var db in opened)
        {
            Assert.Equal(SchemaMigrations.All.Max(m => m.Version), db.SchemaVersion);
            db.Dispose();
        }
    }
}
