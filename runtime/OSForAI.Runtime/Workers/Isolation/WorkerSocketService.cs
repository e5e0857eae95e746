using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// A service the host offers one worker on a Unix socket in the worker's folder (its gateway socket, its egress
/// proxy): listening (connectable by the worker's uid), accepting at most <see cref="MaxConnections"/> at once, and
/// relaying bytes both ways between two sockets with half-closes. Subclasses decide what each connection is for.
/// </summary>
public abstract class WorkerSocketService : IDisposable
{
    /// <summary>Connections one worker may have open to one service at once.</summary>
    public const int MaxConnections = 64;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private int _open;

    protected WorkerSocketService(string workerId, ILogger log)
    {
        WorkerId = workerId;
        Log = log;
    }

    protected string WorkerId { get; }
    protected ILogger Log { get; }
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>Listens at <paramref name="socketPath"/> and starts accepting (call once the subclass is set up).</summary>
    protected void Listen(string socketPath)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            // The folder is the worker's alone; its uid (not the server's) must be able to connect.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(socketPath, (UnixFileMode)0b110_110_110);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        _ = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Serves one connection from the worker; the client socket is disposed afterwards.</summary>
    protected abstract Task ServeAsync(Socket client);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener!.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            if (Interlocked.Increment(ref _open) > MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                client.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                try { await ServeAsync(client); }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
                {
                    Log.LogDebug("worker {Id}: {Service} connection ended: {Message}", WorkerId, GetType().Name, e.Message);
                }
                finally
                {
                    client.Dispose();
                    Interlocked.Decrement(ref _open);
                }
            });
        }
    }

    /// <summary>Copies both ways between <paramref name="a"/> and <paramref name="b"/> until both directions have ended.</summary>
    protected async Task RelayAsync(Socket a, Socket b)
    {
        using var sa = new NetworkStream(a, ownsSocket: false);
        using var sb = new NetworkStream(b, ownsSocket: false);
        await SocketRelay.RunAsync(sa, sb, _stop.Token);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener?.Dispose();
        GC.SuppressFinalize(this);
    }
}
