using System.Net.Sockets;

namespace OSForAI.WorkerProtocol;

/// <summary>Socket settings for worker connections, applied on both ends.</summary>
public static class WorkerSockets
{
    /// <summary>
    /// Large socket buffers, so a tensor of a few megabytes crosses in a few hand-offs instead of dozens.
    /// The kernel caps them at net.core.[rw]mem_max; failures are ignored.
    /// </summary>
    public static void Tune(Socket socket)
    {
        try
        {
            socket.SendBufferSize = 4 << 20;
            socket.ReceiveBufferSize = 4 << 20;
        }
        catch (SocketException) { }
    }
}
