using OSForAI.Cli;
using OSForAI.Cli.Commands;

namespace OSForAI.Tests.Cli;

public class ValidationTests
{
    [Theory]
    [InlineData("0.0.0")]
    [InlineData("1.0.0")]
    [InlineData("1.2.3")]
    [InlineData("10.20.30")]
    [InlineData("999999999.0.1")]
    public void Valid_versions(string version)
    {
        Assert.True(AlgoCommands.IsValidVersion(version));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("1.2")]
    [InlineData("1.2.3.4")]
    [InlineData("1.2.x")]
    [InlineData("v1.2.3")]
    [InlineData("1.2.3-beta")]
    [InlineData("01.2.3")]
    [InlineData("1.02.3")]
    [InlineData("1..3")]
    [InlineData(" 1.2.3")]
    [InlineData("1.2.*")]
    [InlineData("1234567890.0.0")]
    [InlineData("١.٢.٣")]
    public void Invalid_versions(string? version)
    {
        Assert.False(AlgoCommands.IsValidVersion(version));
    }

    [Fact]
    public void Algorithm_names_are_owner_slash_name()
    {
        Assert.Equal(("alice", "hello"), AlgoCommands.ParseName("alice/hello"));
        Assert.Throws<UsageException>(() => AlgoCommands.ParseName("hello"));
        Assert.Throws<UsageException>(() => AlgoCommands.ParseName("alice/hello/1.0.0"));
        Assert.Throws<UsageException>(() => AlgoCommands.ParseName("/hello"));
        Assert.Throws<UsageException>(() => AlgoCommands.ParseName("alice/"));
    }

    [Fact]
    public void Scopes_are_split_trimmed_and_deduplicated()
    {
        Assert.Equal(["call", "publish"], KeysCommands.ParseScopes("call, publish,,call"));
        Assert.Throws<UsageException>(() => KeysCommands.ParseScopes(","));
    }

    [Fact]
    public async Task Publish_rejects_a_bad_version_before_contacting_the_server()
    {
        using var dir = new TempDir();
        dir.Write("algorithm.yaml", "runtime: python3\n");
        var server = new FakeServer(_ => throw new InvalidOperationException("no request expected"));

        var run = await CliRunner.RunAsync(
            ["algo", "publish", dir.Path, "--name", "alice/hello", "--version", "1.0", "--url", "http://x:1"], server: server);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("'1.0' is not a version of the form MAJOR.MINOR.PATCH", run.Error);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Publish_needs_a_folder_with_algorithm_yaml()
    {
        using var dir = new TempDir();
        var server = new FakeServer(_ => throw new InvalidOperationException("no request expected"));

        var missing = await CliRunner.RunAsync(
            ["algo", "publish", dir.Combine("nope"), "--name", "alice/hello", "--version", "1.0.0", "--url", "http://x:1"], server: server);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("is not a folder", missing.Error);

        var noManifest = await CliRunner.RunAsync(
            ["algo", "publish", dir.Path, "--name", "alice/hello", "--version", "1.0.0", "--url", "http://x:1"], server: server);
        Assert.Equal(2, noManifest.ExitCode);
        Assert.Contains("has no algorithm.yaml", noManifest.Error);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Publish_rejects_public_and_private_together()
    {
        using var dir = new TempDir();
        dir.Write("algorithm.yaml", "runtime: python3\n");

        var run = await CliRunner.RunAsync(
            ["algo", "publish", dir.Path, "--name", "alice/hello", "--version", "1.0.0", "--public", "--private", "--url", "http://x:1"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--public and --private cannot be used together", run.Error);
    }
}
