using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OSForAI.Runtime.Inference;
using OSForAI.WorkerProtocol;
using Xunit.Abstractions;

namespace OSForAI.Tests.Inference;

public class OipCodecTests
{
    private static readonly TensorSpec[] Outs = [S("y", TensorType.Fp32, -1)];

    private static TensorSpec S(string name, TensorType type, params long[] shape) => new(name, type, shape);
    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static InferRequest Parse(string json, params TensorSpec[] inputs) => OipCodec.ParseInferRequest(U(json), null, inputs, Outs);

    private static string Fails(string json, params TensorSpec[] inputs) =>
        Assert.Throws<InferenceRequestException>(() => Parse(json, inputs)).Message;

    /// <summary>A request with one input "x".</summary>
    private static string One(string datatype, string shape, string data, string parameters = "") =>
        $$$"""{"inputs":[{"name":"x","datatype":"{{{datatype}}}","shape":{{{shape}}},"data":{{{data}}}{{{(parameters == "" ? "" : ",\"parameters\":" + parameters)}}}}]}""";

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static byte[] Strings(params byte[][] elements)
    {
        var result = new List<byte>();
        foreach (var e in elements)
        {
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, e.Length);
            result.AddRange(length);
            result.AddRange(e);
        }
        return [.. result];
    }

    /// <summary>A body with the binary tensor data extension: JSON header, then the bytes.</summary>
    private static (byte[] Body, long HeaderLength) WithBinary(string header, params byte[][] parts)
    {
        var json = U(header);
        return ([.. json, .. parts.SelectMany(p => p)], json.Length);
    }

    private static JsonElement ResponseJson(EncodedResponse r) =>
        JsonDocument.Parse(r.Body.AsMemory(0, (int)(r.InferenceHeaderLength ?? r.Body.Length))).RootElement;

    private static InferRequest Wants(params RequestedOutput[] outputs) => new(null, null, [], outputs);

    private static List<string> StringElements(Tensor t)
    {
        var list = new List<string>();
        var data = t.Data.Span;
        for (var o = 0; o < data.Length;)
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(data[o..]);
            list.Add(Encoding.UTF8.GetString(data.Slice(o + 4, n)));
            o += 4 + n;
        }
        return list;
    }

    public static TheoryData<string, string, string> EveryType => new()
    {
        { "BOOL", "[3]", "[true,false,true]" },
        { "UINT8", "[3]", "[0,255,7]" },
        { "INT8", "[3]", "[-128,127,0]" },
        { "UINT16", "[2]", "[0,65535]" },
        { "INT16", "[2]", "[-32768,32767]" },
        { "UINT32", "[2]", "[0,4294967295]" },
        { "INT32", "[2]", "[-2147483648,2147483647]" },
        { "UINT64", "[2]", "[0,18446744073709551615]" },
        { "INT64", "[2]", "[-9223372036854775808,9223372036854775807]" },
        { "FP16", "[4]", "[0.1,-2.5,65504,6E-08]" },
        { "BF16", "[3]", "[0.1,-2.5,3E+38]" },
        { "FP32", "[4]", "[0.1,-2.5,3.4028235E+38,1E-45]" },
        { "FP64", "[4]", "[0.1,-2.5,1.7976931348623157E+308,5E-324]" },
        { "BYTES", "[3]", """["hello","","ünï\"c\\ode ☃"]""" },
    };

    // ───────────── round trips ─────────────

    [Theory, MemberData(nameof(EveryType))]
    public void Every_datatype_round_trips_through_json(string datatype, string shape, string data)
    {
        Assert.True(TensorTypes.TryParse(datatype, out var type));
        var spec = S("x", type, -1);
        var parsed = Parse(One(datatype, shape, data), spec).Inputs.Single();
        Assert.Equal(type, parsed.Type);
        Assert.Null(TensorBundle.CheckData(type, parsed.Shape, parsed.Data.Span));

        var response = OipCodec.EncodeInferResponse("m", "1", Wants(new RequestedOutput("x", false, 0)), [parsed], null);
        Assert.Null(response.InferenceHeaderLength);
        var output = ResponseJson(response).GetProperty("outputs")[0];
        Assert.Equal(datatype, output.GetProperty("datatype").GetString());
        Assert.Equal(shape, output.GetProperty("shape").GetRawText());

        // What the server writes, read back, gives the same bytes.
        var again = Parse(One(datatype, shape, output.GetProperty("data").GetRawText()), spec).Inputs.Single();
        Assert.Equal(parsed.Data.ToArray(), again.Data.ToArray());
    }

    [Theory, MemberData(nameof(EveryType))]
    public void Every_datatype_round_trips_through_binary_data(string datatype, string shape, string data)
    {
        Assert.True(TensorTypes.TryParse(datatype, out var type));
        var spec = S("x", type, -1);
        var bytes = Parse(One(datatype, shape, data), spec).Inputs.Single().Data.ToArray();

        var (body, headerLength) = WithBinary(
            $$$"""{"inputs":[{"name":"x","datatype":"{{{datatype}}}","shape":{{{shape}}},"parameters":{"binary_data_size":{{{bytes.Length}}}}}]}""", bytes);
        var parsed = OipCodec.ParseInferRequest(body, headerLength, [spec], Outs).Inputs.Single();
        Assert.Equal(bytes, parsed.Data.ToArray());

        var response = OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("x", true, 0)), [parsed], null);
        Assert.NotNull(response.InferenceHeaderLength);
        var output = ResponseJson(response).GetProperty("outputs")[0];
        Assert.Equal(bytes.Length, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.False(output.TryGetProperty("data", out _));
        Assert.Equal(bytes, response.Body.AsSpan((int)response.InferenceHeaderLength!.Value).ToArray());
    }

    [Fact]
    public void Json_numbers_convert_exactly()
    {
        static byte[] Data(string datatype, string data)
        {
            Assert.True(TensorTypes.TryParse(datatype, out var type));
            var count = data.Count(c => c == ',') + 1;
            return Parse(One(datatype, $"[{count}]", data), S("x", type, -1)).Inputs[0].Data.ToArray();
        }

        Assert.Equal(Floats(0.1f, 16777216f), Data("FP32", "[0.1,16777216]"));
        Assert.Equal(BitConverter.GetBytes((Half)0.1), Data("FP16", "[0.1]"));
        // BF16 keeps the upper 16 bits, rounding to nearest even: 0.1f = 0x3DCCCCCD → 0x3DCD; exact ties go to the even neighbour.
        Assert.Equal(new byte[] { 0xCD, 0x3D, 0x80, 0x3F, 0x82, 0x3F }, Data("BF16", "[0.1,1.00390625,1.01171875]"));
        Assert.Equal(new byte[] { 2, 0, 0, 0, 0xE8, 3, 0, 0 }, Data("INT32", "[2.0,1e3]")); // integral values written as decimals
        Assert.Equal(new byte[] { 1, 0, 1 }, Data("BOOL", "[true,false,true]"));
        Assert.Equal(Strings(U("a\"b"), U("é")), Data("BYTES", """["a\"b","\u00e9"]"""));
    }

    [Fact]
    public void Fp32_outputs_are_written_shortest_and_round_trip_exactly()
    {
        var random = new Random(7);
        var values = new float[2000];
        for (var i = 0; i < values.Length; i++)
        {
            do values[i] = BitConverter.Int32BitsToSingle(random.Next() ^ (random.Next(2) << 31));
            while (!float.IsFinite(values[i]));
        }
        values[0] = 0.1f;
        values[1] = 1f / 3;
        var t = new Tensor("x", TensorType.Fp32, [values.Length], Floats(values));
        var response = OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("x", false, 0)), [t], null);
        var data = ResponseJson(response).GetProperty("outputs")[0].GetProperty("data");
        Assert.Equal("0.1", data[0].GetRawText());
        Assert.Equal("0.33333334", data[1].GetRawText());
        var again = Parse(One("FP32", $"[{values.Length}]", data.GetRawText()), S("x", TensorType.Fp32, -1)).Inputs[0];
        Assert.Equal(t.Data.ToArray(), again.Data.ToArray());
    }

    [Fact]
    public void Nested_and_flat_data_give_the_same_tensor()
    {
        var spec = S("x", TensorType.Fp32, -1, 3);
        var flat = Parse(One("FP32", "[2,3]", "[1,2,3,4,5,6]"), spec).Inputs[0];
        var nested = Parse(One("FP32", "[2,3]", "[[1,2,3],[4,5,6]]"), spec).Inputs[0];
        Assert.Equal(Floats(1, 2, 3, 4, 5, 6), flat.Data.ToArray());
        Assert.Equal(flat.Data.ToArray(), nested.Data.ToArray());
        Assert.Equal([2L, 3], nested.Shape);

        var message = Fails(One("FP32", "[2,3]", "[[1,2],[3,4],[5,6]]"), spec);
        Assert.Contains("[3,2]", message);
        Assert.Contains("[2,3]", message);
        Assert.Contains("not rectangular", Fails(One("FP32", "[2,3]", "[[1,2,3],[4,5]]"), spec));
        Assert.Contains("not rectangular", Fails(One("FP32", "[2,3]", "[[1,2,3],4,5,6]"), spec));
        Assert.Contains("not rectangular", Fails(One("FP32", "[2,3]", "[[1,2,3],[4,5,[6]]]"), spec));
    }

    [Fact]
    public void Data_may_come_before_the_datatype_and_shape()
    {
        var spec = S("x", TensorType.Int16, -1, 2);
        var late = Parse("""{"inputs":[{"data":[[1,2],[3,-4]],"name":"x","shape":[2,2],"datatype":"INT16"}]}""", spec).Inputs[0];
        var early = Parse(One("INT16", "[2,2]", "[1,2,3,-4]"), spec).Inputs[0];
        Assert.Equal(early.Data.ToArray(), late.Data.ToArray());
        Assert.Contains("input 'x' element 3: 40000 is out of range for INT16",
            Fails("""{"inputs":[{"data":[1,2,3,40000],"name":"x","shape":[2,2],"datatype":"INT16"}]}""", spec));
        Assert.Contains("holds 3 elements", Fails("""{"inputs":[{"data":[1,2,3],"name":"x","shape":[2,2],"datatype":"INT16"}]}""", spec));
    }

    [Fact]
    public void Inputs_come_back_in_model_order_with_id_and_parameters()
    {
        var request = Parse("""
            {"id":"r1","parameters":{"priority":3},
             "inputs":[{"name":"b","datatype":"INT64","shape":[1],"data":[5]},{"name":"a","datatype":"BOOL","shape":[],"data":[true]}]}
            """, S("a", TensorType.Bool), S("b", TensorType.Int64, 1));
        Assert.Equal("r1", request.Id);
        Assert.Equal(3, request.Parameters!.Value.GetProperty("priority").GetInt32());
        Assert.Equal(["a", "b"], request.Inputs.Select(t => t.Name));
        Assert.Empty(request.Inputs[0].Shape);
        Assert.Equal([new RequestedOutput("y", false, 0)], request.Outputs);
    }

    [Fact]
    public void Binary_and_json_inputs_mix()
    {
        var (body, headerLength) = WithBinary("""
            {"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},
                       {"name":"b","datatype":"INT8","shape":[2],"data":[1,-1]},
                       {"name":"c","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]}
            """, Floats(1.5f, -2), Strings(U("hi"), U("y")));
        var request = OipCodec.ParseInferRequest(body, headerLength,
            [S("a", TensorType.Fp32, 2), S("b", TensorType.Int8, 2), S("c", TensorType.Bytes, -1)], Outs);
        Assert.Equal(Floats(1.5f, -2), request.Inputs[0].Data.ToArray());
        Assert.Equal(new byte[] { 1, 0xFF }, request.Inputs[1].Data.ToArray());
        Assert.Equal(["hi", "y"], StringElements(request.Inputs[2]));
    }

    [Fact]
    public void Base64_bytes_inputs_are_decoded()
    {
        var t = Parse(One("BYTES", "[2]", """["aGVsbG8=","AP8="]""", """{"content_type":"base64"}"""), S("x", TensorType.Bytes, -1)).Inputs[0];
        Assert.Equal(Strings(U("hello"), [0, 255]), t.Data.ToArray());
    }

    [Fact]
    public void Requested_outputs_follow_the_request()
    {
        TensorSpec[] outs = [S("p", TensorType.Fp32, -1), S("q", TensorType.Int64, -1)];
        TensorSpec[] ins = [S("x", TensorType.Fp32, 1)];
        var input = """{"name":"x","datatype":"FP32","shape":[1],"data":[1]}""";

        var all = OipCodec.ParseInferRequest(U($$"""{"parameters":{"binary_data_output":true},"inputs":[{{input}}]}"""), null, ins, outs);
        Assert.Equal([new RequestedOutput("p", true, 0), new RequestedOutput("q", true, 0)], all.Outputs);

        var some = OipCodec.ParseInferRequest(U($$$"""
            {"parameters":{"binary_data_output":true},"inputs":[{{{input}}}],
             "outputs":[{"name":"q","parameters":{"binary_data":false}},{"name":"p","parameters":{"classification":3}}]}
            """), null, ins, outs);
        Assert.Equal([new RequestedOutput("q", false, 0), new RequestedOutput("p", true, 3)], some.Outputs);
    }

    [Fact]
    public void Response_carries_model_version_id_and_only_the_requested_outputs_in_order()
    {
        var request = new InferRequest("abc", null, [], [new RequestedOutput("b", false, 0), new RequestedOutput("a", true, 0)]);
        Tensor[] outputs =
        [
            new("a", TensorType.Fp32, [2], Floats(1, 2)),
            new("b", TensorType.Int32, [1], new byte[] { 7, 0, 0, 0 }),
            new("c", TensorType.Fp32, [1], Floats(3)),
        ];
        var response = OipCodec.EncodeInferResponse("model", "2", request, outputs, null);
        var header = (int)response.InferenceHeaderLength!.Value;
        Assert.Equal("""
            {"model_name":"model","model_version":"2","id":"abc","outputs":[{"name":"b","datatype":"INT32","shape":[1],"data":[7]},{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}
            """, Encoding.UTF8.GetString(response.Body, 0, header));
        Assert.Equal(Floats(1, 2), response.Body[header..]);

        var plain = OipCodec.EncodeInferResponse("model", null, Wants(new RequestedOutput("c", false, 0)), outputs, null);
        Assert.Equal("""{"model_name":"model","outputs":[{"name":"c","datatype":"FP32","shape":[1],"data":[3]}]}""", Encoding.UTF8.GetString(plain.Body));
    }

    [Fact]
    public void Bytes_outputs_that_are_not_utf8_are_written_as_base64()
    {
        var t = new Tensor("s", TensorType.Bytes, [2], Strings(U("ok"), [0xFF, 0xFE]));
        var output = ResponseJson(OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("s", false, 0)), [t], null)).GetProperty("outputs")[0];
        Assert.Equal("base64", output.GetProperty("parameters").GetProperty("content_type").GetString());
        Assert.Equal("""["b2s=","//4="]""", output.GetProperty("data").GetRawText());
    }

    [Fact]
    public void Missing_or_malformed_outputs_are_server_errors()
    {
        var nan = new Tensor("y", TensorType.Fp32, [3], Floats(1, float.NaN, 2));
        var message = Assert.Throws<InferenceOutputException>(() =>
            OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", false, 0)), [nan], null)).Message;
        Assert.Contains("'y' element 1", message);
        Assert.Contains("binary", message);
        // As binary data it is fine.
        OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", true, 0)), [nan], null);

        var inf = new Tensor("h", TensorType.Fp16, [1], BitConverter.GetBytes(Half.PositiveInfinity));
        Assert.Throws<InferenceOutputException>(() => OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("h", false, 0)), [inf], null));
        Assert.Contains("no output 'z'", Assert.Throws<InferenceOutputException>(() =>
            OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("z", false, 0)), [nan], null)).Message);
        var shortData = new Tensor("y", TensorType.Fp32, [3], Floats(1));
        Assert.Throws<InferenceOutputException>(() => OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", false, 0)), [shortData], null));
    }

    // ───────────── request errors ─────────────

    [Fact]
    public void Input_names_are_checked()
    {
        var x = S("x", TensorType.Fp32, 1);
        var w = S("w", TensorType.Fp32, 1);
        var m = Fails("""{"inputs":[{"name":"z","datatype":"FP32","shape":[1],"data":[1]}]}""", x);
        Assert.Contains("unknown input 'z'", m);
        Assert.Contains("'x'", m);
        m = Fails(One("FP32", "[1]", "[1]"), x, w);
        Assert.Contains("missing input 'w'", m);
        m = Fails("""{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},{"name":"x","datatype":"FP32","shape":[1],"data":[2]}]}""", x);
        Assert.Contains("input 'x' is given more than once", m);
        Assert.Contains("no \"name\"", Fails("""{"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]}""", x));
        Assert.Contains("no \"inputs\"", Fails("""{"id":"a"}""", x));
    }

    [Fact]
    public void Datatype_rank_and_dims_are_checked()
    {
        var m = Fails(One("INT64", "[1,3]", "[1,2,3]"), S("x", TensorType.Fp32, -1, 3));
        Assert.Contains("input 'x' has datatype INT64 but the model expects FP32", m);
        Assert.Contains("unknown datatype 'FLOAT'", Fails(One("FLOAT", "[1]", "[1]"), S("x", TensorType.Fp32, 1)));

        m = Fails(One("FP32", "[3]", "[1,2,3]"), S("x", TensorType.Fp32, -1, 3));
        Assert.Contains("rank 1", m);
        Assert.Contains("expects rank 2", m);

        m = Fails(One("FP32", "[1,4]", "[1,2,3,4]"), S("x", TensorType.Fp32, -1, 3));
        Assert.Contains("input 'x' has size 4 in dimension 1", m);
        Assert.Contains("expects 3", m);

        m = Fails(One("FP32", "[-1,3]", "[1,2,3]"), S("x", TensorType.Fp32, -1, 3));
        Assert.Contains("input 'x' has negative dimension -1", m);
        Assert.Contains("integers", Fails(One("FP32", "[1.5]", "[1]"), S("x", TensorType.Fp32, -1)));
    }

    [Fact]
    public void Absurd_shapes_are_rejected_fast_without_allocating()
    {
        var spec2 = S("x", TensorType.Fp64, -1, -1);
        var spec1 = S("x", TensorType.Fp64, -1);
        Fails(One("FP64", "[1,1]", "[1,2]"), spec2); // warm up
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var m = Fails(One("FP64", "[1000000000000,1000000000000]", "[1,2]"), spec2);
        // Exactly MaxElements: a legal shape, but far more elements than the body could hold.
        var m2 = Fails(One("FP64", "[2147483648]", "[1,2]"), spec1);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Contains("input 'x' has shape [1000000000000,1000000000000]", m);
        Assert.Contains("more than 2147483648 elements", m);
        Assert.Contains("2147483648 elements", m2);
        Assert.Contains("holds 2 elements", m2);
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Element_count_must_match_the_shape()
    {
        var m = Fails(One("FP32", "[2,2]", "[1,2,3]"), S("x", TensorType.Fp32, -1, -1));
        Assert.Contains("input 'x' has shape [2,2] (4 elements) but its data holds 3 elements", m);
        Assert.Contains("holds 5 elements", Fails(One("FP32", "[2,2]", "[1,2,3,4,5]"), S("x", TensorType.Fp32, -1, -1)));
        Assert.Contains("no \"data\"", Fails("""{"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]}""", S("x", TensorType.Fp32, 1)));
        Assert.Contains("must be an array", Fails(One("FP32", "[1]", "1"), S("x", TensorType.Fp32, 1)));
    }

    [Theory]
    [InlineData("INT8", "128", "128 is out of range for INT8")]
    [InlineData("INT8", "-129", "-129 is out of range for INT8")]
    [InlineData("UINT8", "-1", "-1 is out of range for UINT8")]
    [InlineData("UINT8", "256", "256 is out of range for UINT8")]
    [InlineData("INT16", "32768", "out of range for INT16")]
    [InlineData("UINT16", "65536", "out of range for UINT16")]
    [InlineData("INT32", "2147483648", "out of range for INT32")]
    [InlineData("UINT32", "4294967296", "out of range for UINT32")]
    [InlineData("INT64", "9223372036854775808", "out of range for INT64")]
    [InlineData("INT64", "1e19", "1e19 is out of range for INT64")]
    [InlineData("UINT64", "-1", "-1 is out of range for UINT64")]
    [InlineData("UINT64", "18446744073709551616", "out of range for UINT64")]
    [InlineData("INT32", "1.5", "1.5 is not an integer")]
    [InlineData("UINT64", "0.5", "0.5 is not an integer")]
    [InlineData("INT32", "1e400", "out of range for INT32")]
    [InlineData("INT32", "\"1\"", "expected a number for INT32, got a string")]
    [InlineData("BOOL", "1", "expected true or false, got 1")]
    [InlineData("FP32", "1e39", "1e39 is out of range for FP32")]
    [InlineData("FP32", "-1e39", "-1e39 is out of range for FP32")]
    [InlineData("FP16", "70000", "70000 is out of range for FP16")]
    [InlineData("BF16", "3.4e38", "3.4e38 is out of range for BF16")]
    [InlineData("FP64", "1e400", "1e400 is out of range for FP64")]
    [InlineData("FP64", "true", "expected a number for FP64, got true")]
    [InlineData("BYTES", "1", "expected a string for BYTES, got 1")]
    [InlineData("FP32", "{}", "got an object")]
    public void Bad_elements_are_named(string datatype, string element, string expected)
    {
        Assert.True(TensorTypes.TryParse(datatype, out var type));
        var first = type switch { TensorType.Bool => "true", TensorType.Bytes => "\"a\"", _ => "0" };
        var m = Fails(One(datatype, "[2]", $"[{first},{element}]"), S("x", type, 2));
        Assert.Contains("input 'x' element 1", m);
        Assert.Contains(expected, m);
    }

    [Fact]
    public void Nan_tokens_are_malformed_json()
    {
        var m = Fails(One("FP32", "[2]", "[1,NaN]"), S("x", TensorType.Fp32, 2));
        Assert.Contains("not valid JSON", m);
        Assert.Contains("NaN", m);
        Assert.Contains("not valid JSON", Fails(One("FP32", "[1]", "[Infinity]"), S("x", TensorType.Fp32, 1)));
        Assert.Contains("not valid JSON", Fails("{\"inputs\":[", S("x", TensorType.Fp32, 1)));
        Assert.Contains("not valid JSON", Fails(One("FP32", "[1]", "[1]") + "x", S("x", TensorType.Fp32, 1)));
        Assert.Contains("not valid JSON", Fails("", S("x", TensorType.Fp32, 1)));
    }

    [Theory]
    [InlineData(TensorType.Fp32)]
    [InlineData(TensorType.Fp64)]
    [InlineData(TensorType.Fp16)]
    [InlineData(TensorType.Bf16)]
    public void Binary_nan_and_infinity_are_rejected(TensorType type)
    {
        var size = type.ElementSize();
        var data = new byte[3 * size];
        Span<byte> bad = stackalloc byte[8];
        switch (type)
        {
            case TensorType.Fp32: BinaryPrimitives.WriteSingleLittleEndian(bad, float.NaN); break;
            case TensorType.Fp64: BinaryPrimitives.WriteDoubleLittleEndian(bad, double.NegativeInfinity); break;
            case TensorType.Fp16: BinaryPrimitives.WriteHalfLittleEndian(bad, Half.PositiveInfinity); break;
            default: BinaryPrimitives.WriteUInt16LittleEndian(bad, 0x7FC0); break; // BF16 NaN
        }
        bad[..size].CopyTo(data.AsSpan(2 * size));
        var (body, header) = WithBinary(
            $$$"""{"inputs":[{"name":"x","datatype":"{{{type.Name()}}}","shape":[3],"parameters":{"binary_data_size":{{{data.Length}}}}}]}""", data);
        var m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, header, [S("x", type, 3)], Outs)).Message;
        Assert.Contains("input 'x' contains NaN or infinity at element 2", m);
    }

    [Fact]
    public void Bad_base64_is_named()
    {
        var m = Fails(One("BYTES", "[2]", """["aGVsbG8=","!!!"]""", """{"content_type":"base64"}"""), S("x", TensorType.Bytes, 2));
        Assert.Contains("input 'x' element 1", m);
        Assert.Contains("base64", m);
    }

    [Fact]
    public void Binary_sections_must_add_up()
    {
        TensorSpec[] specs = [S("a", TensorType.Fp32, 2), S("b", TensorType.Fp32, 1)];
        const string header = """
            {"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},
                       {"name":"b","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}
            """;
        var (body, length) = WithBinary(header, Floats(1, 2, 3, 4));
        var m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, length, specs, Outs)).Message;
        Assert.Contains("add up to 12 bytes but 16 bytes", m);

        (body, length) = WithBinary(header, Floats(1, 2));
        m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, length, specs, Outs)).Message;
        Assert.Contains("add up to 12 bytes but 8 bytes", m);

        // Sizes that add up but do not fit the shape.
        (body, length) = WithBinary(header.Replace("\"binary_data_size\":8", "\"binary_data_size\":4").Replace("\"binary_data_size\":4}}]", "\"binary_data_size\":8}}]"), Floats(1, 2, 3));
        m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, length, specs, Outs)).Message;
        Assert.Contains("input 'a'", m);
        Assert.Contains("needs 8 bytes of data, got 4", m);

        // Binary data declared without the header length.
        m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(U(header), null, specs, Outs)).Message;
        Assert.Contains("input 'a' declares binary_data_size 8 but only 0 bytes", m);

        // Malformed BYTES layout.
        var (bytesBody, bytesLength) = WithBinary("""{"inputs":[{"name":"s","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":5}}]}""", [9, 0, 0, 0, 1]);
        m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(bytesBody, bytesLength, [S("s", TensorType.Bytes, 1)], Outs)).Message;
        Assert.Contains("input 's'", m);

        m = Fails("""{"inputs":[{"name":"b","datatype":"FP32","shape":[1],"data":[1],"parameters":{"binary_data_size":4}}]}""", S("b", TensorType.Fp32, 1));
        Assert.Contains("both", m);
    }

    [Fact]
    public void Header_length_must_fit_the_body()
    {
        var body = U(One("FP32", "[1]", "[1]"));
        var m = Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, body.Length + 1, [S("x", TensorType.Fp32, 1)], Outs)).Message;
        Assert.Contains("Inference-Header-Content-Length", m);
        Assert.Contains($"{body.Length + 1}", m);
        Assert.Throws<InferenceRequestException>(() => OipCodec.ParseInferRequest(body, -1, [S("x", TensorType.Fp32, 1)], Outs));
        // A header length equal to the body means no binary section.
        Assert.Single(OipCodec.ParseInferRequest(body, body.Length, [S("x", TensorType.Fp32, 1)], Outs).Inputs);
    }

    [Fact]
    public void Requested_outputs_are_checked()
    {
        static string With(string tail) => """{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],""" + tail + "}";
        var m = Fails(With("\"outputs\":[{\"name\":\"nope\"}]"), S("x", TensorType.Fp32, 1));
        Assert.Contains("unknown output 'nope'", m);
        Assert.Contains("'y'", m);
        Assert.Contains("more than once", Fails(With("\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]"), S("x", TensorType.Fp32, 1)));
        Assert.Contains("classification", Fails(With("\"outputs\":[{\"name\":\"y\",\"parameters\":{\"classification\":-1}}]"), S("x", TensorType.Fp32, 1)));
        Assert.Contains("binary_data", Fails(With("\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":\"yes\"}}]"), S("x", TensorType.Fp32, 1)));
        Assert.Contains("binary_data_output", Fails(With("\"parameters\":{\"binary_data_output\":1}"), S("x", TensorType.Fp32, 1)));
    }

    // ───────────── classification ─────────────

    [Fact]
    public void Classification_returns_top_k_as_strings()
    {
        var scores = new Tensor("y", TensorType.Fp32, [2, 4], Floats(0.1f, 0.7f, 0.2f, 0f, 0.5f, 0.1f, 0.3f, 0.9f));
        var request = OipCodec.ParseInferRequest(U("""
            {"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"y","parameters":{"classification":2}}]}
            """), null, [S("x", TensorType.Fp32, 1)], Outs);
        var output = ResponseJson(OipCodec.EncodeInferResponse("m", null, request, [scores], null)).GetProperty("outputs")[0];
        Assert.Equal("BYTES", output.GetProperty("datatype").GetString());
        Assert.Equal("[2,2]", output.GetProperty("shape").GetRawText());
        Assert.Equal("""["0.7:1","0.2:2","0.9:3","0.5:0"]""", output.GetProperty("data").GetRawText());

        string[] labels = ["cat", "dog", "fish"]; // fewer labels than classes: index 3 has none
        output = ResponseJson(OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", false, 10)), [scores], labels)).GetProperty("outputs")[0];
        Assert.Equal("[2,4]", output.GetProperty("shape").GetRawText());
        Assert.Equal("""["0.7:1:dog","0.2:2:fish","0.1:0:cat","0:3","0.9:3","0.5:0:cat","0.3:2:fish","0.1:1:dog"]""", output.GetProperty("data").GetRawText());
    }

    [Fact]
    public void Classification_of_a_vector_and_as_binary()
    {
        var scores = new Tensor("y", TensorType.Int32, [3], new byte[] { 5, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0 });
        var response = OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", true, 1)), [scores], ["a", "b", "c"]);
        var output = ResponseJson(response).GetProperty("outputs")[0];
        Assert.Equal("[1]", output.GetProperty("shape").GetRawText());
        Assert.Equal(Strings(U("9:1:b")), response.Body[(int)response.InferenceHeaderLength!.Value..]);
    }

    [Fact]
    public void Classification_needs_rank_1_or_2()
    {
        var cube = new Tensor("y", TensorType.Fp32, [1, 1, 2], Floats(1, 2));
        var m = Assert.Throws<InferenceRequestException>(() =>
            OipCodec.EncodeInferResponse("m", null, Wants(new RequestedOutput("y", false, 1)), [cube], null)).Message;
        Assert.Contains("output 'y'", m);
        Assert.Contains("[1,1,2]", m);
        Assert.Contains("[C] or [N,C]", m);
    }

    // ───────────── v1 ─────────────

    [Fact]
    public void V1_accepts_an_oip_style_object()
    {
        var tensors = OipCodec.ParseV1Input(U("""{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2]}],"outputs":[{"name":"whatever"}]}"""),
            [S("x", TensorType.Fp32, 2)]);
        Assert.Equal(Floats(1, 2), tensors.Single().Data.ToArray());
        Assert.Contains("datatype FP64", Assert.Throws<InferenceRequestException>(() =>
            OipCodec.ParseV1Input(U("""{"inputs":[{"name":"x","datatype":"FP64","shape":[2],"data":[1,2]}]}"""), [S("x", TensorType.Fp32, 2)])).Message);
    }

    [Fact]
    public void V1_accepts_an_object_of_nested_arrays()
    {
        TensorSpec[] specs = [S("x", TensorType.Fp32, -1, 2), S("w", TensorType.Int64, 1), S("s", TensorType.Bytes, -1), S("inputs", TensorType.Fp32, 2)];
        var tensors = OipCodec.ParseV1Input(U("""{"w":[5],"x":[[1,2],[3,4],[5,6]],"s":["a","bc"],"inputs":[7,8]}"""), specs);
        Assert.Equal(["x", "w", "s", "inputs"], tensors.Select(t => t.Name));
        Assert.Equal([3L, 2], tensors[0].Shape);
        Assert.Equal(Floats(1, 2, 3, 4, 5, 6), tensors[0].Data.ToArray());
        Assert.Equal(new byte[] { 5, 0, 0, 0, 0, 0, 0, 0 }, tensors[1].Data.ToArray());
        Assert.Equal(["a", "bc"], StringElements(tensors[2]));
        Assert.Equal(Floats(7, 8), tensors[3].Data.ToArray());

        string V1Fails(string json) => Assert.Throws<InferenceRequestException>(() => OipCodec.ParseV1Input(U(json), specs)).Message;
        Assert.Contains("unknown input 'q'", V1Fails("""{"q":[1]}"""));
        Assert.Contains("missing input 'w'", V1Fails("""{"x":[[1,2]],"s":["a"],"inputs":[1,2]}"""));
        Assert.Contains("input 'x' is given more than once", V1Fails("""{"x":[[1,2]],"x":[[1,2]]}"""));
        Assert.Contains("not rectangular", V1Fails("""{"x":[[1,2],[3]],"w":[1],"s":["a"],"inputs":[1,2]}"""));
        var m = V1Fails("""{"x":[[1,2,3]],"w":[1],"s":["a"],"inputs":[1,2]}""");
        Assert.Contains("input 'x' has size 3 in dimension 1", m);
        Assert.Contains("expects 2", m);
        Assert.Contains("input 'w' element 0: 1.5 is not an integer", V1Fails("""{"x":[[1,2]],"w":[1.5],"s":["a"],"inputs":[1,2]}"""));
        Assert.Contains("not valid JSON", V1Fails("""{"x":[[1,NaN]]}"""));
    }

    [Fact]
    public void V1_accepts_a_bare_array_for_a_single_input_model()
    {
        var spec = S("image", TensorType.Fp32, 1, 3);
        var t = OipCodec.ParseV1Input(U("[[1,2,3]]"), [spec]).Single();
        Assert.Equal([1L, 3], t.Shape);
        Assert.Equal(Floats(1, 2, 3), t.Data.ToArray());
        // A missing leading batch dimension of 1 is added.
        t = OipCodec.ParseV1Input(U("[1,2,3]"), [spec]).Single();
        Assert.Equal([1L, 3], t.Shape);

        var m = Assert.Throws<InferenceRequestException>(() =>
            OipCodec.ParseV1Input(U("[1,2,3]"), [spec, S("other", TensorType.Fp32, 1)])).Message;
        Assert.Contains("one input", m);
        Assert.Contains("'other'", m);
        Assert.Throws<InferenceRequestException>(() => OipCodec.ParseV1Input(U("[[1,2,3],[4,5,6]]"), [spec]));
        Assert.Throws<InferenceRequestException>(() => OipCodec.ParseV1Input(U("\"text\""), [spec]));
    }

    [Fact]
    public void V1_output_is_nested_with_top_labels()
    {
        Tensor[] outputs =
        [
            new("names", TensorType.Bytes, [2], Strings(U("a"), U("b"))),
            new("probs", TensorType.Fp32, [2, 3], Floats(0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f)),
            new("flag", TensorType.Bool, [], new byte[] { 1 }),
        ];
        var json = Encoding.UTF8.GetString(OipCodec.EncodeV1Output(outputs, ["cat", "dog", "fish"]));
        Assert.Equal("""
            {"names":["a","b"],"probs":[[0.1,0.7,0.2],[0.6,0.3,0.1]],"flag":true,"top":[{"label":"dog","index":1,"score":0.7},{"label":"cat","index":0,"score":0.6}]}
            """, json);

        var vector = new Tensor("p", TensorType.Fp64, [3], (byte[])[.. BitConverter.GetBytes(0.2), .. BitConverter.GetBytes(0.5), .. BitConverter.GetBytes(0.3)]);
        Assert.Equal("""{"p":[0.2,0.5,0.3],"top":[{"label":"b","index":1,"score":0.5}]}""",
            Encoding.UTF8.GetString(OipCodec.EncodeV1Output([vector], ["a", "b", "c"])));
        // No labels, or labels that do not match the class count: no "top".
        Assert.Equal("""{"p":[0.2,0.5,0.3]}""", Encoding.UTF8.GetString(OipCodec.EncodeV1Output([vector], null)));
        Assert.Equal("""{"p":[0.2,0.5,0.3]}""", Encoding.UTF8.GetString(OipCodec.EncodeV1Output([vector], ["a", "b"])));

        var nan = new Tensor("p", TensorType.Fp32, [1], Floats(float.NaN));
        Assert.Throws<InferenceOutputException>(() => OipCodec.EncodeV1Output([nan], null));
    }
}
