namespace OSForAI.Runtime.Cluster;

/// <summary>
/// This server process among the replicas sharing one state: its name in job claims and in the leader lease. Unique per process
/// start (host, pid and a random suffix), so a restarted server is a new replica and never mistakes an old claim for its own.
/// </summary>
public sealed record ReplicaIdentity(string Name)
{
    public static ReplicaIdentity ForThisProcess() =>
        new($"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}");
}
