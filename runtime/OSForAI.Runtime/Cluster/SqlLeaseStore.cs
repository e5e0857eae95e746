using OSForAI.Runtime.Storage;

namespace OSForAI.Runtime.Cluster;

/// <summary>
/// Leases in the state database's <c>leases</c> table, taken and renewed with one atomic upsert that only succeeds for the
/// holder itself or once the lease has run out; the same statement on SQLite and PostgreSQL.
/// </summary>
public sealed class SqlLeaseStore(Database db) : ILeaseStore
{
    public bool TryAcquire(string name, string holder, DateTimeOffset now, TimeSpan duration) =>
        db.Execute("""
            INSERT INTO leases(name, holder, expires_at) VALUES ($n, $h, $u)
            ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
            WHERE leases.holder = excluded.holder OR leases.expires_at < $now
            """, ("$n", name), ("$h", holder), ("$u", Database.Timestamp(now + duration)), ("$now", Database.Timestamp(now))) == 1;

    public void Release(string name, string holder) =>
        db.Execute("DELETE FROM leases WHERE name = $n AND holder = $h", ("$n", name), ("$h", holder));

    /// <summary>Who holds <paramref name="name"/> and until when, if anyone has (for status pages and tests).</summary>
    public (string Holder, DateTimeOffset Until)? Holder(string name) =>
        db.Query("SELECT holder, expires_at FROM leases WHERE name = $n", r => (r.GetString(0), DateTimeOffset.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture)),
            ("$n", name)).Cast<(string, DateTimeOffset)?>().FirstOrDefault();
}
