namespace OSForAI.Data.Cloud;

/// <summary>
/// An object's content as the store sends it: a broken connection mid-read becomes
/// DataError.Upstream, and disposing releases the response that owns the stream.
/// </summary>
internal sealed class UpstreamReadStream(Stream inner, IDisposable? owner, string what) : Stream
{
    public override int Read(byte[] buffer, int offset, int count)
    {
        try { return inner.Read(buffer, offset, count); }
        catch (Exception e) when (IsBroken(e)) { throw Dropped(e); }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        try { return await inner.ReadAsync(buffer, ct); }
        catch (Exception e) when (IsBroken(e) && !ct.IsCancellationRequested) { throw Dropped(e); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private static bool IsBroken(Exception e) => e is IOException or HttpRequestException or OperationCanceledException;

    private DataException Dropped(Exception e) => new(DataError.Upstream, $"the store dropped the connection while sending {what}", e);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owner?.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
