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

    private Frame(Dictionary<string, object?> fields, byte[] payload)
    {
        _fields = fields;
        Payload = payload;
    }

    public byte[] Payload { get; }
    public string Type => GetString("type") ?? "";
    public long Id => _fields.GetValueOrDefault("id") is double d && d >= 1 && d == Math.Floor(d) ? (long)d : 0;
    public string? GetString(string name) => _fields.GetValueOrDefault(name) as string;
    public bool GetBool(string name) => _fields.GetValueOrDefault(name) is true;
    public double GetDouble(string name) => _fields.GetValueOrDefault(name) is double d ? d : 0;
    public JsonElement? GetElement(string name) => _fields.GetValueOrDefault(name) is JsonElement e ? e : null;
    public int GetInt(string name) => _fields.GetValueOrDefault(name) is double d && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue ? (int)d : 0;

    /// <summary>Reads one frame, or null at a clean end of stream. Throws <see cref="InvalidDataException"/> on a broken frame.</summary>
    public static async Task<Frame?> ReadAsync(Stream stream, CancellationToken ct)
    {
        var lengths = new byte[8];
        if (!await ReadExactlyOrEndAsync(stream, lengths, ct)) return null;
        var h = BinaryPrimitives.ReadUInt32BigEndian(lengths);
        var p = BinaryPrimitives.ReadUInt32BigEndian(lengths.AsSpan(4));
        if (h is 0 or > MaxHeaderBytes || p > MaxPayloadBytes) throw new InvalidDataException($"frame lengths out of range (header {h}, payload {p})");
        var headerBytes = ArrayPool<byte>.Shared.Rent((int)h);
        try
        {
            await stream.ReadExactlyAsync(headerBytes.AsMemory(0, (int)h), ct);
            var fields = ParseHeader(headerBytes.AsSpan(0, (int)h));
            var payload = p == 0 ? [] : GC.AllocateUninitializedArray<byte>((int)p);
            if (p > 0) await stream.ReadExactlyAsync(payload, ct);
            return new Frame(fields, payload);
        }
        finally { ArrayPool<byte>.Shared.Return(headerBytes); }
    }

    /// <summary>Blocking <see cref="ReadAsync"/>, for a reader that owns a thread (cheaper hand-offs for large payloads).</summary>
    public static Frame? Read(Stream stream)
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
            var payload = p == 0 ? [] : GC.AllocateUninitializedArray<byte>((int)p);
            if (p > 0) stream.ReadExactly(payload);
            return new Frame(fields, payload);
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
