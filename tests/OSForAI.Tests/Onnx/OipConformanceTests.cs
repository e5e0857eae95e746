using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OSForAI.Testing;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Onnx;

/// <summary>
/// Open Inference Protocol v2 over REST against a real server and real ONNX Runtime workers, with models
/// generated in code whose results are checked against plain C# references.
/// </summary>
public sealed class OipConformanceTests(ModelFixture fx) : IClassFixture<ModelFixture>
{
    private HttpClient Admin => fx.Server.Admin;
    private Task Linear() => fx.EnsureModelAsync("linear", () => OnnxModels.Linear(4, 3, seed: 1));

    [Fact]
    public async Task Health_and_server_metadata()
    {
        var (s1, live) = await Oip.GetAsync(Admin, "/v2/health/live");
        Assert.Equal(200, s1);
        Assert.True(live.GetProperty("live").GetBoolean());
        var (s2, ready) = await Oip.GetAsync(Admin, "/v2/health/ready");
        Assert.Equal(200, s2);
        Assert.True(ready.GetProperty("ready").GetBoolean());
        var (s3, meta) = await Oip.GetAsync(Admin, "/v2");
        Assert.Equal(200, s3);
        Assert.Equal("osforai", meta.GetProperty("name").GetString());
        var extensions = meta.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("binary_tensor_data", extensions);
        Assert.Contains("model_repository", extensions);
    }

    [Fact]
    public async Task Model_metadata_reports_signature_and_versions()
    {
        await Linear();
        await fx.EnsureModelAsync("linear", () => OnnxModels.Linear(4, 3, seed: 1), version: "1.1.0");
        var (status, meta) = await Oip.GetAsync(Admin, "/v2/models/models.linear");
        Assert.Equal(200, status);
        Assert.Equal("models.linear", meta.GetProperty("name").GetString());
        Assert.Equal("onnxruntime_onnx", meta.GetProperty("platform").GetString());
        var versions = meta.GetProperty("versions").EnumerateArray().Select(v => v.GetString()).ToList();
        Assert.Contains("1.0.0", versions);
        Assert.Contains("1.1.0", versions);
        var input = meta.GetProperty("inputs")[0];
        Assert.Equal("x", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 4L], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal([-1L, 3L], meta.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));

        var (vs, vmeta) = await Oip.GetAsync(Admin, "/v2/models/models.linear/versions/1.0.0");
        Assert.Equal(200, vs);
        Assert.Equal(["1.0.0"], vmeta.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
    }

    [Fact]
    public async Task Infer_matches_the_reference_implementation()
    {
        await Linear();
        var x = OnnxModels.TestData(2 * 4, seed: 3);
        var (status, body) = await Oip.InferAsync(Admin, "models.linear", Oip.Fp32Request("x", [2, 4], x, """, "id": "req-1" """));
        Assert.True(status == 200, body.ToString());
        Assert.Equal("models.linear", body.GetProperty("model_name").GetString());
        Assert.Equal("req-1", body.GetProperty("id").GetString());
        var y = Oip.Output(body, "y");
        Assert.Equal("FP32", y.GetProperty("datatype").GetString());
        Assert.Equal([2L, 3L], y.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), Oip.Floats(y));

        // The same through a pinned version and a version range.
        var (s2, b2) = await Oip.InferAsync(Admin, "models.linear", Oip.Fp32Request("x", [2, 4], x), version: "1.*");
        Assert.Equal(200, s2);
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), Oip.Floats(Oip.Output(b2, "y")));
    }

    [Fact]
    public async Task Nested_data_and_several_inputs_and_outputs()
    {
        await fx.EnsureModelAsync("two", OnnxModels.TwoInputs);
        var a = OnnxModels.TestData(8, 1);
        var b = OnnxModels.TestData(8, 2);
        string Nested(float[] v) => JsonSerializer.Serialize(new[] { v[..4], v[4..] });
        var json = $$"""{"inputs":[{"name":"a","shape":[2,4],"datatype":"FP32","data":{{Nested(a)}}},{"name":"b","shape":[2,4],"datatype":"FP32","data":{{Nested(b)}}}],"outputs":[{"name":"product"}]}""";
        var (status, body) = await Oip.InferAsync(Admin, "models.two", json);
        Assert.True(status == 200, body.ToString());
        Assert.Single(body.GetProperty("outputs").EnumerateArray());
        Oip.AssertClose(OnnxModels.TwoInputsReference(a, b).Product, Oip.Floats(Oip.Output(body, "product")));
    }

    public static TheoryData<string> IdentityTypes() => new(OnnxModels.IdentityTypes);

    [Theory]
    [MemberData(nameof(IdentityTypes))]
    public async Task Every_datatype_round_trips_as_json(string type)
    {
        await fx.EnsureModelAsync("id-" + type.ToLowerInvariant(), () => OnnxModels.Identity(type));
        var data = type switch
        {
            "BOOL" => "[true,false,true,true,false,false]",
            "BYTES" => """["a","bc","","déf","g","h"]""",
            "FP32" or "FP64" or "FP16" => "[0.5,-1.25,2,0,-0.125,3.5]",
            "UINT8" => "[0,1,2,127,200,255]",
            "INT8" => "[-128,-1,0,1,2,127]",
            _ => "[-5,-1,0,1,2,100]",
        };
        var (status, body) = await Oip.InferAsync(Admin, $"models.id-{type.ToLowerInvariant()}",
            $$"""{"inputs":[{"name":"x","shape":[2,3],"datatype":"{{type}}","data":{{data}}}]}""");
        Assert.True(status == 200, body.ToString());
        var y = Oip.Output(body, "y");
        Assert.Equal(type, y.GetProperty("datatype").GetString());
        Assert.Equal(JsonSerializer.Serialize(JsonSerializer.Deserialize<JsonElement>(data)), JsonSerializer.Serialize(y.GetProperty("data")));
    }

    [Fact]
    public async Task Binary_tensor_data_in_and_out()
    {
        await Linear();
        var x = OnnxModels.TestData(3 * 4, seed: 9);
        var bytes = new byte[x.Length * 4];
        for (var i = 0; i < x.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), x[i]);
        var header = $$$"""{"inputs":[{"name":"x","shape":[3,4],"datatype":"FP32","parameters":{"binary_data_size":{{{bytes.Length}}}}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}""";
        using var r = await Admin.PostAsync("/v2/models/models.linear/infer", Oip.Binary(header, bytes));
        var body = await r.Content.ReadAsByteArrayAsync();
        Assert.True(r.IsSuccessStatusCode, Encoding.UTF8.GetString(body));
        var jsonLength = int.Parse(r.Headers.GetValues("Inference-Header-Content-Length").Single());
        using var doc = JsonDocument.Parse(body.AsMemory(0, jsonLength));
        var y = Oip.Output(doc.RootElement, "y");
        Assert.Equal(3 * 3 * 4, y.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        var got = new float[9];
        for (var i = 0; i < 9; i++) got[i] = BinaryPrimitives.ReadSingleLittleEndian(body.AsSpan(jsonLength + i * 4));
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), got);
    }

    [Fact]
    public async Task Model_is_callable_through_the_v1_api_with_json()
    {
        await Linear();
        var x = OnnxModels.TestData(2 * 4, seed: 5);
        var json = JsonSerializer.Serialize(new { x = new[] { x[..4], x[4..] } });
        var (status, body) = await TestServer.CallAsync(Admin, "/v1/algo/models/linear/1.0.0", TestServer.Json(json));
        Assert.True(status == 200, body.ToString());
        Assert.Equal("json", body.GetProperty("metadata").GetProperty("content_type").GetString());
        var rows = body.GetProperty("result").GetProperty("y").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle())).SelectMany(v => v).ToArray();
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 1), rows);

        // A model takes JSON only on the v1 API.
        var (s2, e2) = await TestServer.CallAsync(Admin, "/v1/algo/models/linear/1.0.0", TestServer.Text("hello"));
        Assert.Equal(400, s2);
        Assert.Contains("application/json", e2.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Ready_load_unload_and_repository_index()
    {
        await fx.EnsureModelAsync("repo", () => OnnxModels.Linear(2, 2, seed: 4));
        var (ls, load) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/models/models.repo/load");
        Assert.True(ls == 200, load.ToString());
        Assert.Equal("cpu", load.GetProperty("device").GetString());
        var (rs, ready) = await Oip.GetAsync(Admin, "/v2/models/models.repo/ready");
        Assert.Equal(200, rs);
        Assert.True(ready.GetProperty("ready").GetBoolean());
        var (vs, _) = await Oip.GetAsync(Admin, "/v2/models/models.repo/versions/1.0.0/ready");
        Assert.Equal(200, vs);

        var (is1, index) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/index", "{}");
        Assert.Equal(200, is1);
        var entry = index.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "models.repo");
        Assert.Equal("READY", entry.GetProperty("state").GetString());
        Assert.Equal("1.0.0", entry.GetProperty("version").GetString());

        var (us, unload) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/models/models.repo/unload");
        Assert.Equal(200, us);
        Assert.True(unload.GetProperty("unloaded").GetBoolean());
        var (rs2, notReady) = await Oip.GetAsync(Admin, "/v2/models/models.repo/ready");
        Assert.Equal(400, rs2);
        Assert.Contains("unloaded", notReady.GetProperty("error").GetString());
        var (_, index2) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/index", """{"ready": false}""");
        Assert.Equal("UNAVAILABLE", index2.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "models.repo").GetProperty("state").GetString());
        var (_, readyOnly) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/index", """{"ready": true}""");
        Assert.DoesNotContain(readyOnly.EnumerateArray(), e => e.GetProperty("name").GetString() == "models.repo");

        // An inference loads it again on demand.
        var (s, _) = await Oip.InferAsync(Admin, "models.repo", Oip.Fp32Request("x", [1, 2], [1f, 2f]));
        Assert.Equal(200, s);
        var (rs3, _) = await Oip.GetAsync(Admin, "/v2/models/models.repo/ready");
        Assert.Equal(200, rs3);
    }

    [Fact]
    public async Task Unload_is_for_the_owner_and_admins_only()
    {
        await fx.EnsureModelAsync("guarded", () => OnnxModels.Linear(2, 2, seed: 8));
        var bob = fx.Server.ClientFor(await fx.Server.CreateKeyAsync("bob", "call"));
        var (s, e) = await Oip.SendAsync(bob, HttpMethod.Post, "/v2/repository/models/models.guarded/unload");
        Assert.Equal(403, s);
        Assert.Contains("owner", e.GetProperty("error").GetString());
        var (s2, _) = await Oip.InferAsync(bob, "models.guarded", Oip.Fp32Request("x", [1, 2], [1f, 2f]));
        Assert.Equal(200, s2);
    }

    [Theory]
    [InlineData("/v2/models/models.nosuchmodel", "not found")]
    [InlineData("/v2/models/nodots", "owner.name")]
    [InlineData("/v2/models/models.linear/versions/9.9.9", "not found")]
    [InlineData("/v2/models/models.linear/versions/not-a-version", "")]
    public async Task Unknown_models_and_versions_get_error_bodies(string path, string fragment)
    {
        await Linear();
        var (status, body) = await Oip.GetAsync(Admin, path);
        Assert.True(status is 404 or 400, $"{status} {body}");
        Assert.Contains(fragment, body.GetProperty("error").GetString());
        var (s2, b2) = await Oip.SendAsync(Admin, HttpMethod.Post, path + "/infer", Oip.Fp32Request("x", [1, 4], [1, 2, 3, 4]));
        Assert.True(s2 is 404 or 400, $"{s2} {b2}");
        Assert.Equal(JsonValueKind.String, b2.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task A_python_algorithm_is_not_a_model()
    {
        await fx.Server.PublishAsync("models/pyalgo", "1.0.0", TestServer.Python("def apply(x):\n    return x\n"));
        var (status, body) = await Oip.GetAsync(Admin, "/v2/models/models.pyalgo");
        Assert.Equal(404, status);
        Assert.Contains("not a model", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Unknown_v2_routes_and_keys_get_oip_error_bodies()
    {
        var (status, body) = await Oip.GetAsync(Admin, "/v2/nothing/here");
        Assert.Equal(404, status);
        Assert.Equal(JsonValueKind.String, body.GetProperty("error").ValueKind);
        var anonymous = fx.Server.ClientFor(null);
        var (s2, b2) = await Oip.InferAsync(anonymous, "models.linear", Oip.Fp32Request("x", [1, 4], [1, 2, 3, 4]));
        Assert.Equal(401, s2);
        Assert.Contains("API key", b2.GetProperty("error").GetString());
    }

    public static TheoryData<string, string> BadRequests() => new()
    {
        // missing input
        { """{"inputs":[]}""", "x" },
        // unknown input
        { """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},{"name":"z","shape":[1],"datatype":"FP32","data":[1]}]}""", "z" },
        // wrong datatype
        { """{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]}""", "FP32" },
        // wrong rank
        { """{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}""", "x" },
        // wrong fixed dimension
        { """{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}""", "x" },
        // data length does not match the shape
        { """{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4]}]}""", "x" },
        // negative dimension
        { """{"inputs":[{"name":"x","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]}""", "x" },
        // absurd dimensions
        { """{"inputs":[{"name":"x","shape":[1000000000000,4],"datatype":"FP32","data":[1,2,3,4]}]}""", "x" },
        // NaN is not JSON
        { """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[NaN,2,3,4]}]}""", "JSON" },
        // out of FP32 range (would be infinity)
        { """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1e39,2,3,4]}]}""", "x" },
        // not JSON at all
        { "{\"inputs\": [", "JSON" },
        // unknown requested output
        { """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]}""", "nope" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_infer_requests_get_400_with_a_clear_error(string json, string fragment)
    {
        await Linear();
        var (status, body) = await Oip.InferAsync(Admin, "models.linear", json);
        Assert.True(status == 400, $"{status} {body}");
        Assert.Contains(fragment, body.GetProperty("error").GetString());
        // The server keeps serving.
        var (ok, _) = await Oip.InferAsync(Admin, "models.linear", Oip.Fp32Request("x", [1, 4], [1, 2, 3, 4]));
        Assert.Equal(200, ok);
    }

    [Fact]
    public async Task Bytes_input_that_is_not_base64_where_declared_is_rejected()
    {
        await fx.EnsureModelAsync("id-bytes", () => OnnxModels.Identity("BYTES"));
        var good = Convert.ToBase64String("hello"u8.ToArray());
        var (s1, b1) = await Oip.InferAsync(Admin, "models.id-bytes",
            $$"""{"inputs":[{"name":"x","shape":[1,1],"datatype":"BYTES","parameters":{"content_type":"base64"},"data":["{{good}}"]}]}""");
        Assert.True(s1 == 200, b1.ToString());
        Assert.Equal("hello", Oip.Output(b1, "y").GetProperty("data")[0].GetString());
        var (s2, b2) = await Oip.InferAsync(Admin, "models.id-bytes",
            """{"inputs":[{"name":"x","shape":[1,1],"datatype":"BYTES","parameters":{"content_type":"base64"},"data":["**not base64**"]}]}""");
        Assert.Equal(400, s2);
        Assert.Contains("base64", b2.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Binary_nan_and_inconsistent_binary_sizes_are_rejected()
    {
        await Linear();
        var bytes = new byte[16];
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), float.NaN);
        var header = """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}""";
        using var r1 = await Admin.PostAsync("/v2/models/models.linear/infer", Oip.Binary(header, bytes));
        Assert.Equal(HttpStatusCode.BadRequest, r1.StatusCode);
        Assert.Contains("NaN", await r1.Content.ReadAsStringAsync());

        using var r2 = await Admin.PostAsync("/v2/models/models.linear/infer", Oip.Binary(header, new byte[12]));
        Assert.Equal(HttpStatusCode.BadRequest, r2.StatusCode);
        var e2 = JsonSerializer.Deserialize<JsonElement>(await r2.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.String, e2.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task Corrupt_and_non_onnx_files_are_refused_at_publish()
    {
        foreach (var (label, bytes) in new[]
        {
            ("random bytes", Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray()),
            ("text", Encoding.UTF8.GetBytes("this is not a model\n")),
            ("truncated", OnnxModels.Linear(4, 3, 1)[..40]),
            ("empty", Array.Empty<byte>()),
        })
        {
            var created = await Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "corrupt" });
            var content = new ByteArrayContent(AlgorithmFiles.Model(bytes));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/gzip");
            using var r = await Admin.PostAsync("/v1/algorithms/models/corrupt/builds", content);
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{label}: {r.StatusCode}");
            var message = JsonSerializer.Deserialize<JsonElement>(await r.Content.ReadAsStringAsync()).GetProperty("error").GetProperty("message").GetString();
            Assert.Contains("model.onnx", message);
        }
    }

    [Fact]
    public async Task Batching_settings_that_do_not_fit_the_model_are_refused_at_publish()
    {
        await Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "fixedbatch" });
        var content = new ByteArrayContent(AlgorithmFiles.Model(OnnxModels.FixedShape(), "max_batch_size: 8\n"));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/gzip");
        using var r = await Admin.PostAsync("/v1/algorithms/models/fixedbatch/builds", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("dynamic first dimension", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_model_whose_session_cannot_be_created_fails_its_build_clearly_and_harms_nothing()
    {
        // The model parses (so the upload is taken), but ONNX Runtime cannot make a session of it: the build's load check
        // fails with the model worker's reason, the failed build is kept with its log, and nothing can be published from it.
        await Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "models", name = "broken" });
        var build = await TestServer.BuildWithAsync(Admin, "models/broken", AlgorithmFiles.Model(OnnxModels.SessionCreationFails()));
        Assert.Equal("failed", build.GetProperty("status").GetString());
        Assert.Contains("session", build.GetProperty("error").GetString());
        Assert.Contains("loading the model in a model worker", build.GetProperty("log").GetString());
        var pub = await Admin.PostAsJsonAsync("/v1/algorithms/models/broken/versions", new { build = build.GetProperty("build").GetString(), version = "1.0.0" });
        Assert.Equal(HttpStatusCode.Conflict, pub.StatusCode);
        var (ls, _) = await Oip.SendAsync(Admin, HttpMethod.Post, "/v2/repository/models/models.broken/load");
        Assert.Equal(404, ls);
        await Linear();
        var (ok, _) = await Oip.InferAsync(Admin, "models.linear", Oip.Fp32Request("x", [1, 4], [1, 2, 3, 4]));
        Assert.Equal(200, ok);
    }

    [SkippableFact]
    public async Task Asking_for_a_gpu_without_one_falls_back_to_the_cpu_and_says_why()
    {
        Skip.If(File.Exists("/dev/nvidiactl"), "this machine has an NVIDIA GPU; the fallback path is for machines without one");
        await fx.EnsureModelAsync("wantsgpu", () => OnnxModels.Linear(4, 3, seed: 2), "device: gpu\n");
        var x = OnnxModels.TestData(4, 1);
        var (s, body) = await Oip.InferAsync(Admin, "models.wantsgpu", Oip.Fp32Request("x", [1, 4], x));
        Assert.True(s == 200, body.ToString());
        Oip.AssertClose(OnnxModels.LinearReference(x, 4, 3, seed: 2), Oip.Floats(Oip.Output(body, "y")));
        var (_, meta) = await Oip.GetAsync(Admin, "/v2/models/models.wantsgpu");
        var p = meta.GetProperty("parameters");
        Assert.Equal("gpu", p.GetProperty("device_preference").GetString());
        Assert.Equal("cpu", p.GetProperty("device").GetString());
        Assert.Contains("CUDA", p.GetProperty("device_fallback_reason").GetString());
    }

    [Fact]
    public async Task Classification_extension_returns_labelled_top_k()
    {
        await fx.EnsureModelAsync("classifier", () => OnnxModels.SoftmaxClassifier(4, 3, seed: 6), "labels: labels.txt\n",
            extraFiles: new Dictionary<string, string> { ["labels.txt"] = "cat\ndog\nbird\n" });
        var x = OnnxModels.TestData(4, 11);
        var probs = OnnxModels.SoftmaxClassifierReference(x, 4, 3, seed: 6);
        var best = Array.IndexOf(probs, probs.Max());
        var (s, body) = await Oip.InferAsync(Admin, "models.classifier",
            Oip.Fp32Request("x", [1, 4], x, """, "outputs":[{"name":"probs","parameters":{"classification":2}}]"""));
        Assert.True(s == 200, body.ToString());
        var top = Oip.Output(body, "probs");
        Assert.Equal("BYTES", top.GetProperty("datatype").GetString());
        var first = top.GetProperty("data")[0].GetString()!.Split(':');
        Assert.Equal(best.ToString(), first[1]);
        Assert.Equal(new[] { "cat", "dog", "bird" }[best], first[2]);

        // And the v1 API adds the arg-max label.
        var (s2, v1) = await TestServer.CallAsync(Admin, "/v1/algo/models/classifier", TestServer.Json(JsonSerializer.Serialize(new { x = new[] { x } })));
        Assert.Equal(200, s2);
        Assert.Equal(new[] { "cat", "dog", "bird" }[best], v1.GetProperty("result").GetProperty("top")[0].GetProperty("label").GetString());
    }
}
