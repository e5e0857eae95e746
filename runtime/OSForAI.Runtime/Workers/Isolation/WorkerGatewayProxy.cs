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
public sealed class WorkerGatewayProxy : WorkerSocketService
{
    private readonly GatewayAddress _gateway;
    private readonly CallDelegation _delegation;

    private WorkerGatewayProxy(string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log) : base(workerId, log)
    {
        _gateway = gateway;
        _delegation = delegation;
    }

    /// <summary>Listens at <paramref name="socketPath"/> for the worker <paramref name="workerId"/>.</summary>
    public static WorkerGatewayProxy Start(string socketPath, string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log)
    {
        var proxy = new WorkerGatewayProxy(workerId, gateway, delegation, log);
        proxy.Listen(socketPath);
        return proxy;
    }

    protected override async Task ServeAsync(Socket client)
    {
        var target = await GatewayEndPointAsync();
        using var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await upstream.ConnectAsync(target, Stopping);
        // Recorded before a single byte is relayed, so the gateway never sees a request from this connection unrecorded.
        using var recorded = _delegation.Connected((IPEndPoint)upstream.LocalEndPoint!, WorkerId);
        await RelayAsync(client, upstream);
    }

    private async Task<IPEndPoint> GatewayEndPointAsync()
    {
        if (_gateway.Url is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new IOException("the gateway's address is not known yet");
        var address = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip
            : (await Dns.GetHostAddressesAsync(uri.Host, Stopping)).First(IPAddress.IsLoopback);
        return new IPEndPoint(address, uri.Port);
    }
}
