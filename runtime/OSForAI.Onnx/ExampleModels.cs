using OSForAI.Onnx.Proto;

namespace OSForAI.Onnx;

/// <summary>Small real models anyone can produce with <c>osai example-model NAME DIR</c>, to try ONNX serving without one of their own.</summary>
public static class ExampleModels
{
    /// <summary>Names <see cref="Create"/> knows, with what each computes.</summary>
    public static IReadOnlyDictionary<string, string> Descriptions { get; } = new Dictionary<string, string>
    {
        ["linear"] = "y = x·W + b, x FP32 [N,4] → y FP32 [N,2]: y[0] is the sum of x's four values and y[1] their mean",
    };

    /// <summary>The model file of the example named <paramref name="name"/>; an <see cref="ArgumentException"/> for an unknown name.</summary>
    public static byte[] Create(string name) => name switch
    {
        "linear" => Linear(),
        _ => throw new ArgumentException($"no example model '{name}' (known: {string.Join(", ", Descriptions.Keys)})", nameof(name)),
    };

    /// <summary>
    /// One Gemm with weights chosen so results are easy to check by hand: input "x" FP32 [N, 4] (N symbolic, so the server can
    /// batch), output "y" FP32 [N, 2] = [sum(x), mean(x)] per row.
    /// </summary>
    public static byte[] Linear()
    {
        float[] w = [1f, 0.25f, 1f, 0.25f, 1f, 0.25f, 1f, 0.25f];   // [4, 2] row-major
        float[] b = [0f, 0f];
        var graph = OnnxModelBuilder.Graph("linear",
            [OnnxModelBuilder.Node("Gemm", ["x", "W", "B"], ["y"])],
            [OnnxModelBuilder.ValueInfo("x", TensorProto.Types.DataType.Float, "N", 4L)],
            [OnnxModelBuilder.ValueInfo("y", TensorProto.Types.DataType.Float, "N", 2L)],
            [OnnxModelBuilder.FloatTensor("W", [4, 2], w), OnnxModelBuilder.FloatTensor("B", [2], b)]);
        return OnnxModelBuilder.Model(graph);
    }
}
