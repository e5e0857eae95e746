using System.Text;
using OSForAI.Cli;
using OSForAI.Cli.Commands;

namespace OSForAI.Tests.Cli;

public class CallInputTests
{
    private static Stream NoStdin() => throw new InvalidOperationException("stdin not expected");

    [Theory]
    [InlineData("World", "Text")]
    [InlineData("Hello World", "Text")]
    [InlineData("", "Text")]
    [InlineData("   ", "Text")]
    [InlineData("{not json", "Text")]
    [InlineData("'single'", "Text")]
    [InlineData("True", "Text")]
    [InlineData("1 2", "Text")]
    [InlineData("\"World\"", "Json")]
    [InlineData("42", "Json")]
    [InlineData("-1.5", "Json")]
    [InlineData("true", "Json")]
    [InlineData("null", "Json")]
    [InlineData("[1, 2, 3]", "Json")]
    [InlineData("{\"name\": \"x\"}", "Json")]
    [InlineData(" {\"a\":1} ", "Json")]
    public void Detects_json_or_text(string input, string expected)
    {
        Assert.Equal(Enum.Parse<InputKind>(expected), CallCommand.DetectKind(input));
    }

    [Fact]
    public void Literal_input_is_utf8_with_detected_content_type()
    {
        var text = CallCommand.ReadInput("Grüße", null, NoStdin);
        Assert.Equal(InputKind.Text, text.Kind);
        Assert.Equal("text/plain", text.MediaType);
        Assert.Equal("Grüße", Encoding.UTF8.GetString(text.Body));

        var json = CallCommand.ReadInput("{\"a\": 1}", null, NoStdin);
        Assert.Equal(InputKind.Json, json.Kind);
        Assert.Equal("application/json", json.MediaType);
    }

    [Fact]
    public void Flags_force_the_kind_of_literal_input()
    {
        Assert.Equal(InputKind.Text, CallCommand.ReadInput("42", InputKind.Text, NoStdin).Kind);
        Assert.Equal(InputKind.Json, CallCommand.ReadInput("[1]", InputKind.Json, NoStdin).Kind);
        var e = Assert.Throws<UsageException>(() => CallCommand.ReadInput("World", InputKind.Json, NoStdin));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void At_path_reads_the_file_as_binary()
    {
        using var dir = new TempDir();
        var path = dir.Combine("in.bin");
        File.WriteAllBytes(path, [0, 1, 2, 255]);

        var input = CallCommand.ReadInput("@" + path, null, NoStdin);

        Assert.Equal(InputKind.Binary, input.Kind);
        Assert.Equal("application/octet-stream", input.MediaType);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, input.Body);
        Assert.Equal(InputKind.Json, CallCommand.ReadInput("@" + path, InputKind.Json, NoStdin).Kind);
    }

    [Fact]
    public void Missing_input_file_is_exit_2()
    {
        var e = Assert.Throws<CliException>(() => CallCommand.ReadInput("@/no/such/osai/file", null, NoStdin));

        Assert.Equal(2, e.ExitCode);
        Assert.Contains("cannot read input file", e.Message);
    }

    [Fact]
    public void Dash_reads_stdin_as_binary()
    {
        var input = CallCommand.ReadInput("-", null, () => new MemoryStream([7, 8, 9]));

        Assert.Equal(InputKind.Binary, input.Kind);
        Assert.Equal(new byte[] { 7, 8, 9 }, input.Body);
        Assert.Equal(InputKind.Text, CallCommand.ReadInput("-", InputKind.Text, () => new MemoryStream([65])).Kind);
    }

    [Fact]
    public void A_lone_at_sign_is_literal_text()
    {
        Assert.Equal(InputKind.Text, CallCommand.ReadInput("@", null, NoStdin).Kind);
    }

    [Theory]
    [InlineData("alice/hello", "v1/algo/alice/hello")]
    [InlineData("alice/hello/1.2.3", "v1/algo/alice/hello/1.2.3")]
    [InlineData("alice/hello/1.*", "v1/algo/alice/hello/1.*")]
    public void Algorithm_references_become_paths(string reference, string path)
    {
        Assert.Equal(path, CallCommand.AlgorithmPath(reference));
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("alice/")]
    [InlineData("alice/hello/1.0.0/x")]
    [InlineData("/hello")]
    public void Bad_algorithm_references_are_usage_errors(string reference)
    {
        Assert.Throws<UsageException>(() => CallCommand.AlgorithmPath(reference));
    }
}
