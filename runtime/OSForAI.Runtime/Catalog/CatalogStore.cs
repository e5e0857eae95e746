using System.Collections.Concurrent;
using System.Text.Json;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Storage;

namespace OSForAI.Runtime.Catalog;

/// <summary>
/// Algorithms, builds and immutable published versions, with call-time version resolution, and the version lifecycle:
/// deprecation (ranges and latest skip the version), deletion (a tombstone that answers 410; the build is released when no other
/// version uses it) and the audit trail of those changes.
/// </summary>
public sealed class CatalogStore(Database db, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// How long a server whose state others share (PostgreSQL) trusts what it read of an algorithm's versions and grants: a version
    /// published, deprecated or deleted through another replica is seen here within this time. On state used by this server alone
    /// (SQLite) every change goes through this store, which forgets the algorithm's entry at once.
    /// </summary>
    public static readonly TimeSpan SharedCacheFor = TimeSpan.FromSeconds(2);

    // Every version row per algorithm (deleted ones too), newest first, and the live ones. Forgotten on every change made here.
    private readonly ConcurrentDictionary<string, Cached<VersionSet>> _versions = new();
    private readonly ConcurrentDictionary<string, Cached<HashSet<string>>> _grants = new();

    private sealed record Cached<T>(T Value, DateTimeOffset Until);
    private sealed record VersionSet(VersionRecord[] All, VersionRecord[] Live);

    private T CachedOr<T>(ConcurrentDictionary<string, Cached<T>> cache, string key, Func<T> load)
    {
        var now = clock.GetUtcNow();
        if (cache.TryGetValue(key, out var hit) && now < hit.Until) return hit.Value;
        var value = load();
        cache[key] = new Cached<T>(value, db.IsShared ? now + SharedCacheFor : DateTimeOffset.MaxValue);
        return value;
    }

    private void Forget(string owner, string name)
    {
        _versions.TryRemove($"{owner}/{name}", out _);
        _grants.TryRemove($"{owner}/{name}", out _);
    }

    public AlgorithmRecord CreateAlgorithm(string owner, string name, string? description)
    {
        Names.Require(owner, "owner");
        Names.Require(name, "algorithm name");
        var rec = new AlgorithmRecord(owner, name, description ?? "", clock.GetUtcNow());
        try
        {
            db.Execute("INSERT INTO algorithms(owner, name, description, created_at) VALUES ($o, $n, $d, $t)",
                ("$o", owner), ("$n", name), ("$d", rec.Description), ("$t", Database.Timestamp(rec.CreatedAt)));
        }
        catch (DuplicateKeyException)
        {
            throw new CatalogException(CatalogError.Conflict, $"algorithm {owner}/{name} already exists");
        }
        return rec;
    }

    public AlgorithmRecord? FindAlgorithm(string owner, string name) =>
        db.Query("SELECT owner, name, description, created_at FROM algorithms WHERE owner=$o AND name=$n", ReadAlgorithm,
            ("$o", owner), ("$n", name)).FirstOrDefault();

    public AlgorithmRecord GetAlgorithm(string owner, string name) =>
        FindAlgorithm(owner, name) ?? throw new CatalogException(CatalogError.NotFound, $"algorithm {owner}/{name} not found");

    public IReadOnlyList<AlgorithmRecord> ListAlgorithms() =>
        db.Query("SELECT owner, name, description, created_at FROM algorithms ORDER BY owner, name", ReadAlgorithm);

    private static AlgorithmRecord ReadAlgorithm(IRow r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), DateTimeOffset.Parse(r.GetString(3)));

    /// <summary>Stores an upload as a succeeded build with an empty log (a build that needed no checks, or a test's).</summary>
    public void AddBuild(BuildRecord build) => SaveBuild(build, "");

    /// <summary>The most of a build log that is kept: its start and its end, where the failure usually is.</summary>
    public const int MaxLogChars = 1024 * 1024;

    /// <summary>
    /// Records a finished build and its log. The same code uploaded again after a failed build replaces the failure (it may
    /// have been the package index's fault); a succeeded build is never changed, since versions may be running it.
    /// Returns the build as stored: the earlier success when there was one.
    /// </summary>
    public BuildRecord SaveBuild(BuildRecord build, string log)
    {
        if (log.Length > MaxLogChars)
            log = log[..(MaxLogChars / 4)] + $"\n… ({log.Length - MaxLogChars} characters of the log left out) …\n" + log[^(MaxLogChars * 3 / 4)..];
        db.Execute($"""
            INSERT INTO builds(owner, name, hash, code_uri, size, manifest, created_at, status, error, environment, log, finished_at, duration_ms)
            VALUES ($o, $n, $h, $u, $s, $m, $t, $st, $e, $env, $log, $f, $d)
            ON CONFLICT(owner, name, hash) DO UPDATE SET code_uri=excluded.code_uri, size=excluded.size, manifest=excluded.manifest,
              created_at=excluded.created_at, status=excluded.status, error=excluded.error, environment=excluded.environment,
              log=excluded.log, finished_at=excluded.finished_at, duration_ms=excluded.duration_ms
            WHERE builds.status <> '{StatusText(BuildStatus.Succeeded)}'
            """,
            ("$o", build.Owner), ("$n", build.Name), ("$h", build.Hash), ("$u", build.CodeUri), ("$s", build.Size),
            ("$m", JsonSerializer.Serialize(build.Manifest, Json)), ("$t", Database.Timestamp(build.CreatedAt)),
            ("$st", StatusText(build.Status)), ("$e", build.Error), ("$env", build.Environment), ("$log", log),
            ("$f", build.FinishedAt is { } f ? Database.Timestamp(f) : null), ("$d", build.DurationMs));
        return FindBuild(build.Owner, build.Name, build.Hash)!;
    }

    /// <summary>A build's log, or null when there is no such build.</summary>
    public string? BuildLog(string owner, string name, string hash) =>
        db.Query("SELECT log FROM builds WHERE owner=$o AND name=$n AND hash=$h", r => r.GetString(0),
            ("$o", owner), ("$n", name), ("$h", hash)).FirstOrDefault();

    private static string StatusText(BuildStatus s) => s == BuildStatus.Succeeded ? "succeeded" : "failed";

    /// <summary>Length of a build hash (SHA-256 in lowercase hex).</summary>
    public const int BuildHashLength = 64;

    /// <summary>Whether <paramref name="text"/> is a whole build hash: 64 hexadecimal characters.</summary>
    public static bool IsBuildHash(string? text) => text is { Length: BuildHashLength } && text.All(Uri.IsHexDigit);

    /// <summary>A build by its hash or an unambiguous prefix of it (12–64 hex characters); anything else is refused.</summary>
    public BuildRecord? FindBuild(string owner, string name, string hashOrPrefix)
    {
        if (hashOrPrefix.Length is < 12 or > BuildHashLength || !hashOrPrefix.All(Uri.IsHexDigit))
            throw new CatalogException(CatalogError.Invalid, $"'{hashOrPrefix}' is not a build hash: use 12 to {BuildHashLength} hexadecimal characters");
        // A plain prefix comparison, not LIKE: the text is data, never a pattern.
        var rows = db.Query("SELECT owner, name, hash, code_uri, size, manifest, created_at, status, error, environment, finished_at, duration_ms FROM builds WHERE owner=$o AND name=$n AND substr(hash, 1, length($h)) = $h LIMIT 2",
            ReadBuild, ("$o", owner), ("$n", name), ("$h", hashOrPrefix.ToLowerInvariant()));
        if (rows.Count > 1) throw new CatalogException(CatalogError.Invalid, $"build hash prefix '{hashOrPrefix}' is ambiguous");
        return rows.FirstOrDefault();
    }

    public IReadOnlyList<BuildRecord> ListBuilds(string owner, string name) =>
        db.Query("SELECT owner, name, hash, code_uri, size, manifest, created_at, status, error, environment, finished_at, duration_ms FROM builds WHERE owner=$o AND name=$n ORDER BY created_at DESC",
            ReadBuild, ("$o", owner), ("$n", name));

    private static BuildRecord ReadBuild(IRow r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4),
        JsonSerializer.Deserialize<AlgorithmManifest>(r.GetString(5), Json)!, DateTimeOffset.Parse(r.GetString(6)))
    {
        Status = r.GetString(7) == StatusText(BuildStatus.Succeeded) ? BuildStatus.Succeeded : BuildStatus.Failed,
        Error = r.IsNull(8) ? null : r.GetString(8),
        Environment = r.IsNull(9) ? null : r.GetString(9),
        FinishedAt = r.IsNull(10) ? null : DateTimeOffset.Parse(r.GetString(10)),
        DurationMs = r.IsNull(11) ? null : r.GetInt64(11),
    };

    /// <summary>Refuses a build that did not succeed, naming why, for a publish or a call by its hash.</summary>
    public static void RequireSucceeded(BuildRecord build, string action)
    {
        if (build.Status != BuildStatus.Succeeded)
            throw new CatalogException(CatalogError.Conflict,
                $"build {build.Hash[..12]} of {build.Owner}/{build.Name} failed, so it cannot be {action}: {build.Error ?? "see its log"} " +
                $"(GET /v1/algorithms/{build.Owner}/{build.Name}/builds/{build.Hash[..12]}/log has the whole build log)");
    }

    /// <summary>Publishes a build as an immutable semantic version.</summary>
    public VersionRecord Publish(string owner, string name, string buildHash, string version,
        Visibility? visibility = null, string? description = null, IReadOnlyList<string>? tags = null, Action<AlgorithmManifest>? validate = null)
    {
        if (!SemVer.TryParse(version, out var semver))
            throw new CatalogException(CatalogError.Invalid, $"'{version}' is not a version of the form MAJOR.MINOR.PATCH");
        if (!IsBuildHash(buildHash))
            throw new CatalogException(CatalogError.Invalid, $"build must be the {BuildHashLength} hexadecimal characters of a build hash from the upload, not '{buildHash}'");
        GetAlgorithm(owner, name);
        var build = FindBuild(owner, name, buildHash)
            ?? throw new CatalogException(CatalogError.NotFound, $"build '{buildHash}' of {owner}/{name} not found");
        RequireSucceeded(build, "published");
        validate?.Invoke(build.Manifest);
        var rec = FromBuild(build, semver) with
        {
            Visibility = visibility ?? build.Manifest.Visibility,
            Description = description ?? build.Manifest.Description,
            Tags = tags ?? build.Manifest.Tags,
            PublishedAt = clock.GetUtcNow(),
        };
        try
        {
            db.Execute("""
                INSERT INTO versions(owner, name, major, minor, patch, build, record, visibility, published_at)
                VALUES ($o, $n, $a, $b, $c, $h, $r, $v, $t)
                """,
                ("$o", owner), ("$n", name), ("$a", semver.Major), ("$b", semver.Minor), ("$c", semver.Patch),
                ("$h", build.Hash), ("$r", JsonSerializer.Serialize(rec, Json)), ("$v", rec.Visibility.ToString()),
                ("$t", Database.Timestamp(rec.PublishedAt!.Value)));
        }
        catch (DuplicateKeyException)
        {
            throw new CatalogException(CatalogError.Conflict, FindVersionRow(owner, name, semver)?.DeletedAt is { } deletedAt
                ? $"{owner}/{name} {semver} was deleted ({Database.Timestamp(deletedAt)}); version numbers are never reused: publish a new one"
                : $"{owner}/{name} {semver} is already published; versions are immutable");
        }
        Forget(owner, name);
        RequireBuildKept(owner, name, build.Hash, semver);
        return rec;
    }

    /// <summary>The runnable record of an unpublished build (callable by hash).</summary>
    public static VersionRecord FromBuild(BuildRecord build, SemVer? version = null) => new()
    {
        Owner = build.Owner,
        Name = build.Name,
        Version = version,
        Build = build.Hash,
        Runtime = build.Manifest.Runtime,
        Entrypoint = build.Manifest.Entrypoint,
        CodeUri = build.CodeUri,
        Resources = build.Manifest.Resources,
        Network = build.Manifest.Network,
        Concurrency = build.Manifest.Concurrency,
        TimeoutSeconds = build.Manifest.TimeoutSeconds,
        Visibility = Visibility.Private,
        Description = build.Manifest.Description,
        Tags = build.Manifest.Tags,
        SampleInput = build.Manifest.SampleInput,
        SampleOutput = build.Manifest.SampleOutput,
        Model = build.Manifest.Model,
        Environment = build.Environment,
        SystemPackages = build.Manifest.SystemPackages,
    };

    /// <summary>Published versions that were not deleted (deprecated ones included), newest first.</summary>
    public VersionRecord[] ListVersions(string owner, string name) => Versions(owner, name).Live;

    private const string VersionColumns = "record, deprecated_at, deleted_at";

    private VersionSet Versions(string owner, string name) => CachedOr(_versions, $"{owner}/{name}", () =>
    {
        var all = db.Query($"SELECT {VersionColumns} FROM versions WHERE owner=$o AND name=$n ORDER BY major DESC, minor DESC, patch DESC",
            ReadVersion, ("$o", owner), ("$n", name)).ToArray();
        return new VersionSet(all, all.Where(v => v.DeletedAt is null).ToArray());
    });

    private static VersionRecord ReadVersion(IRow r) => JsonSerializer.Deserialize<VersionRecord>(r.GetString(0), Json)! with
    {
        DeprecatedAt = r.IsNull(1) ? null : ParseTime(r.GetString(1)),
        DeletedAt = r.IsNull(2) ? null : ParseTime(r.GetString(2)),
    };

    private static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind);

    /// <summary>One version's row as the state holds it now (not from the cache), deleted or not; null when there is none.</summary>
    private VersionRecord? FindVersionRow(string owner, string name, SemVer version) =>
        db.Query($"SELECT {VersionColumns} FROM versions WHERE owner=$o AND name=$n AND major=$a AND minor=$b AND patch=$c", ReadVersion,
            ("$o", owner), ("$n", name), ("$a", version.Major), ("$b", version.Minor), ("$c", version.Patch)).FirstOrDefault();

    public void Grant(string owner, string name, string grantee)
    {
        Names.Require(grantee, "grantee");
        GetAlgorithm(owner, name);
        db.Execute("INSERT INTO grants(owner, name, grantee, created_at) VALUES ($o, $n, $g, $t) ON CONFLICT DO NOTHING",
            ("$o", owner), ("$n", name), ("$g", grantee), ("$t", Database.Timestamp(clock.GetUtcNow())));
        _grants.TryRemove($"{owner}/{name}", out _);
    }

    /// <summary>Whether the caller may see private versions and builds of owner/name.</summary>
    public bool IsPrivileged(Principal caller, string owner, string name) =>
        caller.IsAdmin || caller.Owner == owner ||
        CachedOr(_grants, $"{owner}/{name}", () => db.Query("SELECT grantee FROM grants WHERE owner=$o AND name=$n",
            r => r.GetString(0), ("$o", owner), ("$n", name)).ToHashSet()).Contains(caller.Owner);

    /// <summary>
    /// Resolves what a caller asked for to one runnable record. Public callers see published public
    /// versions only; the owner, admins and grantees also see private versions and builds by hash.
    /// To anyone else a private version or build is not there at all: the same 404 and message as a missing one,
    /// whatever the version text (exact, wildcard, latest or build hash), and an algorithm with no public
    /// version is answered like an algorithm that does not exist.
    /// A deprecated version is reached by its exact version only: ranges and latest skip it. A deleted version (one the caller
    /// could see) answers 410 by its exact version, and so does its build hash when the build went with it; ranges and latest
    /// resolve among the remaining versions.
    /// </summary>
    public VersionRecord Resolve(string owner, string name, VersionSpec spec, Principal caller)
    {
        var privileged = IsPrivileged(caller, owner, name);
        var (all, versions) = Versions(owner, name);
        bool Visible(VersionRecord v) => privileged || v.Visibility == Visibility.Public;
        if (spec.Kind == VersionSpec.SpecKind.Exact && all.FirstOrDefault(v => v.Version == spec.Exact && Visible(v)) is { } exact)
        {
            if (exact.DeletedAt is { } at) throw Gone(owner, name, exact.VersionLabel, at);
            return exact;
        }
        if (privileged ? versions.Length == 0 && FindAlgorithm(owner, name) is null : !versions.Any(v => v.Visibility == Visibility.Public))
            throw new CatalogException(CatalogError.NotFound, $"algorithm {owner}/{name} not found");
        if (spec.Kind == VersionSpec.SpecKind.Build)
        {
            var build = privileged ? FindBuild(owner, name, spec.BuildHash!) : null;
            if (build is not null)
            {
                RequireSucceeded(build, "called");
                return FromBuild(build);
            }
            if (privileged && all.FirstOrDefault(v => v.DeletedAt is not null && v.Build.StartsWith(spec.BuildHash!, StringComparison.Ordinal)) is { } went)
                throw new CatalogException(CatalogError.Gone,
                    $"build {spec.BuildHash} of {owner}/{name} was deleted with version {went.VersionLabel} ({Database.Timestamp(went.DeletedAt!.Value)})");
            throw NotFound(owner, name, spec);
        }
        VersionRecord? deprecated = null;
        foreach (var v in versions)
        {
            if (!spec.Matches(v.Version!.Value) || !Visible(v)) continue;
            if (v.DeprecatedAt is null || spec.Kind == VersionSpec.SpecKind.Exact) return v;
            deprecated ??= v;
        }
        if (deprecated is not null)
            throw new CatalogException(CatalogError.NotFound, spec.Kind == VersionSpec.SpecKind.Latest
                ? $"every version of {owner}/{name} you can call is deprecated: call one by its exact version, e.g. {deprecated.VersionLabel}"
                : $"only deprecated versions of {owner}/{name} match {spec}: call one by its exact version, e.g. {deprecated.VersionLabel}");
        throw NotFound(owner, name, spec);
    }

    private static CatalogException Gone(string owner, string name, string version, DateTimeOffset at) =>
        new(CatalogError.Gone, $"version {version} of {owner}/{name} was deleted ({Database.Timestamp(at)}) and can no longer be called");

    private static CatalogException NotFound(string owner, string name, VersionSpec spec) =>
        new(CatalogError.NotFound, spec.Kind == VersionSpec.SpecKind.Latest
            ? $"algorithm {owner}/{name} has no published version you can call"
            : $"version {spec} of {owner}/{name} not found");

    private static SemVer ExactVersion(string version) => SemVer.TryParse(version, out var v) ? v
        : throw new CatalogException(CatalogError.Invalid, $"'{version}' is not an exact version: name one version, MAJOR.MINOR.PATCH (not a range, latest or a build)");

    /// <summary>The version's row now, if it is live; Gone when it was deleted, NotFound when there is none (or no such algorithm).</summary>
    private VersionRecord LiveVersion(string owner, string name, SemVer version)
    {
        var row = FindVersionRow(owner, name, version);
        if (row?.DeletedAt is { } at) throw Gone(owner, name, version.ToString(), at);
        if (row is not null) return row;
        GetAlgorithm(owner, name);
        throw new CatalogException(CatalogError.NotFound, $"version {version} of {owner}/{name} not found");
    }

    private static (string, object?)[] VersionKey(string owner, string name, SemVer v) =>
        [("$o", owner), ("$n", name), ("$a", v.Major), ("$b", v.Minor), ("$c", v.Patch)];

    /// <summary>
    /// Deprecates a version (ranges and latest skip it from now on; its exact version still calls it) or, with
    /// <paramref name="deprecated"/> false, takes that back. Deprecating twice keeps the first time. Audited.
    /// </summary>
    public VersionRecord SetDeprecated(string owner, string name, string version, bool deprecated, Principal actor)
    {
        var semver = ExactVersion(version);
        var before = LiveVersion(owner, name, semver);
        var changed = db.Execute(deprecated
                ? "UPDATE versions SET deprecated_at = COALESCE(deprecated_at, $t) WHERE owner=$o AND name=$n AND major=$a AND minor=$b AND patch=$c AND deleted_at IS NULL"
                : "UPDATE versions SET deprecated_at = NULL WHERE owner=$o AND name=$n AND major=$a AND minor=$b AND patch=$c AND deleted_at IS NULL",
            [.. VersionKey(owner, name, semver), ("$t", Database.Timestamp(clock.GetUtcNow()))]);
        Forget(owner, name);
        var after = LiveVersion(owner, name, semver);   // deleted meanwhile: Gone
        if (changed > 0 && (before.DeprecatedAt is null) != (after.DeprecatedAt is null))
            Audit(owner, name, actor, deprecated ? AuditAction.Deprecate : AuditAction.Undeprecate, semver.ToString(), after.Build);
        return after;
    }

    /// <summary>What deleting a version did: the tombstone's record, and the build when no live version of the algorithm uses it any more
    /// (its row is gone; the caller removes its code, see <see cref="VersionLifecycle"/>).</summary>
    public sealed record VersionDeletion(VersionRecord Version, BuildRecord? ReleasedBuild);

    /// <summary>
    /// Deletes a version: it stays as a tombstone (calls by its exact version answer 410, its number is never published again), ranges
    /// and latest resolve among the remaining versions, and its build is released when no other live version of the algorithm uses it.
    /// Audited.
    /// </summary>
    public VersionDeletion DeleteVersion(string owner, string name, string version, Principal actor)
    {
        var semver = ExactVersion(version);
        var live = LiveVersion(owner, name, semver);
        var now = clock.GetUtcNow();
        var deleted = db.Execute("UPDATE versions SET deleted_at = $t WHERE owner=$o AND name=$n AND major=$a AND minor=$b AND patch=$c AND deleted_at IS NULL",
            [.. VersionKey(owner, name, semver), ("$t", Database.Timestamp(now))]);
        Forget(owner, name);
        if (deleted == 0) LiveVersion(owner, name, semver);   // another request deleted it first: Gone
        var released = ReleaseBuild(owner, name, live.Build);
        Audit(owner, name, actor, AuditAction.DeleteVersion, semver.ToString(), live.Build,
            released is null ? "build kept: another version uses it" : "build deleted");
        return new VersionDeletion(live with { DeletedAt = now }, released);
    }

    /// <summary>Removes a build's row unless a live version of the algorithm uses it (one statement, so a version that uses it keeps it).</summary>
    private BuildRecord? ReleaseBuild(string owner, string name, string hash)
    {
        var build = FindBuild(owner, name, hash);
        if (build is null) return null;
        var removed = db.Execute("""
            DELETE FROM builds WHERE owner=$o AND name=$n AND hash=$h
              AND NOT EXISTS (SELECT 1 FROM versions WHERE owner=$o AND name=$n AND build=$h AND deleted_at IS NULL)
            """, ("$o", owner), ("$n", name), ("$h", hash));
        return removed > 0 ? build : null;
    }

    /// <summary>
    /// A publish that raced a deletion releasing its build (it found the build, then the deletion removed it): the new version would have
    /// no code, so it is withdrawn and the publish refused.
    /// </summary>
    private void RequireBuildKept(string owner, string name, string hash, SemVer version)
    {
        if (db.Query("SELECT 1 FROM builds WHERE owner=$o AND name=$n AND hash=$h", _ => 1, ("$o", owner), ("$n", name), ("$h", hash)).Count > 0) return;
        db.Execute("DELETE FROM versions WHERE owner=$o AND name=$n AND major=$a AND minor=$b AND patch=$c AND build=$h AND deleted_at IS NULL",
            [.. VersionKey(owner, name, version), ("$h", hash)]);
        Forget(owner, name);
        throw new CatalogException(CatalogError.Conflict, $"build {hash} of {owner}/{name} was deleted while {version} was being published; upload the code again");
    }

    /// <summary>Whether any algorithm still has a build with this hash (the local code cache is shared by hash).</summary>
    public bool IsBuildHashInUse(string hash) =>
        db.Query("SELECT 1 FROM builds WHERE hash=$h LIMIT 1", _ => 1, ("$h", hash)).Count > 0;

    /// <summary>
    /// Deletes an algorithm that has no live versions (409 otherwise), with its builds and grants; returns the builds, whose code the
    /// caller removes. Deleted versions' tombstones stay, so a new algorithm of the same name never reuses their numbers. Audited.
    /// </summary>
    public IReadOnlyList<BuildRecord> DeleteAlgorithm(string owner, string name, Principal actor)
    {
        GetAlgorithm(owner, name);
        RequireNoLiveVersions(owner, name);
        var removed = db.Execute("""
            DELETE FROM algorithms WHERE owner=$o AND name=$n
              AND NOT EXISTS (SELECT 1 FROM versions WHERE owner=$o AND name=$n AND deleted_at IS NULL)
            """, ("$o", owner), ("$n", name));
        if (removed == 0)
        {
            // A version was published, or the algorithm deleted, meanwhile.
            GetAlgorithm(owner, name);
            RequireNoLiveVersions(owner, name);
        }
        var builds = ListBuilds(owner, name);
        db.Execute("DELETE FROM builds WHERE owner=$o AND name=$n", ("$o", owner), ("$n", name));
        db.Execute("DELETE FROM grants WHERE owner=$o AND name=$n", ("$o", owner), ("$n", name));
        Forget(owner, name);
        Audit(owner, name, actor, AuditAction.DeleteAlgorithm, detail: builds.Count == 1 ? "1 build deleted" : $"{builds.Count} builds deleted");
        return builds;
    }

    private void RequireNoLiveVersions(string owner, string name)
    {
        var live = db.Query("SELECT major, minor, patch FROM versions WHERE owner=$o AND name=$n AND deleted_at IS NULL ORDER BY major, minor, patch",
            r => new SemVer(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2)).ToString(), ("$o", owner), ("$n", name));
        if (live.Count > 0)
            throw new CatalogException(CatalogError.Conflict,
                $"{owner}/{name} still has version{(live.Count == 1 ? "" : "s")} {string.Join(", ", live)}: delete {(live.Count == 1 ? "it" : "them")} first");
    }

    /// <summary>Records a change in the audit trail: who (the key's owner and id), what, when (this store's clock).</summary>
    public void Audit(string owner, string name, Principal actor, AuditAction action, string? version = null, string? build = null, string detail = "") =>
        db.Execute("""
            INSERT INTO audit(owner, name, at, actor, key_id, action, version, build, detail)
            VALUES ($o, $n, $t, $a, $k, $x, $v, $b, $d)
            """,
            ("$o", owner), ("$n", name), ("$t", Database.Timestamp(clock.GetUtcNow())), ("$a", actor.Owner), ("$k", actor.KeyId),
            ("$x", AuditName(action)), ("$v", version), ("$b", build), ("$d", detail));

    /// <summary>The audit trail of owner/name, newest first (it outlives the algorithm).</summary>
    public IReadOnlyList<AuditEntry> ListAudit(string owner, string name, int limit) =>
        db.Query("SELECT id, owner, name, at, actor, key_id, action, version, build, detail FROM audit WHERE owner=$o AND name=$n ORDER BY id DESC LIMIT $l",
            r => new AuditEntry(r.GetInt64(0), r.GetString(1), r.GetString(2), ParseTime(r.GetString(3)), r.GetString(4), r.GetString(5),
                ParseAuditName(r.GetString(6)), r.IsNull(7) ? null : r.GetString(7), r.IsNull(8) ? null : r.GetString(8), r.GetString(9)),
            ("$o", owner), ("$n", name), ("$l", limit));

    /// <summary>An action as stored and shown: snake case (delete_version).</summary>
    public static string AuditName(AuditAction action) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(action.ToString());

    private static AuditAction ParseAuditName(string text) =>
        Enum.GetValues<AuditAction>().First(a => AuditName(a) == text);
}
