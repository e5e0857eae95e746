using OSForAI.Runtime.Jobs;
using OSForAI.Runtime.Storage;

namespace OSForAI.Tests.Catalog;

public sealed class JobStoreTests
{
    [Fact]
    public void Retention_deletes_only_finished_jobs_older_than_the_cutoff()
    {
        var jobs = new JobStore(new Database(Path.Combine(Path.GetTempPath(), "osai-jobs-" + Guid.NewGuid().ToString("N") + ".db")));
        var done = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "1"u8.ToArray(), 10);
        var failed = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "2"u8.ToArray(), 10);
        var waiting = jobs.Enqueue("a", "b", "1.0.0", "a", "json", "3"u8.ToArray(), 10);
        Assert.Equal(done.Id, jobs.ClaimNext()!.Id);
        jobs.Complete(done.Id, "json", "2"u8.ToArray());
        Assert.Equal(failed.Id, jobs.ClaimNext()!.Id);
        jobs.Fail(failed.Id, "{\"message\":\"x\"}");

        Assert.Equal(0, jobs.DeleteFinishedBefore(DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.Equal(2, jobs.DeleteFinishedBefore(DateTimeOffset.UtcNow.AddMinutes(1)));
        Assert.Null(jobs.Get(done.Id));
        Assert.Null(jobs.Get(failed.Id));
        Assert.Equal(JobStatus.Queued, jobs.Get(waiting.Id)!.Status);
    }
}
