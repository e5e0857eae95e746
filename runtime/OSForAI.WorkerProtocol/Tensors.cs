using System.Buffers.Binary;

namespace OSForAI.WorkerProtocol;

/// <summary>Element types of the Open Inference Protocol (their wire names are <see cref="TensorTypes.Name"/>).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TensorType>))]
public enum TensorType : byte { Bool, UInt8, UInt16, UInt32, UInt64, Int8, Int16, Int32, Int64, Fp16, Bf16, Fp32, Fp64, Bytes }

public static class TensorTypes
{
    private static readonly string[] Names =
        ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"];
    private static readonly int[] Sizes = [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 0];
    // ONNX TensorProto.DataType numbers, by TensorType.
    private static readonly int[] OnnxNumbers = [9, 2, 4, 12, 13, 3, 5, 6, 7, 10, 16, 1, 11, 8];

    /// <summary>The protocol's name, e.g. "FP32".</summary>
    public static string Name(this TensorType t) => Names[(int)t];

    public static bool TryParse(string? name, out TensorType type)
    {
        var i = name is null ? -1 : Array.IndexOf(Names, name);
        type = i < 0 ? default : (TensorType)i;
        return i >= 0;
    }

    /// <summary>Bytes per element; 0 for BYTES, whose elements vary in length.</summary>
    public static int ElementSize(this TensorType t) => Sizes[(int)t];

    public static int ToOnnx(this TensorType t) => OnnxNumbers[(int)t];

    /// <summary>The protocol type of an ONNX element type number, or null when the protocol has none (complex, float8, …).</summary>
    public static TensorType? FromOnnx(int onnxElementType)
    {
        var i = Array.IndexOf(OnnxNumbers, onnxElementType);
        return i < 0 ? null : (TensorType)i;
    }
}

/// <summary>A named input or output of a model: its type and shape, with -1 for a dimension of any size.</summary>
public sealed record TensorSpec(string Name, TensorType Type, long[] Shape)
{
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>
/// A tensor as it travels: row-major, little-endian element bytes. BYTES tensors hold each element as a
/// 4-byte little-endian length followed by that many bytes (the layout of the protocol's binary extension).
/// </summary>
public sealed class Tensor(string name, TensorType type, long[] shape, ReadOnlyMemory<byte> data)
{
    public string Name { get; } = name;
    public TensorType Type { get; } = type;
    public long[] Shape { get; } = shape;
    public ReadOnlyMemory<byte> Data { get; } = data;
    public long ElementCount => TensorBundle.ElementCount(Shape);

    public override string ToString() => $"{Name} {Type.Name()}[{string.Join(",", Shape)}]";
}

/// <summary>
/// The "tensors" content kind of the worker protocol: a 4-byte big-endian length, a JSON header
/// <c>{"tensors":[{"name","datatype","shape","bytes"}]}</c>, then each tensor's bytes in that order.
/// </summary>
public static class TensorBundle
{
    public const string ContentKind = "tensors";
    /// <summary>Most elements one tensor may declare (bounds allocation before any data is read).</summary>
    public const long MaxElements = 1L << 31;

    /// <summary>Product of the dimensions; throws <see cref="InvalidDataException"/> on negative dimensions or overflow past <see cref="MaxElements"/>.</summary>
    public static long ElementCount(long[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new InvalidDataException($"dimension {d} is negative");
            if (d != 0 && n > MaxElements / d) throw new InvalidDataException($"shape [{string.Join(",", shape)}] has more than {MaxElements} elements");
            n *= d;
        }
        return n;
    }

    /// <summary>Checks that <paramref name="data"/> holds exactly the elements <paramref name="shape"/> declares; returns an error or null.</summary>
    public static string? CheckData(TensorType type, long[] shape, ReadOnlySpan<byte> data)
    {
        long count;
        try { count = ElementCount(shape); }
        catch (InvalidDataException e) { return e.Message; }
        if (type != TensorType.Bytes)
        {
            var expected = count * type.ElementSize();
            return data.Length == expected ? null
                : $"shape [{string.Join(",", shape)}] of {type.Name()} needs {expected} bytes of data, got {data.Length}";
        }
        var offset = 0;
        for (long i = 0; i < count; i++)
        {
            if (data.Length - offset < 4) return $"BYTES data ends at element {i} of {count}";
            var len = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
            if (len > data.Length - offset - 4) return $"BYTES element {i} declares {len} bytes, more than remain";
            offset += 4 + (int)len;
        }
        return offset == data.Length ? null : $"BYTES data has {data.Length - offset} bytes after its {count} elements";
    }

    public static byte[] Encode(IReadOnlyList<Tensor> tensors)
    {
        var segments = EncodeSegments(tensors);
        var buffer = new byte[segments.Sum(s => (long)s.Length)];
        var offset = 0;
        foreach (var s in segments)
        {
            s.Span.CopyTo(buffer.AsSpan(offset));
            offset += s.Length;
        }
        return buffer;
    }

    /// <summary>The bundle as segments (its header, then each tensor's own data, not copied), for gathered writes.</summary>
    public static IReadOnlyList<ReadOnlyMemory<byte>> EncodeSegments(IReadOnlyList<Tensor> tensors)
    {
        var header = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new System.Text.Json.Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            w.WriteStartArray("tensors");
            foreach (var t in tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("datatype", t.Type.Name());
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteNumber("bytes", t.Data.Length);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        long total = 4 + header.WrittenCount;
        foreach (var t in tensors) total += t.Data.Length;
        if (total > Frame.MaxPayloadBytes) throw new InvalidDataException($"tensors of {total} bytes exceed the frame limit");
        var head = new byte[4 + header.WrittenCount];
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)header.WrittenCount);
        header.WrittenSpan.CopyTo(head.AsSpan(4));
        var segments = new List<ReadOnlyMemory<byte>>(tensors.Count + 1) { head };
        foreach (var t in tensors) segments.Add(t.Data);
        return segments;
    }

    /// <summary>Decodes a bundle; tensor data are slices of <paramref name="payload"/>. Throws <see cref="InvalidDataException"/>.</summary>
    public static List<Tensor> Decode(ReadOnlyMemory<byte> payload)
    {
        var span = payload.Span;
        if (span.Length < 4) throw new InvalidDataException("tensor bundle is shorter than its length prefix");
        var headerLength = BinaryPrimitives.ReadUInt32BigEndian(span);
        if (headerLength > span.Length - 4) throw new InvalidDataException("tensor bundle header is longer than the payload");
        var result = new List<Tensor>();
        var offset = 4 + (int)headerLength;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(payload.Slice(4, (int)headerLength));
            foreach (var t in doc.RootElement.GetProperty("tensors").EnumerateArray())
            {
                var name = t.GetProperty("name").GetString() ?? throw new InvalidDataException("tensor without a name");
                if (!TensorTypes.TryParse(t.GetProperty("datatype").GetString(), out var type))
                    throw new InvalidDataException($"tensor {name} has an unknown datatype");
                var shape = t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                var bytes = t.GetProperty("bytes").GetInt64();
                if (bytes < 0 || bytes > payload.Length - offset) throw new InvalidDataException($"tensor {name} declares more bytes than the payload holds");
                var data = payload.Slice(offset, (int)bytes);
                if (CheckData(type, shape, data.Span) is { } error) throw new InvalidDataException($"tensor {name}: {error}");
                result.Add(new Tensor(name, type, shape, data));
                offset += (int)bytes;
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("tensor bundle header is malformed: " + e.Message);
        }
        if (offset != payload.Length) throw new InvalidDataException("tensor bundle has trailing bytes");
        return result;
    }
}
