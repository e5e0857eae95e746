using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>
/// Frames frontend messages (protocol v3): a type byte, then an Int32 length that counts itself and the body. Messages are
/// collected in a buffer and sent together by <see cref="FlushAsync"/>, so a pipelined Parse/Bind/Execute/Sync is one write.
/// </summary>
internal sealed class MessageWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private int _lengthAt = -1;

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    /// <summary>Starts a message; <paramref name="type"/> null for the untyped startup-phase messages.</summary>
    public MessageWriter Start(char? type)
    {
        if (_lengthAt >= 0) throw new InvalidOperationException("the previous message was not ended");
        if (type is { } t) WriteByte((byte)t);
        _lengthAt = _buffer.WrittenCount;
        return WriteInt32(0);
    }

    public MessageWriter End()
    {
        var length = _buffer.WrittenCount - _lengthAt;
        BinaryPrimitives.WriteInt32BigEndian(WrittenSpanAt(_lengthAt), length);
        _lengthAt = -1;
        return this;
    }

    // The written bytes are one contiguous array; patch the length in place.
    private Span<byte> WrittenSpanAt(int offset) =>
        System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory).Span.Slice(offset, 4);

    public MessageWriter WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public MessageWriter WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
        return this;
    }

    public MessageWriter WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public MessageWriter WriteBytes(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>A null-terminated UTF-8 string; the protocol cannot carry one with a NUL inside.</summary>
    public MessageWriter WriteCString(string value)
    {
        if (value.Contains('\0')) throw new ArgumentException("text sent to PostgreSQL cannot contain a NUL character");
        var count = Encoding.UTF8.GetByteCount(value);
        Encoding.UTF8.GetBytes(value, _buffer.GetSpan(count + 1));
        _buffer.Advance(count);
        return WriteByte(0);
    }

    public async ValueTask FlushAsync(Stream stream, bool async, CancellationToken ct)
    {
        if (_lengthAt >= 0) throw new InvalidOperationException("a message was not ended");
        if (async) await stream.WriteAsync(_buffer.WrittenMemory, ct);
        else stream.Write(_buffer.WrittenSpan);
        if (async) await stream.FlushAsync(ct); else stream.Flush();
        _buffer.Clear();
    }

    public void Clear()
    {
        _buffer.Clear();
        _lengthAt = -1;
    }
}
