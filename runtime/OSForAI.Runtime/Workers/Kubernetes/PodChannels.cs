using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers.Kubernetes;

/// <summary>
/// Worker pods' connections arrive at a <see cref="WorkerListener"/> on ListenAddress:ListenPort; each pod proves it knows its own
/// secret (and the gateway proves it too) before its connection is handed over. Pods dial GatewayAddress, or the listen address.
/// </summary>
public sealed class PodChannels : IPodChannels
{
    private readonly WorkerListener _listener;

    public PodChannels(IOptions<OsaiOptions> options, ILogger<PodChannels> log)
    {
        var o = options.Value.Workers.Kubernetes;
        _listener = WorkerListener.Start(new IPEndPoint(IPAddress.Parse(o.ListenAddress), o.ListenPort), null, log);
        var bound = _listener.LocalEndPoint;
        Address = $"tcp:{(bound.Address.Equals(IPAddress.Any) ? Dns.GetHostName() : bound.Address.ToString())}:{bound.Port}";
    }

    public string Address { get; }
    public void Expect(string workerId, string secret) => _listener.Expect(workerId, secret);
    public void Forget(string workerId) => _listener.Forget(workerId);
    public Task<(Stream Stream, Frame Hello)> WaitForAsync(string workerId, CancellationToken ct) => _listener.WaitForAsync(workerId, ct);
    public void Dispose() => _listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
