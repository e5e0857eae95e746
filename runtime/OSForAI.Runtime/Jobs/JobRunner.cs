using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Data;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers;

namespace OSForAI.Runtime.Jobs;

/// <summary>
/// Runs queued asynchronous calls, at least once each: it claims a job with a lease of OSForAI:JobLease, renews the leases of
/// the jobs it runs every third of that, and records a result only while it still holds the job (see <see cref="JobStore"/>).
/// A job left by a runner that died is claimed again once its lease has passed; on the embedded SQLite state, which one
/// server uses alone, jobs its previous run left are re-queued at start.
/// </summary>
public sealed class JobRunner(JobStore jobs, CallService calls, KeyStore keys, Cluster.ReplicaIdentity replica, IOptions<OsaiOptions> options,
    TimeProvider clock, ILogger<JobRunner> log) : IAsyncDisposable
{
    /// <summary>The error_type of a job whose key was revoked or deleted before it ran.</summary>
    public const string KeyRevoked = "KeyRevoked";
    /// <summary>KeyId of principals that come from an algorithm's call token (no API key of their own to re-check).</summary>
    private const string CallTokenKeyId = "call";
    private readonly SemaphoreSlim _signal = new(0);
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentJobs);
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _lease = options.Value.JobLease;
    private Task? _loop;
    private Task? _heartbeat;

    /// <summary>Who this runner is in claimed_by: its replica, unique per process start, so a restarted server is a new claimant.</summary>
    public string Claimant => replica.Name;

    public void Start()
    {
        var requeued = jobs.RequeueInterrupted();
        if (requeued > 0) log.LogInformation("re-queued {Count} asynchronous calls interrupted by the last shutdown", requeued);
        _loop = Task.Run(LoopAsync);
        _heartbeat = Task.Run(HeartbeatAsync);
    }

    /// <summary>Renews the leases of the jobs this runner holds, every third of the lease, so a slow job is not taken over.</summary>
    private async Task HeartbeatAsync()
    {
        using var timer = new PeriodicTimer(_lease / 3, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try { jobs.RenewLeases(Claimant, _lease); }
                catch (Exception e) { log.LogWarning(e, "renewing the leases of running jobs failed; retrying at the next beat"); }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Wakes the runner after a job was committed.</summary>
    public void Notify() => _signal.Release();

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(ct);
                var job = jobs.ClaimNext(Claimant, _lease);
                if (job is null)
                {
                    _slots.Release();
                    await _signal.WaitAsync(TimeSpan.FromSeconds(1), ct);
                    continue;
                }
                _ = Task.Run(async () =>
                {
                    try { await RunAsync(job, ct); }
                    finally { _slots.Release(); }
                }, CancellationToken.None);
            }
            catch (OperationCanceledException) { break; }
            catch (Exception e)
            {
                log.LogError(e, "job loop");
                await Task.Delay(500, CancellationToken.None);
            }
        }
    }

    private async Task RunAsync(JobRecord job, CancellationToken ct)
    {
        try
        {
            // The caller was authorised when the job was accepted; the label is an exact version or build. The job acts with
            // the key that queued it, data grants included, and only while that key is valid.
            if (job.KeyId is { Length: > 0 } keyId && keyId != CallTokenKeyId && keys.FindActive(keyId) is null)
            {
                log.LogInformation("job {Id} not run: its key {KeyId} was revoked or deleted", job.Id, keyId);
                Record(job, jobs.Fail(job.Id, Claimant, JsonSerializer.Serialize(new
                {
                    message = "the API key that queued this job has been revoked or deleted; the job was not run",
                    error_type = KeyRevoked,
                })));
                return;
            }
            var system = new Principal("job", job.Caller, Scopes.Admin);
            var version = calls.Resolve(job.Owner, job.Name, job.VersionLabel, system);
            var caller = new Principal(job.KeyId.Length > 0 ? job.KeyId : "job", job.Caller, Scopes.Call, job.Grants.Select(DataGrant.Parse).ToList());
            var result = await calls.CallAsync(version, job.ContentKind, job.Input, caller, TimeSpan.FromSeconds(job.TimeoutSeconds), ct,
                jobId: job.Id);
            Record(job, jobs.Complete(job.Id, Claimant, result.ContentKind, result.Body));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Left as running; its lease passes (or the next start re-queues it) and it runs again.
        }
        catch (AlgorithmCallException e) when (ct.IsCancellationRequested && e.ErrorType == ErrorTypes.Unavailable)
        {
            // The server is stopping; as above.
        }
        catch (Exception e) when (e is AlgorithmCallException or CatalogException)
        {
            var type = e is AlgorithmCallException a ? a.ErrorType : "CatalogError";
            Record(job, jobs.Fail(job.Id, Claimant, JsonSerializer.Serialize(new { message = e.Message, error_type = type })));
        }
        catch (Exception e)
        {
            log.LogError(e, "job {Id}", job.Id);
            Record(job, jobs.Fail(job.Id, Claimant, JsonSerializer.Serialize(new { message = "internal error", error_type = "InternalError" })));
        }
    }

    private void Record(JobRecord job, bool recorded)
    {
        if (!recorded)
            log.LogInformation("job {Id} finished here after its lease had passed to another runner; the other run's outcome is the one kept", job.Id);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop;
        if (_heartbeat is not null) await _heartbeat;
    }
}
