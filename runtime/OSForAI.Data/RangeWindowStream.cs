using System.Buffers;

namespace OSForAI.Data;

/// <summary>
/// A read-only window of another stream: first skips <c>skip</c> bytes (seeking when the inner
/// stream can, reading and discarding otherwise), then yields at most <c>length</c> bytes (the rest
/// when null). Disposing it disposes the inner stream.
/// </summary>
public sealed class RangeWindowStream(Stream inner, long skip, long? length) : Stream
{
    private long _toSkip = skip >= 0 ? skip : throw new ArgumentOutOfRangeException(nameof(skip));
    private long? _left = length is null or >= 0 ? length : throw new ArgumentOutOfRangeException(nameof(length));
    private long _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_toSkip > 0) SkipSync();
        var window = Clamp(buffer.Length);
        return window == 0 ? 0 : Took(inner.Read(buffer[..window]));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_toSkip > 0) await SkipAsync(ct);
        var window = Clamp(buffer.Length);
        return window == 0 ? 0 : Took(await inner.ReadAsync(buffer[..window], ct));
    }

    private int Clamp(int asked) => _left is { } left ? (int)Math.Min(asked, left) : asked;

    private int Took(int n)
    {
        if (_left is not null) _left -= n;
        _position += n;
        return n;
    }

    private void SkipSync()
    {
        if (inner.CanSeek) { inner.Seek(_toSkip, SeekOrigin.Current); _toSkip = 0; return; }
        var scratch = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (_toSkip > 0)
            {
                var n = inner.Read(scratch, 0, (int)Math.Min(scratch.Length, _toSkip));
                if (n == 0) { _toSkip = 0; _left = 0; break; }
                _toSkip -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    private async ValueTask SkipAsync(CancellationToken ct)
    {
        if (inner.CanSeek) { inner.Seek(_toSkip, SeekOrigin.Current); _toSkip = 0; return; }
        var scratch = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (_toSkip > 0)
            {
                var n = await inner.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, _toSkip)), ct);
                // The object ended before the window starts: the window is empty.
                if (n == 0) { _toSkip = 0; _left = 0; break; }
                _toSkip -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        await base.DisposeAsync();
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
