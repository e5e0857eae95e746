using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OSForAI.Runtime;
using OSForAI.Runtime.Workers;
using OSForAI.WorkerProtocol;

namespace OSForAI.Tests.Support;

/// <summary>
/// An in-process worker host for pool tests: each "worker" is a loop over in-memory pipes speaking the real frame protocol.
/// A real process host needs Python and seconds per test; this one lets a test decide exactly when starts finish, when calls
/// answer, and what fails. Used only where the pool's own logic is under test (the process host has its own tests).
/// </summary>
public sealed class FakeWorkerHost : IWorkerHost
{
    private int _next;

    public IReadOnlyCollection<string> RuntimeKinds { get; } = ["python3"];

    /// <summary>Every worker started, in order.</summary>
    public ConcurrentQueue<FakeWorker> Workers { get; } = new();

    /// <summary>When set, a start waits for it (then reports <see cref="PendingReason"/> if any, first).</summary>
    public TaskCompletionSource? StartGate { get; set; }
    public string? PendingReason { get; set; }
    /// <summary>When set, starts fail with this reason.</summary>
    public string? StartFailure { get; set; }
    /// <summary>When set, loads answer with this error message (a LoadError).</summary>
    public string? LoadFailure { get; set; }

    /// <summary>Invokes received by any worker: (worker, request id, payload), in order.</summary>
    public BlockingCollection<FakeCall> Calls { get; } = [];

    public Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct) => StartAsync(runtime, new Progress<string>(), ct);

    public async Task<WorkerConnection> StartAsync(string runtime, IProgress<string> pending, CancellationToken ct)
    {
        if (PendingReason is { } reason) pending.Report(reason);
        if (StartGate is { } gate) await gate.Task.WaitAsync(ct);
        if (StartFailure is { } failure) throw new WorkerStartException(failure);
        var worker = new FakeWorker(this, Interlocked.Increment(ref _next));
        Workers.Enqueue(worker);
        return worker.Connection;
    }

    public sealed record FakeCall(FakeWorker Worker, long RequestId, string Payload)
    {
        public void Answer(string json) => Worker.Reply(RequestId, MessageTypes.Result, json);
    }

    public sealed class FakeWorker
    {
        private readonly FakeWorkerHost _host;
        private readonly Pipe _toWorker = new(), _toHost = new();
        private readonly Stream _workerIn, _workerOut;
        private readonly SemaphoreSlim _write = new(1, 1);
        private int _dead;

        public FakeWorker(FakeWorkerHost host, int number)
        {
            _host = host;
            Number = number;
            _workerIn = _toWorker.Reader.AsStream();
            _workerOut = _toHost.Writer.AsStream();
            Connection = new WorkerConnection($"fake-{number}", "python3", 0, _toHost.Reader.AsStream(), _toWorker.Writer.AsStream(),
                Kill, () => Volatile.Read(ref _dead) == 1 ? 137 : null, NullLogger.Instance, new FakeEnvironment());
            _ = Task.Run(LoopAsync);
        }

        public int Number { get; }
        public WorkerConnection Connection { get; }
        public string? Loaded { get; private set; }
        public bool ShutDown { get; private set; }
        public bool Killed { get; private set; }

        private void Kill()
        {
            if (!ShutDown) Killed = true;
            Volatile.Write(ref _dead, 1);
            _toWorker.Writer.Complete();
            _toHost.Writer.Complete();
        }

        private async Task LoopAsync()
        {
            try
            {
                while (await Frame.ReadAsync(_workerIn, CancellationToken.None) is { } frame)
                {
                    switch (frame.Type)
                    {
                        case MessageTypes.Load:
                            if (_host.LoadFailure is { } failure) Reply(frame.Id, MessageTypes.Error, null, failure);
                            else { Loaded = frame.GetString("algorithm"); Reply(frame.Id, MessageTypes.Loaded, null); }
                            break;
                        case MessageTypes.Invoke:
                            _host.Calls.Add(new FakeCall(this, frame.Id, Encoding.UTF8.GetString(frame.Payload)));
                            break;
                        case MessageTypes.Shutdown:
                            ShutDown = true;
                            Kill();
                            return;
                    }
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException) { }
        }

        public void Reply(long id, string type, string? json, string? error = null)
        {
            var bytes = Frame.Encode(w =>
            {
                w.WriteString("type", type);
                w.WriteNumber("id", id);
                if (type == MessageTypes.Result) { w.WriteString("content_type", ContentKinds.Json); w.WriteNumber("duration_ms", 1); }
                if (error is not null) { w.WriteString("error_type", ErrorTypes.LoadError); w.WriteString("message", error); }
            }, json is null ? [] : Encoding.UTF8.GetBytes(json));
            _write.Wait();
            try { _workerOut.Write(bytes); _workerOut.Flush(); }
            catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException) { }
            finally { _write.Release(); }
        }
    }

    private sealed class FakeEnvironment : IWorkerEnvironment
    {
        public string? ExposeBuild(string codeDir) => codeDir;
        public void Limit(OSForAI.Runtime.Catalog.ResourceRequest resources, int maxProcesses) { }
        public AlgorithmCallException? DeathCause() => null;
        public string? OpenEgress() => null;
        public void Dispose() { }
    }
}
