using OSForAI.Cli;

namespace OSForAI.Tests.Cli;

public class TableWriterTests
{
    [Fact]
    public void Aligns_columns_and_shows_missing_cells_as_dashes()
    {
        var output = new StringWriter();

        TableWriter.Write(output, ["ID", "NAME", "NOTE"],
        [
            ["1", "alice", "first\nline"],
            ["22222", null, ""],
        ]);

        Assert.Equal(
            [
                "ID     NAME   NOTE",
                "1      alice  first line",
                "22222  -      -",
            ],
            output.ToString().TrimEnd().Split(Environment.NewLine));
    }

    [Theory]
    [InlineData("2025-01-02T03:04:05.678+00:00", "2025-01-02 03:04:05Z")]
    [InlineData("2025-01-02T05:04:05+02:00", "2025-01-02 03:04:05Z")]
    [InlineData("2025-01-02T03:04:05Z", "2025-01-02 03:04:05Z")]
    [InlineData("yesterday", "yesterday")]
    [InlineData(null, null)]
    public void Formats_timestamps_in_utc(string? value, string? expected)
    {
        Assert.Equal(expected, TableWriter.Time(value));
    }
}
