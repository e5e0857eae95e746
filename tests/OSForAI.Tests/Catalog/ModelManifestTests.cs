using System.Net;
using System.Net.Http.Json;
using System.Net.Http.Headers;
using System.Text.Json;
using OSForAI.Runtime.Catalog;
using OSForAI.Testing;
using OSForAI.Tests.Onnx;

namespace OSForAI.Tests.Catalog;

/// <summary>algorithm.yaml for runtime onnx, and what the upload reads from the model file.</summary>
public sealed class ModelManifestTests(ModelFixture fx) : IClassFixture<ModelFixture>
{
    [Fact]
    public void Defaults_and_settings_are_read()
    {
        var m = AlgorithmManifest.Parse("runtime: onnx\n");
        Assert.Equal("model.onnx", m.Entrypoint);
        Assert.Equal(1, m.Model!.MaxBatchSize);
        Assert.Equal("auto", m.Model.Device);
        Assert.Equal(64, m.Concurrency);
        var s = AlgorithmManifest.Parse("runtime: onnx\nmodel: nets/resnet.onnx\nmax_batch_size: 16\nmax_queue_delay_ms: 2.5\nmodel_instances: 3\ndevice: GPU\nintra_op_threads: 4\ngraph_optimization: basic\nlabels: labels.txt\n");
        Assert.Equal("nets/resnet.onnx", s.Entrypoint);
        Assert.Equal((16, 2.5, 3, "gpu", 4, "basic"), (s.Model!.MaxBatchSize, s.Model.MaxQueueDelayMs, s.Model.Instances, s.Model.Device, s.Model.IntraOpThreads, s.Model.GraphOptimization));
        Assert.Equal("labels.txt", s.LabelsFile);
    }

    [Theory]
    [InlineData("model: ../outside.onnx", "model")]
    [InlineData("model: /etc/passwd", "model")]
    [InlineData("labels: ../labels.txt", "labels")]
    [InlineData("max_batch_size: 0", "max_batch_size")]
    [InlineData("max_batch_size: 100000", "max_batch_size")]
    [InlineData("max_queue_delay_ms: -1", "max_queue_delay_ms")]
    [InlineData("batch_dimension: 2", "batch_dimension")]
    [InlineData("batch_dimension: none\nmax_batch_size: 4", "batch_dimension")]
    [InlineData("device: tpu", "device")]
    [InlineData("intra_op_threads: -2", "intra_op_threads")]
    [InlineData("graph_optimization: maximum", "graph_optimization")]
    [InlineData("model_instances: 0", "model_instances")]
    public void Bad_settings_are_refused_with_the_key_named(string line, string key)
    {
        var e = Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("runtime: onnx\n" + line + "\n"));
        Assert.Equal(CatalogError.Invalid, e.Kind);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public async Task A_bare_onnx_file_upload_is_a_model_with_default_settings()
    {
        var admin = fx.Server.Admin;
        await admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "bare" });
        var content = new ByteArrayContent(OnnxModels.Linear(4, 3, seed: 1));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var r = await admin.PostAsync("/v1/algorithms/models/bare/builds?filename=linear.onnx", content);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var build = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("onnx", build.GetProperty("runtime").GetString());
        var pub = await admin.PostAsJsonAsync("/v1/algorithms/models/bare/versions", new { build = build.GetProperty("build").GetString(), version = "1.0.0" });
        Assert.True(pub.IsSuccessStatusCode);
        var x = OnnxModels.TestData(4, 2);
        var (s, body) = await Oip.InferAsync(admin, "models.bare", Oip.Fp32Request("x", [1, 4], x));
        Assert.True(s == 200, body.ToString());
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), Oip.Floats(Oip.Output(body, "y")));
    }

    [Fact]
    public async Task A_missing_model_or_labels_file_is_refused_at_upload()
    {
        var admin = fx.Server.Admin;
        await admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "incomplete" });
        foreach (var (files, fragment) in new (Dictionary<string, string>, string)[]
        {
            (new() { ["algorithm.yaml"] = "runtime: onnx\nmodel: missing.onnx\n" }, "missing.onnx"),
            (new() { ["algorithm.yaml"] = "runtime: onnx\nlabels: labels.txt\n" }, "model.onnx"),
        })
        {
            var content = new ByteArrayContent(AlgorithmFiles.TarGz(files));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
            using var r = await admin.PostAsync("/v1/algorithms/models/incomplete/builds", content);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(fragment, await r.Content.ReadAsStringAsync());
        }
        var withoutLabels = new ByteArrayContent(AlgorithmFiles.Model(OnnxModels.Linear(2, 2, 1), "labels: labels.txt\n"));
        withoutLabels.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        using var r2 = await admin.PostAsync("/v1/algorithms/models/incomplete/builds", withoutLabels);
        Assert.Equal(HttpStatusCode.BadRequest, r2.StatusCode);
        Assert.Contains("labels.txt", await r2.Content.ReadAsStringAsync());
    }
}
