using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Cluster;

namespace OSForAI.Runtime.Jobs;

/// <summary>
/// Keeps the jobs table bounded: finished jobs older than OSForAI:JobRetention are deleted, once an hour, by the cluster's
/// leader alone (the replicas share the table; one sweep is enough).
/// </summary>
public sealed class JobRetentionDuty(JobStore jobs, IOptions<OsaiOptions> options, TimeProvider clock, ILogger<JobRetentionDuty> log) : ILeaderDuty
{
    public static readonly TimeSpan Every = TimeSpan.FromHours(1);

    public string Name => "job retention";

    public async Task RunAsync(CancellationToken whileLeading)
    {
        while (true)
        {
            var retention = options.Value.JobRetention;
            var deleted = jobs.DeleteFinishedBefore(clock.GetUtcNow() - retention);
            if (deleted > 0) log.LogInformation("deleted {Count} finished asynchronous jobs older than {Retention}", deleted, retention);
            await Task.Delay(Every, clock, whileLeading);
        }
    }
}
