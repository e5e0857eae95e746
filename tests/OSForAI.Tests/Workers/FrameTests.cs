using OSForAI.WorkerProtocol;
using System.Buffers.Binary;
using System.Text;
using OSForAI.Runtime.Workers;

namespace OSForAI.Tests.Workers;

public sealed class FrameTests
{
    private static byte[] Raw(string header, byte[]? payload = null, uint? headerLength = null, uint? payloadLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        payload ??= [];
        var bytes = new byte[8 + h.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, headerLength ?? (uint)h.Length);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), payloadLength ?? (uint)payload.Length);
        h.CopyTo(bytes, 8);
        payload.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    [Fact]
    public async Task Encoded_frames_read_back_with_fields_and_payload()
    {
        var bytes = Frame.Encode(w =>
        {
            w.WriteString("type", "result");
            w.WriteNumber("id", 42);
            w.WriteString("content_type", "text");
            w.WriteBoolean("stdout_truncated", true);
            w.WriteStartObject("context");
            w.WriteString("trace_id", "abc");
            w.WriteEndObject();
            w.WriteNumber("duration_ms", 1.5);
        }, "héllo"u8);
        var frame = await Frame.ReadAsync(new MemoryStream(bytes), default);
        Assert.NotNull(frame);
        Assert.Equal("result", frame.Type);
        Assert.Equal(42, frame.Id);
        Assert.Equal("text", frame.GetString("content_type"));
        Assert.True(frame.GetBool("stdout_truncated"));
        Assert.Equal(1.5, frame.GetDouble("duration_ms"));
        Assert.Equal("héllo", Encoding.UTF8.GetString(frame.Payload));
    }

    [Fact]
    public async Task Clean_end_of_stream_is_null_and_a_cut_frame_is_an_error()
    {
        Assert.Null(await Frame.ReadAsync(new MemoryStream(), default));
        var cut = Raw("{\"type\":\"pong\"}")[..10];
        await Assert.ThrowsAsync<EndOfStreamException>(() => Frame.ReadAsync(new MemoryStream(cut), default));
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("{\"id\": 1}")]
    [InlineData("{\"type\": 7}")]
    [InlineData("{\"type\": \"x\"")]
    [InlineData("not json")]
    public async Task Malformed_headers_are_protocol_errors(string header)
    {
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Frame.ReadAsync(new MemoryStream(Raw(header)), default));
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public async Task Absurd_lengths_are_refused_before_allocating()
    {
        var huge = Raw("{\"type\":\"x\"}", headerLength: 64 * 1024 * 1024);
        await Assert.ThrowsAsync<InvalidDataException>(() => Frame.ReadAsync(new MemoryStream(huge), default));
        var zero = Raw("", headerLength: 0);
        await Assert.ThrowsAsync<InvalidDataException>(() => Frame.ReadAsync(new MemoryStream(zero), default));
        var bigPayload = Raw("{\"type\":\"x\"}", payloadLength: uint.MaxValue);
        await Assert.ThrowsAsync<InvalidDataException>(() => Frame.ReadAsync(new MemoryStream(bigPayload), default));
    }
}
