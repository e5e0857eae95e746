using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers.Kubernetes;

/// <summary>
/// Worker pods' connections arrive at a <see cref="WorkerListener"/> on ListenAddress:ListenPort; each pod proves it knows its own
/// secret (and the gateway proves it too) before its connection is handed over. Pods dial GatewayAddress, or the listen address.
/// The same listener takes pods' gateway channels (composition and data calls from their algorithms) and relays them to the
/// gateway on the pod's behalf (<see cref="GatewayRelay"/>).
/// </summary>
public sealed class PodChannels : IPodChannels
{
    private readonly WorkerListener _listener;

    public PodChannels(IOptions<OsaiOptions> options, GatewayAddress gateway, Auth.CallDelegation delegation, ILogger<PodChannels> log)
    {
        var o = options.Value.Workers.Kubernetes;
        var relay = new GatewayRelay(gateway, delegation);
        _listener = WorkerListener.Start(new IPEndPoint(IPAddress.Parse(o.ListenAddress), o.ListenPort), null, log,
            gatewayChannel: (workerId, stream) => relay.RelayAsync((NetworkStream)stream, workerId, CancellationToken.None));
        var bound = _listener.LocalEndPoint;
        Address = $"tcp:{(bound.Address.Equals(IPAddress.Any) ? Dns.GetHostName() : bound.Address.ToString())}:{bound.Port}";
    }

    public string Address { get; }
    public void Expect(string workerId, string secret) => _listener.Expect(workerId, secret);
    public void Forget(string workerId) => _listener.Forget(workerId);
    public Task<(Stream Stream, Frame Hello)> WaitForAsync(string workerId, CancellationToken ct) => _listener.WaitForAsync(workerId, ct);
    public void Dispose() => _listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
