using OSForAI.WorkerProtocol;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// One live worker speaking protocol v1 over a stream, plus the means to kill it. Requests are
/// multiplexed by id; a reader loop completes them. When the stream ends every pending request
/// fails at once with <see cref="ErrorTypes.Crashed"/>.
/// </summary>
public sealed class WorkerConnection : IAsyncDisposable
{
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly Action _kill;
    private readonly Func<int?> _exitCode;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<Frame>> _pending = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextId;
    private int _dead;
    private string? _deathReason;
    private AlgorithmCallException? _cause;

    public WorkerConnection(string id, string runtime, int pid, Stream input, Stream output, Action kill, Func<int?> exitCode, ILogger log,
        IWorkerEnvironment environment)
    {
        Environment = environment;
        Id = id;
        Runtime = runtime;
        Pid = pid;
        _input = input;
        _output = output;
        _kill = kill;
        _exitCode = exitCode;
        _log = log;
        _ = Task.Run(ReadLoopAsync);
    }

    public string Id { get; }
    public string Runtime { get; }
    public int Pid { get; }
    public bool IsAlive => Volatile.Read(ref _dead) == 0;
    /// <summary>The host's side of the worker: where it sees builds, its limits, why it died.</summary>
    public IWorkerEnvironment Environment { get; }
    /// <summary>Completes when the worker is gone, for whatever reason.</summary>
    public Task Exited => _exited.Task;

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var frame = await Frame.ReadAsync(_input, CancellationToken.None);
                if (frame is null) break;
                if (frame.Id != 0 && _pending.TryRemove(frame.Id, out var tcs)) tcs.TrySetResult(frame);
                else _log.LogDebug("worker {Id}: unsolicited {Type} frame", Id, frame.Type);
            }
            MarkDead("the worker closed its connection");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException or EndOfStreamException)
        {
            MarkDead(e is InvalidDataException ? "the worker sent a malformed frame: " + e.Message : "the worker's connection broke");
        }
    }

    private void MarkDead(string reason, bool killFirst = false)
    {
        if (Interlocked.Exchange(ref _dead, 1) == 1) return;
        int? code = null;
        if (!killFirst)
        {
            // The worker went away by itself: give the OS a moment to report why, to make the message useful.
            for (var i = 0; i < 20 && (code = _exitCode()) is null; i++) Thread.Sleep(5);
        }
        try { _kill(); } catch (Exception e) { _log.LogDebug(e, "kill worker {Id}", Id); }
        var message = code is { } c ? $"{reason} (exit status {c})" : reason;
        // A worker killed for running out of memory says so, rather than "crashed".
        var cause = killFirst ? null : Environment.DeathCause();
        _deathReason = message;
        _cause = cause;
        try { Environment.Dispose(); } catch (Exception e) { _log.LogDebug(e, "release worker {Id}", Id); }
        foreach (var id in _pending.Keys)
            if (_pending.TryRemove(id, out var tcs))
                tcs.TrySetException(Failure());
        _input.Dispose();
        _output.Dispose();
        _exited.TrySetResult();
        _log.LogInformation("worker {Id} (pid {Pid}) is gone: {Reason}", Id, Pid, cause?.Message ?? message);
    }

    private AlgorithmCallException Failure() => _cause is { } cause
        ? new AlgorithmCallException(cause.ErrorType, cause.Message)
        : new AlgorithmCallException(ErrorTypes.Crashed, "the algorithm's worker process died: " + _deathReason);

    /// <summary>Kills the worker; pending requests fail.</summary>
    public void Kill(string reason) => MarkDead(reason, killFirst: true);

    /// <summary>Sends a request and waits for the frame that answers it.</summary>
    public Task<Frame> RequestAsync(string type, Action<Utf8JsonWriter> fields, ReadOnlyMemory<byte> payload, CancellationToken ct) =>
        RequestGatheredAsync(type, fields, payload.IsEmpty ? [] : [payload], ct);

    /// <summary>Payloads up to this size are copied into the frame and written at once; larger ones are written in place.</summary>
    private const int CopyPayloadBelow = 64 * 1024;

    /// <summary>Sends a request whose payload is the concatenation of <paramref name="payload"/> (written without copying when large).</summary>
    public async Task<Frame> RequestGatheredAsync(string type, Action<Utf8JsonWriter> fields, IReadOnlyList<ReadOnlyMemory<byte>> payload, CancellationToken ct)
    {
        if (!IsAlive) throw await DiedAsync();
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<Frame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        void Header(Utf8JsonWriter w)
        {
            w.WriteString("type", type);
            w.WriteNumber("id", id);
            fields(w);
        }
        var length = payload.Sum(p => (long)p.Length);
        var inPlace = length >= CopyPayloadBelow;
        var head = inPlace ? Frame.EncodeHead(Header, length) : Frame.Encode(Header, Concat(payload, (int)length));
        await _writeLock.WaitAsync(ct);
        try
        {
            // Not cancellable once started: a frame cut short would corrupt the stream for every later call.
            await _output.WriteAsync(head, CancellationToken.None);
            if (inPlace)
                foreach (var segment in payload) await _output.WriteAsync(segment, CancellationToken.None);
            await _output.FlushAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            _pending.TryRemove(id, out _);
            MarkDead("could not write to the worker");
            throw await DiedAsync();
        }
        finally { _writeLock.Release(); }
        if (!IsAlive && _pending.TryRemove(id, out _)) throw await DiedAsync();
        using var reg = ct.CanBeCanceled ? ct.Register(() => { if (_pending.TryRemove(id, out var t)) t.TrySetCanceled(ct); }) : default;
        return await tcs.Task;
    }

    private static ReadOnlySpan<byte> Concat(IReadOnlyList<ReadOnlyMemory<byte>> segments, int length)
    {
        if (segments.Count == 0) return [];
        if (segments.Count == 1) return segments[0].Span;
        var buffer = new byte[length];
        var offset = 0;
        foreach (var s in segments)
        {
            s.Span.CopyTo(buffer.AsSpan(offset));
            offset += s.Length;
        }
        return buffer;
    }

    /// <summary>The error for a call on a dead worker, once the reason (with the exit status) is known.</summary>
    private async Task<AlgorithmCallException> DiedAsync()
    {
        await _exited.Task;
        return Failure();
    }

    /// <summary>Asks the worker to exit, then kills it if it has not after <paramref name="grace"/>.</summary>
    public async Task ShutdownAsync(TimeSpan grace)
    {
        if (!IsAlive) return;
        try
        {
            await NotifyAsync(MessageTypes.Shutdown, _ => { });
            await Exited.WaitAsync(grace);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or TimeoutException) { }
        MarkDead("shut down", killFirst: true);
    }

    /// <summary>Sends a message that gets no reply (shutdown, cancel). Write failures are left to the read loop to notice.</summary>
    public async Task NotifyAsync(string type, Action<Utf8JsonWriter> fields)
    {
        if (!IsAlive) return;
        var bytes = Frame.Encode(w =>
        {
            w.WriteString("type", type);
            fields(w);
        }, default);
        await _writeLock.WaitAsync();
        try { await _output.WriteAsync(bytes); await _output.FlushAsync(); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        finally { _writeLock.Release(); }
    }

    public ValueTask DisposeAsync()
    {
        MarkDead("disposed", killFirst: true);
        return ValueTask.CompletedTask;
    }

    internal static int? ExitCodeOf(Process p)
    {
        try { return p.HasExited ? p.ExitCode : null; }
        catch (InvalidOperationException) { return null; }
    }
}
