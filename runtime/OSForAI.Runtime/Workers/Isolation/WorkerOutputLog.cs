using Microsoft.Extensions.Logging;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Carries what a worker writes to its stdout and stderr outside captured calls into the server's log, held to a
/// byte budget: lines are cut at <see cref="MaxLineBytes"/>, at most <c>bytesPerSecond</c> (with a burst of ten
/// seconds' worth) reach the log, and what is dropped is summarised in one line a minute at most. An algorithm
/// that floods its output cannot grow the log or the server's memory.
/// </summary>
public sealed class WorkerOutputLog(string workerId, ILogger log, TimeProvider clock, long bytesPerSecond)
{
    public const int MaxLineBytes = 4096;
    private static readonly TimeSpan SummaryEvery = TimeSpan.FromMinutes(1);
    private readonly object _gate = new();
    private readonly long _burst = bytesPerSecond <= 0 ? 0 : Math.Max(MaxLineBytes, bytesPerSecond * 10);
    private double _tokens = bytesPerSecond <= 0 ? 0 : Math.Max(MaxLineBytes, bytesPerSecond * 10);
    private DateTimeOffset _refilled = clock.GetUtcNow();
    private DateTimeOffset _summarised = clock.GetUtcNow();
    private long _droppedLines, _droppedBytes;

    /// <summary>Reads <paramref name="stream"/> to its end, logging its lines (warnings when <paramref name="isError"/>).</summary>
    public async Task PumpAsync(Stream stream, bool isError)
    {
        var buffer = new byte[16 * 1024];
        var line = new MemoryStream();
        var cut = false;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                var start = 0;
                for (var i = 0; i < n; i++)
                {
                    if (buffer[i] != (byte)'\n') continue;
                    Append(line, buffer.AsSpan(start, i - start), ref cut);
                    Emit(line, cut, isError);
                    line.SetLength(0);
                    cut = false;
                    start = i + 1;
                }
                Append(line, buffer.AsSpan(start, n - start), ref cut);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        if (line.Length > 0) Emit(line, cut, isError);
        Flush();
    }

    private static void Append(MemoryStream line, ReadOnlySpan<byte> bytes, ref bool cut)
    {
        var room = MaxLineBytes - (int)line.Length;
        if (bytes.Length > room) cut = true;
        line.Write(bytes[..Math.Min(room, bytes.Length)]);
    }

    private void Emit(MemoryStream line, bool cut, bool isError)
    {
        var cost = Math.Max(1, line.Length);
        bool allowed;
        lock (_gate)
        {
            var now = clock.GetUtcNow();
            _tokens = Math.Min(_burst, _tokens + (now - _refilled).TotalSeconds * bytesPerSecond);
            _refilled = now;
            allowed = _tokens >= cost;
            if (allowed) _tokens -= cost;
            else { _droppedLines++; _droppedBytes += cost; }
        }
        if (allowed)
        {
            var text = System.Text.Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length) + (cut ? " […cut]" : "");
            if (isError) log.LogWarning("[{Id}] {Line}", workerId, text);
            else log.LogInformation("[{Id}] {Line}", workerId, text);
        }
        if (clock.GetUtcNow() - _summarised >= SummaryEvery) Flush();
    }

    /// <summary>Logs how much was dropped since the last summary, if anything.</summary>
    public void Flush()
    {
        long lines, bytes;
        lock (_gate)
        {
            (lines, bytes) = (_droppedLines, _droppedBytes);
            _droppedLines = _droppedBytes = 0;
            _summarised = clock.GetUtcNow();
        }
        if (lines > 0)
            log.LogWarning("[{Id}] dropped {Lines} lines ({Bytes} bytes) of worker output over the log budget of {Rate} bytes/s",
                workerId, lines, bytes, bytesPerSecond);
    }
}
