using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OSForAI.Runtime.Auth;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// A worker's only way to the gateway: a Unix socket in its private folder. Each connection the worker opens is
/// relayed, byte for byte, to the gateway (<see cref="GatewayRelay"/>), so the gateway accepts the worker's call token
/// from it and from nowhere else. Sandboxed workers have no network, so composition and data access go this way.
/// </summary>
public sealed class WorkerGatewayProxy : WorkerSocketService
{
    private readonly GatewayRelay _relay;

    private WorkerGatewayProxy(string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log) : base(workerId, log) =>
        _relay = new GatewayRelay(gateway, delegation);

    /// <summary>Listens at <paramref name="socketPath"/> for the worker <paramref name="workerId"/>.</summary>
    public static WorkerGatewayProxy Start(string socketPath, string workerId, GatewayAddress gateway, CallDelegation delegation, ILogger log)
    {
        var proxy = new WorkerGatewayProxy(workerId, gateway, delegation, log);
        proxy.Listen(socketPath);
        return proxy;
    }

    protected override async Task ServeAsync(Socket client)
    {
        using var worker = new NetworkStream(client, ownsSocket: false);
        await _relay.RelayAsync(worker, WorkerId, Stopping);
    }
}
