namespace OSForAI.Data.Http;

/// <summary>
/// A response body as read from the wire: TooLarge past <c>maxBytes</c>, and Upstream when the
/// connection drops or ends before the announced Content-Length, so a cut-off download never looks
/// like a complete one. Owns (and disposes) the response.
/// </summary>
internal sealed class HttpBodyStream(HttpResponseMessage response, Stream body, long? expected, long maxBytes) : Stream
{
    private long _read;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        try { n = body.Read(buffer); }
        catch (IOException e) { throw Dropped(e); }
        return Counted(n, buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n;
        try { n = await body.ReadAsync(buffer, ct); }
        catch (IOException e) { throw Dropped(e); }
        return Counted(n, buffer.Length);
    }

    private int Counted(int n, int asked)
    {
        if (n == 0 && asked > 0 && expected is { } total && _read < total) throw Dropped(null);
        _read += n;
        if (_read > maxBytes) throw new DataException(DataError.TooLarge, $"the object is larger than the limit of {maxBytes} bytes");
        return n;
    }

    private DataException Dropped(Exception? inner) => new(DataError.Upstream, expected is { } total
        ? $"the server closed the connection after {_read} of {total} bytes"
        : $"the connection to the server dropped after {_read} bytes", inner);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            body.Dispose();
            response.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
