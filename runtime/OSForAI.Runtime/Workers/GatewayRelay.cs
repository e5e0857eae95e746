using System.Net;
using System.Net.Sockets;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Workers.Isolation;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Relays a worker's connection to the gateway's own HTTP port over a fresh loopback TCP connection that
/// <see cref="CallDelegation"/> records as speaking for that worker, so the gateway accepts the token of a call in flight on
/// that worker from it and from nowhere else. Serves both ways out of a worker: its private gateway socket on one machine
/// (<see cref="WorkerGatewayProxy"/>) and its authenticated gateway channels from a pod (<see cref="WorkerListener"/>).
/// </summary>
public sealed class GatewayRelay(GatewayAddress gateway, CallDelegation delegation)
{
    public async Task RelayAsync(NetworkStream worker, string workerId, CancellationToken ct)
    {
        var target = await GatewayEndPointAsync(ct);
        using var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await upstream.ConnectAsync(target, ct);
        // Recorded before a single byte is relayed, so the gateway never sees a request from this connection unrecorded.
        using var recorded = delegation.Connected((IPEndPoint)upstream.LocalEndPoint!, workerId);
        using var gatewaySide = new NetworkStream(upstream, ownsSocket: false);
        await SocketRelay.RunAsync(worker, gatewaySide, ct);
    }

    private async Task<IPEndPoint> GatewayEndPointAsync(CancellationToken ct)
    {
        if (gateway.Url is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new IOException("the gateway's address is not known yet");
        var address = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip
            : (await Dns.GetHostAddressesAsync(uri.Host, ct)).First(IPAddress.IsLoopback);
        return new IPEndPoint(address, uri.Port);
    }
}
