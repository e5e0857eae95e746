using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// The host's TCP endpoint for workers that run elsewhere (pods on the cluster network, OSAI_WORKER_ADDRESS=tcp:HOST:PORT).
/// One listener serves many workers: each connection runs <see cref="WorkerHandshake"/> (the worker names itself by its
/// id, and both sides prove they know that id's secret) within a time limit, and is handed to whoever waits for that id
/// (<see cref="WaitForAsync"/>). Connections that fail the handshake, that take too long, or that name an id nobody waits
/// for are closed, with one log line each. Every connection is handled on its own, so a peer that never speaks, or
/// speaks slowly, holds nothing but its own socket; at most <see cref="MaxPendingHandshakes"/> handshakes may be open at
/// once (more are closed at once), which bounds what a flood of connections can hold.
/// <para>
/// A connection whose hello says <c>"channel": "gateway"</c> is a worker reaching the gateway (docs/worker-protocol.md,
/// "Gateway channels"): it authenticates with the worker's <see cref="WorkerAuth.GatewayKey"/> while that worker is
/// expected here, and is handed to the gateway-channel handler given at <see cref="Start"/>, at most
/// <see cref="MaxGatewayChannelsPerWorker"/> at once per worker. Without a handler such connections are refused.
/// </para>
/// </summary>
public sealed class WorkerListener : IAsyncDisposable
{
    /// <summary>Default limit on one connection's handshake.</summary>
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly Func<string?, string?> _secretForWorkerId;
    private readonly Func<string, Stream, Task>? _gatewayChannel;
    private readonly ConcurrentDictionary<string, int> _gatewayChannelsOpen = new(StringComparer.Ordinal);
    private readonly ILogger _log;
    private readonly TimeSpan _handshakeTimeout;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(Stream, Frame)>> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _expected = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;
    private int _pending;
    private long _refusalsUnlogged;

    /// <summary>Gateway channels one worker may have open at once; more are refused.</summary>
    public const int MaxGatewayChannelsPerWorker = 64;

    private WorkerListener(Socket socket, Func<string?, string?> secretForWorkerId, Func<string, Stream, Task>? gatewayChannel, ILogger log,
        TimeSpan handshakeTimeout, int maxPending)
    {
        _socket = socket;
        _secretForWorkerId = secretForWorkerId;
        _gatewayChannel = gatewayChannel;
        _log = log;
        _handshakeTimeout = handshakeTimeout;
        MaxPendingHandshakes = maxPending;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>
    /// Binds <paramref name="endpoint"/> (port 0: any free port) and starts accepting. <paramref name="secretForWorkerId"/>
    /// gives each worker id's secret (null: unknown, refused), after those registered with <see cref="Expect"/>.
    /// <paramref name="gatewayChannel"/> serves an authenticated gateway channel of a worker (null: gateway channels are refused);
    /// it owns the stream.
    /// </summary>
    public static WorkerListener Start(IPEndPoint endpoint, Func<string?, string?>? secretForWorkerId, ILogger log,
        TimeSpan? handshakeTimeout = null, int maxPendingHandshakes = 256, Func<string, Stream, Task>? gatewayChannel = null)
    {
        var lookup = secretForWorkerId ?? (_ => null);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingHandshakes, 1);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new WorkerListener(socket, lookup, gatewayChannel, log, handshakeTimeout ?? DefaultHandshakeTimeout, maxPendingHandshakes);
    }

    /// <summary>The address bound (with the port chosen when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>How many handshakes may be in progress at once; connections beyond are closed at once.</summary>
    public int MaxPendingHandshakes { get; }

    /// <summary>Handshakes in progress now.</summary>
    public int PendingHandshakes => Volatile.Read(ref _pending);

    /// <summary>Registers <paramref name="workerId"/>'s secret (it still needs a <see cref="WaitForAsync"/> to be let in).</summary>
    public void Expect(string workerId, string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentException.ThrowIfNullOrEmpty(secret);
        _expected[workerId] = secret;
    }

    /// <summary>Drops what <see cref="Expect"/> registered for <paramref name="workerId"/>.</summary>
    public void Forget(string workerId) => _expected.TryRemove(workerId, out _);

    private string? SecretOf(Frame hello)
    {
        var workerId = hello.GetString("worker_id");
        if (workerId is null) return null;
        if (IsGatewayChannel(hello))
            return _gatewayChannel is not null && _expected.TryGetValue(workerId, out var known) ? WorkerAuth.GatewayKey(known) : null;
        return !_waiters.ContainsKey(workerId) ? null
            : _expected.TryGetValue(workerId, out var secret) ? secret : _secretForWorkerId(workerId);
    }

    private static bool IsGatewayChannel(Frame hello) => hello.GetString("channel") == HelloChannels.Gateway;

    /// <summary>
    /// The authenticated connection of worker <paramref name="workerId"/> and its hello. Registers the wait before it
    /// returns, so call it before the worker is started: a connection for an id nobody waits for is refused. One wait per
    /// id at a time. Cancelling gives the id up (a connection that authenticates afterwards is closed).
    /// </summary>
    public Task<(Stream Stream, Frame Hello)> WaitForAsync(string workerId, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var waiter = new TaskCompletionSource<(Stream, Frame)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiters.TryAdd(workerId, waiter)) throw new InvalidOperationException($"something already waits for worker '{workerId}'");
        if (ct.CanBeCanceled)
        {
            var registration = ct.Register(() =>
            {
                if (_waiters.TryRemove(new KeyValuePair<string, TaskCompletionSource<(Stream, Frame)>>(workerId, waiter))) waiter.TrySetCanceled(ct);
            });
            _ = waiter.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return waiter.Task;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try { client = await _socket.AcceptAsync(_stopping.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e)
            {
                // Per-connection failures (reset before accept, out of descriptors): keep serving, without spinning.
                _log.LogWarning("worker listener: accept failed: {Error}", e.Message);
                try { await Task.Delay(50, _stopping.Token); } catch (OperationCanceledException) { return; }
                continue;
            }
            if (Interlocked.Increment(ref _pending) > MaxPendingHandshakes)
            {
                Interlocked.Decrement(ref _pending);
                Refuse(client, $"{MaxPendingHandshakes} handshakes are already in progress");
                continue;
            }
            _ = HandshakeAsync(client);
        }
    }

    private async Task HandshakeAsync(Socket client)
    {
        var remote = Describe(client);
        var stream = (Stream?)null;
        var handedOver = false;
        try
        {
            client.NoDelay = true;
            WorkerSockets.Tune(client);
            stream = new NetworkStream(client, ownsSocket: true);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_handshakeTimeout);
            Frame hello;
            try
            {
                // Only ids somebody waits for have a secret here: anything else is refused before the host proves anything.
                hello = await WorkerHandshake.AuthenticateByHelloAsync(stream, SecretOf, timeout.Token);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                Refuse(stream, remote, $"no handshake within {_handshakeTimeout.TotalSeconds:0.#} s");
                return;
            }
            catch (AlgorithmCallException e)
            {
                Refuse(stream, remote, e.Message);
                return;
            }
            var id = hello.GetString("worker_id")!;
            if (IsGatewayChannel(hello))
            {
                if (_gatewayChannelsOpen.AddOrUpdate(id, 1, (_, n) => n + 1) > MaxGatewayChannelsPerWorker)
                {
                    CloseGatewayChannel(id);
                    Refuse(stream, remote, $"worker '{WorkerHandshake.Printable(id)}' has {MaxGatewayChannelsPerWorker} gateway channels open already");
                    return;
                }
                handedOver = true;
                _ = ServeGatewayChannelAsync(id, stream);
                return;
            }
            if (!_waiters.TryRemove(id, out var waiter) || !waiter.TrySetResult((stream, hello)))
            {
                Refuse(stream, remote, $"nobody waits for worker '{WorkerHandshake.Printable(id)}' any more");
                return;
            }
            handedOver = true;
            _log.LogInformation("worker {Id} connected from {Remote}", id, remote);
        }
        catch (OperationCanceledException) { }   // the listener is stopping
        catch (Exception e)
        {
            Refuse(stream, remote, "unexpected: " + e.Message);
        }
        finally
        {
            if (!handedOver)
            {
                if (stream is not null) await stream.DisposeAsync();
                else client.Dispose();
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    private async Task ServeGatewayChannelAsync(string workerId, Stream stream)
    {
        try { await _gatewayChannel!(workerId, stream); }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _log.LogDebug("worker {Id}: gateway channel ended: {Message}", workerId, e.Message);
        }
        catch (Exception e) { _log.LogWarning(e, "worker {Id}: gateway channel failed", workerId); }
        finally
        {
            await stream.DisposeAsync();
            CloseGatewayChannel(workerId);
        }
    }

    private void CloseGatewayChannel(string workerId)
    {
        if (_gatewayChannelsOpen.AddOrUpdate(workerId, 0, (_, n) => n - 1) <= 0)
            _gatewayChannelsOpen.TryRemove(new KeyValuePair<string, int>(workerId, 0));
    }

    private void Refuse(Stream? stream, string remote, string why)
    {
        LogRefusal(remote, why);
        stream?.Dispose();
    }

    private void Refuse(Socket client, string why)
    {
        LogRefusal(Describe(client), why);
        client.Dispose();
    }

    /// <summary>
    /// One line per refused connection, at most <see cref="RefusalLinesPerSecond"/> a second (a flood must not flood the
    /// log too); the rest are counted into the next line.
    /// </summary>
    private void LogRefusal(string remote, string why)
    {
        long unlogged;
        lock (_refusalLog)
        {
            var second = Environment.TickCount64 / 1000;
            if (second != _refusalSecond)
            {
                _refusalSecond = second;
                _refusalLinesThisSecond = 0;
            }
            if (++_refusalLinesThisSecond > RefusalLinesPerSecond)
            {
                _refusalsUnlogged++;
                return;
            }
            unlogged = _refusalsUnlogged;
            _refusalsUnlogged = 0;
        }
        _log.LogWarning("worker listener refused a connection from {Remote}: {Reason}{More}", remote, why,
            unlogged > 0 ? $" ({unlogged} more refused without a line of their own before this one)" : "");
    }

    private const int RefusalLinesPerSecond = 20;
    private readonly Lock _refusalLog = new();
    private long _refusalSecond;
    private int _refusalLinesThisSecond;

    private static string Describe(Socket socket)
    {
        try { return socket.RemoteEndPoint?.ToString() ?? "?"; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return "?"; }
    }

    /// <summary>Stops accepting, ends handshakes in progress and fails every wait.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _socket.Dispose();
        try { await _accepting; } catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { }
        foreach (var (id, waiter) in _waiters)
            if (_waiters.TryRemove(id, out _))
                waiter.TrySetException(new AlgorithmCallException(ErrorTypes.Unavailable, "the worker listener stopped"));
    }
}
