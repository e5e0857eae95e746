using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OSForAI.Runtime.Auth;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// A worker's only way to the gateway: a Unix socket in its private folder. Each connection the worker opens is
/// relayed, byte for byte, to the gateway's loopback port over a TCP connection that <see cref="CallDelegation"/>
/// records as speaking for this worker, so the gateway accepts the worker's call token from it and from nowhere
/// else. Sandboxed workers have no network, so composition and data access go this way.
/// </summary>
public sealed class WorkerGatewayProxy : IDisposable
{
    /// <summary>Connections one worker may have open to the gateway at once.</summary>
    public const int MaxConnections = 64;
    private readonly Socket _listener;
    private readonly string _workerId;
    private readonly GatewayAddress _gateway;
    private readonly CallDelegation _delegation;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private int _open;

    private WorkerGatewayProxy(Socket listener, string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log)
    {
        _listener = listener;
        _workerId = workerId;
        _gateway = gateway;
        _delegation = delegation;
        _log = log;
        _ = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Listens at <paramref name="socketPath"/> (which the worker's uid must be able to connect to).</summary>
    public static WorkerGatewayProxy Start(string socketPath, string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(socketPath, (UnixFileMode)0b110_110_110);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new WorkerGatewayProxy(listener, workerId, gateway, delegation, log);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            if (Interlocked.Increment(ref _open) > MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                client.Dispose();
                continue;
            }
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        Socket? upstream = null;
        try
        {
            var target = await GatewayEndPointAsync();
            upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await upstream.ConnectAsync(target, _stop.Token);
            // Recorded before a single byte is relayed, so the gateway never sees a request from this connection unrecorded.
            using var recorded = _delegation.Connected((IPEndPoint)upstream.LocalEndPoint!, _workerId);
            using var down = new NetworkStream(client, ownsSocket: false);
            using var up = new NetworkStream(upstream, ownsSocket: false);
            var toGateway = PumpAsync(down, up, upstream);
            var toWorker = PumpAsync(up, down, client);
            await Task.WhenAll(toGateway, toWorker);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            _log.LogDebug("worker {Id}: gateway relay ended: {Message}", _workerId, e.Message);
        }
        finally
        {
            upstream?.Dispose();
            client.Dispose();
            Interlocked.Decrement(ref _open);
        }
    }

    /// <summary>Copies until <paramref name="from"/> ends, then half-closes <paramref name="toSocket"/>.</summary>
    private async Task PumpAsync(Stream from, Stream to, Socket toSocket)
    {
        try { await from.CopyToAsync(to, 64 * 1024, _stop.Token); }
        finally
        {
            try { toSocket.Shutdown(SocketShutdown.Send); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }
    }

    private async Task<IPEndPoint> GatewayEndPointAsync()
    {
        if (_gateway.Url is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new InvalidOperationException("the gateway's address is not known yet");
        var address = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip
            : (await Dns.GetHostAddressesAsync(uri.Host, _stop.Token)).First(IPAddress.IsLoopback);
        return new IPEndPoint(address, uri.Port);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }
}
