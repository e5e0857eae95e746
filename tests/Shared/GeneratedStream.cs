using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OSForAI.Testing;

/// <summary>
/// Deterministic pseudo-random bytes (xorshift64, 8 bytes per step) of a given length, generated as they are read:
/// non-seekable, and never held whole in memory.
/// </summary>
public sealed class GeneratedStream(long length, int seed) : Stream
{
    private ulong _state = (ulong)seed * 0x9E3779B97F4A7C15UL + 1;
    private ulong _pending;
    private int _pendingBytes;
    private long _position;

    /// <summary>SHA-256 of the content for (<paramref name="length"/>, <paramref name="seed"/>), computed by generating it once.</summary>
    public static byte[] HashOf(long length, int seed)
    {
        using var s = new GeneratedStream(length, seed);
        return SHA256.HashData(s);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = (int)Math.Min(buffer.Length, length - _position);
        var span = buffer[..n];
        // Byte i of the stream is byte (i % 8) of the (i / 8)-th state, so any read sizes give the same content.
        var i = 0;
        while (i < span.Length && _pendingBytes > 0)
        {
            span[i++] = (byte)_pending;
            _pending >>= 8;
            _pendingBytes--;
        }
        var words = MemoryMarshal.Cast<byte, ulong>(span[i..]);
        for (var w = 0; w < words.Length; w++) words[w] = BitConverter.IsLittleEndian ? Next() : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(Next());
        i += words.Length * 8;
        if (i < span.Length)
        {
            _pending = Next();
            _pendingBytes = 8;
            while (i < span.Length)
            {
                span[i++] = (byte)_pending;
                _pending >>= 8;
                _pendingBytes--;
            }
        }
        _position += n;
        return n;
    }

    private ulong Next()
    {
        _state ^= _state << 13;
        _state ^= _state >> 7;
        _state ^= _state << 17;
        return _state;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => new(Read(buffer.Span));
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer, offset, count));
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
