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

    /// <summary>
    /// Proves a connector streams reads: the fake holds the body after 64 KiB, yet OpenReadAsync returns
    /// and those bytes can be read; the rest arrives once the hold is released.
    /// </summary>
    public static async Task AssertReadsStreamAsync(IDataConnector connector, StorageUri file, Action<Task?> holdDownloads)
    {
        var data = new byte[1 << 20];
        new Random(11).NextBytes(data);
        var ct = new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;
        await connector.WriteAsync(file, new MemoryStream(data), data.Length, ct);
        var hold = new TaskCompletionSource();
        holdDownloads(hold.Task);
        try
        {
            await using var o = await connector.OpenReadAsync(file, null, ct).WaitAsync(TimeSpan.FromSeconds(20), ct);
            var head = new byte[64 * 1024];
            await o.Content.ReadExactlyAsync(head, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), ct);
            Assert.Equal(data[..head.Length], head);
            hold.SetResult();
            using var rest = new MemoryStream();
            await o.Content.CopyToAsync(rest, ct);
            Assert.Equal(data[head.Length..], rest.ToArray());
        }
        finally
        {
            holdDownloads(null);
            hold.TrySetResult();
        }
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
