using Microsoft.Extensions.Logging.Abstractions;
using OSForAI.Runtime.Cluster;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Cluster;

/// <summary>
/// Leader election with a fake clock over an in-memory lease table with the store's semantics (the SQL lease stores are tested
/// against SQLite and PostgreSQL in the store suite).
/// </summary>
public sealed class LeaderElectionTests
{
    private static readonly LeaderElectionOptions Options = new() { LeaseDuration = TimeSpan.FromSeconds(10), RenewInterval = TimeSpan.FromSeconds(2) };

    private sealed class MemoryLeases : ILeaseStore
    {
        private readonly Dictionary<string, (string Holder, DateTimeOffset Until)> _leases = [];

        public bool TryAcquire(string name, string holder, DateTimeOffset now, TimeSpan duration)
        {
            lock (_leases)
            {
                if (_leases.TryGetValue(name, out var l) && l.Holder != holder && l.Until > now) return false;
                _leases[name] = (holder, now + duration);
                return true;
            }
        }

        public void Release(string name, string holder)
        {
            lock (_leases) if (_leases.TryGetValue(name, out var l) && l.Holder == holder) _leases.Remove(name);
        }
    }

    /// <summary>A replica's view of the store, which can be cut off (a crash, a partition): every call then fails.</summary>
    private sealed class Reachable(ILeaseStore inner) : ILeaseStore
    {
        public bool Cut { get; set; }
        public bool TryAcquire(string name, string holder, DateTimeOffset now, TimeSpan duration) =>
            Cut ? throw new IOException("unreachable") : inner.TryAcquire(name, holder, now, duration);
        public void Release(string name, string holder) { if (!Cut) inner.Release(name, holder); }
    }

    private sealed class CountingDuty : ILeaderDuty
    {
        public int Running;
        public int Started;
        public string Name => "counting";
        public async Task RunAsync(CancellationToken whileLeading)
        {
            Interlocked.Increment(ref Started);
            Interlocked.Increment(ref Running);
            try { await Task.Delay(Timeout.Infinite, whileLeading); }
            finally { Interlocked.Decrement(ref Running); }
        }
    }

    private static LeaderElection Replica(ILeaseStore store, string name, FakeClock clock, params ILeaderDuty[] duties) =>
        new(store, name, Options, duties, clock, NullLogger<LeaderElection>.Instance);

    private static async Task SettleAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }

    [Fact]
    public async Task One_replica_leads_and_a_stopping_leader_hands_over_at_once()
    {
        var clock = new FakeClock();
        var leases = new MemoryLeases();
        var dutyA = new CountingDuty();
        var dutyB = new CountingDuty();
        var a = Replica(leases, "a", clock, dutyA);
        await using var b = Replica(leases, "b", clock, dutyB);
        a.Start();
        b.Start();
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);
        await SettleAsync(() => dutyA.Running == 1);
        for (var i = 0; i < 20; i++) clock.AdvanceSeconds(2);   // renewals keep it
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);
        Assert.Equal(0, dutyB.Started);

        await a.DisposeAsync();                                   // releases the lease and stops its duties
        Assert.Equal(0, dutyA.Running);
        clock.AdvanceSeconds(2);
        Assert.True(b.IsLeader);
        await SettleAsync(() => dutyB.Running == 1);
    }

    [Fact]
    public async Task A_leader_that_dies_is_followed_within_the_lease_and_one_interval_and_never_two_lead_at_once()
    {
        var clock = new FakeClock();
        var leases = new MemoryLeases();
        var toA = new Reachable(leases);
        var duty = new CountingDuty();
        await using var a = Replica(toA, "a", clock, duty);
        await using var b = Replica(leases, "b", clock);
        a.Start();
        b.Start();
        await SettleAsync(() => duty.Running == 1);

        toA.Cut = true;                                           // a can no longer renew: to b it is dead
        var cutAt = clock.GetUtcNow();
        DateTimeOffset? aStepped = null, bLed = null;
        while (bLed is null && clock.GetUtcNow() - cutAt < TimeSpan.FromSeconds(30))
        {
            clock.AdvanceSeconds(1);
            Assert.False(a.IsLeader && b.IsLeader, $"two leaders at {clock.GetUtcNow() - cutAt}");
            if (!a.IsLeader) aStepped ??= clock.GetUtcNow();
            if (b.IsLeader) bLed = clock.GetUtcNow();
        }
        Assert.NotNull(aStepped);
        Assert.NotNull(bLed);
        Assert.True(aStepped < bLed, "the old leader did not step down before its successor took over");
        Assert.True(bLed - cutAt <= Options.LeaseDuration + Options.RenewInterval, $"taken over after {bLed - cutAt}");
        await SettleAsync(() => duty.Running == 0);               // a's duties stopped when it stepped down
    }

    [Fact]
    public void Settings_are_checked()
    {
        Assert.Empty(Options.Errors());
        Assert.Contains(new LeaderElectionOptions { LeaseDuration = TimeSpan.FromSeconds(3) }.Errors(), e => e.Contains("three renewal intervals"));
        Assert.Contains(new LeaderElectionOptions { RenewInterval = TimeSpan.Zero }.Errors(), e => e.Contains("RenewInterval must be positive"));
    }
}
