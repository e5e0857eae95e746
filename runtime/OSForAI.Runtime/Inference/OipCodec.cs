using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Inference;

/// <summary>A client mistake in an inference request; the caller answers HTTP 400 with <c>{"error": Message}</c>.</summary>
public sealed class InferenceRequestException(string message) : Exception(message);

/// <summary>Model outputs that cannot be encoded as asked (e.g. NaN in a JSON output); the caller answers HTTP 500.</summary>
public sealed class InferenceOutputException(string message) : Exception(message);

/// <summary>An output the client asked for: whether it travels as binary data, and its classification count (0 = none).</summary>
public sealed record RequestedOutput(string Name, bool Binary, int Classification);

/// <summary>A decoded inference request. <see cref="Inputs"/> are in the model's input order.</summary>
public sealed record InferRequest(string? Id, JsonElement? Parameters, IReadOnlyList<Tensor> Inputs, IReadOnlyList<RequestedOutput> Outputs);

/// <summary>A response body; when some output is binary, the first <see cref="InferenceHeaderLength"/> bytes are the JSON.</summary>
public sealed record EncodedResponse(byte[] Body, long? InferenceHeaderLength);

/// <summary>
/// Encoding and decoding of Open Inference Protocol v2 REST inference bodies (JSON, the binary tensor data
/// extension and the classification extension), and of the Algorithmia-style v1 JSON bodies. No HTTP here.
/// </summary>
public static class OipCodec
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // ───────────────────────────── v2 requests ─────────────────────────────

    /// <summary>Decodes and validates a v2 inference request against the model's inputs and outputs.</summary>
    /// <param name="inferenceHeaderLength">The Inference-Header-Content-Length header: the JSON part's length when binary data follows.</param>
    /// <exception cref="InferenceRequestException">Anything wrong with the request.</exception>
    public static InferRequest ParseInferRequest(ReadOnlyMemory<byte> body, long? inferenceHeaderLength,
        IReadOnlyList<TensorSpec> modelInputs, IReadOnlyList<TensorSpec> modelOutputs)
    {
        try { return ParseRequest(body, inferenceHeaderLength, modelInputs, modelOutputs); }
        catch (Exception e) when (IsClientError(e)) { throw Malformed(e, body.Span); }
    }

    private sealed class InputDraft(int index)
    {
        public string? Name, Datatype;
        public long[]? Shape;
        public JsonElement? Parameters;
        public int DataStart = -1, DataLength;
        public ReadOnlyMemory<byte>? Decoded; // data converted as it was read, when the datatype and shape came first
        public string Label => Name is null ? $"inputs[{index}]" : $"input '{Name}'";
    }

    private static InferRequest ParseRequest(ReadOnlyMemory<byte> body, long? headerLength,
        IReadOnlyList<TensorSpec> modelInputs, IReadOnlyList<TensorSpec>? modelOutputs)
    {
        if (headerLength is { } h && (h < 0 || h > body.Length))
            throw Bad($"Inference-Header-Content-Length is {h} but the request body has only {body.Length} bytes");
        var header = body[..(int)(headerLength ?? body.Length)];
        var binary = body[header.Length..];

        string? id = null;
        JsonElement? parameters = null, outputList = null;
        List<InputDraft>? drafts = null;
        var r = new Utf8JsonReader(header.Span, ReaderOptions);
        r.Read();
        Expect(ref r, JsonTokenType.StartObject, "the request body");
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("id"u8))
            {
                Once(id, "id");
                id = Next(ref r) == JsonTokenType.Null ? null : GetString(ref r, "the request id");
            }
            else if (r.ValueTextEquals("parameters"u8)) { Once(parameters, "parameters"); parameters = ReadObject(ref r, "the request parameters"); }
            else if (r.ValueTextEquals("inputs"u8))
            {
                Once(drafts, "inputs");
                Next(ref r);
                Expect(ref r, JsonTokenType.StartArray, "\"inputs\"");
                drafts = [];
                while (Next(ref r) != JsonTokenType.EndArray) drafts.Add(ReadInput(ref r, drafts.Count, modelInputs, header.Length));
            }
            else if (r.ValueTextEquals("outputs"u8))
            {
                Once(outputList, "outputs");
                if (Next(ref r) == JsonTokenType.Null) continue;
                Expect(ref r, JsonTokenType.StartArray, "\"outputs\"");
                using var doc = JsonDocument.ParseValue(ref r);
                outputList = doc.RootElement.Clone();
            }
            else { r.Read(); r.Skip(); }
        }
        r.Read(); // throws on anything after the object
        if (drafts is null) throw Bad("the request has no \"inputs\" array");

        // Names, types and shapes first: cheap checks before any data is touched.
        var specs = new TensorSpec[drafts.Count];
        var counts = new long[drafts.Count];
        var base64 = new bool[drafts.Count];
        var sizes = new long?[drafts.Count];
        for (var i = 0; i < drafts.Count; i++)
        {
            var d = drafts[i];
            var name = d.Name ?? throw Bad($"inputs[{i}] has no \"name\"");
            var k = IndexOf(modelInputs, name);
            if (k < 0) throw Bad($"unknown input '{name}'; the model's inputs are {Names(modelInputs)}");
            if (drafts.Take(i).Any(o => o.Name == name)) throw Bad($"input '{name}' is given more than once");
            var spec = specs[i] = modelInputs[k];
            if (d.Datatype is null) throw Bad($"input '{name}' has no \"datatype\"");
            if (!TensorTypes.TryParse(d.Datatype, out var type)) throw Bad($"input '{name}' has unknown datatype '{d.Datatype}'");
            if (type != spec.Type) throw Bad($"input '{name}' has datatype {d.Datatype} but the model expects {spec.Type.Name()}");
            counts[i] = CheckShape(name, d.Shape ?? throw Bad($"input '{name}' has no \"shape\""), spec);
            if (d.Parameters is { } p)
            {
                if (p.TryGetProperty("binary_data_size", out var s))
                    sizes[i] = s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) && n >= 0 ? n
                        : throw Bad($"input '{name}': parameters.binary_data_size must be a non-negative integer, got {s.GetRawText()}");
                base64[i] = IsBase64(p);
            }
            if (sizes[i] is not null && d.DataStart >= 0) throw Bad($"input '{name}' has both \"data\" and parameters.binary_data_size");
            if (sizes[i] is null && d.DataStart < 0) throw Bad($"input '{name}' has no \"data\" (and no parameters.binary_data_size)");
        }
        foreach (var spec in modelInputs)
            if (!drafts.Any(d => d.Name == spec.Name)) throw Bad($"missing input '{spec.Name}'; the model expects {Names(modelInputs)}");

        long declared = 0;
        for (var i = 0; i < drafts.Count; i++)
        {
            if (sizes[i] is not { } size) continue;
            if (size > binary.Length)
                throw Bad($"input '{drafts[i].Name}' declares binary_data_size {size} but only {binary.Length} bytes of binary data follow the JSON"
                    + (headerLength is null ? " (no Inference-Header-Content-Length was given)" : ""));
            declared += size;
        }
        if (declared != binary.Length)
            throw Bad($"the inputs' binary_data_size values add up to {declared} bytes but {binary.Length} bytes of binary data follow the JSON");

        var tensors = new Tensor[modelInputs.Count];
        var offset = 0;
        for (var i = 0; i < drafts.Count; i++)
        {
            var (d, spec, shape) = (drafts[i], specs[i], drafts[i].Shape!);
            ReadOnlyMemory<byte> data;
            if (sizes[i] is { } size)
            {
                data = binary.Slice(offset, (int)size);
                offset += (int)size;
                if (TensorBundle.CheckData(spec.Type, shape, data.Span) is { } error)
                    throw Bad($"binary data of input '{spec.Name}' does not match its shape: {error}");
                CheckFinite(spec.Name, spec.Type, data.Span);
            }
            else if (d.Decoded is { } decoded) data = decoded;
            else
            {
                var json = new Utf8JsonReader(header.Span.Slice(d.DataStart, d.DataLength), ReaderOptions);
                json.Read();
                data = DecodeJsonData(ref json, spec, shape, counts[i], base64[i], d.DataLength);
            }
            tensors[IndexOf(modelInputs, spec.Name)] = new Tensor(spec.Name, spec.Type, shape, data);
        }

        return new InferRequest(id, parameters, tensors, RequestedOutputs(outputList, parameters, modelOutputs));
    }

    private static InputDraft ReadInput(ref Utf8JsonReader r, int index, IReadOnlyList<TensorSpec> modelInputs, int headerLength)
    {
        var d = new InputDraft(index);
        Expect(ref r, JsonTokenType.StartObject, d.Label);
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("name"u8)) { Once(d.Name, $"{d.Label}.name"); Next(ref r); d.Name = GetString(ref r, $"the name of {d.Label}"); }
            else if (r.ValueTextEquals("datatype"u8)) { Once(d.Datatype, $"{d.Label}.datatype"); Next(ref r); d.Datatype = GetString(ref r, $"the datatype of {d.Label}"); }
            else if (r.ValueTextEquals("parameters"u8)) { Once(d.Parameters, $"{d.Label}.parameters"); d.Parameters = ReadObject(ref r, $"the parameters of {d.Label}"); }
            else if (r.ValueTextEquals("shape"u8))
            {
                Once(d.Shape, $"{d.Label}.shape");
                Next(ref r);
                Expect(ref r, JsonTokenType.StartArray, $"the shape of {d.Label}");
                var dims = new List<long>(8);
                while (Next(ref r) != JsonTokenType.EndArray)
                    dims.Add(r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var dim) ? dim
                        : throw Bad($"the shape of {d.Label} must hold integers, got {Describe(ref r)}"));
                d.Shape = [.. dims];
            }
            else if (r.ValueTextEquals("data"u8))
            {
                if (d.DataStart >= 0) throw Bad($"duplicate key \"{d.Label}.data\"");
                Next(ref r);
                d.DataStart = (int)r.TokenStartIndex;
                // Convert in this pass when everything needed is known (the usual order); otherwise come back later.
                if (EagerSpec(d, modelInputs) is { } spec)
                    d.Decoded = DecodeJsonData(ref r, spec, d.Shape!, CheckShape(spec.Name, d.Shape!, spec), IsBase64(d.Parameters), headerLength - d.DataStart);
                else r.Skip();
                d.DataLength = (int)r.BytesConsumed - d.DataStart;
            }
            else { r.Read(); r.Skip(); }
        }
        return d;
    }

    private static TensorSpec? EagerSpec(InputDraft d, IReadOnlyList<TensorSpec> modelInputs)
    {
        if (d.Name is null || d.Shape is null || !TensorTypes.TryParse(d.Datatype, out var type)) return null;
        var k = IndexOf(modelInputs, d.Name);
        if (k < 0 || modelInputs[k].Type != type) return null;
        if (d.Parameters is { } p ? p.TryGetProperty("binary_data_size", out _) : type == TensorType.Bytes) return null;
        return modelInputs[k];
    }

    private static bool IsBase64(JsonElement? parameters) =>
        parameters is { } p && p.TryGetProperty("content_type", out var c) && c.ValueKind == JsonValueKind.String && c.ValueEquals("base64");

    private static List<RequestedOutput> RequestedOutputs(JsonElement? list, JsonElement? parameters, IReadOnlyList<TensorSpec>? modelOutputs)
    {
        var binaryDefault = false;
        if (parameters is { } p && p.TryGetProperty("binary_data_output", out var b))
            binaryDefault = b.ValueKind is JsonValueKind.True or JsonValueKind.False ? b.GetBoolean()
                : throw Bad($"parameters.binary_data_output must be true or false, got {b.GetRawText()}");
        if (modelOutputs is null) return []; // the v1 path returns every output
        if (list is not { } outputs || outputs.GetArrayLength() == 0)
            return modelOutputs.Select(o => new RequestedOutput(o.Name, binaryDefault, 0)).ToList();

        var result = new List<RequestedOutput>();
        var i = 0;
        foreach (var o in outputs.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Object) throw Bad($"outputs[{i}] must be an object, got {o.GetRawText()}");
            var name = o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : throw Bad($"outputs[{i}] has no \"name\"");
            if (IndexOf(modelOutputs, name) < 0) throw Bad($"unknown output '{name}' requested; the model's outputs are {Names(modelOutputs)}");
            if (result.Any(x => x.Name == name)) throw Bad($"output '{name}' is requested more than once");
            var (binary, classification) = (binaryDefault, 0);
            if (o.TryGetProperty("parameters", out var q) && q.ValueKind != JsonValueKind.Null)
            {
                if (q.ValueKind != JsonValueKind.Object) throw Bad($"the parameters of output '{name}' must be an object, got {q.GetRawText()}");
                if (q.TryGetProperty("binary_data", out var bd))
                    binary = bd.ValueKind is JsonValueKind.True or JsonValueKind.False ? bd.GetBoolean()
                        : throw Bad($"output '{name}': parameters.binary_data must be true or false, got {bd.GetRawText()}");
                if (q.TryGetProperty("classification", out var c))
                    classification = c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var k) && k >= 0 ? k
                        : throw Bad($"output '{name}': parameters.classification must be a non-negative integer, got {c.GetRawText()}");
            }
            result.Add(new RequestedOutput(name, binary, classification));
            i++;
        }
        return result;
    }

    /// <summary>Validates a request shape against the model's; returns its element count.</summary>
    private static long CheckShape(string name, long[] shape, TensorSpec spec)
    {
        foreach (var dim in shape)
            if (dim < 0) throw Bad($"input '{name}' has negative dimension {dim} in shape {Text(shape)}");
        if (shape.Length != spec.Shape.Length)
            throw Bad($"input '{name}' has shape {Text(shape)} of rank {shape.Length} but the model expects rank {spec.Shape.Length} (shape {spec.ShapeText})");
        for (var k = 0; k < shape.Length; k++)
            if (spec.Shape[k] >= 0 && spec.Shape[k] != shape[k])
                throw Bad($"input '{name}' has size {shape[k]} in dimension {k} (shape {Text(shape)}) but the model expects {spec.Shape[k]} (shape {spec.ShapeText})");
        try { return TensorBundle.ElementCount(shape); }
        catch (InvalidDataException) { throw Bad($"input '{name}' has shape {Text(shape)}, more than {TensorBundle.MaxElements} elements"); }
    }

    /// <summary>Converts the "data" array at the reader (<paramref name="available"/> bytes at most) and leaves the reader at its end.</summary>
    private static ReadOnlyMemory<byte> DecodeJsonData(ref Utf8JsonReader r, TensorSpec spec, long[] shape, long count, bool base64, int available)
    {
        if (r.TokenType != JsonTokenType.StartArray) throw Bad($"the data of input '{spec.Name}' must be an array, got {Describe(ref r)}");
        // Every element takes at least two bytes ("0,"), so a count beyond that cannot be present: convert nothing, just count.
        var limit = count <= available / 2 + 1 ? count : 0;
        var data = Walk(ref r, spec.Name, spec.Type, limit, base64, available, out var dims, out var found);
        if (found != count)
            throw Bad($"input '{spec.Name}' has shape {Text(shape)} ({count} elements) but its data holds {found} elements");
        if (dims.Length > 1 && !dims.AsSpan().SequenceEqual(shape))
            throw Bad($"the nested data of input '{spec.Name}' has shape {Text(dims)} but the input declares shape {Text(shape)}");
        return data;
    }

    /// <summary>
    /// Reads the JSON value at the reader (nested arrays or a scalar), infers its shape and counts its elements, converting
    /// the first <paramref name="limit"/> of them; leaves the reader on the value's last token. Throws when the nesting is
    /// not rectangular.
    /// </summary>
    private static ReadOnlyMemory<byte> Walk(ref Utf8JsonReader r, string name, TensorType type, long limit, bool base64, int available,
        out long[] dims, out long found)
    {
        if (limit * Math.Max(1, type.ElementSize()) > Array.MaxLength) throw Bad($"the data of input '{name}' is too large");
        var sink = new ElementSink(name, type, base64, limit, available);
        var max = ReaderOptions.MaxDepth + 1;
        Span<long> counts = stackalloc long[max], lengths = stackalloc long[max];
        lengths.Fill(-1);
        int depth = 0, rank = 0, leafDepth = -1;
        found = 0;
        while (true)
        {
            switch (r.TokenType)
            {
                case JsonTokenType.StartArray:
                    if (depth > 0) counts[depth - 1]++;
                    counts[depth++] = 0;
                    rank = Math.Max(rank, depth);
                    break;
                case JsonTokenType.EndArray:
                    depth--;
                    if (lengths[depth] < 0) lengths[depth] = counts[depth];
                    else if (lengths[depth] != counts[depth]) throw NotRectangular(name);
                    break;
                case JsonTokenType.StartObject:
                    throw Bad($"input '{name}' element {found}: expected {Expected(type)}, got an object");
                default:
                    if (leafDepth < 0) leafDepth = depth;
                    else if (leafDepth != depth) throw NotRectangular(name);
                    if (depth > 0) counts[depth - 1]++;
                    if (found < limit) sink.Write(ref r, found);
                    found++;
                    break;
            }
            if (depth == 0) break;
            r.Read();
        }
        if (leafDepth >= 0 && leafDepth != rank) throw NotRectangular(name);
        dims = lengths[..rank].ToArray();
        return sink.Result;
    }

    /// <summary>Converts JSON elements into the tensor layout of one datatype.</summary>
    private sealed class ElementSink(string name, TensorType type, bool base64, long limit, int available)
    {
        private readonly int _size = type.ElementSize();
        private readonly byte[] _fixed = type == TensorType.Bytes || limit == 0 ? [] : new byte[limit * type.ElementSize()];
        private readonly ArrayBufferWriter<byte>? _bytes = type == TensorType.Bytes && limit > 0
            ? new((int)Math.Min(1 << 16, available + 4 * limit)) : null;

        public ReadOnlyMemory<byte> Result => _bytes is null ? _fixed : _bytes.WrittenMemory;

        public void Write(ref Utf8JsonReader r, long i)
        {
            var dst = _size == 0 ? default : _fixed.AsSpan((int)(i * _size), _size);
            switch (type)
            {
                case TensorType.Bool:
                    dst[0] = r.TokenType switch
                    {
                        JsonTokenType.True => 1,
                        JsonTokenType.False => 0,
                        _ => throw Element(ref r, i, $"expected true or false, got {Describe(ref r)}"),
                    };
                    break;
                case TensorType.UInt8: dst[0] = (byte)Integer(ref r, i, 0, byte.MaxValue); break;
                case TensorType.Int8: dst[0] = (byte)(sbyte)Integer(ref r, i, sbyte.MinValue, sbyte.MaxValue); break;
                case TensorType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)Integer(ref r, i, 0, ushort.MaxValue)); break;
                case TensorType.Int16: BinaryPrimitives.WriteInt16LittleEndian(dst, (short)Integer(ref r, i, short.MinValue, short.MaxValue)); break;
                case TensorType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)Integer(ref r, i, 0, uint.MaxValue)); break;
                case TensorType.Int32: BinaryPrimitives.WriteInt32LittleEndian(dst, (int)Integer(ref r, i, int.MinValue, int.MaxValue)); break;
                case TensorType.Int64: BinaryPrimitives.WriteInt64LittleEndian(dst, Integer(ref r, i, long.MinValue, long.MaxValue)); break;
                case TensorType.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(dst, UInt64(ref r, i)); break;
                case TensorType.Fp16:
                    var h = (Half)Double(ref r, i);
                    if (!Half.IsFinite(h)) throw OutOfRange(ref r, i);
                    BinaryPrimitives.WriteHalfLittleEndian(dst, h);
                    break;
                case TensorType.Bf16:
                    var bits = BitConverter.SingleToUInt32Bits(Single(ref r, i));
                    var bf = (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16); // round to nearest even
                    if ((bf & 0x7F80) == 0x7F80) throw OutOfRange(ref r, i);
                    BinaryPrimitives.WriteUInt16LittleEndian(dst, bf);
                    break;
                case TensorType.Fp32: BinaryPrimitives.WriteSingleLittleEndian(dst, Single(ref r, i)); break;
                case TensorType.Fp64: BinaryPrimitives.WriteDoubleLittleEndian(dst, Double(ref r, i)); break;
                default: WriteString(ref r, i); break;
            }
        }

        private void WriteString(ref Utf8JsonReader r, long i)
        {
            if (r.TokenType != JsonTokenType.String) throw Element(ref r, i, $"expected a string for BYTES, got {Describe(ref r)}");
            var raw = r.ValueSpan;
            var dst = _bytes!.GetSpan(4 + raw.Length);
            int n;
            if (!base64) n = r.ValueIsEscaped ? r.CopyString(dst[4..]) : Copy(raw, dst[4..]);
            else
            {
                byte[]? rented = null;
                var text = raw;
                if (r.ValueIsEscaped)
                {
                    rented = ArrayPool<byte>.Shared.Rent(raw.Length);
                    text = rented.AsSpan(0, r.CopyString(rented));
                }
                var status = Base64.DecodeFromUtf8(text, dst[4..], out _, out n);
                if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
                if (status != OperationStatus.Done) throw Element(ref r, i, "is not valid base64");
            }
            BinaryPrimitives.WriteInt32LittleEndian(dst, n);
            _bytes.Advance(4 + n);
        }

        private static int Copy(ReadOnlySpan<byte> from, Span<byte> to) { from.CopyTo(to); return from.Length; }

        private long Integer(ref Utf8JsonReader r, long i, long min, long max)
        {
            RequireNumber(ref r, i);
            if (r.TryGetInt64(out var v)) return v >= min && v <= max ? v : throw OutOfRange(ref r, i);
            // Not a plain integer literal: accept integral values written as 2.0 or 2e3.
            if (!r.TryGetDouble(out var d) || !double.IsFinite(d)) throw OutOfRange(ref r, i);
            if (Math.Floor(d) != d) throw NotInteger(ref r, i);
            return d >= min && d < max + 1.0 ? (long)d : throw OutOfRange(ref r, i);
        }

        private ulong UInt64(ref Utf8JsonReader r, long i)
        {
            RequireNumber(ref r, i);
            if (r.TryGetUInt64(out var v)) return v;
            if (r.TryGetInt64(out _)) throw OutOfRange(ref r, i); // negative
            if (!r.TryGetDouble(out var d) || !double.IsFinite(d)) throw OutOfRange(ref r, i);
            if (Math.Floor(d) != d) throw NotInteger(ref r, i);
            return d >= 0 && d < 18446744073709551616.0 ? (ulong)d : throw OutOfRange(ref r, i);
        }

        // A JSON number that overflows the type parses as infinity (or fails to parse).
        private float Single(ref Utf8JsonReader r, long i)
        {
            RequireNumber(ref r, i);
            return r.TryGetSingle(out var f) && float.IsFinite(f) ? f : throw OutOfRange(ref r, i);
        }

        private double Double(ref Utf8JsonReader r, long i)
        {
            RequireNumber(ref r, i);
            return r.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw OutOfRange(ref r, i);
        }

        private void RequireNumber(ref Utf8JsonReader r, long i)
        {
            if (r.TokenType != JsonTokenType.Number) throw Element(ref r, i, $"expected {Expected(type)}, got {Describe(ref r)}");
        }

        private InferenceRequestException OutOfRange(ref Utf8JsonReader r, long i) => Element(ref r, i, $"{Describe(ref r)} is out of range for {type.Name()}");
        private InferenceRequestException NotInteger(ref Utf8JsonReader r, long i) => Element(ref r, i, $"{Describe(ref r)} is not an integer, as {type.Name()} needs");
        private InferenceRequestException Element(ref Utf8JsonReader r, long i, string problem) => Bad($"input '{name}' element {i}: {problem}");
    }

    private static void CheckFinite(string name, TensorType type, ReadOnlySpan<byte> data)
    {
        // A float is NaN or infinite when its exponent bits are all ones.
        var (size, mask) = type switch
        {
            TensorType.Fp16 => (2, 0x7C00UL),
            TensorType.Bf16 => (2, 0x7F80UL),
            TensorType.Fp32 => (4, 0x7F800000UL),
            TensorType.Fp64 => (8, 0x7FF0000000000000UL),
            _ => (0, 0UL),
        };
        for (var o = 0; size > 0 && o < data.Length; o += size)
        {
            ulong bits = size switch
            {
                2 => BinaryPrimitives.ReadUInt16LittleEndian(data[o..]),
                4 => BinaryPrimitives.ReadUInt32LittleEndian(data[o..]),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(data[o..]),
            };
            if ((bits & mask) == mask) throw Bad($"input '{name}' contains NaN or infinity at element {o / size}; only finite values are accepted");
        }
    }

    // ───────────────────────────── v2 responses ─────────────────────────────

    /// <summary>Encodes the outputs the request asked for, in its order, as JSON or binary data.</summary>
    /// <exception cref="InferenceOutputException">An output is missing, malformed, or cannot be written as JSON.</exception>
    /// <exception cref="InferenceRequestException">Classification was asked of an output it cannot apply to.</exception>
    public static EncodedResponse EncodeInferResponse(string modelName, string? modelVersion, InferRequest request,
        IReadOnlyList<Tensor> outputs, IReadOnlyList<string>? labels)
    {
        var json = new ArrayBufferWriter<byte>(1024);
        var binary = new List<ReadOnlyMemory<byte>>();
        using (var w = new Utf8JsonWriter(json, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("model_name", modelName);
            if (modelVersion is not null) w.WriteString("model_version", modelVersion);
            if (request.Id is not null) w.WriteString("id", request.Id);
            w.WriteStartArray("outputs");
            foreach (var wanted in request.Outputs)
            {
                var t = outputs.FirstOrDefault(o => o.Name == wanted.Name)
                    ?? throw new InferenceOutputException($"the model produced no output '{wanted.Name}'");
                CheckOutput(t);
                if (wanted.Classification > 0) t = Classify(t, wanted.Classification, labels);
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("datatype", t.Type.Name());
                WriteShape(w, t.Shape);
                if (wanted.Binary)
                {
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", t.Data.Length);
                    w.WriteEndObject();
                    binary.Add(t.Data);
                }
                else
                {
                    var base64 = NeedsBase64(t);
                    if (base64)
                    {
                        w.WriteStartObject("parameters");
                        w.WriteString("content_type", "base64");
                        w.WriteEndObject();
                    }
                    w.WriteStartArray("data");
                    var span = t.Data.Span;
                    var offset = 0;
                    for (long i = 0, n = t.ElementCount; i < n; i++) WriteElement(w, t, span, ref offset, i, base64, v1: false);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        if (binary.Count == 0) return new EncodedResponse(json.WrittenSpan.ToArray(), null);

        var total = json.WrittenCount + binary.Sum(b => (long)b.Length);
        if (total > Array.MaxLength) throw new InferenceOutputException($"the response would take {total} bytes, more than one body can hold");
        var body = new byte[total];
        json.WrittenSpan.CopyTo(body);
        var at = json.WrittenCount;
        foreach (var b in binary) { b.Span.CopyTo(body.AsSpan(at)); at += b.Length; }
        return new EncodedResponse(body, json.WrittenCount);
    }

    /// <summary>The classification extension: the top <paramref name="k"/> classes of each row as "score:index[:label]".</summary>
    private static Tensor Classify(Tensor t, int k, IReadOnlyList<string>? labels)
    {
        if (!IsNumeric(t.Type) || t.Shape.Length is not (1 or 2))
            throw Bad($"classification needs a numeric output of shape [C] or [N,C]; output '{t.Name}' is {t.Type.Name()} {Text(t.Shape)}");
        var (size, classes) = (t.Type.ElementSize(), (int)t.Shape[^1]);
        var rows = t.Shape.Length == 1 ? 1 : (int)t.Shape[0];
        k = Math.Min(k, classes);
        var data = t.Data.Span;
        var scores = new double[classes];
        var order = new int[classes];
        var byScore = Comparer<int>.Create((a, b) => scores[b].CompareTo(scores[a]) is var c and not 0 ? c : a.CompareTo(b));
        var result = new ArrayBufferWriter<byte>((int)Math.Min(1L + rows * k * 24, 1 << 20));
        for (var row = 0; row < rows; row++)
        {
            var rowData = data.Slice(row * classes * size, classes * size);
            for (var c = 0; c < classes; c++) (scores[c], order[c]) = (AsDouble(t.Type, rowData[(c * size)..]), c);
            Array.Sort(order, byScore);
            for (var j = 0; j < k; j++)
            {
                var index = order[j];
                var text = ElementText(t.Type, rowData[(index * size)..]) + ":" + index.ToString(CultureInfo.InvariantCulture)
                    + (labels is not null && index < labels.Count ? ":" + labels[index] : "");
                var dst = result.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(text.Length));
                var n = Encoding.UTF8.GetBytes(text, dst[4..]);
                BinaryPrimitives.WriteInt32LittleEndian(dst, n);
                result.Advance(4 + n);
            }
        }
        long[] shape = t.Shape.Length == 1 ? [k] : [rows, k];
        return new Tensor(t.Name, TensorType.Bytes, shape, result.WrittenMemory);
    }

    // ───────────────────────────── v1 (Algorithmia-style) ─────────────────────────────

    /// <summary>
    /// Decodes a v1 JSON body: an OIP-style object with "inputs", an object mapping input names to (nested) arrays,
    /// or — for a model with one input — a bare (nested) array. Shapes are inferred from the nesting; when the data has
    /// one dimension fewer than the model and the model's first dimension is 1 or -1, a batch dimension of 1 is added.
    /// </summary>
    /// <returns>The tensors in the model's input order.</returns>
    public static IReadOnlyList<Tensor> ParseV1Input(ReadOnlyMemory<byte> json, IReadOnlyList<TensorSpec> modelInputs)
    {
        try
        {
            var span = json.Span;
            var r = new Utf8JsonReader(span, ReaderOptions);
            r.Read();
            if (r.TokenType == JsonTokenType.StartArray)
            {
                if (modelInputs.Count != 1)
                    throw Bad($"a bare array can only feed a model with one input, but this model has {modelInputs.Count} ({Names(modelInputs)}); send an object mapping input names to arrays");
                r.Skip();
                r.Read();
                return [V1Tensor(span, modelInputs[0])];
            }
            if (r.TokenType != JsonTokenType.StartObject) throw Bad($"the request body must be a JSON object or array, got {Describe(ref r)}");
            var values = new List<(string Name, int Start, int Length)>();
            var oip = false;
            while (Next(ref r) == JsonTokenType.PropertyName)
            {
                var name = r.GetString()!;
                Next(ref r);
                if (name == "inputs" && r.TokenType == JsonTokenType.StartArray)
                {
                    var peek = r; // an array of objects (or an empty one) is the OIP form; arrays of numbers are data
                    peek.Read();
                    oip |= peek.TokenType is JsonTokenType.StartObject or JsonTokenType.EndArray;
                }
                var start = (int)r.TokenStartIndex;
                r.Skip();
                values.Add((name, start, (int)r.BytesConsumed - start));
            }
            r.Read();
            if (oip) return ParseRequest(json, null, modelInputs, null).Inputs;

            var tensors = new Tensor[modelInputs.Count];
            foreach (var (name, start, length) in values)
            {
                var k = IndexOf(modelInputs, name);
                if (k < 0) throw Bad($"unknown input '{name}'; the model's inputs are {Names(modelInputs)}");
                if (tensors[k] is not null) throw Bad($"input '{name}' is given more than once");
                tensors[k] = V1Tensor(span.Slice(start, length), modelInputs[k]);
            }
            for (var k = 0; k < tensors.Length; k++)
                if (tensors[k] is null) throw Bad($"missing input '{modelInputs[k].Name}'; the model expects {Names(modelInputs)}");
            return tensors;
        }
        catch (Exception e) when (IsClientError(e)) { throw Malformed(e, json.Span); }
    }

    private static Tensor V1Tensor(ReadOnlySpan<byte> json, TensorSpec spec)
    {
        var r = new Utf8JsonReader(json, ReaderOptions);
        r.Read();
        Walk(ref r, spec.Name, spec.Type, 0, false, json.Length, out var dims, out _); // shape only
        long[] shape = dims.Length + 1 == spec.Shape.Length && spec.Shape[0] is 1 or -1 ? [1, .. dims] : dims;
        var count = CheckShape(spec.Name, shape, spec);
        r = new Utf8JsonReader(json, ReaderOptions);
        r.Read();
        var data = Walk(ref r, spec.Name, spec.Type, count, false, json.Length, out _, out _);
        return new Tensor(spec.Name, spec.Type, shape, data);
    }

    /// <summary>
    /// Encodes outputs as a JSON object of nested arrays. With labels, adds "top": the arg-max of each row of the first
    /// numeric output of shape [C] or [N,C] with C = labels.Count, as {"label","index","score"}.
    /// </summary>
    public static byte[] EncodeV1Output(IReadOnlyList<Tensor> outputs, IReadOnlyList<string>? labels)
    {
        var json = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(json, WriterOptions))
        {
            w.WriteStartObject();
            foreach (var t in outputs)
            {
                CheckOutput(t);
                w.WritePropertyName(t.Name);
                var (offset, index) = (0, 0L);
                WriteNested(w, t, t.Data.Span, 0, ref offset, ref index, NeedsBase64(t));
            }
            if (labels is { Count: > 0 } && outputs.All(o => o.Name != "top")
                && outputs.FirstOrDefault(o => IsNumeric(o.Type) && o.Shape.Length is 1 or 2 && o.Shape[^1] == labels.Count) is { } scored)
                WriteTop(w, scored, labels);
            w.WriteEndObject();
        }
        return json.WrittenSpan.ToArray();
    }

    private static void WriteNested(Utf8JsonWriter w, Tensor t, ReadOnlySpan<byte> data, int dim, ref int offset, ref long index, bool base64)
    {
        if (dim == t.Shape.Length) { WriteElement(w, t, data, ref offset, index++, base64, v1: true); return; }
        w.WriteStartArray();
        for (long j = 0; j < t.Shape[dim]; j++) WriteNested(w, t, data, dim + 1, ref offset, ref index, base64);
        w.WriteEndArray();
    }

    private static void WriteTop(Utf8JsonWriter w, Tensor t, IReadOnlyList<string> labels)
    {
        var (size, classes) = (t.Type.ElementSize(), labels.Count);
        var rows = t.Shape.Length == 1 ? 1 : t.Shape[0];
        var data = t.Data.Span;
        w.WriteStartArray("top");
        for (var row = 0; row < rows; row++)
        {
            var (best, bestScore) = (0, AsDouble(t.Type, data[(row * classes * size)..]));
            for (var c = 1; c < classes; c++)
            {
                var s = AsDouble(t.Type, data[((row * classes + c) * size)..]);
                if (s > bestScore || double.IsNaN(bestScore) && !double.IsNaN(s)) (best, bestScore) = (c, s);
            }
            w.WriteStartObject();
            w.WriteString("label", labels[best]);
            w.WriteNumber("index", best);
            w.WritePropertyName("score");
            var offset = (row * classes + best) * size;
            WriteElement(w, t, data, ref offset, row * classes + best, false, v1: true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    // ───────────────────────────── output elements ─────────────────────────────

    private static void CheckOutput(Tensor t)
    {
        if (TensorBundle.CheckData(t.Type, t.Shape, t.Data.Span) is { } error)
            throw new InferenceOutputException($"output '{t.Name}' is malformed: {error}");
    }

    /// <summary>BYTES outputs with an element that is not UTF-8 are written as base64 strings.</summary>
    private static bool NeedsBase64(Tensor t)
    {
        if (t.Type != TensorType.Bytes) return false;
        var data = t.Data.Span;
        for (var o = 0; o < data.Length;)
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(data[o..]);
            if (!Utf8.IsValid(data.Slice(o + 4, n))) return true;
            o += 4 + n;
        }
        return false;
    }

    /// <summary>Writes the element at <paramref name="offset"/> (element number <paramref name="i"/>) and moves past it.</summary>
    private static void WriteElement(Utf8JsonWriter w, Tensor t, ReadOnlySpan<byte> data, ref int offset, long i, bool base64, bool v1)
    {
        var d = data[offset..];
        switch (t.Type)
        {
            case TensorType.Bool: w.WriteBooleanValue(d[0] != 0); break;
            case TensorType.UInt8: w.WriteNumberValue(d[0]); break;
            case TensorType.Int8: w.WriteNumberValue((sbyte)d[0]); break;
            case TensorType.UInt16: w.WriteNumberValue(BinaryPrimitives.ReadUInt16LittleEndian(d)); break;
            case TensorType.Int16: w.WriteNumberValue(BinaryPrimitives.ReadInt16LittleEndian(d)); break;
            case TensorType.UInt32: w.WriteNumberValue(BinaryPrimitives.ReadUInt32LittleEndian(d)); break;
            case TensorType.Int32: w.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(d)); break;
            case TensorType.UInt64: w.WriteNumberValue(BinaryPrimitives.ReadUInt64LittleEndian(d)); break;
            case TensorType.Int64: w.WriteNumberValue(BinaryPrimitives.ReadInt64LittleEndian(d)); break;
            case TensorType.Fp16:
                var h = BinaryPrimitives.ReadHalfLittleEndian(d);
                if (!Half.IsFinite(h)) throw NonFinite(t, i, (double)h, v1);
                Span<byte> text = stackalloc byte[32];
                h.TryFormat(text, out var n, default, CultureInfo.InvariantCulture); // shortest round-trip form
                w.WriteRawValue(text[..n], skipInputValidation: true);
                break;
            case TensorType.Bf16:
                var b = Bf16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d));
                if (!float.IsFinite(b)) throw NonFinite(t, i, b, v1);
                w.WriteNumberValue(b);
                break;
            case TensorType.Fp32:
                var f = BinaryPrimitives.ReadSingleLittleEndian(d);
                if (!float.IsFinite(f)) throw NonFinite(t, i, f, v1);
                w.WriteNumberValue(f);
                break;
            case TensorType.Fp64:
                var x = BinaryPrimitives.ReadDoubleLittleEndian(d);
                if (!double.IsFinite(x)) throw NonFinite(t, i, x, v1);
                w.WriteNumberValue(x);
                break;
            default:
                var length = BinaryPrimitives.ReadInt32LittleEndian(d);
                if (base64) w.WriteBase64StringValue(d.Slice(4, length));
                else w.WriteStringValue(d.Slice(4, length));
                offset += 4 + length;
                return;
        }
        offset += t.Type.ElementSize();
    }

    private static InferenceOutputException NonFinite(Tensor t, long i, double value, bool v1) => new(
        $"output '{t.Name}' element {i} is {value.ToString(CultureInfo.InvariantCulture)}, which JSON cannot represent; "
        + (v1 ? "call the model through /v2 and request the output as binary data" : "request the output as binary data (parameters.binary_data = true)"));

    private static bool IsNumeric(TensorType type) => type is not (TensorType.Bool or TensorType.Bytes);

    private static float Bf16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    private static double AsDouble(TensorType type, ReadOnlySpan<byte> d) => type switch
    {
        TensorType.Bool or TensorType.UInt8 => d[0],
        TensorType.Int8 => (sbyte)d[0],
        TensorType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(d),
        TensorType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(d),
        TensorType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(d),
        TensorType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(d),
        TensorType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(d),
        TensorType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(d),
        TensorType.Fp16 => (double)BinaryPrimitives.ReadHalfLittleEndian(d),
        TensorType.Bf16 => Bf16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d)),
        TensorType.Fp32 => BinaryPrimitives.ReadSingleLittleEndian(d),
        TensorType.Fp64 => BinaryPrimitives.ReadDoubleLittleEndian(d),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>An element in its type's shortest round-trip form (a score of the classification extension).</summary>
    private static string ElementText(TensorType type, ReadOnlySpan<byte> d) => type switch
    {
        TensorType.Fp16 => BinaryPrimitives.ReadHalfLittleEndian(d).ToString(CultureInfo.InvariantCulture),
        TensorType.Bf16 => Bf16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d)).ToString(CultureInfo.InvariantCulture),
        TensorType.Fp32 => BinaryPrimitives.ReadSingleLittleEndian(d).ToString(CultureInfo.InvariantCulture),
        TensorType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(d).ToString(CultureInfo.InvariantCulture),
        TensorType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(d).ToString(CultureInfo.InvariantCulture),
        _ => AsDouble(type, d).ToString(CultureInfo.InvariantCulture),
    };

    // ───────────────────────────── helpers ─────────────────────────────

    private static InferenceRequestException Bad(string message) => new(message);

    private static InferenceRequestException NotRectangular(string name) =>
        Bad($"the data of input '{name}' is not rectangular: its nested arrays differ in length or depth");

    private static bool IsClientError(Exception e) =>
        e is JsonException or FormatException or OverflowException or InvalidDataException or InvalidOperationException or ArgumentException;

    private static InferenceRequestException Malformed(Exception e, ReadOnlySpan<byte> body)
    {
        if (e is not JsonException) return Bad($"the request is malformed: {e.Message}");
        var hint = body.IndexOf("NaN"u8) >= 0 || body.IndexOf("Infinity"u8) >= 0
            ? " (JSON has no NaN or Infinity; the server accepts finite numbers only)" : "";
        return Bad($"the request body is not valid JSON: {e.Message}{hint}");
    }

    private static JsonTokenType Next(ref Utf8JsonReader r)
    {
        r.Read();
        return r.TokenType;
    }

    private static void Expect(ref Utf8JsonReader r, JsonTokenType token, string what)
    {
        if (r.TokenType != token)
            throw Bad($"{what} must be {(token == JsonTokenType.StartObject ? "an object" : "an array")}, got {Describe(ref r)}");
    }

    private static void Once(object? existing, string key)
    {
        if (existing is not null) throw Bad($"duplicate key \"{key}\"");
    }

    private static string GetString(ref Utf8JsonReader r, string what) =>
        r.TokenType == JsonTokenType.String ? r.GetString()! : throw Bad($"{what} must be a string, got {Describe(ref r)}");

    /// <summary>Reads the next value as an object (or null), cloned out of the document it came from.</summary>
    private static JsonElement? ReadObject(ref Utf8JsonReader r, string what)
    {
        if (Next(ref r) == JsonTokenType.Null) return null;
        Expect(ref r, JsonTokenType.StartObject, what);
        using var doc = JsonDocument.ParseValue(ref r);
        return doc.RootElement.Clone();
    }

    private static string Describe(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.Number => Encoding.UTF8.GetString(r.ValueSpan[..Math.Min(r.ValueSpan.Length, 40)]),
        JsonTokenType.String => "a string",
        JsonTokenType.True => "true",
        JsonTokenType.False => "false",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        _ => r.TokenType.ToString(),
    };

    private static string Expected(TensorType type) => type switch
    {
        TensorType.Bool => "true or false",
        TensorType.Bytes => "a string for BYTES",
        _ => $"a number for {type.Name()}",
    };

    private static int IndexOf(IReadOnlyList<TensorSpec> specs, string name)
    {
        for (var i = 0; i < specs.Count; i++)
            if (specs[i].Name == name) return i;
        return -1;
    }

    private static string Names(IReadOnlyList<TensorSpec> specs) =>
        specs.Count == 0 ? "(none)" : string.Join(", ", specs.Select(s => $"'{s.Name}'"));

    private static string Text(long[] shape) => "[" + string.Join(",", shape) + "]";

    private static void WriteShape(Utf8JsonWriter w, long[] shape)
    {
        w.WriteStartArray("shape");
        foreach (var d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
    }
}
