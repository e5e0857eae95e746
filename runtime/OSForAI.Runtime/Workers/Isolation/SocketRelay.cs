using System.Net.Sockets;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>Copies bytes both ways between two connections, passing each direction's end on as a half-close.</summary>
public static class SocketRelay
{
    /// <summary>Copies both ways between <paramref name="a"/> and <paramref name="b"/> until both directions have ended.</summary>
    public static Task RunAsync(NetworkStream a, NetworkStream b, CancellationToken ct) =>
        Task.WhenAll(PumpAsync(a, b, ct), PumpAsync(b, a, ct));

    /// <summary>Copies until <paramref name="from"/> ends, then half-closes <paramref name="to"/>.</summary>
    private static async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken ct)
    {
        try { await from.CopyToAsync(to, 64 * 1024, ct); }
        finally
        {
            try { to.Socket.Shutdown(SocketShutdown.Send); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }
    }
}
