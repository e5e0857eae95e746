using OSForAI.Runtime.Storage;

namespace OSForAI.Runtime.Jobs;

public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

public sealed record JobRecord(
    string Id, string Owner, string Name, string VersionLabel, string Caller, string ContentKind, byte[] Input, int TimeoutSeconds,
    string Status, string? ResultKind, byte[]? Result, string? Error, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt,
    string KeyId = "", IReadOnlyList<string>? DataGrants = null)
{
    /// <summary>The data grants of the key that queued the job ("r:data://x/" and the like).</summary>
    public IReadOnlyList<string> Grants => DataGrants ?? [];
}

/// <summary>A job as listed: what was called, by whom, and how far it got (no input, result or error).</summary>
public sealed record JobSummary(
    string Id, string Owner, string Name, string VersionLabel, string Caller, string Status, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

/// <summary>
/// Asynchronous (output=void) calls, committed to the state before the caller is answered, and run at least once. A runner
/// claims a job with a lease (claimed_by, lease_until) and renews it while the job runs; a job whose lease has passed (its
/// runner died or lost the database) is claimed again by any runner. A result is recorded only by the claimant that holds
/// the job and only if the job has not finished, so it is recorded exactly once even when two runners ran it.
/// </summary>
public sealed class JobStore(Database db, TimeProvider clock)
{
    private const string Columns = "id, owner, name, version_spec, caller, content_type, input, timeout_s, status, result_content_type, result, error, created_at, completed_at, key_id, data_grants";
    // A running job is taken back once its lease has passed; one without a lease ran before leases existed.
    private const string Claimable = $"status='{JobStatus.Queued}' OR (status='{JobStatus.Running}' AND (lease_until IS NULL OR lease_until < $now))";
    private const string HeldBy = $"id=$i AND claimed_by=$c AND status='{JobStatus.Running}'";

    /// <summary>
    /// Queues a call. <paramref name="keyId"/> and <paramref name="grants"/> are those of the key that made it: the job runs
    /// with the same data grants, and only while that key is still valid.
    /// </summary>
    public JobRecord Enqueue(string owner, string name, string versionLabel, string caller, string contentKind, byte[] input, int timeoutSeconds,
        string keyId = "", IReadOnlyList<string>? grants = null)
    {
        grants ??= [];
        if (grants.Any(g => g.Contains('\n'))) throw new ArgumentException("a data grant cannot span lines", nameof(grants));
        var job = new JobRecord("job-" + Guid.NewGuid().ToString("N"), owner, name, versionLabel, caller, contentKind, input, timeoutSeconds,
            JobStatus.Queued, null, null, null, clock.GetUtcNow(), null, keyId, grants);
        db.Execute($"INSERT INTO jobs({Columns}) VALUES ($i, $o, $n, $v, $c, $k, $in, $t, $s, NULL, NULL, NULL, $at, NULL, $key, $g)",
            ("$i", job.Id), ("$o", owner), ("$n", name), ("$v", versionLabel), ("$c", caller), ("$k", contentKind), ("$in", input),
            ("$t", timeoutSeconds), ("$s", JobStatus.Queued), ("$at", Database.Timestamp(job.CreatedAt)), ("$key", keyId), ("$g", string.Join('\n', grants)));
        return job;
    }

    public JobRecord? Get(string id) =>
        db.Query($"SELECT {Columns} FROM jobs WHERE id=$i", Read, ("$i", id)).FirstOrDefault();

    /// <summary>
    /// The newest jobs first, at most <paramref name="limit"/>: those <paramref name="caller"/> queued, or everyone's when it is null.
    /// </summary>
    public IReadOnlyList<JobSummary> List(string? caller, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var where = caller is null ? "" : "WHERE caller=$c";
        (string, object?)[] args = caller is null ? [] : [("$c", caller)];
        return db.Query($"SELECT id, owner, name, version_spec, caller, status, created_at, completed_at FROM jobs {where} ORDER BY created_at DESC, id LIMIT {limit}",
            r => new JobSummary(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                DateTimeOffset.Parse(r.GetString(6)), r.IsNull(7) ? null : DateTimeOffset.Parse(r.GetString(7))), args);
    }

    /// <summary>
    /// Atomically takes the oldest claimable job for <paramref name="claimant"/> with a lease of <paramref name="lease"/>, or
    /// null. PostgreSQL skips rows another runner is claiming (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time.
    /// </summary>
    public JobRecord? ClaimNext(string claimant, TimeSpan lease)
    {
        var now = clock.GetUtcNow();
        var skipLocked = db.Dialect == SqlDialect.Postgres ? " FOR UPDATE SKIP LOCKED" : "";
        return db.Query($"""
            UPDATE jobs SET status='{JobStatus.Running}', started_at=$now, claimed_by=$c, lease_until=$until
            WHERE id = (SELECT id FROM jobs WHERE {Claimable} ORDER BY created_at LIMIT 1{skipLocked})
            RETURNING {Columns}
            """, Read, ("$now", Database.Timestamp(now)), ("$c", claimant), ("$until", Database.Timestamp(now + lease))).FirstOrDefault();
    }

    /// <summary>Extends the leases of every job <paramref name="claimant"/> holds; returns how many it holds.</summary>
    public int RenewLeases(string claimant, TimeSpan lease) =>
        db.Execute($"UPDATE jobs SET lease_until=$until WHERE claimed_by=$c AND status='{JobStatus.Running}'",
            ("$until", Database.Timestamp(clock.GetUtcNow() + lease)), ("$c", claimant));

    /// <summary>
    /// At start: on state this server uses alone (the embedded SQLite file) a running job was left by its own previous run, so
    /// it goes back to the queue at once. On shared state (PostgreSQL) another server may be running it: it is left to its lease.
    /// </summary>
    public int RequeueInterrupted() => db.IsShared ? 0 :
        db.Execute($"UPDATE jobs SET status='{JobStatus.Queued}', started_at=NULL, claimed_by=NULL, lease_until=NULL WHERE status='{JobStatus.Running}'");

    /// <summary>Records the result if <paramref name="claimant"/> still holds the job; false (nothing recorded) otherwise.</summary>
    public bool Complete(string id, string claimant, string resultKind, byte[] result) =>
        db.Execute($"UPDATE jobs SET status='{JobStatus.Succeeded}', result_content_type=$k, result=$r, completed_at=$t, lease_until=NULL WHERE {HeldBy}",
            ("$k", resultKind), ("$r", result), ("$t", Database.Timestamp(clock.GetUtcNow())), ("$i", id), ("$c", claimant)) > 0;

    /// <summary>Records the failure if <paramref name="claimant"/> still holds the job; false (nothing recorded) otherwise.</summary>
    public bool Fail(string id, string claimant, string errorJson) =>
        db.Execute($"UPDATE jobs SET status='{JobStatus.Failed}', error=$e, completed_at=$t, lease_until=NULL WHERE {HeldBy}",
            ("$e", errorJson), ("$t", Database.Timestamp(clock.GetUtcNow())), ("$i", id), ("$c", claimant)) > 0;

    /// <summary>Deletes succeeded and failed jobs completed before <paramref name="cutoff"/>; queued and running ones stay.</summary>
    public int DeleteFinishedBefore(DateTimeOffset cutoff) =>
        db.Execute($"DELETE FROM jobs WHERE status IN ('{JobStatus.Succeeded}', '{JobStatus.Failed}') AND completed_at < $c",
            ("$c", Database.Timestamp(cutoff)));

    private static JobRecord Read(IRow r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetBytes(6), r.GetInt32(7),
        r.GetString(8), r.IsNull(9) ? null : r.GetString(9), r.IsNull(10) ? null : r.GetBytes(10), r.IsNull(11) ? null : r.GetString(11),
        DateTimeOffset.Parse(r.GetString(12)), r.IsNull(13) ? null : DateTimeOffset.Parse(r.GetString(13)),
        r.GetString(14), r.GetString(15) is { Length: > 0 } g ? g.Split('\n') : []);
}
