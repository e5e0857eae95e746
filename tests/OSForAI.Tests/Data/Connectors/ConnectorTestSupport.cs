using System.Net;
using System.Net.Sockets;

namespace OSForAI.Tests.Data.Connectors;

internal static class ConnectorTestSupport
{
    /// <summary>Settings for one connector; a later value for the same key wins.</summary>
    public static ConnectorSettings Settings(string scheme, params (string Key, string? Value)[] values)
    {
        var d = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in values) d[k] = v;
        return new(scheme, null, d);
    }

    /// <summary>A loopback port nothing listens on (bound once, then released).</summary>
    public static int ClosedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
