using System.Runtime.InteropServices;
using Google.Protobuf;
using OSForAI.Onnx.Proto;
using DataType = OSForAI.Onnx.Proto.TensorProto.Types.DataType;

namespace OSForAI.Onnx;

/// <summary>
/// Small building blocks for writing ONNX models in code (graphs of standard operators with their weights inline), for
/// <c>osai example-model</c> and the test models. Tensors are row-major; a dimension is a long (fixed), a string (symbolic,
/// e.g. "N" for the batch) or null (unknown).
/// </summary>
public static class OnnxModelBuilder
{
    /// <summary>Default-domain operator set the models use.</summary>
    public const int Opset = 17;

    /// <summary>IR version matching <see cref="Opset"/>.</summary>
    public const int IrVersion = 8;

    public static NodeProto Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes) => new()
    {
        OpType = opType,
        Name = opType.ToLowerInvariant() + "_" + outputs[0],
        Input = { inputs },
        Output = { outputs },
        Attribute = { attributes },
    };

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { values } };

    /// <summary>An FP32 initializer.</summary>
    public static TensorProto FloatTensor(string name, long[] dims, float[] data) => new()
    {
        Name = name,
        DataType = (int)DataType.Float,
        Dims = { dims },
        RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())),
    };

    /// <summary>An INT64 initializer.</summary>
    public static TensorProto Int64Tensor(string name, long[] dims, long[] data) => new()
    {
        Name = name,
        DataType = (int)DataType.Int64,
        Dims = { dims },
        RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())),
    };

    /// <summary>A tensor-typed graph input or output; each dim is a long (fixed size), a string (symbolic) or null (unknown).</summary>
    public static ValueInfoProto ValueInfo(string name, DataType type, params object?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            switch (d)
            {
                case long v: dim.DimValue = v; break;
                case string p: dim.DimParam = p; break;
                case null: break;
                default: throw new ArgumentException($"Dimension must be long, string or null, not {d.GetType().Name}.");
            }
            shape.Dim.Add(dim);
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public static GraphProto Graph(string name, IEnumerable<NodeProto> nodes, IEnumerable<ValueInfoProto> inputs,
        IEnumerable<ValueInfoProto> outputs, IEnumerable<TensorProto> initializers) => new()
    {
        Name = name,
        Node = { nodes },
        Input = { inputs },
        Output = { outputs },
        Initializer = { initializers },
    };

    /// <summary>The serialized model file of <paramref name="graph"/>.</summary>
    public static byte[] Model(GraphProto graph, string producer = "OSForAI") => new ModelProto
    {
        IrVersion = IrVersion,
        ProducerName = producer,
        ProducerVersion = "1",
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
        Graph = graph,
    }.ToByteArray();
}
