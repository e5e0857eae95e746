namespace OSForAI.Data;

/// <summary>
/// Reads at most <c>length</c> bytes of <c>inner</c> (already positioned at the range start), and disposes it. When
/// <c>expected</c> is set, an inner stream that ends early is reported as a dropped connection, never as a short object.
/// </summary>
public sealed class RangeReadStream(Stream inner, long length, bool expected = false, string? source = null) : Stream
{
    private readonly long _length = length;
    private long _left = length;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_left <= 0) return 0;
        var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
        return Count(n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_left <= 0) return 0;
        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], ct);
        return Count(n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int Count(int n)
    {
        if (n == 0 && expected && _left > 0)
            throw new DataException(DataError.Upstream, $"{source ?? "the store"} closed the connection {_left} bytes before the end of the object");
        _left -= n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _length;
    public override long Position { get => _length - _left; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
