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

/// <summary>Asynchronous (output=void) calls, committed to SQLite before the caller is answered.</summary>
public sealed class JobStore(Database db)
{
    private const string Columns = "id, owner, name, version_spec, caller, content_type, input, timeout_s, status, result_content_type, result, error, created_at, completed_at, key_id, data_grants";

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
            JobStatus.Queued, null, null, null, DateTimeOffset.UtcNow, null, keyId, grants);
        db.Execute($"INSERT INTO jobs({Columns}) VALUES ($i, $o, $n, $v, $c, $k, $in, $t, $s, NULL, NULL, NULL, $at, NULL, $key, $g)",
            ("$i", job.Id), ("$o", owner), ("$n", name), ("$v", versionLabel), ("$c", caller), ("$k", contentKind), ("$in", input),
            ("$t", timeoutSeconds), ("$s", JobStatus.Queued), ("$at", job.CreatedAt.ToString("O")), ("$key", keyId), ("$g", string.Join('\n', grants)));
        return job;
    }

    public JobRecord? Get(string id) =>
        db.Query($"SELECT {Columns} FROM jobs WHERE id=$i", Read, ("$i", id)).FirstOrDefault();

    /// <summary>Atomically takes the oldest queued job, or null.</summary>
    public JobRecord? ClaimNext() =>
        db.Query($"""
            UPDATE jobs SET status='{JobStatus.Running}', started_at=$t
            WHERE id = (SELECT id FROM jobs WHERE status='{JobStatus.Queued}' ORDER BY created_at LIMIT 1)
            RETURNING {Columns}
            """, Read, ("$t", Database.Now())).FirstOrDefault();

    /// <summary>Jobs that were running when the server stopped go back to the queue (at-least-once).</summary>
    public int RequeueInterrupted() =>
        db.Execute($"UPDATE jobs SET status='{JobStatus.Queued}', started_at=NULL WHERE status='{JobStatus.Running}'");

    public void Complete(string id, string resultKind, byte[] result) =>
        db.Execute($"UPDATE jobs SET status='{JobStatus.Succeeded}', result_content_type=$k, result=$r, completed_at=$t WHERE id=$i",
            ("$k", resultKind), ("$r", result), ("$t", Database.Now()), ("$i", id));

    public void Fail(string id, string errorJson) =>
        db.Execute($"UPDATE jobs SET status='{JobStatus.Failed}', error=$e, completed_at=$t WHERE id=$i",
            ("$e", errorJson), ("$t", Database.Now()), ("$i", id));

    /// <summary>Deletes succeeded and failed jobs completed before <paramref name="cutoff"/>; queued and running ones stay.</summary>
    public int DeleteFinishedBefore(DateTimeOffset cutoff) =>
        db.Execute($"DELETE FROM jobs WHERE status IN ('{JobStatus.Succeeded}', '{JobStatus.Failed}') AND completed_at < $c",
            ("$c", cutoff.ToUniversalTime().ToString("O")));   // same text form as Database.Now()

    private static JobRecord Read(Microsoft.Data.Sqlite.SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), (byte[])r[6], r.GetInt32(7),
        r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : (byte[])r[10], r.IsDBNull(11) ? null : r.GetString(11),
        DateTimeOffset.Parse(r.GetString(12)), r.IsDBNull(13) ? null : DateTimeOffset.Parse(r.GetString(13)),
        r.GetString(14), r.GetString(15) is { Length: > 0 } g ? g.Split('\n') : []);
}
