using System.Globalization;
using System.Text;
using Google.Protobuf;
using OSForAI.Onnx.Proto;

namespace OSForAI.Onnx;

/// <summary>The bytes given are not a usable ONNX model. The message is meant to be shown to the user as-is.</summary>
public sealed class OnnxFormatException : Exception
{
    public OnnxFormatException(string message) : base(message) { }
    public OnnxFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// One tensor in a graph signature. <paramref name="ElementType"/> is the ONNX TensorProto.DataType number
/// (1 = FLOAT, 7 = INT64, ...). <paramref name="Shape"/> has -1 for every dimension that is not a fixed size;
/// <paramref name="DimParams"/> (same length) names the symbolic ones (e.g. "N") and is null elsewhere.
/// When the model declares no shape at all, <see cref="HasShape"/> is false and both arrays are empty.
/// </summary>
public sealed record OnnxTensorInfo(string Name, int ElementType, long[] Shape, string?[] DimParams)
{
    /// <summary>False when the model gives no shape (rank unknown); true for scalars and all ranked tensors.</summary>
    public bool HasShape { get; init; } = true;

    /// <summary>The Open Inference Protocol datatype name, or null when the element type has none.</summary>
    public string? OipDatatype => OnnxModelFile.ToOipDatatype(ElementType);

    /// <summary>Shape as text, e.g. "[N,3,224,224]" ("[?]" entries for unnamed unknown dims, "[*]" for unknown rank).</summary>
    public string ShapeText => !HasShape ? "[*]" : "[" + string.Join(",", Shape.Select((d, i) =>
        d >= 0 ? d.ToString(CultureInfo.InvariantCulture) : DimParams[i] ?? "?")) + "]";
}

/// <summary>What a model file declares about itself: versions, signature and size.</summary>
/// <param name="Opsets">Operator sets imported; an empty domain means the default "ai.onnx" domain.</param>
/// <param name="Inputs">Graph inputs that are fed at run time (inputs that are also initializers are left out).</param>
/// <param name="WeightBytes">Total size of the graph's initializers in bytes.</param>
/// <param name="NodeCount">Nodes in the main graph (not counting those inside subgraphs).</param>
public sealed record OnnxModelInfo(
    long IrVersion,
    IReadOnlyList<(string Domain, long Version)> Opsets,
    string ProducerName,
    string GraphName,
    IReadOnlyList<OnnxTensorInfo> Inputs,
    IReadOnlyList<OnnxTensorInfo> Outputs,
    long WeightBytes,
    int NodeCount);

/// <summary>Reads and edits ONNX model files without needing an inference runtime.</summary>
public static class OnnxModelFile
{
    /// <summary>Largest file accepted. Protocol buffers cannot exceed 2 GiB; bigger models keep weights in external files.</summary>
    public const long MaxModelBytes = int.MaxValue;

    /// <summary>Reads a model's description. Throws <see cref="OnnxFormatException"/> for anything that is not a usable ONNX model.</summary>
    public static OnnxModelInfo Read(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Read(model.AsSpan());
    }

    /// <inheritdoc cref="Read(byte[])"/>
    public static OnnxModelInfo Read(ReadOnlySpan<byte> model) => Describe(Parse(model));

    /// <summary>
    /// Reads a model file from disk. Missing or unreadable files raise the usual I/O exceptions;
    /// files that are not usable ONNX models raise <see cref="OnnxFormatException"/>.
    /// </summary>
    public static OnnxModelInfo ReadFile(string path)
    {
        var length = new FileInfo(path).Length; // FileNotFoundException when missing
        if (length > MaxModelBytes)
            throw new OnnxFormatException(TooLargeMessage(length));
        return Read(File.ReadAllBytes(path));
    }

    /// <summary>Parses and validates a model, returning the protobuf object for further inspection or editing.</summary>
    public static ModelProto Parse(ReadOnlySpan<byte> model)
    {
        if (model.IsEmpty)
            throw new OnnxFormatException("The model file is empty.");
        if (model.Length > MaxModelBytes)
            throw new OnnxFormatException(TooLargeMessage(model.Length));

        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(model);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new OnnxFormatException(NotOnnx(model, "it could not be decoded as a protocol buffer (the file is corrupt, truncated, or in another format)"), e);
        }
        Validate(proto, model);
        return proto;
    }

    /// <summary>
    /// Returns a copy of <paramref name="model"/> in which the first dimension of every run-time graph input and every
    /// graph output is the symbolic dimension <paramref name="dimParam"/>, so the model accepts any batch size.
    /// Fixed first dimensions in value_info shape hints are cleared, and Reshape nodes whose constant target shape
    /// hard-codes the old batch size are changed to copy the batch dimension from their input instead (see remarks).
    /// </summary>
    /// <remarks>
    /// A Reshape is rewritten only when all of these hold: its target shape is an INT64 constant (initializer or Constant
    /// node), its first entry equals the old fixed batch size shared by all inputs, the node does not set allowzero=1, and
    /// its data input descends from a batched input through operators known to keep the batch on axis 0. The first entry
    /// then becomes 0, which ONNX Reshape defines as "copy this dimension from the input". A constant that other nodes
    /// also use (or that lives in a Constant node) is copied into a new initializer, so the other users are unaffected.
    /// Other batch-size constants (Expand, Tile, Slice, ConstantOfShape, ...) are not touched.
    /// </remarks>
    public static byte[] MakeBatchDynamic(byte[] model, string dimParam = "N")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(dimParam);
        var proto = Parse(model);
        BatchEditor.Apply(proto, dimParam);
        return proto.ToByteArray();
    }

    /// <summary>Like <see cref="MakeBatchDynamic"/> but also lists, in words, every change made to the graph beyond the signature.</summary>
    public static byte[] MakeBatchDynamic(byte[] model, string dimParam, out IReadOnlyList<string> changes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(dimParam);
        var proto = Parse(model);
        changes = BatchEditor.Apply(proto, dimParam);
        return proto.ToByteArray();
    }

    /// <summary>Maps an ONNX element type number to its Open Inference Protocol datatype name, or null when there is none.</summary>
    public static string? ToOipDatatype(int elementType) => (TensorProto.Types.DataType)elementType switch
    {
        TensorProto.Types.DataType.Float => "FP32",
        TensorProto.Types.DataType.Double => "FP64",
        TensorProto.Types.DataType.Float16 => "FP16",
        TensorProto.Types.DataType.Bfloat16 => "BF16",
        TensorProto.Types.DataType.Int8 => "INT8",
        TensorProto.Types.DataType.Int16 => "INT16",
        TensorProto.Types.DataType.Int32 => "INT32",
        TensorProto.Types.DataType.Int64 => "INT64",
        TensorProto.Types.DataType.Uint8 => "UINT8",
        TensorProto.Types.DataType.Uint16 => "UINT16",
        TensorProto.Types.DataType.Uint32 => "UINT32",
        TensorProto.Types.DataType.Uint64 => "UINT64",
        TensorProto.Types.DataType.Bool => "BOOL",
        TensorProto.Types.DataType.String => "BYTES",
        _ => null,
    };

    /// <summary>The ONNX element type number for an Open Inference Protocol datatype name, or null when there is none.</summary>
    public static int? FromOipDatatype(string oipDatatype) => oipDatatype switch
    {
        "FP32" => (int)TensorProto.Types.DataType.Float,
        "FP64" => (int)TensorProto.Types.DataType.Double,
        "FP16" => (int)TensorProto.Types.DataType.Float16,
        "BF16" => (int)TensorProto.Types.DataType.Bfloat16,
        "INT8" => (int)TensorProto.Types.DataType.Int8,
        "INT16" => (int)TensorProto.Types.DataType.Int16,
        "INT32" => (int)TensorProto.Types.DataType.Int32,
        "INT64" => (int)TensorProto.Types.DataType.Int64,
        "UINT8" => (int)TensorProto.Types.DataType.Uint8,
        "UINT16" => (int)TensorProto.Types.DataType.Uint16,
        "UINT32" => (int)TensorProto.Types.DataType.Uint32,
        "UINT64" => (int)TensorProto.Types.DataType.Uint64,
        "BOOL" => (int)TensorProto.Types.DataType.Bool,
        "BYTES" => (int)TensorProto.Types.DataType.String,
        _ => null,
    };

    /// <summary>Bits per element of an ONNX element type (0 for strings and unknown types).</summary>
    public static int ElementBits(int elementType) => (TensorProto.Types.DataType)elementType switch
    {
        TensorProto.Types.DataType.Bool or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 => 8,
        TensorProto.Types.DataType.Float8E4M3Fn or TensorProto.Types.DataType.Float8E4M3Fnuz => 8,
        TensorProto.Types.DataType.Float8E5M2 or TensorProto.Types.DataType.Float8E5M2Fnuz => 8,
        TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 => 16,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 => 16,
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 32,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 => 64,
        TensorProto.Types.DataType.Complex64 => 64,
        TensorProto.Types.DataType.Complex128 => 128,
        TensorProto.Types.DataType.Int4 or TensorProto.Types.DataType.Uint4 or TensorProto.Types.DataType.Float4E2M1 => 4,
        _ => 0,
    };

    // ---------------------------------------------------------------- validation and description

    private static void Validate(ModelProto proto, ReadOnlySpan<byte> bytes)
    {
        if (!proto.HasIrVersion || proto.IrVersion <= 0 || proto.IrVersion > 1000)
            throw new OnnxFormatException(NotOnnx(bytes, "it has no valid IR version"));
        if (proto.Graph is null)
            throw new OnnxFormatException(NotOnnx(bytes, "it contains no graph"));
        if (proto.OpsetImport.Count == 0)
            throw new OnnxFormatException(NotOnnx(bytes, "it imports no operator set"));
        foreach (var opset in proto.OpsetImport)
            if (!opset.HasVersion || opset.Version <= 0)
                throw new OnnxFormatException(NotOnnx(bytes, $"its operator set import for domain '{DomainText(opset.Domain)}' has no valid version"));
        var graph = proto.Graph;
        if (graph.Output.Count == 0)
            throw new OnnxFormatException(NotOnnx(bytes, "its graph declares no outputs"));

        var initializers = InitializerNames(graph);
        foreach (var input in graph.Input)
            if (!initializers.Contains(input.Name))
                CheckTensorValue(input, "input");
        foreach (var output in graph.Output)
            CheckTensorValue(output, "output");
    }

    private static void CheckTensorValue(ValueInfoProto value, string role)
    {
        if (string.IsNullOrEmpty(value.Name))
            throw new OnnxFormatException($"The ONNX model has a graph {role} without a name.");
        var type = value.Type;
        if (type is null)
            throw new OnnxFormatException($"The ONNX model's graph {role} '{value.Name}' has no type; only tensor {role}s are supported.");
        if (type.ValueCase != TypeProto.ValueOneofCase.TensorType)
        {
            var kind = type.ValueCase switch
            {
                TypeProto.ValueOneofCase.SequenceType => "a sequence",
                TypeProto.ValueOneofCase.MapType => "a map",
                TypeProto.ValueOneofCase.OptionalType => "an optional value",
                TypeProto.ValueOneofCase.SparseTensorType => "a sparse tensor",
                _ => "not a tensor",
            };
            throw new OnnxFormatException($"The ONNX model's graph {role} '{value.Name}' is {kind}; only dense tensor {role}s are supported.");
        }
        var elem = type.TensorType.ElemType;
        if (elem <= 0)
            throw new OnnxFormatException($"The ONNX model's graph {role} '{value.Name}' has no element type.");
    }

    private static OnnxModelInfo Describe(ModelProto proto)
    {
        var graph = proto.Graph;
        var initializers = InitializerNames(graph);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).Select(ToTensorInfo).ToArray();
        var outputs = graph.Output.Select(ToTensorInfo).ToArray();
        var opsets = proto.OpsetImport.Select(o => (o.Domain, o.Version)).ToArray();
        long weightBytes = 0;
        foreach (var t in graph.Initializer)
            weightBytes += TensorBytes(t);
        return new OnnxModelInfo(proto.IrVersion, opsets, proto.ProducerName, graph.Name, inputs, outputs, weightBytes, graph.Node.Count);
    }

    private static OnnxTensorInfo ToTensorInfo(ValueInfoProto value)
    {
        var tensor = value.Type.TensorType;
        if (tensor.Shape is null)
            return new OnnxTensorInfo(value.Name, tensor.ElemType, [], []) { HasShape = false };
        var dims = tensor.Shape.Dim;
        var shape = new long[dims.Count];
        var names = new string?[dims.Count];
        for (var i = 0; i < dims.Count; i++)
        {
            var d = dims[i];
            shape[i] = d.HasDimValue && d.DimValue >= 0 ? d.DimValue : -1;
            names[i] = d.HasDimParam && d.DimParam.Length > 0 ? d.DimParam : null;
        }
        return new OnnxTensorInfo(value.Name, tensor.ElemType, shape, names);
    }

    internal static HashSet<string> InitializerNames(GraphProto graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer)
            names.Add(t.Name);
        return names;
    }

    /// <summary>Stored size of a tensor's data in bytes.</summary>
    internal static long TensorBytes(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            foreach (var entry in t.ExternalData)
                if (entry.Key == "length" && long.TryParse(entry.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var len) && len >= 0)
                    return len;
            return FromElementCount(t);
        }
        if (t.HasRawData)
            return t.RawData.Length;
        if (t.DataType == (int)TensorProto.Types.DataType.String)
        {
            long sum = 0;
            foreach (var s in t.StringData)
                sum += s.Length;
            return sum;
        }
        long values = t.FloatData.Count + t.Int32Data.Count + t.Int64Data.Count + t.DoubleData.Count + t.Uint64Data.Count;
        if (values == 0)
            return 0;
        // Complex types store real and imaginary parts as separate entries.
        long perValueBits = ElementBits(t.DataType);
        if (t.DataType is (int)TensorProto.Types.DataType.Complex64 or (int)TensorProto.Types.DataType.Complex128)
            perValueBits /= 2;
        return (values * perValueBits + 7) / 8;
    }

    private static long FromElementCount(TensorProto t)
    {
        long count = 1;
        foreach (var d in t.Dims)
        {
            if (d < 0)
                return 0;
            count = checked(count * d);
        }
        return (count * ElementBits(t.DataType) + 7) / 8;
    }

    // ---------------------------------------------------------------- messages

    private static string DomainText(string domain) => domain.Length == 0 ? "ai.onnx" : domain;

    private static string TooLargeMessage(long length) =>
        $"The model file is {length / (1024.0 * 1024 * 1024):0.00} GiB; ONNX files larger than 2 GiB cannot be read. " +
        "Save the model with its weights in external data files instead.";

    private static string NotOnnx(ReadOnlySpan<byte> bytes, string reason)
    {
        var hint = GuessFormat(bytes);
        return hint is null
            ? $"The file is not a valid ONNX model: {reason}."
            : $"The file is not a valid ONNX model: {reason}. It looks like {hint}.";
    }

    /// <summary>A short guess at what a non-ONNX file is, to make the error message actionable.</summary>
    private static string? GuessFormat(ReadOnlySpan<byte> b)
    {
        if (b.StartsWith("PK\u0003\u0004"u8))
            return "a zip archive (for example a PyTorch .pt/.pth checkpoint); export the model to ONNX first";
        if (b.StartsWith((ReadOnlySpan<byte>)[0x89, 0x48, 0x44, 0x46]))
            return "an HDF5 file (for example a Keras .h5 model); convert it to ONNX first";
        if (b.StartsWith("version https://git-lfs"u8))
            return "a Git LFS pointer file rather than the model itself; fetch the real file with 'git lfs pull'";
        if (b.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]))
            return "a gzip-compressed file; decompress it first";
        if (b.StartsWith("GGUF"u8))
            return "a GGUF model file, which is not ONNX";
        if (b.Length >= 9 && b[8] == (byte)'{' && BitConverter.ToUInt64(b[..8]) < (ulong)b.Length)
            return "a safetensors weights file, which holds weights but no graph; export the model to ONNX";
        var head = b[..Math.Min(b.Length, 512)];
        if (head.Length >= 4 && LooksLikeText(head))
            return "a text file" + (Encoding.UTF8.GetString(head).TrimStart().StartsWith("ir_version", StringComparison.Ordinal)
                ? " (ONNX text format); save the model in binary protobuf form" : "");
        return null;
    }

    /// <summary>True when the bytes are UTF-8 text without control characters other than tab and line breaks.</summary>
    private static bool LooksLikeText(ReadOnlySpan<byte> head)
    {
        foreach (var c in head)
            if ((c < 0x20 && c is not ((byte)'\n' or (byte)'\r' or (byte)'\t')) || c == 0x7f)
                return false;
        // The sample may end inside a multi-byte character.
        for (var cut = 0; cut <= 3 && cut < head.Length; cut++)
            if (System.Text.Unicode.Utf8.IsValid(head[..^cut]))
                return true;
        return false;
    }
}

/// <summary>The graph edits behind <see cref="OnnxModelFile.MakeBatchDynamic(byte[], string)"/>.</summary>
internal static class BatchEditor
{
    /// <summary>
    /// Operators whose output keeps the batch on axis 0 when a batched value goes into the inputs named by the
    /// predicate. Used to decide whether a Reshape's data input still has the batch first.
    /// </summary>
    private static readonly HashSet<string> BatchPreservingOps = new(StringComparer.Ordinal)
    {
        // element-wise and activation functions
        "Abs", "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Sigmoid", "Tanh", "Relu",
        "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Erf",
        "Clip", "Min", "Max", "Sum", "Mean", "Cast", "Identity", "Dropout", "Not", "And", "Or", "Xor", "Where",
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
        "QuantizeLinear", "DequantizeLinear",
        // image and normalization operators (N first)
        "Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
        "LpNormalization", "LRN", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
        "GlobalLpPool", "Pad", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
        // axis-parameterized operators, checked separately for axis 0
        "Softmax", "LogSoftmax", "Hardmax", "Flatten", "Concat", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
        "ReduceProd", "ReduceL1", "ReduceL2", "ArgMax", "ArgMin",
        // matrix products (first operand only)
        "MatMul", "Gemm",
    };

    public static IReadOnlyList<string> Apply(ModelProto model, string dimParam)
    {
        var graph = model.Graph;
        var changes = new List<string>();
        var initializers = OnnxModelFile.InitializerNames(graph);
        var runtimeInputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();

        // 1. Signature: inputs must all have a known rank of at least one.
        var oldBatchSizes = new HashSet<long>();
        foreach (var input in runtimeInputs)
        {
            var shape = input.Type.TensorType.Shape;
            if (shape is null)
                throw new OnnxFormatException($"Input '{input.Name}' has no declared shape, so its first dimension cannot be made the batch dimension.");
            if (shape.Dim.Count == 0)
                throw new OnnxFormatException($"Input '{input.Name}' is a scalar (rank 0), so it has no batch dimension.");
            if (shape.Dim[0].HasDimValue)
                oldBatchSizes.Add(shape.Dim[0].DimValue);
        }
        foreach (var output in graph.Output)
        {
            var shape = output.Type.TensorType.Shape;
            if (shape is not null && shape.Dim.Count == 0)
                throw new OnnxFormatException($"Output '{output.Name}' is a scalar (rank 0), so it has no batch dimension.");
        }
        foreach (var value in runtimeInputs.Concat(graph.Output))
        {
            var shape = value.Type.TensorType.Shape;
            if (shape is null)
                continue; // output of unknown rank: nothing to declare
            var first = shape.Dim[0];
            if (first.HasDimParam && first.DimParam == dimParam)
                continue;
            first.DimParam = dimParam; // replaces any fixed value (oneof)
        }

        // 2. Shape hints for intermediate values: a fixed first dimension may be the old batch size.
        var cleared = ClearValueInfoBatch(graph);
        if (cleared > 0)
            changes.Add($"cleared the fixed first dimension of {cleared} value_info shape hint(s)");

        // 3. Reshape nodes whose constant target shape repeats the old batch size.
        if (oldBatchSizes.Count == 1)
            FixReshapes(model, runtimeInputs.Select(i => i.Name), oldBatchSizes.Single(), changes);
        return changes;
    }

    private static int ClearValueInfoBatch(GraphProto graph)
    {
        var count = 0;
        foreach (var vi in graph.ValueInfo)
        {
            var shape = vi.Type?.TensorType?.Shape;
            if (vi.Type?.ValueCase == TypeProto.ValueOneofCase.TensorType && shape is { Dim.Count: > 0 } && shape.Dim[0].HasDimValue)
            {
                shape.Dim[0].ClearValue();
                count++;
            }
        }
        foreach (var node in graph.Node)
            foreach (var attr in node.Attribute)
            {
                if (attr.G is not null)
                    count += ClearValueInfoBatch(attr.G);
                foreach (var sub in attr.Graphs)
                    count += ClearValueInfoBatch(sub);
            }
        return count;
    }

    private static void FixReshapes(ModelProto model, IEnumerable<string> batchedInputs, long oldBatch, List<string> changes)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var constants = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            if (node.OpType == "Constant" && node.Domain.Length == 0 && node.Output.Count == 1)
            {
                var value = node.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
                if (value is not null)
                    constants[node.Output[0]] = value;
            }

        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        CountUses(graph, uses);
        foreach (var output in graph.Output)
            uses[output.Name] = uses.GetValueOrDefault(output.Name) + 1;

        var batched = new HashSet<string>(batchedInputs, StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.Domain.Length != 0)
                continue;
            if (node.OpType == "Reshape" && node.Input.Count >= 2 && batched.Contains(node.Input[0]))
            {
                var keepsBatch = TryFixReshape(model, node, initializers, constants, uses, oldBatch, changes);
                if (keepsBatch)
                    batched.UnionWith(node.Output);
                continue;
            }
            if (PreservesBatch(node, batched))
                batched.UnionWith(node.Output.Where(o => o.Length > 0));
        }
    }

    /// <summary>Rewrites one Reshape if safe; returns whether its output has the batch on axis 0.</summary>
    private static bool TryFixReshape(ModelProto model, NodeProto node, Dictionary<string, TensorProto> initializers,
        Dictionary<string, TensorProto> constants, Dictionary<string, int> uses, long oldBatch, List<string> changes)
    {
        if (node.Attribute.Any(a => a.Name == "allowzero" && a.I != 0))
            return false;
        var shapeName = node.Input[1];
        if (!initializers.TryGetValue(shapeName, out var tensor) && !constants.TryGetValue(shapeName, out tensor))
            return false;
        if (tensor.DataType != (int)TensorProto.Types.DataType.Int64 || tensor.DataLocation == TensorProto.Types.DataLocation.External)
            return false;
        var values = ReadInt64(tensor);
        if (values is not { Length: > 0 })
            return false;
        if (values[0] == 0)
            return true; // already copies the batch dimension
        if (values[0] != oldBatch)
            return false;

        var before = "[" + string.Join(",", values) + "]";
        values[0] = 0;
        var replacement = tensor.Clone();
        replacement.ClearRawData();
        replacement.Int64Data.Clear();
        replacement.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());

        if (uses.GetValueOrDefault(shapeName) == 1 && initializers.ContainsKey(shapeName))
        {
            tensor.ClearRawData();
            tensor.Int64Data.Clear();
            tensor.RawData = replacement.RawData;
        }
        else
        {
            // The constant is shared (or lives in a Constant node): give this Reshape its own copy.
            var name = shapeName + "__batch_dynamic";
            for (var k = 2; initializers.ContainsKey(name) || uses.ContainsKey(name); k++)
                name = shapeName + "__batch_dynamic" + k.ToString(CultureInfo.InvariantCulture);
            replacement.Name = name;
            model.Graph.Initializer.Add(replacement);
            initializers[name] = replacement;
            if (model.IrVersion < 4) // before IR 4, every initializer also had to be a graph input
                model.Graph.Input.Add(new ValueInfoProto
                {
                    Name = name,
                    Type = new TypeProto
                    {
                        TensorType = new TypeProto.Types.Tensor
                        {
                            ElemType = (int)TensorProto.Types.DataType.Int64,
                            Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = values.Length } } },
                        },
                    },
                });
            node.Input[1] = name;
        }
        var label = node.Name.Length > 0 ? $"Reshape '{node.Name}'" : $"Reshape producing '{node.Output.FirstOrDefault()}'";
        changes.Add($"{label}: target shape {before} -> [{string.Join(",", values)}] (0 keeps the input's batch dimension)");
        return true;
    }

    private static bool PreservesBatch(NodeProto node, HashSet<string> batched)
    {
        if (!BatchPreservingOps.Contains(node.OpType))
            return false;
        long Attr(string name, long fallback) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? fallback;
        switch (node.OpType)
        {
            case "MatMul":
            case "Gemm":
                if (node.OpType == "Gemm" && Attr("transA", 0) != 0)
                    return false;
                return node.Input.Count > 0 && batched.Contains(node.Input[0]);
            case "Softmax" or "LogSoftmax" or "Hardmax":
                if (Attr("axis", 1) == 0)
                    return false;
                break;
            case "ArgMax" or "ArgMin": // axis defaults to 0
                if (Attr("axis", 0) <= 0) // axis 0, or negative so it may be 0
                    return false;
                break;
            case "Flatten":
                if (Attr("axis", 1) == 0)
                    return false;
                break;
            case "Concat":
                if (Attr("axis", 0) <= 0) // axis 0, or negative so it may be 0
                    return false;
                break;
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2":
                var axes = node.Attribute.FirstOrDefault(a => a.Name == "axes");
                if (axes is null || axes.Ints.Count == 0 || axes.Ints.Any(a => a <= 0) || node.Input.Count > 1)
                    return false; // all axes, axis 0 (perhaps as a negative index), or axes given as an input
                break;
        }
        return node.Input.Any(batched.Contains);
    }

    private static void CountUses(GraphProto graph, Dictionary<string, int> uses)
    {
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
                if (input.Length > 0)
                    uses[input] = uses.GetValueOrDefault(input) + 1;
            foreach (var attr in node.Attribute)
            {
                if (attr.G is not null)
                    CountUses(attr.G, uses);
                foreach (var sub in attr.Graphs)
                    CountUses(sub, uses);
            }
        }
    }

    private static long[]? ReadInt64(TensorProto t)
    {
        if (t.HasRawData)
        {
            if (t.RawData.Length % 8 != 0)
                return null;
            var span = t.RawData.Span;
            var result = new long[span.Length / 8];
            for (var i = 0; i < result.Length; i++)
                result[i] = BitConverter.ToInt64(span.Slice(i * 8, 8));
            return result;
        }
        return t.Int64Data.ToArray();
    }
}
