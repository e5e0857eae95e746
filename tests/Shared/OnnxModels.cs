using Google.Protobuf;
using OSForAI.Onnx;
using OSForAI.Onnx.Proto;
using DataType = OSForAI.Onnx.Proto.TensorProto.Types.DataType;

namespace OSForAI.Testing;

/// <summary>
/// Tiny ONNX models built in code, with deterministic weights and plain C# reference implementations,
/// for tests and benchmarks. Tensors are row-major flat arrays; "N" is the symbolic batch dimension.
/// </summary>
public static class OnnxModels
{
    /// <summary>Default-domain operator set the models use.</summary>
    public const int Opset = OnnxModelBuilder.Opset;

    /// <summary>IR version matching <see cref="Opset"/>.</summary>
    public const int IrVersion = OnnxModelBuilder.IrVersion;

    /// <summary>Types <see cref="Identity"/> builds models for (Open Inference Protocol names).</summary>
    public static IReadOnlyList<string> IdentityTypes { get; } =
        ["FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "BOOL", "BYTES"];

    /// <summary>
    /// Types whose <see cref="AddOne"/> model the ONNX Runtime CPU provider can run (checked against ORT 1.31.1).
    /// AddOne also builds a BF16 model, but ORT has no CPU Add kernel for BF16, so session creation fails.
    /// </summary>
    public static IReadOnlyList<string> AddOneTypes { get; } =
        ["FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL"];

    // ------------------------------------------------------------------ Linear and SoftmaxClassifier

    /// <summary>Weights of <see cref="Linear"/>: W is [inFeatures, outFeatures] row-major, B is [outFeatures].</summary>
    public static (float[] W, float[] B) LinearWeights(int inFeatures, int outFeatures, int seed)
    {
        var rng = new Rng(seed);
        var scale = 1.0 / Math.Sqrt(inFeatures);
        return (rng.Floats(inFeatures * outFeatures, scale), rng.Floats(outFeatures, 0.5));
    }

    /// <summary>y = x·W + b: input "x" FP32 [N, in] (or [1, in]), output "y" FP32 [N, out], via Gemm.</summary>
    public static byte[] Linear(int inFeatures, int outFeatures, int seed, bool dynamicBatch = true)
    {
        var (w, b) = LinearWeights(inFeatures, outFeatures, seed);
        object batch = dynamicBatch ? "N" : 1L;
        var graph = Graph("linear",
            [Node("Gemm", ["x", "W", "B"], ["y"])],
            [ValueInfo("x", DataType.Float, batch, (long)inFeatures)],
            [ValueInfo("y", DataType.Float, batch, (long)outFeatures)],
            [Tensor("W", [inFeatures, outFeatures], w), Tensor("B", [outFeatures], b)]);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="Linear"/>: x is [n, in] row-major, the result [n, out].</summary>
    public static float[] LinearReference(float[] x, int inFeatures, int outFeatures, int seed)
    {
        var (w, b) = LinearWeights(inFeatures, outFeatures, seed);
        return Affine(x, w, b, inFeatures, outFeatures);
    }

    /// <summary>probs = Softmax(x·W + b, axis 1): input "x" FP32 [N, in], output "probs" FP32 [N, classes]. Weights are <see cref="LinearWeights"/>.</summary>
    public static byte[] SoftmaxClassifier(int inFeatures, int classes, int seed)
    {
        var (w, b) = LinearWeights(inFeatures, classes, seed);
        var graph = Graph("softmax_classifier",
            [Node("Gemm", ["x", "W", "B"], ["logits"]), Node("Softmax", ["logits"], ["probs"], Int("axis", 1))],
            [ValueInfo("x", DataType.Float, "N", (long)inFeatures)],
            [ValueInfo("probs", DataType.Float, "N", (long)classes)],
            [Tensor("W", [inFeatures, classes], w), Tensor("B", [classes], b)]);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="SoftmaxClassifier"/>: x is [n, in], the result [n, classes].</summary>
    public static float[] SoftmaxClassifierReference(float[] x, int inFeatures, int classes, int seed)
    {
        var logits = LinearReference(x, inFeatures, classes, seed);
        var probs = new float[logits.Length];
        for (var row = 0; row < logits.Length / classes; row++)
        {
            var span = logits.AsSpan(row * classes, classes);
            double max = double.NegativeInfinity, sum = 0;
            foreach (var v in span)
                max = Math.Max(max, v);
            foreach (var v in span)
                sum += Math.Exp(v - max);
            for (var c = 0; c < classes; c++)
                probs[row * classes + c] = (float)(Math.Exp(span[c] - max) / sum);
        }
        return probs;
    }

    // ------------------------------------------------------------------ per-type models

    /// <summary>y = x for one element type: input "x" [N, D] (both symbolic), output "y" [N, D].</summary>
    public static byte[] Identity(string oipType)
    {
        var type = TypeOf(oipType);
        var graph = Graph("identity_" + oipType.ToLowerInvariant(),
            [Node("Identity", ["x"], ["y"])],
            [ValueInfo("x", type, "N", "D")],
            [ValueInfo("y", type, "N", "D")],
            []);
        return Model(graph);
    }

    /// <summary>
    /// y = x + 1 with a scalar constant of the same numeric type (for BOOL: y = Not x), input "x" [N, D], output "y" [N, D].
    /// See <see cref="AddOneTypes"/> for the types ONNX Runtime's CPU provider can run.
    /// </summary>
    public static byte[] AddOne(string oipType)
    {
        var type = TypeOf(oipType);
        NodeProto node;
        List<TensorProto> constants = [];
        if (type == DataType.Bool)
            node = Node("Not", ["x"], ["y"]);
        else if (type == DataType.String)
            throw new ArgumentException("BYTES has no arithmetic; use Identity.", nameof(oipType));
        else
        {
            node = Node("Add", ["x", "one"], ["y"]);
            constants.Add(new TensorProto { Name = "one", DataType = (int)type, RawData = ByteString.CopyFrom(OneOf(type)) });
        }
        var graph = Graph("add_one_" + oipType.ToLowerInvariant(), [node],
            [ValueInfo("x", type, "N", "D")], [ValueInfo("y", type, "N", "D")], constants);
        return Model(graph);
    }

    // ------------------------------------------------------------------ small fixed graphs

    /// <summary>Inputs "a" and "b" FP32 [N, 4]; outputs "sum" = a + b and "product" = a * b, both [N, 4].</summary>
    public static byte[] TwoInputs()
    {
        var graph = Graph("two_inputs",
            [Node("Add", ["a", "b"], ["sum"]), Node("Mul", ["a", "b"], ["product"])],
            [ValueInfo("a", DataType.Float, "N", 4L), ValueInfo("b", DataType.Float, "N", 4L)],
            [ValueInfo("sum", DataType.Float, "N", 4L), ValueInfo("product", DataType.Float, "N", 4L)],
            []);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="TwoInputs"/>.</summary>
    public static (float[] Sum, float[] Product) TwoInputsReference(float[] a, float[] b) =>
        (a.Zip(b, (p, q) => p + q).ToArray(), a.Zip(b, (p, q) => p * q).ToArray());

    /// <summary>Input "x" FP32 [2, 3] with no dynamic dimension; output "y" = 2x, [2, 3].</summary>
    public static byte[] FixedShape()
    {
        var graph = Graph("fixed_shape",
            [Node("Mul", ["x", "two"], ["y"])],
            [ValueInfo("x", DataType.Float, 2L, 3L)],
            [ValueInfo("y", DataType.Float, 2L, 3L)],
            [Tensor("two", [], [2f])]);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="FixedShape"/>.</summary>
    public static float[] FixedShapeReference(float[] x) => x.Select(v => v * 2f).ToArray();

    /// <summary>
    /// A well-formed model ("x" FP32 [N, 4] → "y") whose only node uses an operator that does not exist in the
    /// default domain, so ONNX Runtime refuses to create a session while file-level checks accept it.
    /// </summary>
    public static byte[] SessionCreationFails()
    {
        var graph = Graph("session_creation_fails",
            [Node("OsaiNoSuchOperator", ["x"], ["y"])],
            [ValueInfo("x", DataType.Float, "N", 4L)],
            [ValueInfo("y", DataType.Float, "N", 4L)],
            []);
        return Model(graph);
    }

    // ------------------------------------------------------------------ SmallConvNet

    /// <summary>Weights of <see cref="SmallConvNet"/>: conv [4,1,3,3] + [4], dense [4,3] + [3].</summary>
    public static (float[] ConvW, float[] ConvB, float[] DenseW, float[] DenseB) SmallConvNetWeights(int seed)
    {
        var rng = new Rng(seed);
        return (rng.Floats(4 * 9, 1.0 / 3), rng.Floats(4, 0.25), rng.Floats(4 * 3, 1.0), rng.Floats(3, 0.25));
    }

    /// <summary>
    /// Input "image" FP32 [N, 1, 8, 8] → Conv 3x3 (4 channels, padding 1) → Relu → GlobalAveragePool → Flatten → Gemm
    /// → output "logits" FP32 [N, 3].
    /// </summary>
    public static byte[] SmallConvNet(int seed)
    {
        var (cw, cb, dw, db) = SmallConvNetWeights(seed);
        var graph = Graph("small_conv_net",
            [
                Node("Conv", ["image", "conv_w", "conv_b"], ["conv"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)),
                Node("Relu", ["conv"], ["relu"]),
                Node("GlobalAveragePool", ["relu"], ["pooled"]),
                Node("Flatten", ["pooled"], ["features"], Int("axis", 1)),
                Node("Gemm", ["features", "dense_w", "dense_b"], ["logits"]),
            ],
            [ValueInfo("image", DataType.Float, "N", 1L, 8L, 8L)],
            [ValueInfo("logits", DataType.Float, "N", 3L)],
            [Tensor("conv_w", [4, 1, 3, 3], cw), Tensor("conv_b", [4], cb), Tensor("dense_w", [4, 3], dw), Tensor("dense_b", [3], db)]);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="SmallConvNet"/>: image is [n, 1, 8, 8], the result [n, 3].</summary>
    public static float[] SmallConvNetReference(float[] image, int seed)
    {
        var (cw, cb, dw, db) = SmallConvNetWeights(seed);
        var n = image.Length / 64;
        var features = new float[n * 4];
        for (var s = 0; s < n; s++)
            for (var c = 0; c < 4; c++)
            {
                double total = 0;
                for (var y = 0; y < 8; y++)
                    for (var x = 0; x < 8; x++)
                    {
                        double acc = cb[c];
                        for (var ky = 0; ky < 3; ky++)
                            for (var kx = 0; kx < 3; kx++)
                            {
                                int iy = y + ky - 1, ix = x + kx - 1;
                                if (iy is >= 0 and < 8 && ix is >= 0 and < 8)
                                    acc += (double)image[s * 64 + iy * 8 + ix] * cw[c * 9 + ky * 3 + kx];
                            }
                        total += Math.Max(0, (float)acc);
                    }
                features[s * 4 + c] = (float)(total / 64);
            }
        return Affine(features, dw, db, 4, 3);
    }

    // ------------------------------------------------------------------ SlowModel

    /// <summary>The [size, size] weight matrix of <see cref="SlowModel"/>.</summary>
    public static float[] SlowModelWeights(int size, int seed) => new Rng(seed).Floats(size * size, 2.0 / Math.Sqrt(size));

    /// <summary>
    /// A model that costs about layers × 2·size³ floating-point operations per batch row, for timeout and batching tests.
    /// Input "x" FP32 [N, size]; M = x[:, :, None] * W (so the work depends on the input and cannot be folded away),
    /// then <paramref name="layers"/> times M = Tanh(M @ W), and output "y" FP32 [N, size] = mean of M over its last axis.
    /// Run time grows linearly with layers and batch rows: with size 256 on a 2-core x64 CPU, ONNX Runtime took about
    /// 0.2 ms per layer per row (64 layers: ~13 ms at batch 1, ~53 ms at batch 4; 512 layers: ~110 ms at batch 1).
    /// The file stays small (one shared weight matrix) whatever the layer count.
    /// </summary>
    public static byte[] SlowModel(int layers = 64, int size = 256, int seed = 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        var nodes = new List<NodeProto>
        {
            Node("Unsqueeze", ["x", "axis2"], ["x3"]),
            Node("Mul", ["x3", "W"], ["m0"]),
        };
        for (var i = 0; i < layers; i++)
        {
            nodes.Add(Node("MatMul", [$"m{i}", "W"], [$"p{i}"]));
            nodes.Add(Node("Tanh", [$"p{i}"], [$"m{i + 1}"]));
        }
        nodes.Add(Node("ReduceMean", [$"m{layers}"], ["y"], Ints("axes", 2), Int("keepdims", 0)));
        var graph = Graph("slow_model", nodes,
            [ValueInfo("x", DataType.Float, "N", (long)size)],
            [ValueInfo("y", DataType.Float, "N", (long)size)],
            [Tensor("W", [size, size], SlowModelWeights(size, seed)), Int64Tensor("axis2", [1], [2])]);
        return Model(graph);
    }

    /// <summary>Reference for <see cref="SlowModel"/> (slow itself: use small sizes). Float intermediates, as ONNX Runtime has.</summary>
    public static float[] SlowModelReference(float[] x, int layers = 64, int size = 256, int seed = 7)
    {
        var w = SlowModelWeights(size, seed);
        var n = x.Length / size;
        var y = new float[n * size];
        var m = new float[size * size];
        var next = new float[size * size];
        for (var s = 0; s < n; s++)
        {
            for (var i = 0; i < size; i++)
                for (var j = 0; j < size; j++)
                    m[i * size + j] = x[s * size + i] * w[i * size + j];
            for (var l = 0; l < layers; l++)
            {
                for (var i = 0; i < size; i++)
                    for (var j = 0; j < size; j++)
                    {
                        double acc = 0;
                        for (var k = 0; k < size; k++)
                            acc += (double)m[i * size + k] * w[k * size + j];
                        next[i * size + j] = (float)Math.Tanh(acc);
                    }
                (m, next) = (next, m);
            }
            for (var i = 0; i < size; i++)
            {
                double acc = 0;
                for (var j = 0; j < size; j++)
                    acc += m[i * size + j];
                y[s * size + i] = (float)(acc / size);
            }
        }
        return y;
    }

    // ------------------------------------------------------------------ test data

    /// <summary>Deterministic FP32 test data in [-1, 1], multiples of 1/128 (exact in FP16 too).</summary>
    public static float[] TestData(int count, int seed)
    {
        var rng = new Rng(seed ^ 0x5EED);
        var data = new float[count];
        for (var i = 0; i < count; i++)
            data[i] = MathF.Round((float)(rng.NextDouble() * 2 - 1) * 128f) / 128f;
        return data;
    }

    // ------------------------------------------------------------------ building blocks

    private static float[] Affine(float[] x, float[] w, float[] b, int inFeatures, int outFeatures)
    {
        var n = x.Length / inFeatures;
        var y = new float[n * outFeatures];
        for (var r = 0; r < n; r++)
            for (var o = 0; o < outFeatures; o++)
            {
                double acc = b[o];
                for (var i = 0; i < inFeatures; i++)
                    acc += (double)x[r * inFeatures + i] * w[i * outFeatures + o];
                y[r * outFeatures + o] = (float)acc;
            }
        return y;
    }

    private static DataType TypeOf(string oipType) => oipType switch
    {
        "FP32" => DataType.Float,
        "FP64" => DataType.Double,
        "FP16" => DataType.Float16,
        "BF16" => DataType.Bfloat16,
        "INT8" => DataType.Int8,
        "INT16" => DataType.Int16,
        "INT32" => DataType.Int32,
        "INT64" => DataType.Int64,
        "UINT8" => DataType.Uint8,
        "UINT16" => DataType.Uint16,
        "UINT32" => DataType.Uint32,
        "UINT64" => DataType.Uint64,
        "BOOL" => DataType.Bool,
        "BYTES" => DataType.String,
        _ => throw new ArgumentException($"Unknown Open Inference Protocol datatype '{oipType}'.", nameof(oipType)),
    };

    /// <summary>Little-endian bytes of the value 1 in the given numeric type.</summary>
    private static byte[] OneOf(DataType type) => type switch
    {
        DataType.Float => BitConverter.GetBytes(1f),
        DataType.Double => BitConverter.GetBytes(1d),
        DataType.Float16 => BitConverter.GetBytes((ushort)0x3C00),
        DataType.Bfloat16 => BitConverter.GetBytes((ushort)0x3F80),
        DataType.Int8 or DataType.Uint8 => [1],
        DataType.Int16 or DataType.Uint16 => BitConverter.GetBytes((ushort)1),
        DataType.Int32 or DataType.Uint32 => BitConverter.GetBytes(1u),
        DataType.Int64 or DataType.Uint64 => BitConverter.GetBytes(1ul),
        _ => throw new ArgumentException($"No numeric 1 for {type}."),
    };

    private static TensorProto Tensor(string name, long[] dims, float[] data) => OnnxModelBuilder.FloatTensor(name, dims, data);

    private static TensorProto Int64Tensor(string name, long[] dims, long[] data) => OnnxModelBuilder.Int64Tensor(name, dims, data);

    private static NodeProto Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
        OnnxModelBuilder.Node(opType, inputs, outputs, attributes);

    private static AttributeProto Int(string name, long value) => OnnxModelBuilder.Int(name, value);

    private static AttributeProto Ints(string name, params long[] values) => OnnxModelBuilder.Ints(name, values);

    private static ValueInfoProto ValueInfo(string name, DataType type, params object?[] dims) => OnnxModelBuilder.ValueInfo(name, type, dims);

    private static GraphProto Graph(string name, IEnumerable<NodeProto> nodes, IEnumerable<ValueInfoProto> inputs,
        IEnumerable<ValueInfoProto> outputs, IEnumerable<TensorProto> initializers) => OnnxModelBuilder.Graph(name, nodes, inputs, outputs, initializers);

    private static byte[] Model(GraphProto graph) => OnnxModelBuilder.Model(graph, "OSForAI.Testing");

    /// <summary>SplitMix64: a tiny deterministic generator, identical on every platform and .NET version.</summary>
    private sealed class Rng(int seed)
    {
        private ulong _state = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;

        public double NextDouble()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }

        /// <summary>Values uniform in [-scale, scale), rounded to multiples of 2^-12 so they are exact in FP32.</summary>
        public float[] Floats(int count, double scale)
        {
            var data = new float[count];
            for (var i = 0; i < count; i++)
                data[i] = (float)(Math.Round((NextDouble() * 2 - 1) * scale * 4096) / 4096);
            return data;
        }
    }
}
