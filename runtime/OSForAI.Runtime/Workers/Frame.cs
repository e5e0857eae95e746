using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace OSForAI.Runtime.Workers;

/// <summary>One worker-protocol frame: a JSON header and a raw payload (docs/worker-protocol.md §2).</summary>
public sealed class Frame(JsonElement header, byte[] payload)
{
    public const int MaxHeaderBytes = 1024 * 1024;
    public const int MaxPayloadBytes = 1024 * 1024 * 1024;

    public JsonElement Header { get; } = header;
    public byte[] Payload { get; } = payload;

    public string Type => Header.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
    public long Id => Header.TryGetProperty("id", out var i) && i.TryGetInt64(out var v) ? v : 0;
    public string? GetString(string name) => Header.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
    public bool GetBool(string name) => Header.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.True;
    public double GetDouble(string name) => Header.TryGetProperty(name, out var p) && p.TryGetDouble(out var d) ? d : 0;
    public int GetInt(string name) => Header.TryGetProperty(name, out var p) && p.TryGetInt32(out var d) ? d : 0;

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
            JsonElement header;
            try
            {
                using var doc = JsonDocument.Parse(headerBytes.AsMemory(0, (int)h));
                header = doc.RootElement.Clone();
            }
            catch (JsonException e) { throw new InvalidDataException("frame header is not JSON: " + e.Message); }
            if (header.ValueKind != JsonValueKind.Object || !header.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                throw new InvalidDataException("frame header is not a JSON object with a string 'type'");
            var payload = p == 0 ? [] : new byte[p];
            if (p > 0) await stream.ReadExactlyAsync(payload, ct);
            return new Frame(header, payload);
        }
        finally { ArrayPool<byte>.Shared.Return(headerBytes); }
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
