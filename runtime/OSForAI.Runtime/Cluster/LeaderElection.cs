using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Cluster;

/// <summary>Leases in the shared state: one named lease, held by one holder until it expires or is renewed.</summary>
public interface ILeaseStore
{
    /// <summary>
    /// Takes or renews the lease <paramref name="name"/> for <paramref name="holder"/> until <paramref name="now"/> +
    /// <paramref name="duration"/> when it is free, expired, or already held by <paramref name="holder"/>, atomically.
    /// Returns whether <paramref name="holder"/> holds it now.
    /// </summary>
    bool TryAcquire(string name, string holder, DateTimeOffset now, TimeSpan duration);

    /// <summary>Gives the lease up if <paramref name="holder"/> holds it, so another can take it at once.</summary>
    void Release(string name, string holder);
}

/// <summary>Something only one replica of a cluster should do at a time, run while this replica leads.</summary>
public interface ILeaderDuty
{
    string Name { get; }

    /// <summary>Runs until <paramref name="whileLeading"/> is cancelled (leadership lost, or the server stopping).</summary>
    Task RunAsync(CancellationToken whileLeading);
}

/// <summary>How leadership is held (OSForAI:Cluster).</summary>
public sealed class LeaderElectionOptions
{
    /// <summary>How long a lease lasts without renewal: a dead leader's successor takes over within this plus one renewal interval.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the leader renews its lease, and others try to take it.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(2);

    public IEnumerable<string> Errors()
    {
        if (RenewInterval <= TimeSpan.Zero) yield return "OSForAI:Cluster:RenewInterval must be positive";
        if (LeaseDuration < RenewInterval * 3)
            yield return $"OSForAI:Cluster:LeaseDuration ({LeaseDuration}) must be at least three renewal intervals ({RenewInterval * 3})";
    }
}

/// <summary>
/// Leader election over a lease in the shared state (<see cref="ILeaseStore"/>): every replica tries to take the lease each
/// renewal interval; the one that holds it leads and runs the <see cref="ILeaderDuty"/> services until it loses it. A leader
/// that cannot renew (the database is unreachable) steps down one renewal interval before its lease runs out, so two replicas
/// never lead at once by its own clock; a leader that dies is followed within the lease duration plus one interval. A stopping
/// leader releases the lease so a successor takes over at once. Replicas that do not lead serve calls all the same: only the
/// duties are the leader's (docs/architecture.md, "Several replicas").
/// </summary>
public sealed class LeaderElection : IAsyncDisposable
{
    public const string LeaseName = "leader";
    private readonly ILeaseStore _store;
    private readonly LeaderElectionOptions _o;
    private readonly IReadOnlyList<ILeaderDuty> _duties;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private DateTimeOffset _leadUntil = DateTimeOffset.MinValue;
    private CancellationTokenSource? _leading;
    private List<Task> _running = [];
    private bool _stopped;

    public LeaderElection(ILeaseStore store, string holder, LeaderElectionOptions options, IEnumerable<ILeaderDuty> duties, TimeProvider clock,
        ILogger<LeaderElection> log)
    {
        _store = store;
        Holder = holder;
        _o = options;
        _duties = [.. duties];
        _clock = clock;
        _log = log;
    }

    /// <summary>This replica's name in the lease.</summary>
    public string Holder { get; }

    public bool IsLeader { get { lock (_gate) return _leading is not null; } }

    /// <summary>Times this replica became leader (for tests and metrics).</summary>
    public int Terms { get; private set; }

    public void Start()
    {
        Tick();
        _timer = _clock.CreateTimer(_ => Tick(), null, _o.RenewInterval, _o.RenewInterval);
    }

    /// <summary>One round: take or renew the lease, then lead or step down accordingly.</summary>
    public void Tick()
    {
        lock (_gate) if (_stopped) return;
        var now = _clock.GetUtcNow();
        bool held;
        try { held = _store.TryAcquire(LeaseName, Holder, now, _o.LeaseDuration); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogWarning("could not renew the leader lease: {Message}", e.Message);
            lock (_gate) if (_leading is not null && now < _leadUntil) return;   // still safely inside the lease
            held = false;
        }
        lock (_gate)
        {
            if (_stopped) return;
            if (held)
            {
                // Step down a renewal interval early should renewals start failing: by then another may take it.
                _leadUntil = now + _o.LeaseDuration - _o.RenewInterval;
                if (_leading is null) BecomeLeader();
            }
            else if (_leading is not null) StepDown("the lease is held by another replica or could not be renewed");
        }
    }

    private void BecomeLeader()
    {
        _leading = new CancellationTokenSource();
        Terms++;
        _log.LogInformation("{Holder} leads the cluster now (duties: {Duties})", Holder, string.Join(", ", _duties.Select(d => d.Name)));
        var token = _leading.Token;
        _running = [.. _duties.Select(d => Task.Run(async () =>
        {
            try { await d.RunAsync(token); }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { }
            catch (Exception e) { _log.LogError(e, "leader duty {Duty} failed", d.Name); }
        }))];
    }

    private void StepDown(string why)
    {
        _log.LogWarning("{Holder} no longer leads: {Why}", Holder, why);
        _leading!.Cancel();
        _leading.Dispose();
        _leading = null;
    }

    public async ValueTask DisposeAsync()
    {
        List<Task> running;
        bool wasLeader;
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            _timer?.Dispose();
            wasLeader = _leading is not null;
            if (wasLeader) StepDown("the server is stopping");
            running = _running;
        }
        await Task.WhenAll(running);
        if (wasLeader)
        {
            try { _store.Release(LeaseName, Holder); }
            catch (Exception e) when (e is not OutOfMemoryException) { _log.LogWarning("could not release the leader lease: {Message}", e.Message); }
        }
    }
}
