using OSForAI.Runtime.Catalog;

namespace OSForAI.Tests.Building;

/// <summary>algorithm.yaml is read strictly: unknown keys are errors with a suggestion, every value is checked with its key named.</summary>
public sealed class StrictManifestTests
{
    private static string Refusal(string yaml) => Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse(yaml)).Message;

    [Theory]
    [InlineData("entrypont: main:apply", "unknown key `entrypont` (line 2): did you mean `entrypoint`?")]
    [InlineData("timout: 5", "did you mean `timeout`?")]
    [InlineData("concurency: 2", "did you mean `concurrency`?")]
    [InlineData("Entrypoint: main:apply", "did you mean `entrypoint`?")]
    [InlineData("system-packages: true", "did you mean `system_packages`?")]
    [InlineData("resources:\n  memroy_mb: 256", "unknown key `resources.memroy_mb` (line 3): did you mean `resources.memory_mb`?")]
    [InlineData("resources:\n  cpus: 2", "did you mean `resources.cpu`?")]
    [InlineData("memory_mb: 256", "`memory_mb` belongs under `resources:`")]
    [InlineData("resources:\n  timeout: 5", "`timeout` is a top-level key, not one under `resources:`")]
    [InlineData("flavour: spicy", "unknown key `flavour` (line 2); the keys here are runtime, entrypoint")]
    public void Unknown_keys_are_errors_with_a_suggestion(string extra, string expected) =>
        Assert.Contains(expected, Refusal("runtime: python3\n" + extra + "\n"));

    [Fact]
    public void Every_unknown_key_is_reported_at_once()
    {
        var message = Refusal("runtime: onnx\nmax_batch_sise: 8\ndevise: gpu\n");
        Assert.Contains("did you mean `max_batch_size`?", message);
        Assert.Contains("did you mean `device`?", message);
    }

    [Theory]
    [InlineData("timeout: soon", "`timeout` must be a whole number, not 'soon' (line 2)")]
    [InlineData("concurrency: 2.5", "`concurrency` must be a whole number, not '2.5'")]
    [InlineData("network: maybe", "`network` must be true or false, not 'maybe'")]
    [InlineData("system_packages: 1", "`system_packages` must be true or false, not '1'")]
    [InlineData("resources:\n  cpu: lots", "`resources.cpu` must be a number, not 'lots'")]
    [InlineData("resources: 512", "resources must be a mapping")]
    [InlineData("tags: vision", "`tags` must be a list")]
    [InlineData("tags: [a, [b]]", "every item of `tags` must be text")]
    [InlineData("entrypoint: [main, apply]", "`entrypoint` must be text, not a list")]
    [InlineData("sample_input: {x: 1}", "quote JSON samples")]
    [InlineData("visibility: secret", "algorithm.yaml: visibility must be 'public' or 'private', not 'secret'")]
    [InlineData("timeout: 0", "timeout must be between 1 and 3000 seconds, not 0")]
    [InlineData("runtime: onnx", "Duplicate key")]
    [InlineData("max_batch_size: 8", "`max_batch_size` applies to runtime onnx only, and this algorithm's runtime is python3")]
    public void Every_value_is_checked_with_its_key_named(string extra, string expected) =>
        Assert.Contains(expected, Refusal("runtime: python3\n" + extra + "\n"));

    [Fact]
    public void Keys_of_the_other_runtime_and_odd_documents_are_refused()
    {
        Assert.Contains("`system_packages` applies to runtime python3 only", Refusal("runtime: onnx\nsystem_packages: true\n"));
        Assert.Contains("must be a mapping of keys to values", Refusal("- runtime: python3\n"));
        Assert.Contains("not valid YAML", Refusal("runtime: [python3\n"));
    }

    [Fact]
    public void Valid_manifests_still_parse_with_empty_values_as_defaults()
    {
        var m = AlgorithmManifest.Parse("runtime: python3\ndescription:\ntimeout: 30\nnetwork: yes\nsystem_packages: true\ntags: []\nresources:\n  cpu: 0.5\n  memory_mb: 256\n");
        Assert.Equal("", m.Description);
        Assert.Equal(30, m.TimeoutSeconds);
        Assert.True(m.Network);
        Assert.True(m.SystemPackages);
        Assert.Equal(0.5, m.Resources.Cpu);
        Assert.Equal(256, m.Resources.MemoryMb);
        Assert.False(AlgorithmManifest.Parse("runtime: python3\n").SystemPackages);
    }
}
