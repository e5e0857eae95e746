using OSForAI.Scaling.Autoscaling;

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
/// Event-driven replay of calls through an autoscaled pool of instances: a 1-s metric tick feeds the autoscaler the
/// time-averaged concurrency (in-flight + queued) of the past second, a decision tick applies its count (new instances boot for
/// the cold-start delay; surplus ones are removed booting first, then idle, then busy ones drain). Calls take a free slot
/// (the fullest ready instance, to let others go idle), else wait in a bounded FIFO queue, else are rejected.
/// Added latency = dispatch − arrival (queueing plus waiting for a boot). A call is a cold start when it was dispatched by an
/// instance becoming ready (it waited for a boot). Deterministic.
/// </summary>
public sealed class ServiceSimulator(ServiceSimOptions options)
{
    public ServiceSimResult Run(IReadOnlyList<SimRequest> requests, IConcurrencyAutoscaler scaler, double endSeconds, int initialInstances = 0)
    {
        var run = new SimRun(options, scaler);
        return run.Execute(requests, endSeconds, initialInstances);
    }

    private sealed class Instance(double startedAt, double readyAt)
    {
        public double StartedAt { get; } = startedAt;
        public double ReadyAt { get; } = readyAt;
        public bool Ready { get; set; }
        public bool Draining { get; set; }
        public int Busy { get; set; }
    }

    private enum Kind { Ready, Done }

    private sealed class SimRun(ServiceSimOptions o, IConcurrencyAutoscaler scaler)
    {
        private readonly PriorityQueue<(Kind Kind, Instance Inst), (double, long)> _events = new();
        private readonly List<Instance> _live = [];
        private readonly Queue<SimRequest> _queue = new();
        private readonly List<double> _added = [];
        private readonly List<double> _series = [];
        private long _seq;
        private int _inFlight, _rejected, _cold, _starts;
        private double _instanceSeconds, _busySlotSeconds, _concArea, _lastAreaAt, _seriesArea;

        public ServiceSimResult Execute(IReadOnlyList<SimRequest> requests, double end, int initial)
        {
            for (var i = 0; i < initial; i++)
            {
                var inst = new Instance(0, 0) { Ready = true };
                _live.Add(inst);
            }
            double nextMetric = 1, nextDecision = scaler.Options.DecisionIntervalSeconds, nextBin = o.SeriesBinSeconds;
            var idx = 0;
            while (true)
            {
                var tArr = idx < requests.Count ? requests[idx].ArrivalSeconds : double.PositiveInfinity;
                var tEv = _events.TryPeek(out _, out var pr) ? pr.Item1 : double.PositiveInfinity;
                var tTick = Math.Min(nextMetric, Math.Min(nextDecision, nextBin));
                var t = Math.Min(tArr, Math.Min(tEv, tTick));
                if (t > end) t = end;
                Advance(t);
                if (t >= end) break;
                if (tEv <= t)
                {
                    var (kind, inst) = _events.Dequeue();
                    if (kind == Kind.Ready) OnReady(inst, t); else OnDone(inst, t);
                }
                else if (tArr <= t) OnArrival(requests[idx++], t);
                else if (nextMetric <= t)
                {
                    scaler.Observe(t, _concArea);
                    _concArea = 0;
                    nextMetric += 1;
                }
                else if (nextDecision <= t)
                {
                    Apply(scaler.Decide(t, _live.Count(i => i.Ready && !i.Draining)).DesiredInstances, t);
                    nextDecision += scaler.Options.DecisionIntervalSeconds;
                }
                else
                {
                    _series.Add(_seriesArea / o.SeriesBinSeconds);
                    _seriesArea = 0;
                    nextBin += o.SeriesBinSeconds;
                }
            }
            _added.Sort();
            return new ServiceSimResult(requests.Count, _added.Count, _rejected, _cold, _starts, _instanceSeconds, _busySlotSeconds, end,
                Percentile(0.50) * 1000, Percentile(0.99) * 1000, _added.Count == 0 ? 0 : _added.Average() * 1000, _series);
        }

        private void Advance(double t)
        {
            var dt = t - _lastAreaAt;
            if (dt <= 0) return;
            _instanceSeconds += _live.Count * dt;
            _seriesArea += _live.Count * dt;
            _busySlotSeconds += _inFlight * dt;
            _concArea += (_inFlight + _queue.Count) * dt;
            _lastAreaAt = t;
        }

        private void OnArrival(SimRequest r, double t)
        {
            var inst = FullestFree();
            if (inst is not null) Dispatch(inst, r, t, cold: false);
            else if (_queue.Count < o.QueueCapacity) _queue.Enqueue(r);
            else _rejected++;
        }

        private void OnReady(Instance inst, double t)
        {
            inst.Ready = true;
            if (inst.Draining) { Stop(inst); return; }
            while (inst.Busy < o.SlotsPerInstance && _queue.Count > 0) Dispatch(inst, _queue.Dequeue(), t, cold: true);
        }

        private void OnDone(Instance inst, double t)
        {
            inst.Busy--;
            _inFlight--;
            if (inst.Draining)
            {
                if (inst.Busy == 0) Stop(inst);
                return;
            }
            if (_queue.Count > 0) Dispatch(inst, _queue.Dequeue(), t, cold: false);
        }

        private void Dispatch(Instance inst, SimRequest r, double t, bool cold)
        {
            inst.Busy++;
            _inFlight++;
            _added.Add(t - r.ArrivalSeconds);
            if (cold) _cold++;
            _events.Enqueue((Kind.Done, inst), (t + r.ServiceSeconds, _seq++));
        }

        private Instance? FullestFree()
        {
            Instance? best = null;
            foreach (var i in _live)
                if (i.Ready && !i.Draining && i.Busy < o.SlotsPerInstance && (best is null || i.Busy > best.Busy)) best = i;
            return best;
        }

        private void Apply(int desired, double t)
        {
            var active = _live.Where(i => !i.Draining).ToList();
            if (desired > active.Count)
            {
                var need = desired - active.Count;
                foreach (var d in _live.Where(i => i.Draining && i.Busy > 0).Take(need).ToList()) { d.Draining = false; need--; }
                for (var k = 0; k < need; k++)
                {
                    var inst = new Instance(t, t + o.ColdStartSeconds);
                    _live.Add(inst);
                    _starts++;
                    _events.Enqueue((Kind.Ready, inst), (inst.ReadyAt, _seq++));
                }
                return;
            }
            var surplus = active.Count - desired;
            if (surplus <= 0) return;
            var victims = active.OrderBy(i => i.Ready ? 1 : 0).ThenBy(i => i.Busy).ThenByDescending(i => i.StartedAt).Take(surplus);
            foreach (var v in victims.ToList())
            {
                v.Draining = true;
                if (v.Ready && v.Busy == 0) Stop(v);
                else if (!v.Ready) Stop(v);
            }
        }

        private void Stop(Instance inst) => _live.Remove(inst);

        private double Percentile(double q) =>
            _added.Count == 0 ? 0 : _added[Math.Clamp((int)Math.Ceiling(q * _added.Count) - 1, 0, _added.Count - 1)];
    }
}
