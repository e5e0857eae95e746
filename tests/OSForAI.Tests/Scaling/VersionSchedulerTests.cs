using OSForAI.Scaling.Autoscaling;
using OSForAI.Scaling.KeepAlive;
using OSForAI.Scaling.Scheduling;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Scaling;

/// <summary>The pure per-version scheduler, driven by a fake clock: admission, queueing, dispatch, scaling, draining, keep-alive.</summary>
public sealed class VersionSchedulerTests
{
    /// <summary>Drives one scheduler and keeps what its commands say (which instances exist, which calls run where).</summary>
    private sealed class Harness
    {
        public FakeClock Clock { get; } = new();
        public VersionScheduler S { get; }
        public List<SchedulerCommand> Log { get; } = [];
        public List<double> Times { get; } = [];
        public HashSet<long> Started { get; } = [];
        public HashSet<long> Stopped { get; } = [];
        public Dictionary<long, long> Running { get; } = [];   // call → instance
        public Dictionary<long, RejectReason> Refused { get; } = [];
        private readonly List<SchedulerCommand> _out = [];

        public Harness(int slots = 1, int max = 8, int queue = 100, IAppKeepAlive? keepAlive = null, IConcurrencyAutoscaler? decider = null,
            bool noKeepAlive = false)
        {
            S = new VersionScheduler(new SchedulerSettings { SlotsPerInstance = slots, MaxInstances = max, QueueLimit = queue },
                decider ?? new OsForAiAutoscaler(ScalingDefaults.OsForAi(slots, max, 1)),
                noKeepAlive ? null : keepAlive ?? new FixedKeepAlivePolicy(TimeSpan.FromSeconds(30)).ForApp(), Clock);
        }

        public List<SchedulerCommand> Do(Action<List<SchedulerCommand>> step)
        {
            _out.Clear();
            step(_out);
            foreach (var c in _out)
            {
                Log.Add(c);
                Times.Add(S.Now);
                switch (c.Kind)
                {
                    case SchedulerCommandKind.Start: Assert.True(Started.Add(c.Instance)); break;
                    case SchedulerCommandKind.Stop:
                        Assert.DoesNotContain(c.Instance, Running.Values);   // never a busy instance
                        Assert.True(Stopped.Add(c.Instance));
                        break;
                    case SchedulerCommandKind.Dispatch:
                        Assert.Contains(c.Instance, Started);
                        Assert.DoesNotContain(c.Instance, Stopped);
                        Running[c.Call] = c.Instance;
                        break;
                    case SchedulerCommandKind.Reject: Refused[c.Call] = c.Reject; break;
                }
            }
            return [.. _out];
        }

        public long Arrive() { long id = 0; Do(o => id = S.Arrive(o)); return id; }
        public List<SchedulerCommand> Complete(long call) { var i = Running[call]; Running.Remove(call); return Do(o => S.Complete(i, o)); }
        public List<SchedulerCommand> Ready(long instance) => Do(o => S.Ready(instance, o));
        public List<SchedulerCommand> Tick(int times = 1)
        {
            var all = new List<SchedulerCommand>();
            for (var k = 0; k < times; k++) { Clock.AdvanceSeconds(1); all.AddRange(Do(o => S.Tick(o))); }
            return all;
        }
        public long Live => Started.Count - Stopped.Count;
    }

    [Fact]
    public void A_call_to_a_version_at_zero_starts_one_instance_and_is_dispatched_cold_when_it_is_ready()
    {
        var h = new Harness();
        var c = h.Arrive();
        var start = Assert.Single(h.Log);
        Assert.Equal(SchedulerCommandKind.Start, start.Kind);
        Assert.False(start.Prewarm);
        Assert.Equal(1, h.S.Queued);
        h.Clock.AdvanceSeconds(0.5);
        var d = Assert.Single(h.Ready(start.Instance));
        Assert.Equal(SchedulerCommand.Dispatch(c, start.Instance, cold: true), d);
        Assert.Equal(1, h.S.ColdCalls);
        Assert.Equal(0.5, h.S.MeasuredLoadSeconds!.Value, 3);
        h.Complete(c);
        var warm = h.Arrive();
        Assert.Equal(SchedulerCommand.Dispatch(warm, start.Instance, cold: false), h.Log[^1]);
        Assert.Equal(1, h.S.Starts);
    }

    [Fact]
    public void Calls_go_to_the_fullest_instance_with_a_free_slot()
    {
        var h = new Harness(slots: 4);
        var calls = Enumerable.Range(0, 5).Select(_ => h.Arrive()).ToList();
        var starts = h.Log.Where(c => c.Kind == SchedulerCommandKind.Start).Select(c => c.Instance).ToList();
        Assert.Equal(2, starts.Count);                        // 5 queued calls need two instances of 4 slots
        h.Ready(starts[0]);
        h.Ready(starts[1]);                                    // i1 runs 4, i2 runs 1
        h.Complete(calls[0]);                                  // i1 now runs 3, i2 runs 1
        var next = h.Arrive();
        Assert.Equal(starts[0], h.Running[next]);             // packed onto the fuller one
    }

    [Fact]
    public void A_full_queue_refuses_calls_and_queued_calls_are_served_in_order()
    {
        var h = new Harness(max: 1, queue: 4);
        var calls = Enumerable.Range(0, 5).Select(_ => h.Arrive()).ToList();
        Assert.Equal(RejectReason.QueueFull, h.Refused[calls[4]]);
        Assert.Single(h.Refused);
        Assert.Equal(1, h.S.Starts);                           // bounded by MaxInstances
        var instance = h.Started.Single();
        h.Ready(instance);
        Assert.Equal(instance, h.Running[calls[0]]);
        h.Complete(calls[0]);
        Assert.True(h.Running.ContainsKey(calls[1]));         // FIFO
        Assert.False(h.Running.ContainsKey(calls[2]));
        Assert.True(h.Do(o => h.S.Cancel(calls[2], o)).Count == 0);
        h.Complete(calls[1]);
        Assert.True(h.Running.ContainsKey(calls[3]));         // the cancelled one was skipped
    }

    [Fact]
    public void Scaling_down_drains_busy_instances_and_stops_them_only_when_their_calls_end()
    {
        var decider = new ScriptedDecider();
        var h = new Harness(max: 4, decider: decider);
        var calls = Enumerable.Range(0, 4).Select(_ => h.Arrive()).ToList();
        foreach (var i in h.Started.ToList()) h.Ready(i);
        Assert.Equal(4, h.Running.Count);
        decider.Desired = 1;
        var cmds = h.Tick(2);                                   // a decision: three of the four busy instances drain
        Assert.DoesNotContain(cmds, c => c.Kind == SchedulerCommandKind.Stop);
        var drained = 0;
        foreach (var c in calls)
        {
            var instance = h.Running[c];
            var after = h.Complete(c);
            if (after.Contains(SchedulerCommand.Stop(instance, StopReason.ScaleDown))) drained++;   // stopped as its last call ended
        }
        Assert.Equal(3, drained);
        Assert.Equal(3, h.Stopped.Count);
        Assert.Equal(1, h.S.ReadyCount);
    }

    [Fact]
    public void A_draining_instance_is_taken_back_before_a_new_one_is_started()
    {
        var decider = new ScriptedDecider();
        var h = new Harness(max: 2, decider: decider);
        var calls = new[] { h.Arrive(), h.Arrive() };
        foreach (var i in h.Started.ToList()) h.Ready(i);
        decider.Desired = 1;
        h.Tick(2);
        decider.Desired = 2;
        var starts = h.S.Starts;
        h.Tick(2);
        Assert.Equal(starts, h.S.Starts);                       // reclaimed, not restarted
        Assert.Equal(2, h.S.ReadyCount);
        foreach (var c in calls) Assert.DoesNotContain(h.Complete(c), x => x.Kind == SchedulerCommandKind.Stop);
    }

    [Fact]
    public void The_keep_alive_policy_alone_takes_an_idle_version_to_zero()
    {
        var h = new Harness(keepAlive: new FixedKeepAlivePolicy(TimeSpan.FromSeconds(30)).ForApp());
        var c = h.Arrive();
        h.Ready(h.Started.Single());
        h.Complete(c);
        h.Tick(29);
        Assert.Empty(h.Stopped);                               // the autoscaler would be at zero already; keep-alive holds one
        var stops = h.Tick(2);
        Assert.Equal(StopReason.KeepAlive, Assert.Single(stops, s => s.Kind == SchedulerCommandKind.Stop).StopReason);
        Assert.Equal(0, h.Live);
    }

    [Fact]
    public void Without_a_keep_alive_policy_the_autoscaler_decides_scale_to_zero()
    {
        var h = new Harness(noKeepAlive: true, decider: new KpaAutoscaler(ScalingDefaults.Kpa(1, 8)));
        var c = h.Arrive();
        h.Ready(h.Started.Single());
        h.Clock.AdvanceSeconds(0.5);
        h.Complete(c);
        h.Tick(60);
        Assert.Equal(1, h.Live);                                // KPA: a stable window plus the grace period
        h.Tick(40);
        Assert.True(h.Live == 0, $"desired {h.S.Desired}, ready {h.S.ReadyCount}, in flight {h.S.InFlight}, now {h.S.Now}: " + string.Join(", ", h.Log.Select((c, k) => $"{h.Times[k]}: {c}")));
    }

    [Fact]
    public void A_keep_alive_window_that_unloads_and_prewarms_is_followed()
    {
        var h = new Harness(keepAlive: new WindowPolicy(new KeepAliveWindow(10, 20)));
        var c = h.Arrive();
        h.Ready(h.Started.Single());
        h.Complete(c);
        h.Tick(2);
        Assert.Equal(0, h.Live);                                // unloaded at once
        Assert.DoesNotContain(h.Tick(5), s => s.Kind == SchedulerCommandKind.Start);
        // The first start took 0 s here (ready at once), so the pre-warm starts right at +10 s; with a measured
        // start time it would start that much earlier.
        var pre = h.Tick(4);
        var start = Assert.Single(pre, s => s.Kind == SchedulerCommandKind.Start);
        Assert.True(start.Prewarm);
        Assert.Equal(11, h.S.Now, 3);
        h.Ready(start.Instance);
        var hit = h.Arrive();
        Assert.Equal(start.Instance, h.Running[hit]);
        Assert.Equal(1, h.S.PrewarmHits);
        Assert.Equal(1, h.S.ColdCalls);
    }

    [Fact]
    public void A_pending_start_is_never_stopped_and_waiting_callers_learn_why()
    {
        var h = new Harness(keepAlive: new FixedKeepAlivePolicy(TimeSpan.FromSeconds(5)).ForApp());
        var c = h.Arrive();
        var instance = h.Started.Single();
        h.S.Pending(instance, "Unschedulable: 0/3 nodes have nvidia.com/gpu");
        h.Tick(180);                                            // minutes waiting for a node
        Assert.Empty(h.Stopped);
        // One queued call at the default target utilisation (0.8) asks for two instances: both wait for the node.
        Assert.Equal("2 instances starting for 180 s (pending: Unschedulable: 0/3 nodes have nvidia.com/gpu)", h.S.WaitReason);
        h.Do(o => h.S.Cancel(c, o));                            // the caller's timeout
        h.Tick(30);
        Assert.Empty(h.Stopped);                                // still not removed before it is ready
        foreach (var i in h.Started.ToList()) h.Ready(i);
        h.Tick(10);
        Assert.Contains(instance, h.Stopped);                   // then the keep-alive applies
    }

    [Fact]
    public void A_start_that_fails_refuses_the_queued_calls_and_a_remembered_failure_refuses_at_once()
    {
        var h = new Harness();
        var calls = new[] { h.Arrive(), h.Arrive() };
        var failure = new StartFailure("LoadError", "entrypoint not found", Remember: true);
        foreach (var i in h.Started.ToList()) h.Do(o => h.S.StartFailed(i, failure, o));
        Assert.All(calls, c => Assert.Equal(RejectReason.StartFailed, h.Refused[c]));
        Assert.Same(failure, h.S.LastStartFailure);
        var starts = h.S.Starts;
        var again = h.Arrive();
        Assert.Equal(RejectReason.StartFailed, h.Refused[again]);
        Assert.Equal(starts, h.S.Starts);                       // no churn
        // Two failures in a row: starts back off 2 s, then 4 s; calls are refused meanwhile with the reason.
        h.Clock.AdvanceSeconds(3);
        Assert.Equal(RejectReason.StartFailed, h.Refused[h.Arrive()]);
        Assert.Equal(starts, h.S.Starts);
        h.Tick(10);
        Assert.Equal(starts, h.S.Starts);                       // no keep-alive or autoscaler restart meanwhile either
        h.Clock.AdvanceSeconds(1);
        h.Arrive();
        Assert.Equal(starts + 1, h.S.Starts);                   // tried again after the back-off
    }

    [Fact]
    public void A_timed_out_call_stops_its_instance_only_after_the_other_calls_on_it_end()
    {
        var h = new Harness(slots: 2, max: 1);
        var a = h.Arrive();
        var b = h.Arrive();
        var instance = h.Started.Single();
        h.Ready(instance);
        var stuck = h.Running[a];
        h.Running.Remove(a);
        var cmds = h.Do(o => h.S.TimedOut(stuck, o));
        Assert.DoesNotContain(cmds, c => c.Kind == SchedulerCommandKind.Stop);   // b is still running there
        var c2 = h.Arrive();
        Assert.False(h.Running.ContainsKey(c2));                // the stuck instance takes no new call
        var end = h.Complete(b);
        Assert.Equal(SchedulerCommand.Stop(instance, StopReason.Abandoned), Assert.Single(end, c => c.Kind == SchedulerCommandKind.Stop));
        Assert.Contains(end.Concat(h.Log), c => c.Kind == SchedulerCommandKind.Start && c.Instance != instance);
    }

    [Fact]
    public void Eviction_takes_only_idle_instances_least_recently_used_first()
    {
        var h = new Harness(max: 2);
        var a = h.Arrive();
        var b = h.Arrive();
        var ids = h.Started.ToList();
        foreach (var i in ids) h.Ready(i);
        h.Clock.AdvanceSeconds(1);
        h.Complete(a);
        Assert.NotNull(h.S.OldestIdleLastUsed);
        var evicted = h.Do(o => h.S.EvictIdle(o));
        Assert.Equal(StopReason.Evicted, Assert.Single(evicted).StopReason);
        Assert.False(h.Do(o => h.S.EvictIdle(o)).Count > 0);   // the other is busy
        Assert.Null(h.S.OldestIdleLastUsed);
    }

    [Fact]
    public void A_queue_that_outgrows_the_starting_instances_starts_more_at_once()
    {
        var h = new Harness(slots: 2, max: 3);
        for (var k = 0; k < 3; k++) h.Arrive();
        Assert.Equal(2, h.S.StartingCount);                     // 3 waiting > 1 starting × 2 slots
        for (var k = 0; k < 10; k++) h.Arrive();
        Assert.Equal(3, h.S.StartingCount);                     // capped by MaxInstances
    }

    [Fact]
    public void Random_event_sequences_keep_every_guarantee()
    {
        for (var seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            var slots = rng.Next(1, 4);
            var max = rng.Next(1, 6);
            var h = new Harness(slots: slots, max: max, queue: rng.Next(0, 20),
                keepAlive: rng.Next(2) == 0 ? new FixedKeepAlivePolicy(TimeSpan.FromSeconds(rng.Next(1, 20))).ForApp() : new HybridHistogramPolicy().ForApp());
            var arrived = new List<long>();
            for (var step = 0; step < 400; step++)
            {
                switch (rng.Next(7))
                {
                    case 0: case 1: arrived.Add(h.Arrive()); break;
                    case 2 when h.Running.Count > 0: h.Complete(h.Running.Keys.ElementAt(rng.Next(h.Running.Count))); break;
                    case 3: foreach (var i in h.S.InstanceIds().Where(i => !h.S.InstanceIds(readyOnly: true).Contains(i)).ToList()) if (rng.Next(2) == 0) h.Ready(i); break;
                    case 4: h.Tick(rng.Next(1, 5)); break;
                    case 5 when h.Running.Count > 0 && rng.Next(4) == 0:
                        var call = h.Running.Keys.ElementAt(rng.Next(h.Running.Count));
                        var inst = h.Running[call];
                        h.Running.Remove(call);
                        h.Do(o => h.S.TimedOut(inst, o));
                        break;
                    case 6: h.Clock.AdvanceSeconds(rng.NextDouble()); break;
                }
                Assert.True(h.S.Instances <= max, $"seed {seed}: {h.S.Instances} instances > {max}");
                Assert.True(h.S.InFlight == h.Running.Count, $"seed {seed}: in flight {h.S.InFlight} vs {h.Running.Count}");
            }
            // Drain everything: every call ends dispatched-and-completed or refused, none is left behind.
            for (var round = 0; round < 200 && (h.Running.Count > 0 || h.S.Queued > 0); round++)
            {
                foreach (var i in h.S.InstanceIds().ToList()) h.Ready(i);
                foreach (var c in h.Running.Keys.ToList()) h.Complete(c);
                h.Tick();
            }
            Assert.Equal(0, h.S.Queued);
            var dispatched = h.Log.Where(c => c.Kind == SchedulerCommandKind.Dispatch).Select(c => c.Call).ToHashSet();
            Assert.All(arrived, c => Assert.True(dispatched.Contains(c) || h.Refused.ContainsKey(c), $"seed {seed}: call {c} lost"));
        }
    }

    /// <summary>An autoscaler whose decision the test sets.</summary>
    private sealed class ScriptedDecider : IConcurrencyAutoscaler
    {
        public int Desired { get; set; } = 1;
        public AutoscalerOptions Options { get; } = ScalingDefaults.Base(1, 8);
        public void Observe(double nowSeconds, double concurrency) { }
        public ScaleDecision Decide(double nowSeconds, int readyInstances) => new(Desired, false, 0, 0);
    }

    [Fact]
    public void A_prewarm_starts_one_measured_start_time_before_the_policy_wants_the_instance_warm()
    {
        var h = new Harness(keepAlive: new WindowPolicy(new KeepAliveWindow(20, 40)));
        var c = h.Arrive();
        h.Clock.AdvanceSeconds(3);                               // this version takes 3 s to start
        h.Ready(h.Started.Single());
        h.Complete(c);                                          // idle from t = 3: warm again at t = 23
        var starts = new List<double>();
        for (var k = 0; k < 25; k++)
            if (h.Tick().Any(x => x.Kind == SchedulerCommandKind.Start)) starts.Add(h.S.Now);
        Assert.Equal([20.0], starts);                           // 23 − 3: ready just when it is wanted
    }

    [Fact]
    public void Measured_start_times_reach_the_autoscaler_and_the_keep_alive_policy()
    {
        var decider = new OsForAiAutoscaler(ScalingDefaults.OsForAi(1, 8, coldStartSeconds: 1));
        var keepAlive = new RecordingKeepAlive();
        var h = new Harness(decider: decider, keepAlive: keepAlive);
        h.Arrive();
        h.Clock.AdvanceSeconds(5);
        h.Ready(h.Started.Single());
        Assert.Equal([5.0], keepAlive.Measured);
        Assert.Equal(0.7 * 1 + 0.3 * 5, decider.ColdStartSeconds, 6);
        Assert.Equal(5, h.S.MeasuredLoadSeconds);

        // The cost-aware policy prices a cold start with the measured load: a slow start makes it keep an idle version longer.
        var policy = new CostAwareKeepAlivePolicy();
        KeepAliveWindow WindowAfter(double measuredLoad)
        {
            var app = policy.ForApp(new AppProfile(512, 1));
            for (var k = 0; k < 40; k++) { app.OnIdle(k * 1000); app.OnArrival(k * 1000, k * 1000 + (k % 2 == 0 ? 30 : 900)); }
            ((ILoadTimeAware)app).OnLoadTimeMeasured(measuredLoad);
            ((ILoadTimeAware)app).OnLoadTimeMeasured(measuredLoad);
            return app.OnIdle(50_000);
        }
        Assert.True(WindowAfter(3000).UnloadAfterSec > WindowAfter(0.1).UnloadAfterSec,
            $"{WindowAfter(3000)} vs {WindowAfter(0.1)}");
    }

    private sealed class RecordingKeepAlive : IAppKeepAlive, ILoadTimeAware
    {
        public List<double> Measured { get; } = [];
        public KeepAliveWindow OnIdle(double idleStartSec) => KeepAliveWindow.KeepFor(30);
        public void OnArrival(double idleStartSec, double arrivalSec) { }
        public void OnLoadTimeMeasured(double seconds) => Measured.Add(seconds);
    }

    private sealed class WindowPolicy(KeepAliveWindow window) : IAppKeepAlive
    {
        public KeepAliveWindow OnIdle(double idleStartSec) => window;
        public void OnArrival(double idleStartSec, double arrivalSec) { }
    }
}
