namespace OSForAI.Data.Remote;

/// <summary>
/// Wraps the caller's content stream during an upload and remembers the exception it threw, so a
/// connector can report the caller's own failure (TooLarge, a dropped client) instead of an upstream one.
/// Seeking passes through, so clients that use a known length still can.
/// </summary>
internal sealed class SourceStream(Stream inner) : Stream
{
    /// <summary>The first exception the wrapped stream threw, if any.</summary>
    public Exception? Failure { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Guard(() => inner.Read(buffer, offset, count));
    public override int Read(Span<byte> buffer)
    {
        try { return inner.Read(buffer); }
        catch (Exception e) { Failure ??= e; throw; }
    }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        try { return await inner.ReadAsync(buffer, ct); }
        catch (Exception e) when (e is not OperationCanceledException) { Failure ??= e; throw; }
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int Guard(Func<int> read)
    {
        try { return read(); }
        catch (Exception e) { Failure ??= e; throw; }
    }

    public override bool CanRead => true;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
