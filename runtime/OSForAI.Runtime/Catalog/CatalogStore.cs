using System.Collections.Concurrent;
using System.Text.Json;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Storage;

namespace OSForAI.Runtime.Catalog;

/// <summary>Algorithms, builds and immutable published versions, with call-time version resolution.</summary>
public sealed class CatalogStore(Database db, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    // Published versions per algorithm, newest first. Invalidated on publish; versions never change.
    private readonly ConcurrentDictionary<string, VersionRecord[]> _versions = new();
    private readonly ConcurrentDictionary<string, HashSet<string>> _grants = new();

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
            throw new CatalogException(CatalogError.Conflict, $"{owner}/{name} {semver} is already published; versions are immutable");
        }
        _versions.TryRemove($"{owner}/{name}", out _);
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

    /// <summary>Published versions, newest first.</summary>
    public VersionRecord[] ListVersions(string owner, string name) =>
        _versions.GetOrAdd($"{owner}/{name}", _ => db.Query(
            "SELECT record FROM versions WHERE owner=$o AND name=$n ORDER BY major DESC, minor DESC, patch DESC",
            r => JsonSerializer.Deserialize<VersionRecord>(r.GetString(0), Json)!, ("$o", owner), ("$n", name)).ToArray());

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
        _grants.GetOrAdd($"{owner}/{name}", _ => db.Query("SELECT grantee FROM grants WHERE owner=$o AND name=$n",
            r => r.GetString(0), ("$o", owner), ("$n", name)).ToHashSet()).Contains(caller.Owner);

    /// <summary>
    /// Resolves what a caller asked for to one runnable record. Public callers see published public
    /// versions only; the owner, admins and grantees also see private versions and builds by hash.
    /// To anyone else a private version or build is not there at all: the same 404 and message as a missing one,
    /// whatever the version text (exact, wildcard, latest or build hash), and an algorithm with no public
    /// version is answered like an algorithm that does not exist.
    /// </summary>
    public VersionRecord Resolve(string owner, string name, VersionSpec spec, Principal caller)
    {
        var privileged = IsPrivileged(caller, owner, name);
        var versions = ListVersions(owner, name);
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
            throw NotFound(owner, name, spec);
        }
        foreach (var v in versions)
            if (spec.Matches(v.Version!.Value) && (v.Visibility == Visibility.Public || privileged)) return v;
        throw NotFound(owner, name, spec);
    }

    private static CatalogException NotFound(string owner, string name, VersionSpec spec) =>
        new(CatalogError.NotFound, spec.Kind == VersionSpec.SpecKind.Latest
            ? $"algorithm {owner}/{name} has no published version you can call"
            : $"version {spec} of {owner}/{name} not found");
}
