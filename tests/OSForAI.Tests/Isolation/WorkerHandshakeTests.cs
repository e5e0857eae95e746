using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using OSForAI.WorkerProtocol;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// The worker handshake (docs/worker-protocol.md, "hello" and "auth") over TCP on loopback, as worker pods speak it to the
/// gateway: real runners (the Python runner and the .NET model worker, started as processes with the environment a host
/// gives them) against <see cref="WorkerHandshake"/> and <see cref="WorkerListener"/>, and hand-written peers for what real
/// runners never do (wrong proofs, replays, silence). No Kubernetes is involved: a pod's worker is the same process.
/// </summary>
public sealed class WorkerHandshakeTests
{
    private const string Secret = "9f2c1e4b7a60d3581c2e9f4b7a60d3581c2e9f4b7a60d3581c2e9f4b7a60d358";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    // --- real runners -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("python3")]
    [InlineData("onnx")]
    public async Task Both_runners_complete_the_handshake_over_tcp_and_the_protocol_goes_on(string runtime)
    {
        using var tcp = Loopback();
        await using var worker = StartWorker(runtime, Address(tcp), "w-1", Secret);
        using var cts = new CancellationTokenSource(Limit);
        await using var stream = new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true);
        var hello = await WorkerHandshake.AuthenticateAsync(stream, id => id == "w-1" ? Secret : null, cts.Token);

        Assert.Equal(runtime, hello.GetString("runtime"));
        Assert.Equal("w-1", hello.GetString("worker_id"));
        Assert.True(WorkerAuth.IsNonce(hello.GetString("nonce")));
        Assert.Null(hello.GetString("secret"));
        await WriteAsync(stream, w => { w.WriteString("type", "ping"); w.WriteNumber("id", 1); });
        var pong = await Frame.ReadAsync(stream, cts.Token);
        Assert.Equal(("pong", 1L), (pong!.Type, pong.Id));
        await WriteAsync(stream, w => w.WriteString("type", MessageTypes.Shutdown));
        Assert.Equal(0, await worker.ExitCodeAsync());
    }

    [Theory]
    [InlineData("python3")]
    [InlineData("onnx")]
    public async Task A_worker_given_another_secret_refuses_the_host_and_exits(string runtime)
    {
        using var tcp = Loopback();
        await using var worker = StartWorker(runtime, Address(tcp), "w-1", "the-workers-own-secret");
        using var cts = new CancellationTokenSource(Limit);
        await using var stream = new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true);
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() =>
            WorkerHandshake.AuthenticateAsync(stream, _ => Secret, cts.Token));
        Assert.Equal(ErrorTypes.Unavailable, e.ErrorType);
        Assert.Contains("closed the connection before its auth", e.Message);   // the worker sent no proof of its own
        Assert.Equal(3, await worker.ExitCodeAsync());
        Assert.Contains("refusing the host: its proof is wrong", await worker.Stderr);
    }

    [Theory]
    [InlineData("python3")]
    [InlineData("onnx")]
    public async Task A_host_proof_recorded_on_one_connection_is_refused_on_another(string runtime)
    {
        // Record a genuine host auth (a peer that knows the secret completes a handshake with the real host)...
        using var tcp = Loopback();
        Frame recorded;
        using (var cts = new CancellationTokenSource(Limit))
        await using (var peer = await FakeWorker.ConnectAsync(tcp, "w-1"))
        {
            var host = WorkerHandshake.AuthenticateAsync(new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true),
                _ => Secret, cts.Token);
            recorded = await peer.ReadAsync();
            await peer.ProveAsync(Secret, recorded);
            await host;
        }
        // ... and play it back, as a rogue host, to a real worker with the same secret: its nonce is fresh, the proof fails.
        await using var worker = StartWorker(runtime, Address(tcp), "w-1", Secret);
        using (var cts = new CancellationTokenSource(Limit))
        await using (var stream = new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true))
        {
            var hello = await Frame.ReadAsync(stream, cts.Token);
            Assert.NotEqual(hello!.GetString("nonce"), recorded.GetString("nonce"));
            await WriteAsync(stream, w =>
            {
                w.WriteString("type", MessageTypes.Auth);
                w.WriteString("nonce", recorded.GetString("nonce"));
                w.WriteString("proof", recorded.GetString("proof"));
            });
            Assert.Null(await Frame.ReadAsync(stream, cts.Token));   // closed, no proof given
        }
        Assert.Equal(3, await worker.ExitCodeAsync());
        Assert.Contains("refusing the host: its proof is wrong", await worker.Stderr);
    }

    // --- peers that do not know the secret ------------------------------------------------------------------------------

    [Fact]
    public async Task A_host_refuses_a_worker_whose_proof_is_made_with_another_secret()
    {
        using var tcp = Loopback();
        using var cts = new CancellationTokenSource(Limit);
        await using var peer = await FakeWorker.ConnectAsync(tcp, "w-1");
        var host = WorkerHandshake.AuthenticateAsync(new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true),
            _ => Secret, cts.Token);
        await peer.ProveAsync("a guess at the secret", await peer.ReadAsync());
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => host);
        Assert.Contains("its proof is wrong", e.Message);
    }

    [Fact]
    public async Task A_host_refuses_its_own_proof_reflected_back_as_the_workers()
    {
        using var tcp = Loopback();
        using var cts = new CancellationTokenSource(Limit);
        await using var peer = await FakeWorker.ConnectAsync(tcp, "w-1");
        var host = WorkerHandshake.AuthenticateAsync(new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true),
            _ => Secret, cts.Token);
        await peer.SendAuthAsync((await peer.ReadAsync()).GetString("proof")!);
        var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => host);
        Assert.Contains("its proof is wrong", e.Message);
    }

    [Fact]
    public async Task A_worker_proof_recorded_on_one_connection_is_refused_on_another()
    {
        using var tcp = Loopback();
        var nonce = WorkerAuth.NewNonce();
        string proof;
        using (var cts = new CancellationTokenSource(Limit))
        await using (var genuine = await FakeWorker.ConnectAsync(tcp, "w-1", nonce))
        {
            var host = WorkerHandshake.AuthenticateAsync(new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true),
                _ => Secret, cts.Token);
            proof = await genuine.ProveAsync(Secret, await genuine.ReadAsync());
            await host;
        }
        // The same hello (same nonce) and the same proof on a new connection: the host's nonce is fresh, so is the proof it wants.
        using (var cts = new CancellationTokenSource(Limit))
        await using (var replay = await FakeWorker.ConnectAsync(tcp, "w-1", nonce))
        {
            var host = WorkerHandshake.AuthenticateAsync(new NetworkStream(await tcp.AcceptSocketAsync(cts.Token), ownsSocket: true),
                _ => Secret, cts.Token);
            await replay.ReadAsync();
            await replay.SendAuthAsync(proof);
            var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => host);
            Assert.Contains("its proof is wrong", e.Message);
        }
    }

    [Fact]
    public async Task Unknown_worker_ids_and_secrets_in_hello_are_refused_before_the_host_proves_anything()
    {
        using var tcp = Loopback();
        using var cts = new CancellationTokenSource(Limit);
        await using (var stranger = await FakeWorker.ConnectAsync(tcp, "nobody"))
        {
            var e = await Assert.ThrowsAsync<AlgorithmCallException>(() => WorkerHandshake.AuthenticateAsync(
                new NetworkStream(tcp.AcceptSocket(), ownsSocket: true), id => id == "w-1" ? Secret : null, cts.Token));
            Assert.Contains("no worker with id 'nobody'", e.Message);
        }
        using var old = new TcpClient();
        await old.ConnectAsync((IPEndPoint)tcp.LocalEndpoint, cts.Token);
        await WriteAsync(old.GetStream(), w =>
        {
            w.WriteString("type", MessageTypes.Hello);
            w.WriteNumber("protocol", 1);
            w.WriteString("worker_id", "w-1");
            w.WriteString("secret", Secret);
        });
        var old2 = await Assert.ThrowsAsync<AlgorithmCallException>(() => WorkerHandshake.AuthenticateAsync(
            new NetworkStream(tcp.AcceptSocket(), ownsSocket: true), _ => Secret, cts.Token));
        Assert.Contains("carries a secret instead of a nonce", old2.Message);
    }

    // --- the listener ---------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("python3")]
    [InlineData("onnx")]
    public async Task The_listener_refuses_rogue_clients_and_they_do_not_block_a_real_worker(string runtime)
    {
        var logs = new CapturedLogs();
        var timeout = TimeSpan.FromSeconds(8);
        await using var listener = WorkerListener.Start(new IPEndPoint(IPAddress.Loopback, 0),
            id => id == "real" ? Secret : null, logs.CreateLogger("listener"), timeout);
        using var cts = new CancellationTokenSource(Limit);
        var wait = listener.WaitForAsync("real", cts.Token);

        // Rogues first: twenty that connect and never speak, one that claims the real worker's id without its secret,
        // one that names an id nobody waits for.
        var silent = new List<TcpClient>();
        for (var i = 0; i < 20; i++)
        {
            var c = new TcpClient();
            await c.ConnectAsync(listener.LocalEndPoint, cts.Token);
            silent.Add(c);
        }
        await using var impostor = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "real");
        await impostor.ProveAsync("not the secret", await impostor.ReadAsync());
        await using var stranger = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "nobody");

        var started = Stopwatch.StartNew();
        await using var worker = StartWorker(runtime, $"tcp:127.0.0.1:{listener.LocalEndPoint.Port}", "real", Secret);
        var (stream, hello) = await wait;
        // Served while the silent rogues still hold their connections open: they blocked nothing.
        Assert.True(started.Elapsed < timeout, $"the real worker took {started.Elapsed}");
        Assert.True(listener.PendingHandshakes >= 20, $"{listener.PendingHandshakes} handshakes pending");
        Assert.Equal("real", hello.GetString("worker_id"));
        await using (stream)
        {
            await WriteAsync(stream, w => { w.WriteString("type", "ping"); w.WriteNumber("id", 7); });
            Assert.Equal("pong", (await Frame.ReadAsync(stream, cts.Token))!.Type);
        }

        Assert.True(await impostor.IsClosedAsync(), "the impostor's connection stays open");
        Assert.True(await stranger.IsClosedAsync(), "the stranger's connection stays open");
        Assert.Contains(logs.Entries, e => e.Message.Contains("refused a connection") && e.Message.Contains("its proof is wrong"));
        Assert.Contains(logs.Entries, e => e.Message.Contains("refused a connection") && e.Message.Contains("'nobody'"));
        // The silent ones are closed once their time is up.
        foreach (var c in silent)
        {
            c.ReceiveTimeout = (int)(timeout * 2).TotalMilliseconds;
            Assert.Equal(0, c.GetStream().Read(new byte[1]));
            c.Dispose();
        }
        // (Counted down just after each socket closes.)
        for (var i = 0; i < 100 && listener.PendingHandshakes > 0; i++) await Task.Delay(50);
        Assert.Equal(0, listener.PendingHandshakes);
    }

    [Fact]
    public async Task A_worker_connecting_for_a_wait_that_was_given_up_is_refused()
    {
        await using var listener = WorkerListener.Start(new IPEndPoint(IPAddress.Loopback, 0), null,
            new CapturedLogs().CreateLogger("listener"));
        listener.Expect("w-1", Secret);
        using (var gone = new CancellationTokenSource())
        {
            var wait = listener.WaitForAsync("w-1", gone.Token);
            gone.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        }
        await using var worker = StartWorker("python3", $"tcp:127.0.0.1:{listener.LocalEndPoint.Port}", "w-1", Secret);
        Assert.Equal(3, await worker.ExitCodeAsync());
        Assert.Contains("closed the connection before its auth", await worker.Stderr);
        // A new wait for the id is served.
        using var cts = new CancellationTokenSource(Limit);
        var again = listener.WaitForAsync("w-1", cts.Token);
        await using var second = StartWorker("python3", $"tcp:127.0.0.1:{listener.LocalEndPoint.Port}", "w-1", Secret);
        var (stream, _) = await again;
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task Gateway_channels_prove_the_derived_key_of_a_worker_that_is_expected_and_nothing_else()
    {
        var served = new List<string>();
        await using var listener = WorkerListener.Start(new IPEndPoint(IPAddress.Loopback, 0), null, new CapturedLogs().CreateLogger("listener"),
            gatewayChannel: async (id, stream) =>
            {
                lock (served) served.Add(id);
                await stream.WriteAsync("relayed"u8.ToArray());
            });
        listener.Expect("w-1", Secret);

        await using (var channel = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "w-1", channel: HelloChannels.Gateway))
        {
            var auth = await channel.ReadAsync();
            // The host proves the channel key too.
            Assert.True(WorkerAuth.ProofMatches(WorkerAuth.HostProof(WorkerAuth.GatewayKey(Secret), channel.Nonce, auth.GetString("nonce")!),
                auth.GetString("proof")));
            await channel.ProveAsync(WorkerAuth.GatewayKey(Secret), auth);
            var buffer = new byte[7];
            await channel.Stream.ReadExactlyAsync(buffer);
            Assert.Equal("relayed", System.Text.Encoding.ASCII.GetString(buffer));
        }
        Assert.Equal(["w-1"], served);

        // The worker's own secret is not the channel's key: a channel that proves it is refused (and so is a forged proof).
        await using (var wrongKey = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "w-1", channel: HelloChannels.Gateway))
        {
            await wrongKey.ProveAsync(Secret, await wrongKey.ReadAsync());
            Assert.True(await wrongKey.IsClosedAsync());
        }
        // A worker nobody expects, or one that is gone, gets no channel: the host does not even answer its hello.
        await using (var stranger = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "w-2", channel: HelloChannels.Gateway))
            Assert.True(await stranger.IsClosedAsync());
        listener.Forget("w-1");
        await using (var gone = await FakeWorker.ConnectAsync(listener.LocalEndPoint, "w-1", channel: HelloChannels.Gateway))
            Assert.True(await gone.IsClosedAsync());
        Assert.Equal(["w-1"], served);

        // Without a gateway-channel handler the listener takes no gateway channels at all.
        await using var plain = WorkerListener.Start(new IPEndPoint(IPAddress.Loopback, 0), null, new CapturedLogs().CreateLogger("plain"));
        plain.Expect("w-1", Secret);
        await using (var refused = await FakeWorker.ConnectAsync(plain.LocalEndPoint, "w-1", channel: HelloChannels.Gateway))
            Assert.True(await refused.IsClosedAsync());
    }

    // --- helpers --------------------------------------------------------------------------------------------------------

    private static TcpListener Loopback()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return l;
    }

    private static string Address(TcpListener l) => $"tcp:127.0.0.1:{((IPEndPoint)l.LocalEndpoint).Port}";

    private static async Task WriteAsync(Stream stream, Action<Utf8JsonWriter> header)
    {
        await stream.WriteAsync(Frame.Encode(header, []));
        await stream.FlushAsync();
    }

    private static WorkerProcess StartWorker(string runtime, string address, string workerId, string secret)
    {
        ProcessStartInfo psi;
        if (runtime == "python3")
        {
            psi = new ProcessStartInfo("/usr/bin/python3");
            foreach (var a in new[] { "-u", "-S", "-B", Path.Combine(OSForAI.Testing.Repository.Root, "runtime", "runners", "python", "osai_runner.py") })
                psi.ArgumentList.Add(a);
        }
        else
        {
            psi = new ProcessStartInfo(DotnetHost.Path);
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OSForAI.Worker.dll"));
            psi.Environment["OSAI_DEVICE"] = "cpu";
        }
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        psi.Environment["OSAI_WORKER_ADDRESS"] = address;
        psi.Environment["OSAI_WORKER_ID"] = workerId;
        psi.Environment["OSAI_WORKER_SECRET"] = secret;
        psi.Environment["OSAI_RUNTIME"] = runtime;
        return new WorkerProcess(Process.Start(psi)!);
    }

    private sealed class WorkerProcess : IAsyncDisposable
    {
        private readonly Process _process;

        public WorkerProcess(Process process)
        {
            _process = process;
            Stderr = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
        }

        public Task<string> Stderr { get; }

        public async Task<int> ExitCodeAsync()
        {
            using var cts = new CancellationTokenSource(Limit);
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }

    /// <summary>A hand-written worker: says hello, then does whatever the test says.</summary>
    private sealed class FakeWorker(TcpClient client, string nonce) : IAsyncDisposable
    {
        private readonly NetworkStream _stream = client.GetStream();

        public static Task<FakeWorker> ConnectAsync(TcpListener l, string workerId, string? nonce = null) =>
            ConnectAsync((IPEndPoint)l.LocalEndpoint, workerId, nonce);

        public static async Task<FakeWorker> ConnectAsync(IPEndPoint endpoint, string workerId, string? nonce = null, string? channel = null)
        {
            var client = new TcpClient();
            await client.ConnectAsync(endpoint);
            var worker = new FakeWorker(client, nonce ?? WorkerAuth.NewNonce());
            await WriteAsync(worker._stream, w =>
            {
                w.WriteString("type", MessageTypes.Hello);
                w.WriteNumber("protocol", 1);
                w.WriteString("runtime", "python3");
                w.WriteString("worker_id", workerId);
                w.WriteString("nonce", worker._nonce);
                if (channel is not null) w.WriteString("channel", channel);
            });
            return worker;
        }

        public NetworkStream Stream => _stream;
        public string Nonce => _nonce;

        private readonly string _nonce = nonce;

        public async Task<Frame> ReadAsync()
        {
            using var cts = new CancellationTokenSource(Limit);
            return await Frame.ReadAsync(_stream, cts.Token) ?? throw new EndOfStreamException("the host closed the connection");
        }

        /// <summary>Answers the host's auth with a proof made with <paramref name="secret"/>; returns the proof.</summary>
        public async Task<string> ProveAsync(string secret, Frame hostAuth)
        {
            Assert.Equal(MessageTypes.Auth, hostAuth.Type);
            var proof = WorkerAuth.WorkerProof(secret, hostAuth.GetString("nonce")!, _nonce);
            await SendAuthAsync(proof);
            return proof;
        }

        public Task SendAuthAsync(string proof) => WriteAsync(_stream, w =>
        {
            w.WriteString("type", MessageTypes.Auth);
            w.WriteString("proof", proof);
        });

        /// <summary>Whether the host has closed the connection (read until end of stream, within the test's limit).</summary>
        public async Task<bool> IsClosedAsync()
        {
            using var cts = new CancellationTokenSource(Limit);
            var buffer = new byte[4096];
            try
            {
                while (await _stream.ReadAsync(buffer, cts.Token) > 0) { }
                return true;
            }
            catch (IOException) { return true; }
            catch (OperationCanceledException) { return false; }
        }

        public ValueTask DisposeAsync()
        {
            client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
