using System.IO.Compression;
using OSForAI.Components.Validation;
using OSForAI.Stacks;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Infrastructure;

/// <summary>
/// Infrastructure/Schemas, the trimmed provider schemas the repository's CI validates the stacks against, must be
/// exactly what <c>osforai-stacks trim-schemas</c> cuts from shared/pulumi-schema for today's programs.
/// </summary>
public sealed class SchemaFixtureTests
{
    [SkippableFact]
    public void The_committed_fixture_is_what_trim_schemas_makes_of_the_full_schemas_today()
    {
        var full = SharedData.PulumiSchema;
        Skip.If(full is null, SharedData.PulumiSchemaSkipReason);
        var expected = SchemaTrimmer.Trim(full, StacksCli.StackPrograms(StackHarness.RepoRoot));
        var committed = Directory.GetFiles(SharedData.SchemaFixture, "*.json.gz").Order(StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f)[..^".json.gz".Length], Unzip);
        const string regenerate = "regenerate it as tests/OSForAI.Tests/Infrastructure/Schemas/README.md says";
        Assert.True(expected.Keys.SequenceEqual(committed.Keys),
            $"the fixture has packages {string.Join(", ", committed.Keys)}, the programs use {string.Join(", ", expected.Keys)}: {regenerate}");
        foreach (var (package, json) in expected)
            Assert.True(json == committed[package], $"the fixture's {package}.json.gz is stale: {regenerate}");
    }

    [Fact]
    public void The_fixture_reads_as_a_schema_folder_with_the_full_schemas_versions()
    {
        var fixture = PulumiSchema.Load(SharedData.SchemaFixture);
        Assert.Equal(["aws", "azure-native", "gcp", "kubernetes", "random"], fixture.AvailablePackages);
        Assert.Equal("7.48.0", fixture.Package("aws")!.Version);
        Assert.NotNull(fixture.FindResource("aws:eks/cluster:Cluster"));
        Assert.Null(fixture.FindResource("aws:s3/bucketv2:Bucketv2"));
    }

    [Fact]
    public void Trim_schemas_refuses_to_run_without_a_schema_folder()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, StacksCli.Run(["trim-schemas", "--out", Path.GetTempPath()], new StringWriter(), stderr, _ => null, StackHarness.RepoRoot));
        Assert.Contains("which schemas?", stderr.ToString());
        Assert.Equal(1, StacksCli.Run(["trim-schemas", "--out", Path.GetTempPath(), "--schema", "/nonexistent-schema"], new StringWriter(), stderr, _ => null, StackHarness.RepoRoot));
        Assert.Contains("does not exist", stderr.ToString());
    }

    private static string Unzip(string file)
    {
        using var stream = File.OpenRead(file);
        using var zip = new GZipStream(stream, CompressionMode.Decompress);
        return new StreamReader(zip).ReadToEnd();
    }
}
