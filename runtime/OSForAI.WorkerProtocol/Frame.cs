using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace OSForAI.WorkerProtocol;

/// <summary>
/// One worker-protocol frame: a JSON header and a raw payload (docs/worker-protocol.md §2).
/// The header's top-level fields are read once into a small map: scalars as string, double or bool,
/// nested arrays and objects as <see cref="JsonElement"/>.
/// </summary>
public sealed class Frame
{
    public const int MaxHeaderBytes = 1024 * 1024;
    public const int MaxPayloadBytes = 1024 * 1024 * 1024;

    private readonly Dictionary<string, object?> _fields;

    private byte[]? _rented;
    private readonly int _payloadLength;

    private Frame(Dictionary<string, object?> fields, byte[] payload, int payloadLength, bool rented)
    {
        _fields = fields;
        _payload = payload;
        _payloadLength = payloadLength;
        if (rented) _rented = payload;
    }

    private readonly byte[] _payload;

    /// <summary>The payload as an exact-length array (copied once if the frame was read into a pooled buffer).</summary>
    public byte[] Payload => _rented is null && _payload.Length == _payloadLength ? _payload : PayloadMemory.ToArray();

    /// <summary>The payload without copying; valid until <see cref="ReturnPayload"/>.</summary>
    public ReadOnlyMemory<byte> PayloadMemory => _payload.AsMemory(0, _payloadLength);

    /// <summary>Gives a pooled payload buffer back (frames read with <c>pooled: true</c>); the payload must not be used afterwards.</summary>
    public void ReturnPayload()
    {
        if (Interlocked.Exchange(ref _rented, null) is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
    }
    public string Type => GetString("type") ?? "";
    public long Id => _fields.GetValueOrDefault("id") is double d && d >= 1 && d == Math.Floor(d) ? (long)d : 0;
    public string? GetString(string name) => _fields.GetValueOrDefault(name) as string;
    public bool GetBool(string name) => _fields.GetValueOrDefault(name) is true;
    public double GetDouble(string name) => _fields.GetValueOrDefault(name) is double d ? d : 0;
    public JsonElement? GetElement(string name) => _fields.GetValueOrDefault(name) is JsonElement e ? e : null;
    public int GetInt(string name) => _fields.GetValueOrDefault(name) is double d && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue ? (int)d : 0;

    /// <summary>Reads one frame, or null at a clean end of stream. Throws <see cref="InvalidDataException"/> on a broken frame.</summary>
    public static Task<Frame?> ReadAsync(Stream stream, CancellationToken ct) => ReadAsync(stream, MaxHeaderBytes, MaxPayloadBytes, ct);

    /// <summary>
    /// <see cref="ReadAsync(Stream, CancellationToken)"/> with tighter limits, checked before anything is allocated: for
    /// frames from a peer that has not authenticated yet (<c>hello</c>, <c>auth</c>), which must not make the reader
    /// reserve a megabyte by announcing one. Never reads past the frame's end.
    /// </summary>
    public static async Task<Frame?> ReadAsync(Stream stream, int maxHeaderBytes, int maxPayloadBytes, CancellationToken ct)
    {
        var lengths = new byte[8];
        if (!await ReadExactlyOrEndAsync(stream, lengths, ct)) return null;
        var h = BinaryPrimitives.ReadUInt32BigEndian(lengths);
        var p = BinaryPrimitives.ReadUInt32BigEndian(lengths.AsSpan(4));
        if (h == 0 || h > Math.Min(maxHeaderBytes, MaxHeaderBytes) || p > Math.Min(maxPayloadBytes, MaxPayloadBytes))
            throw new InvalidDataException($"frame lengths out of range (header {h}, payload {p})");
        var headerBytes = ArrayPool<byte>.Shared.Rent((int)h);
        try
        {
            await stream.ReadExactlyAsync(headerBytes.AsMemory(0, (int)h), ct);
            var fields = ParseHeader(headerBytes.AsSpan(0, (int)h));
            var payload = p == 0 ? [] : GC.AllocateUninitializedArray<byte>((int)p);
            if (p > 0) await stream.ReadExactlyAsync(payload, ct);
            return new Frame(fields, payload, (int)p, rented: false);
        }
        finally { ArrayPool<byte>.Shared.Return(headerBytes); }
    }

    /// <summary>
    /// Blocking <see cref="ReadAsync"/>, for a reader that owns a thread (cheaper hand-offs for large payloads).
    /// With <paramref name="pooled"/> the payload lands in a pooled buffer: call <see cref="ReturnPayload"/> when done.
    /// </summary>
    public static Frame? Read(Stream stream, bool pooled = false)
    {
        Span<byte> lengths = stackalloc byte[8];
        var got = stream.ReadAtLeast(lengths, 8, throwOnEndOfStream: false);
        if (got == 0) return null;
        if (got < 8) throw new EndOfStreamException("connection closed in the middle of a frame");
        var h = BinaryPrimitives.ReadUInt32BigEndian(lengths);
        var p = BinaryPrimitives.ReadUInt32BigEndian(lengths[4..]);
        if (h is 0 or > MaxHeaderBytes || p > MaxPayloadBytes) throw new InvalidDataException($"frame lengths out of range (header {h}, payload {p})");
        var headerBytes = ArrayPool<byte>.Shared.Rent((int)h);
        try
        {
            stream.ReadExactly(headerBytes.AsSpan(0, (int)h));
            var fields = ParseHeader(headerBytes.AsSpan(0, (int)h));
            var rent = pooled && p > 0;
            var payload = p == 0 ? [] : rent ? ArrayPool<byte>.Shared.Rent((int)p) : GC.AllocateUninitializedArray<byte>((int)p);
            if (p > 0) stream.ReadExactly(payload.AsSpan(0, (int)p));
            return new Frame(fields, payload, (int)p, rent);
        }
        finally { ArrayPool<byte>.Shared.Return(headerBytes); }
    }

    internal static Dictionary<string, object?> ParseHeader(ReadOnlySpan<byte> header)
    {
        var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
        try
        {
            var r = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 64 });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new InvalidDataException("frame header is not a JSON object");
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var name = r.GetString()!;
                r.Read();
                switch (r.TokenType)
                {
                    case JsonTokenType.String: fields[name] = r.GetString(); break;
                    case JsonTokenType.Number: fields[name] = r.GetDouble(); break;
                    case JsonTokenType.True: fields[name] = true; break;
                    case JsonTokenType.False: fields[name] = false; break;
                    case JsonTokenType.Null: fields[name] = null; break;
                    default: fields[name] = JsonElement.ParseValue(ref r); break;
                }
            }
            while (r.Read()) { }   // the rest must still be well-formed JSON
        }
        catch (JsonException e) { throw new InvalidDataException("frame header is not JSON: " + e.Message); }
        if (fields.GetValueOrDefault("type") is not string) throw new InvalidDataException("frame header has no string 'type'");
        return fields;
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
            if (n == 0)
            {
                if (read == 0) return false;
                throw new EndOfStreamException("connection closed in the middle of a frame");
            }
            read += n;
        }
        return true;
    }

    /// <summary>The lengths and header of a frame whose payload of <paramref name="payloadLength"/> bytes is written right after it.</summary>
    public static byte[] EncodeHead(Action<Utf8JsonWriter> writeHeader, long payloadLength)
    {
        if (payloadLength is < 0 or > MaxPayloadBytes) throw new InvalidDataException($"payload of {payloadLength} bytes exceeds the frame limit");
        var head = Encode(writeHeader, []);
        BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4), (uint)payloadLength);
        return head;
    }

    /// <summary>Encodes a frame into one buffer so it is written whole: lengths, header written by <paramref name="writeHeader"/>, payload.</summary>
    public static byte[] Encode(Action<Utf8JsonWriter> writeHeader, ReadOnlySpan<byte> payload)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(8);
        buffer.Advance(8);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            writeHeader(w);
            w.WriteEndObject();
        }
        var headerLength = buffer.WrittenCount - 8;
        var frame = new byte[buffer.WrittenCount + payload.Length];
        buffer.WrittenSpan.CopyTo(frame);
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)headerLength);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(8 + headerLength));
        return frame;
    }
}
