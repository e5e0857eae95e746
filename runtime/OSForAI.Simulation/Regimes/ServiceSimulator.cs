using OSForAI.Scaling.Autoscaling;
using OSForAI.Scaling.KeepAlive;
using OSForAI.Scaling.Scheduling;

namespace OSForAI.Simulation.Regimes;

/// <summary>One call: arrival time and how long it occupies one instance slot (seconds).</summary>
public readonly record struct SimRequest(double ArrivalSeconds, double ServiceSeconds);

/// <summary>
/// The simulated service. <paramref name="SlotsPerInstance"/>: calls one instance runs at once. <paramref name="ColdStartSeconds"/>:
/// boot time of a new instance (it costs instance-seconds while booting). <paramref name="QueueCapacity"/>: calls that may wait
/// for a slot (the activator's buffer); beyond it calls are rejected (429 in the live system).
/// <paramref name="SeriesBinSeconds"/>: bin width of the instance-count series kept for figures.
/// </summary>
public sealed record ServiceSimOptions(int SlotsPerInstance, double ColdStartSeconds, int QueueCapacity, double SeriesBinSeconds = 60);

/// <summary>What a replay produced.</summary>
public sealed record ServiceSimResult(
    int Calls, int Served, int Rejected, int ColdStarts, int InstanceStarts,
    double InstanceSeconds, double BusySlotSeconds, double DurationSeconds,
    double P50AddedMs, double P99AddedMs, double MeanAddedMs, IReadOnlyList<double> InstancesPerBin)
{
    public double MeanInstances => DurationSeconds > 0 ? InstanceSeconds / DurationSeconds : 0;
    public double ColdStartRate => Served > 0 ? (double)ColdStarts / Served : 0;
}

/// <summary>
/// Event-driven replay of calls through the live scheduler: one <see cref="VersionScheduler"/> (the class the live WorkerPool
/// runs) on a simulated clock, its ticker called every metric interval, its commands carried out with modelled times (an instance
/// is ready <see cref="ServiceSimOptions.ColdStartSeconds"/> after its start, a call holds its slot for its service time).
/// Admission, queueing, dispatch, draining, scale-to-zero and the start-on-queue rule are therefore the live ones.
/// Added latency = dispatch − arrival (queueing plus waiting for a start). A call is a cold start when it waited for an instance
/// to start. Instance-seconds count every instance from its start (boot included) to its stop. Deterministic.
/// </summary>
public sealed class ServiceSimulator(ServiceSimOptions options)
{
    /// <param name="keepAlive">The keep-alive policy deciding the last instance while idle; null: the autoscaler decides scale-to-zero (Knative's way).</param>
    /// <param name="onCommand">Sees every command with its simulated time (for tests comparing decisions with the live pool).</param>
    public ServiceSimResult Run(IReadOnlyList<SimRequest> requests, IConcurrencyAutoscaler scaler, double endSeconds, int initialInstances = 0,
        IAppKeepAlive? keepAlive = null, Action<double, SchedulerCommand>? onCommand = null)
    {
        var run = new SimRun(options, scaler, keepAlive, onCommand);
        return run.Execute(requests, endSeconds, initialInstances);
    }

    private enum Kind { Ready, Done }

    private sealed class SimRun
    {
        private readonly ServiceSimOptions _o;
        private readonly SimulatedClock _clock = new();
        private readonly VersionScheduler _scheduler;
        private readonly Action<double, SchedulerCommand>? _onCommand;
        private readonly double _metricInterval;
        private readonly PriorityQueue<(Kind Kind, long Instance), (double, long)> _events = new();
        private readonly Dictionary<long, SimRequest> _calls = [];
        private readonly HashSet<long> _live = [];
        private readonly List<SchedulerCommand> _commands = [];
        private readonly List<double> _added = [];
        private readonly List<double> _series = [];
        private long _seq;
        private int _inFlight, _rejected, _cold, _starts;
        private double _instanceSeconds, _busySlotSeconds, _lastAreaAt, _seriesArea;

        public SimRun(ServiceSimOptions o, IConcurrencyAutoscaler scaler, IAppKeepAlive? keepAlive, Action<double, SchedulerCommand>? onCommand)
        {
            _o = o;
            _onCommand = onCommand;
            _metricInterval = scaler.Options.BucketSeconds;
            _scheduler = new VersionScheduler(new SchedulerSettings
            {
                SlotsPerInstance = o.SlotsPerInstance,
                MaxInstances = scaler.Options.MaxInstances,
                QueueLimit = o.QueueCapacity,
                AssumedStartSeconds = o.ColdStartSeconds,
            }, scaler, keepAlive, _clock);
        }

        public ServiceSimResult Execute(IReadOnlyList<SimRequest> requests, double end, int initial)
        {
            if (initial > 0)
            {
                // Instances that exist before the replay: ready at time 0.
                _scheduler.Provision(initial, _commands);
                Carry(0, bootSeconds: 0);
            }
            double nextTick = _metricInterval, nextBin = _o.SeriesBinSeconds;
            var idx = 0;
            while (true)
            {
                var tArr = idx < requests.Count ? requests[idx].ArrivalSeconds : double.PositiveInfinity;
                var tEv = _events.TryPeek(out _, out var pr) ? pr.Item1 : double.PositiveInfinity;
                var t = Math.Min(Math.Min(tArr, tEv), Math.Min(nextTick, nextBin));
                if (t > end) t = end;
                Advance(t);
                if (t >= end) break;
                _clock.Set(t);
                if (tEv <= t)
                {
                    var (kind, instance) = _events.Dequeue();
                    if (kind == Kind.Ready) _scheduler.Ready(instance, _commands);
                    else
                    {
                        _inFlight--;
                        _scheduler.Complete(instance, _commands);
                    }
                }
                else if (tArr <= t)
                {
                    var r = requests[idx++];
                    var call = _scheduler.Arrive(_commands);
                    _calls[call] = r;
                }
                else if (nextTick <= t)
                {
                    _scheduler.Tick(_commands);
                    nextTick += _metricInterval;
                }
                else
                {
                    _series.Add(_seriesArea / _o.SeriesBinSeconds);
                    _seriesArea = 0;
                    nextBin += _o.SeriesBinSeconds;
                }
                Carry(t);
            }
            _added.Sort();
            return new ServiceSimResult(requests.Count, _added.Count, _rejected, _cold, _starts, _instanceSeconds, _busySlotSeconds, end,
                Percentile(0.50) * 1000, Percentile(0.99) * 1000, _added.Count == 0 ? 0 : _added.Average() * 1000, _series);
        }

        /// <summary>Carries out the scheduler's commands at time <paramref name="t"/>.</summary>
        private void Carry(double t, double? bootSeconds = null)
        {
            for (var k = 0; k < _commands.Count; k++)
            {
                var c = _commands[k];
                _onCommand?.Invoke(t, c);
                switch (c.Kind)
                {
                    case SchedulerCommandKind.Start:
                        _live.Add(c.Instance);
                        _starts++;
                        _events.Enqueue((Kind.Ready, c.Instance), (t + (bootSeconds ?? _o.ColdStartSeconds), _seq++));
                        break;
                    case SchedulerCommandKind.Stop:
                        _live.Remove(c.Instance);
                        break;
                    case SchedulerCommandKind.Dispatch:
                        _calls.Remove(c.Call, out var r);
                        _inFlight++;
                        _added.Add(t - r.ArrivalSeconds);
                        if (c.Cold) _cold++;
                        _events.Enqueue((Kind.Done, c.Instance), (t + r.ServiceSeconds, _seq++));
                        break;
                    case SchedulerCommandKind.Reject:
                        _calls.Remove(c.Call);
                        _rejected++;
                        break;
                }
            }
            _commands.Clear();
        }

        private void Advance(double t)
        {
            var dt = t - _lastAreaAt;
            if (dt <= 0) return;
            _instanceSeconds += _live.Count * dt;
            _seriesArea += _live.Count * dt;
            _busySlotSeconds += _inFlight * dt;
            _lastAreaAt = t;
        }

        private double Percentile(double q) =>
            _added.Count == 0 ? 0 : _added[Math.Clamp((int)Math.Ceiling(q * _added.Count) - 1, 0, _added.Count - 1)];
    }
}
