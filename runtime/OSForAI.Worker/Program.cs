using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using OSForAI.Worker;
using OSForAI.WorkerProtocol;

// The generic .NET worker for the "onnx" runtime kind: connects to the host, says hello, then serves
// loads and invocations of many models at once (docs/worker-protocol.md, "Multi-model workers").
var address = Environment.GetEnvironmentVariable("OSAI_WORKER_ADDRESS");
if (string.IsNullOrEmpty(address))
{
    Console.Error.WriteLine("OSAI_WORKER_ADDRESS is not set; this program is started by the OSForAI server");
    return 2;
}
Stream stream;
try { stream = await WorkerConnection.ConnectAsync(address); }
catch (Exception e) when (e is SocketException or ArgumentException)
{
    Console.Error.WriteLine($"cannot connect to {address}: {e.Message}");
    return 2;
}
await using var worker = new WorkerConnection(stream, WorkerSettings.FromEnvironment());
return await worker.RunAsync();

namespace OSForAI.Worker
{
    internal sealed class WorkerConnection(Stream stream, WorkerSettings settings) : IAsyncDisposable
    {
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly ModelCache _models = new(settings);
        // Made on the first stage only: a worker beside the host (a process) is given paths it sees, and may have no writable /tmp.
        private readonly Lazy<BuildStager> _builds = new(BuildStager.ForThisWorker);
        private readonly CancellationTokenSource _stopping = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CallCancellation> _calls = new();
        private int _inFlight;

        public static async Task<Stream> ConnectAsync(string address)
        {
            if (address.StartsWith("unix:", StringComparison.Ordinal))
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                WorkerSockets.Tune(s);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(address[5..]));
                return new NetworkStream(s, ownsSocket: true);
            }
            if (address.StartsWith("tcp:", StringComparison.Ordinal))
            {
                var hostPort = address[4..];
                var colon = hostPort.LastIndexOf(':');
                if (colon < 0 || !int.TryParse(hostPort[(colon + 1)..], out var port)) throw new ArgumentException($"bad address '{address}'");
                var client = new TcpClient { NoDelay = true };
                WorkerSockets.Tune(client.Client);
                await client.ConnectAsync(hostPort[..colon], port);
                return client.GetStream();
            }
            throw new ArgumentException($"unknown address scheme in '{address}' (unix: or tcp:)");
        }

        public async Task<int> RunAsync()
        {
            // The per-worker secret proves host and worker to each other; it never crosses the connection, and nothing in
            // this process needs it afterwards.
            var secret = Environment.GetEnvironmentVariable("OSAI_WORKER_SECRET");
            Environment.SetEnvironmentVariable("OSAI_WORKER_SECRET", null);
            if (string.IsNullOrEmpty(secret))
            {
                Console.Error.WriteLine("OSAI_WORKER_SECRET is not set; this program is started by the OSForAI server");
                return 2;
            }
            var nonce = WorkerAuth.NewNonce();
            await SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Hello);
                w.WriteNumber("protocol", 1);
                w.WriteString("runtime", "onnx");
                w.WriteString("runner", "osai-dotnet-onnx/1.0");
                w.WriteNumber("pid", Environment.ProcessId);
                w.WriteBoolean("multi_model", true);
                w.WriteString("worker_id", Environment.GetEnvironmentVariable("OSAI_WORKER_ID") ?? "");
                w.WriteString("nonce", nonce);
            });
            if (await AuthenticateHostAsync(secret, nonce) is { } refusal)
            {
                Console.Error.WriteLine("refusing the host: " + refusal);
                return 3;
            }
            // A dedicated thread reads frames with blocking reads: large tensors cross in a few cheap hand-offs.
            var input = new BufferedStream(stream, 64 * 1024);
            var reader = new Thread(() =>
            {
                try
                {
                    while (Frame.Read(input, pooled: true) is { } frame)
                    {
                        if (frame.Type == MessageTypes.Shutdown) break;
                        Interlocked.Increment(ref _inFlight);
                        ThreadPool.UnsafeQueueUserWorkItem(f => _ = HandleAsync(f), frame, preferLocal: false);
                    }
                }
                catch (Exception e) when (e is IOException or InvalidDataException or EndOfStreamException or ObjectDisposedException)
                {
                    Console.Error.WriteLine("connection to the host ended: " + e.Message);
                }
            }) { IsBackground = true, Name = "frame reader" };
            reader.Start();
            await Task.Run(reader.Join);
            // Let running calls finish; the host kills us after its grace period anyway.
            for (var i = 0; i < 500 && Volatile.Read(ref _inFlight) > 0; i++) await Task.Delay(10);
            return 0;
        }

        /// <summary>
        /// The worker's side of the handshake (docs/worker-protocol.md, "hello" and "auth"): checks the host's proof, then
        /// sends this worker's. Returns why the host is refused, or null when both proofs are made.
        /// </summary>
        private async Task<string?> AuthenticateHostAsync(string secret, string nonce)
        {
            // The host answers hello at once; the limit only ends a wait on a peer that never does.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            Frame? auth;
            try { auth = await Frame.ReadAsync(stream, WorkerAuth.MaxHandshakeHeaderBytes, 0, timeout.Token); }
            catch (OperationCanceledException) { return "no auth from it within 60 s"; }
            catch (Exception e) when (e is IOException or InvalidDataException or EndOfStreamException)
            {
                return "its auth frame is malformed or the connection broke: " + e.Message;
            }
            if (auth is null) return "it closed the connection before its auth";
            if (auth.Type != MessageTypes.Auth) return "its first frame is not auth";
            var hostNonce = auth.GetString("nonce");
            if (!WorkerAuth.IsNonce(hostNonce)) return "its auth frame has no valid nonce";
            if (!WorkerAuth.ProofMatches(WorkerAuth.HostProof(secret, nonce, hostNonce!), auth.GetString("proof")))
                return "its proof is wrong (it does not know this worker's secret)";
            try
            {
                await SendAsync(w =>
                {
                    w.WriteString("type", MessageTypes.Auth);
                    w.WriteString("proof", WorkerAuth.WorkerProof(secret, hostNonce!, nonce));
                });
            }
            catch (IOException e) { return "the connection broke during the handshake: " + e.Message; }
            return null;
        }

        private async Task HandleAsync(Frame frame)
        {
            try
            {
                switch (frame.Type)
                {
                    case MessageTypes.Load: await LoadAsync(frame); break;
                    case MessageTypes.Invoke: await InvokeAsync(frame); break;
                    case MessageTypes.Stage: await StageAsync(frame); break;
                    case MessageTypes.Unload: await UnloadAsync(frame); break;
                    case MessageTypes.Ping: await PongAsync(frame); break;
                    case MessageTypes.Cancel:
                        if (frame.GetString("call_id") is { } callId && _calls.TryGetValue(callId, out var call)) call.Cancel();
                        break;
                    default: await ErrorAsync(frame.Id, "ProtocolError", $"unknown message type '{frame.Type}'"); break;
                }
            }
            catch (WorkerException e) { await ErrorAsync(frame.Id, e.ErrorType, e.Message); }
            catch (ArgumentException e) { await ErrorAsync(frame.Id, "ProtocolError", e.Message); }
            catch (InvalidDataException e) { await ErrorAsync(frame.Id, "InputError", e.Message); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // ONNX Runtime errors during a run (bad values for an op, for instance) are the call's failure, not the worker's.
                await ErrorAsync(frame.Id, "AlgorithmError", e.Message.Split('\n')[0], e.ToString());
            }
            finally
            {
                frame.ReturnPayload();
                Interlocked.Decrement(ref _inFlight);
            }
        }

        private async Task LoadAsync(Frame frame)
        {
            var started = Stopwatch.GetTimestamp();
            using var lease = await _models.AcquireAsync(ModelSettings.FromHeader(frame));
            await SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Loaded);
                w.WriteNumber("id", frame.Id);
                w.WriteNumber("load_ms", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                WriteModelFacts(w, lease.Model);
            });
        }

        private static void WriteModelFacts(Utf8JsonWriter w, OnnxModel m)
        {
            w.WriteString("device", m.Device);
            if (m.FallbackReason is { } why) w.WriteString("fallback_reason", why);
            w.WriteNumber("resident_bytes", m.ResidentBytes);
            w.WriteBoolean("batching", m.Batchable);
        }

        private async Task InvokeAsync(Frame frame)
        {
            var started = Stopwatch.GetTimestamp();
            var contentType = frame.GetString("content_type");
            if (contentType != TensorBundle.ContentKind)
                throw new WorkerException("InputError", $"the onnx runtime takes '{TensorBundle.ContentKind}' input, not '{contentType}'");
            var inputs = TensorBundle.Decode(frame.PayloadMemory);
            using var lease = await _models.AcquireAsync(ModelSettings.FromHeader(frame));
            var callId = frame.GetString("call_id");
            using var cancel = new CallCancellation();
            if (callId is not null) _calls[callId] = cancel;
            InferenceResult result;
            try { result = await lease.RunAsync(inputs, cancel); }
            finally { if (callId is not null) _calls.TryRemove(callId, out _); }
            await SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Result);
                w.WriteNumber("id", frame.Id);
                w.WriteString("content_type", TensorBundle.ContentKind);
                w.WriteNumber("duration_ms", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                w.WriteNumber("batch_requests", result.BatchRequests);
                w.WriteNumber("batch_rows", result.BatchRows);
                w.WriteBoolean("loaded_now", lease.FreshlyLoaded);
                WriteModelFacts(w, lease.Model);
            }, result.Bundle);
        }

        private async Task StageAsync(Frame frame)
        {
            var build = frame.GetString("build") ?? throw new ArgumentException("'build' is required");
            if (frame.GetString("archive") != "tar.gz") throw new ArgumentException("stage: 'archive' must be \"tar.gz\"");
            var path = await _builds.Value.StageAsync(build, frame.PayloadMemory, (long)frame.GetDouble("max_bytes"), frame.GetInt("max_entries"),
                CancellationToken.None);
            await SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Staged);
                w.WriteNumber("id", frame.Id);
                w.WriteString("path", path);
            });
        }

        private async Task UnloadAsync(Frame frame)
        {
            var model = frame.GetString("model") ?? throw new ArgumentException("'model' is required");
            var wasResident = await _models.UnloadAsync(model);
            await SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Unloaded);
                w.WriteNumber("id", frame.Id);
                w.WriteBoolean("was_resident", wasResident);
            });
        }

        private Task PongAsync(Frame frame)
        {
            var s = _models.Stats;
            return SendAsync(w =>
            {
                w.WriteString("type", MessageTypes.Pong);
                w.WriteNumber("id", frame.Id);
                w.WriteNumber("in_flight", Math.Max(0, Volatile.Read(ref _inFlight) - 1));
                w.WriteNumber("rss_bytes", Environment.WorkingSet);
                w.WriteStartArray("models");
                foreach (var id in s.Resident) w.WriteStringValue(id);
                w.WriteEndArray();
                w.WriteNumber("resident_bytes", s.ResidentBytes);
                w.WriteNumber("memory_budget_bytes", s.BudgetBytes);
                w.WriteNumber("model_loads", s.Loads);
                w.WriteNumber("model_unloads", s.Unloads);
                w.WriteNumber("model_evictions", s.Evictions);
            });
        }

        private Task ErrorAsync(long id, string errorType, string message, string? stacktrace = null) => SendAsync(w =>
        {
            w.WriteString("type", MessageTypes.Error);
            w.WriteNumber("id", id);
            w.WriteString("error_type", errorType);
            w.WriteString("message", message);
            if (stacktrace is not null) w.WriteString("stacktrace", stacktrace);
        });

        private async Task SendAsync(Action<Utf8JsonWriter> header, byte[]? payload = null)
        {
            // Large results follow their header as a second write instead of being copied into one buffer.
            var inPlace = payload is { Length: >= 64 * 1024 };
            var bytes = inPlace ? Frame.EncodeHead(header, payload!.Length) : Frame.Encode(header, payload);
            await _writeLock.WaitAsync();
            try
            {
                await stream.WriteAsync(bytes);
                if (inPlace) await stream.WriteAsync(payload);
                await stream.FlushAsync();
            }
            catch (IOException) { _stopping.Cancel(); }
            finally { _writeLock.Release(); }
        }

        public async ValueTask DisposeAsync()
        {
            await _models.DisposeAsync();
            if (_builds.IsValueCreated) _builds.Value.Dispose();
            await stream.DisposeAsync();
        }
    }
}
