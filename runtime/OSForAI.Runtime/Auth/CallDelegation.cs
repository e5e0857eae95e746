using System.Collections.Concurrent;
using System.Net;

namespace OSForAI.Runtime.Auth;

/// <summary>
/// Where a delegated call token may be used: only while its call is in flight on a worker, and only over a
/// connection that the host opened to the gateway on that same worker's behalf (its private gateway socket,
/// see <see cref="Workers.Isolation.WorkerGatewayProxy"/>). A token that an algorithm leaks — returns, prints, sends
/// elsewhere — is worthless: outside that worker, or once the call has ended, the gateway refuses it.
/// </summary>
public sealed class CallDelegation
{
    private readonly ConcurrentDictionary<string, string> _workerOfCall = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<IPEndPoint, string> _workerOfConnection = new();

    /// <summary>Marks <paramref name="callId"/> as in flight on <paramref name="workerId"/> until the result is disposed.</summary>
    public IDisposable Dispatched(string callId, string workerId)
    {
        _workerOfCall[callId] = workerId;
        return new Release(() => _workerOfCall.TryRemove(new KeyValuePair<string, string>(callId, workerId)));
    }

    /// <summary>Records that the host's connection from <paramref name="local"/> to the gateway speaks for <paramref name="workerId"/>.</summary>
    public IDisposable Connected(IPEndPoint local, string workerId)
    {
        var key = Normalize(local.Address, local.Port);
        _workerOfConnection[key] = workerId;
        return new Release(() => _workerOfConnection.TryRemove(new KeyValuePair<IPEndPoint, string>(key, workerId)));
    }

    /// <summary>The worker a gateway connection from <paramref name="remote"/>:<paramref name="port"/> speaks for, if any.</summary>
    public string? WorkerAt(IPAddress? remote, int port) =>
        remote is not null && _workerOfConnection.TryGetValue(Normalize(remote, port), out var w) ? w : null;

    /// <summary>Whether a request arriving from <paramref name="remote"/>:<paramref name="port"/> may use the token of <paramref name="callId"/>.</summary>
    public bool Allows(string? callId, IPAddress? remote, int port) =>
        callId is not null && _workerOfCall.TryGetValue(callId, out var holder) && WorkerAt(remote, port) == holder;

    private static IPEndPoint Normalize(IPAddress address, int port) =>
        new(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, port);

    private sealed class Release(Action release) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) release(); }
    }
}
