using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Data;
using OSForAI.Runtime.Workers;
using OSForAI.Scaling.Scheduling;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Workers;

/// <summary>
/// The live pool around the scheduler, with a fake worker host over in-memory streams and a fake clock: fast and exact.
/// (End-to-end behaviour with real Python workers is in PoolBehaviourTests and the scaling tests.)
/// </summary>
public sealed class WorkerPoolTests : IAsyncLifetime
{
    private readonly string _home = Path.Combine(Path.GetTempPath(), "osai-pool-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly FakeWorkerHost _host = new();
    private readonly FakeClock _clock = new();
    private WorkerPool? _pool;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_pool is not null) await _pool.DisposeAsync();
        _host.StartGate?.TrySetResult();
        try { Directory.Delete(_home, recursive: true); } catch (IOException) { }
    }

    private WorkerPool Pool(Action<WorkerOptions>? configure = null)
    {
        var options = new OsaiOptions { Home = _home };
        options.Workers.WarmGenericWorkers = 0;
        options.Workers.KeepAlive = KeepAliveKind.Fixed;
        options.Workers.IdleKeepAlive = TimeSpan.FromSeconds(30);
        configure?.Invoke(options.Workers);
        var cache = Path.Combine(_home, "code");
        Directory.CreateDirectory(Path.Combine(cache, "build1"));   // an extracted build: the pool only needs its folder
        var code = new CodeStore(new LocalDataConnector(new LocalDataStore(Path.Combine(_home, "data"))), cache);
        _pool = new WorkerPool(_host, code, Options.Create(options), NullLogger<WorkerPool>.Instance, _clock, new ResourceProfiles(), new CallDelegation());
        return _pool;
    }

    private static VersionRecord Version(int concurrency = 1, int timeoutSeconds = 60) => new()
    {
        Owner = "t", Name = "echo", Version = SemVer.Parse("1.0.0"), Build = "build1", Runtime = "python3",
        Entrypoint = "main:apply", CodeUri = "data://t/.code/build1", Concurrency = concurrency, TimeoutSeconds = timeoutSeconds,
    };

    private Task<InvokeResult> Call(WorkerPool pool, VersionRecord v, string payload, double timeoutSeconds = 60, CancellationToken clientGone = default) =>
        pool.InvokeAsync(v, new InvokeRequest(ContentKinds.Json, Encoding.UTF8.GetBytes(payload),
            new CallContext("trace", "t", 0, _clock.GetUtcNow().AddMinutes(5), CallContext.NewCallId())), TimeSpan.FromSeconds(timeoutSeconds), clientGone);

    private FakeWorkerHost.FakeCall NextCall()
    {
        Assert.True(_host.Calls.TryTake(out var call, TimeSpan.FromSeconds(10)), "the worker never received the call");
        return call!;
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting until " + what);
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task A_cold_call_starts_and_loads_a_worker_and_a_warm_call_reuses_it()
    {
        var pool = Pool();
        var v = Version();
        var first = Call(pool, v, "1");
        NextCall().Answer("2");
        Assert.Equal("2", Encoding.UTF8.GetString((await first).Body));
        var worker = Assert.Single(_host.Workers);
        Assert.Equal("t/echo", worker.Loaded);
        var second = Call(pool, v, "3");
        var call = NextCall();
        Assert.Same(worker, call.Worker);
        call.Answer("4");
        await second;
        var s = pool.Stats;
        Assert.Equal((2, 1, 1, 1), (s.Calls, s.ColdCalls, s.ColdStarts, s.FreshStarts));
        Assert.NotNull(pool.MeasuredLoadSeconds(v.InstanceKey));
    }

    [Fact]
    public async Task A_full_queue_refuses_with_queue_full_and_the_queued_calls_run_in_order()
    {
        var pool = Pool(o => { o.MaxInstancesPerVersion = 1; o.QueueLimit = 2; });
        var v = Version();
        var running = Call(pool, v, "\"a\"");
        var a = NextCall();
        var queued = new[] { Call(pool, v, "\"b\""), Call(pool, v, "\"c\"") };
        var refused = await Assert.ThrowsAsync<AlgorithmCallException>(() => Call(pool, v, "\"d\""));
        Assert.Equal(ErrorTypes.QueueFull, refused.ErrorType);
        a.Answer("1");
        var b = NextCall();
        Assert.Equal("\"b\"", b.Payload);
        b.Answer("2");
        var c = NextCall();
        Assert.Equal("\"c\"", c.Payload);
        c.Answer("3");
        await Task.WhenAll(queued.Append(running));
    }

    [Fact]
    public async Task No_policy_stops_a_worker_with_a_call_in_flight()
    {
        // Fixed keep-alive of one second and an autoscaler with nothing to do: neither may stop a worker that is running a call,
        // however long the call takes.
        var pool = Pool(o => o.IdleKeepAlive = TimeSpan.FromSeconds(1));
        var v = Version(timeoutSeconds: 3600);
        var longCall = Call(pool, v, "1", timeoutSeconds: 3600);
        var call = NextCall();
        for (var k = 0; k < 600; k++) _clock.AdvanceSeconds(1);   // ten minutes of ticks: keep-alive, autoscaler, sampler
        Assert.True(call.Worker.Connection.IsAlive);
        Assert.False(call.Worker.ShutDown || call.Worker.Killed);
        call.Answer("1");
        await longCall;
        for (var k = 0; k < 3; k++) _clock.AdvanceSeconds(1);
        await Eventually(() => call.Worker.ShutDown, "the idle worker is shut down by the keep-alive");
        Assert.False(call.Worker.Killed);                          // shut down gracefully, not killed
    }

    [Fact]
    public async Task A_timed_out_call_stops_its_worker_only_after_the_other_calls_on_it_end()
    {
        var pool = Pool(o => o.MaxInstancesPerVersion = 1);
        var v = Version(concurrency: 2);
        var slow = Call(pool, v, "\"slow\"", timeoutSeconds: 5);
        var first = NextCall();
        var other = Call(pool, v, "\"other\"", timeoutSeconds: 60);
        var second = NextCall();
        Assert.Same(first.Worker, second.Worker);
        _clock.AdvanceSeconds(6);                                  // past the slow call's timeout
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => slow);
        Assert.Equal(ErrorTypes.Timeout, e.ErrorType);
        Assert.True(first.Worker.Connection.IsAlive, "the worker was killed with another call in flight");
        second.Answer("\"done\"");
        Assert.Equal("\"done\"", Encoding.UTF8.GetString((await other).Body));
        await Eventually(() => first.Worker.Killed, "the stuck worker is killed once it has no other call");
        // The next call gets a fresh worker.
        var next = Call(pool, v, "\"next\"");
        var third = NextCall();
        Assert.NotSame(first.Worker, third.Worker);
        third.Answer("1");
        await next;
    }

    [Fact]
    public async Task A_caller_that_goes_away_mid_call_does_not_free_the_slot_its_call_still_holds_in_the_worker()
    {
        var pool = Pool(o => o.MaxInstancesPerVersion = 1);
        var v = Version();
        using var client = new CancellationTokenSource();
        var abandoned = Call(pool, v, "\"a\"", clientGone: client.Token);
        var a = NextCall();
        client.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        var next = Call(pool, v, "\"b\"");
        Assert.False(_host.Calls.TryTake(out _, 200), "a second call was sent to a worker still running the first");
        Assert.Equal(1, pool.InFlight(v.InstanceKey));
        a.Answer("1");                                              // the worker finishes the abandoned call: now b runs
        var b = NextCall();
        Assert.Same(a.Worker, b.Worker);
        b.Answer("2");
        Assert.Equal("2", Encoding.UTF8.GetString((await next).Body));
    }

    [Fact]
    public async Task A_start_that_fails_fails_the_waiting_calls_with_the_hosts_reason()
    {
        _host.StartFailure = "ErrImagePull: registry.example/osforai-python:1.0 not found";
        var pool = Pool();
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => Call(pool, Version(), "1"));
        Assert.Equal(ErrorTypes.Unavailable, e.ErrorType);
        Assert.Contains("ErrImagePull: registry.example/osforai-python:1.0 not found", e.Message);
    }

    [Fact]
    public async Task A_caller_that_times_out_behind_a_pending_start_learns_why()
    {
        _host.StartGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _host.PendingReason = "Unschedulable: 0/3 nodes have nvidia.com/gpu";
        var pool = Pool();
        var v = Version();
        var waiting = Call(pool, v, "1", timeoutSeconds: 30);
        await Eventually(() => pool.Stats.Queued == 1, "the call is queued");
        await Task.Delay(50);                                       // the pending report reaches the scheduler
        _clock.AdvanceSeconds(31);
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => waiting);
        Assert.Equal(ErrorTypes.Timeout, e.ErrorType);
        Assert.Contains("pending: Unschedulable: 0/3 nodes have nvidia.com/gpu", e.Message);
        Assert.Contains("starting for 30 s", e.Message);
        _host.StartGate.SetResult();
        await Eventually(() => pool.Stats.Starting == 0 && _host.Workers.Count > 0, $"the pending starts complete ({pool.Stats})");
        _clock.AdvanceSeconds(1);
        Assert.Contains(_host.Workers, w => w.Connection.IsAlive);   // not thrown away: it serves the next call
    }

    [Fact]
    public async Task Code_that_fails_to_load_is_refused_at_once_for_a_moment_instead_of_churning_workers()
    {
        _host.LoadFailure = "ModuleNotFoundError: No module named 'requests'";
        var pool = Pool();
        var v = Version();
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => Call(pool, v, "1"));
        Assert.Equal(ErrorTypes.LoadError, e.ErrorType);
        Assert.Contains("No module named 'requests'", e.Message);
        var starts = pool.Stats.FreshStarts;
        var again = await Assert.ThrowsAsync<AlgorithmCallException>(() => Call(pool, v, "1"));
        Assert.Equal(ErrorTypes.LoadError, again.ErrorType);
        Assert.Equal(starts, pool.Stats.FreshStarts);
    }

    [Fact]
    public async Task The_live_pool_and_the_simulator_make_the_same_decisions_for_the_same_arrivals()
    {
        // A burst, a lull, a second burst: arrivals and service times off the tick grid so no two events share an instant.
        var rng = new Random(12);
        var requests = new List<OSForAI.Simulation.Regimes.SimRequest>();
        var t = 0.0;
        foreach (var (count, gap) in new[] { (12, 0.05), (3, 4.0), (10, 0.1) })
            for (var k = 0; k < count; k++)
            {
                requests.Add(new(Math.Round(t, 4), Math.Round(0.3 + rng.NextDouble() * 2.2, 4) + 0.00037));
                t += gap + rng.NextDouble() * gap + 0.00011;
            }
        const double end = 90;
        var options = new WorkerOptions { MaxInstancesPerVersion = 4, QueueLimit = 100, KeepAlive = KeepAliveKind.Fixed, IdleKeepAlive = TimeSpan.FromSeconds(20) };
        var v = Version(concurrency: 2);

        // The simulator: instances ready at once (the fake host starts them instantly too).
        var factory = new SchedulerFactory(options, new FakeClock());
        var simulated = new List<string>();
        new OSForAI.Simulation.Regimes.ServiceSimulator(new(SlotsPerInstance: 2, ColdStartSeconds: 0, QueueCapacity: 100))
            .Run(requests, factory.Autoscaler(v), end, keepAlive: factory.KeepAlive.ForApp(), onCommand: (at, c) => simulated.Add($"{at:0.0000} {c}"));

        // The live pool, driven event by event on the fake clock.
        var pool = Pool(o => { o.MaxInstancesPerVersion = 4; o.QueueLimit = 100; o.IdleKeepAlive = TimeSpan.FromSeconds(20); });
        var live = new List<string>();
        pool.CommandObserver = (_, at, c) => { lock (live) live.Add($"{at:0.0000} {c}"); };
        var start = _clock.GetUtcNow();
        double Now() => (_clock.GetUtcNow() - start).TotalSeconds;
        void AdvanceTo(double at) => _clock.Advance(TimeSpan.FromTicks((long)Math.Round(at * TimeSpan.TicksPerSecond)) - (_clock.GetUtcNow() - start));
        var pendingEnds = new List<(double At, FakeWorkerHost.FakeCall Call)>();
        var calls = new List<Task<InvokeResult>>();
        var next = 0;
        var nextTick = 1.0;
        var received = 0;
        int Dispatches() { lock (live) return live.Count(x => x.Contains("dispatch")); }
        async Task Settle()
        {
            // Let the pool finish reacting at this instant (the fake clock stands still): every start completes, every
            // dispatched call reaches its worker; its end is due one service time from now.
            await Eventually(() => pool.Stats.Starting == 0, "the starts complete");
            while (received < Dispatches())
            {
                Assert.True(_host.Calls.TryTake(out var c, TimeSpan.FromSeconds(10)), "a dispatched call never reached its worker");
                received++;
                pendingEnds.Add((Now() + requests[int.Parse(c!.Payload)].ServiceSeconds, c));
            }
        }
        while (true)
        {
            var nextArrival = next < requests.Count ? requests[next].ArrivalSeconds : double.PositiveInfinity;
            var nextEnd = pendingEnds.Count == 0 ? double.PositiveInfinity : pendingEnds.Min(e => e.At);
            var at = Math.Min(Math.Min(nextArrival, nextEnd), nextTick);
            if (at >= end) break;
            AdvanceTo(at);                                           // a tick due now fires here, on this thread
            if (at == nextTick) nextTick += 1;
            else if (nextEnd <= nextArrival)
            {
                var done = pendingEnds.First(e => e.At == nextEnd);
                pendingEnds.Remove(done);
                var before = calls.Count(c => c.IsCompleted);
                done.Call.Answer("0");
                await Eventually(() => calls.Count(c => c.IsCompleted) > before, "the answer is seen");
            }
            else
            {
                calls.Add(Call(pool, v, next.ToString(System.Globalization.CultureInfo.InvariantCulture), timeoutSeconds: 600));
                next++;
            }
            await Settle();
        }
        AdvanceTo(end);
        await Task.Delay(50);
        await Task.WhenAll(calls);
        List<string> liveCopy;
        lock (live) liveCopy = [.. live];
        Assert.Equal(simulated, liveCopy);
        Assert.Contains(simulated, s => s.Contains("stop"));           // the sequence covers scale-down and keep-alive, not just starts
        Assert.Contains(simulated, s => s.Contains("(cold)"));
    }
}
