using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using OSForAI.Data.Http;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Outbound network access for a version that declares <c>network: true</c>. Sandboxed workers have no network
/// interface but loopback; this is an HTTP proxy on a Unix socket in the worker's folder (the runner offers it to the
/// algorithm as <c>HTTP_PROXY</c>/<c>HTTPS_PROXY</c> on the sandbox's own loopback). It takes <c>CONNECT host:port</c>
/// (any TCP protocol, TLS included) and absolute-form HTTP requests, resolves the host itself, and connects only to
/// public addresses that are not this machine's own: never loopback (the gateway's ports, other local services),
/// private or carrier-grade NAT ranges, link-local (169.254.169.254, the cloud metadata address) or multicast. The
/// check is made on the address it connects to, so DNS tricks cannot get around it.
/// </summary>
public sealed class WorkerEgressProxy : WorkerSocketService
{
    private const int MaxHeadBytes = 16 * 1024;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private WorkerEgressProxy(string workerId, ILogger log) : base(workerId, log) { }

    /// <summary>Listens at <paramref name="socketPath"/> for the worker <paramref name="workerId"/>.</summary>
    public static WorkerEgressProxy Start(string socketPath, string workerId, ILogger log)
    {
        var proxy = new WorkerEgressProxy(workerId, log);
        proxy.Listen(socketPath);
        return proxy;
    }

    /// <summary>Whether algorithms may connect to <paramref name="address"/>: public, and not one of this machine's own.</summary>
    public static bool MayReach(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (!HttpAddressPolicy.IsPublic(address)) return false;
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            foreach (var own in nic.GetIPProperties().UnicastAddresses)
                if (own.Address.Equals(address)) return false;
        return true;
    }

    protected override async Task ServeAsync(Socket client)
    {
        using var down = new NetworkStream(client, ownsSocket: false);
        var (head, rest) = await ReadHeadAsync(down);
        if (head is null) return;
        var lines = head.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3) { await RespondAsync(down, 400, "a proxy request line is METHOD TARGET VERSION"); return; }
        var connect = parts[0] == "CONNECT";
        string host;
        int port;
        string? forward = null;
        if (connect)
        {
            if (!TrySplitHostPort(parts[1], out host, out port)) { await RespondAsync(down, 400, "CONNECT needs host:port"); return; }
        }
        else if (Uri.TryCreate(parts[1], UriKind.Absolute, out var uri) && uri.Scheme == "http")
        {
            (host, port) = (uri.IdnHost, uri.Port);
            // Origin-form to the server, one request per connection, nothing meant for the proxy passed on.
            var kept = lines.Skip(1).Where(l => l.Length > 0 && !l.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)
                && !l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase));
            forward = $"{parts[0]} {uri.PathAndQuery} {parts[2]}\r\n{string.Join("\r\n", kept)}\r\nConnection: close\r\n\r\n";
        }
        else { await RespondAsync(down, 400, "only CONNECT and absolute http:// requests are proxied"); return; }

        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal]
            : await Dns.GetHostAddressesAsync(host, Stopping);
        var target = addresses.FirstOrDefault(MayReach);
        if (target is null)
        {
            Log.LogInformation("worker {Id}: egress to {Host}:{Port} refused", WorkerId, host, port);
            await RespondAsync(down, 403, $"{host} is not reachable from algorithms: only public addresses that are not this server's own are (no loopback, private, link-local or metadata addresses)");
            return;
        }
        using var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(Stopping))
        {
            timeout.CancelAfter(ConnectTimeout);
            try { await upstream.ConnectAsync(new IPEndPoint(target, port), timeout.Token); }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !Stopping.IsCancellationRequested)
            {
                await RespondAsync(down, 502, $"cannot connect to {host}:{port}: {(e is SocketException s ? s.SocketErrorCode : "timed out")}");
                return;
            }
        }
        if (connect) await down.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), Stopping);
        else await upstream.SendAsync(Encoding.Latin1.GetBytes(forward!), Stopping);
        if (rest.Length > 0) await upstream.SendAsync(rest, Stopping);
        await RelayAsync(client, upstream);
    }

    /// <summary>The request head (up to the blank line) and whatever was read after it; a null head when the client left.</summary>
    private async Task<(string? Head, byte[] Remainder)> ReadHeadAsync(Stream stream)
    {
        var buffer = new byte[MaxHeadBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(filled), Stopping);
            if (n == 0) return (null, []);
            filled += n;
            var end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
            if (end >= 0) return (Encoding.Latin1.GetString(buffer, 0, end), buffer[(end + 4)..filled]);
        }
        await RespondAsync(stream, 431, "the request head is larger than 16 KiB");
        return (null, []);
    }

    private static bool TrySplitHostPort(string text, out string host, out int port)
    {
        var colon = text.LastIndexOf(':');
        host = colon > 0 ? text[..colon] : "";
        port = 0;
        return colon > 0 && int.TryParse(text[(colon + 1)..], out port) && port is > 0 and < 65536;
    }

    private async Task RespondAsync(Stream stream, int status, string message)
    {
        var body = Encoding.UTF8.GetBytes("osforai egress: " + message + "\n");
        var head = $"HTTP/1.1 {status} {(status == 403 ? "Forbidden" : status == 502 ? "Bad Gateway" : "Bad Request")}\r\n" +
                   $"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), Stopping);
        await stream.WriteAsync(body, Stopping);
    }
}
