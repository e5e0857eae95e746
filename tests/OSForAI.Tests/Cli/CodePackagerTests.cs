using System.Formats.Tar;
using System.IO.Compression;
using OSForAI.Cli;

namespace OSForAI.Tests.Cli;

public sealed class CodePackagerTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private void WriteSampleAlgorithm()
    {
        _dir.Write("algorithm.yaml", "runtime: python3\nentrypoint: main:apply\n");
        _dir.Write("main.py", "def apply(x):\n    return 'Hello ' + x\n");
        _dir.Write("lib/util.py", "X = 1\n");
        _dir.Write("lib/data/weights.bin", "\u0001\u0002\u0003");
        _dir.Write("__pycache__/main.cpython-312.pyc", "junk");
        _dir.Write("lib/__pycache__/util.cpython-312.pyc", "junk");
        _dir.Write("stale.pyc", "junk");
        _dir.Write(".git/HEAD", "ref: refs/heads/main\n");
        _dir.Write("node_modules/left-pad/index.js", "");
        _dir.Write(".env.example", "A=1\n");
        Directory.CreateDirectory(_dir.Combine("empty"));
    }

    private static Dictionary<string, (TarEntryType Type, string Content, UnixFileMode Mode)> ReadArchive(byte[] archive)
    {
        var entries = new Dictionary<string, (TarEntryType, string, UnixFileMode)>();
        using var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        while (reader.GetNextEntry() is { } entry)
        {
            var content = "";
            if (entry.DataStream is { } data)
                content = new StreamReader(data).ReadToEnd();
            entries.Add(entry.Name, (entry.EntryType, content, entry.Mode));
        }
        return entries;
    }

    [Fact]
    public void Packs_relative_paths_and_round_trips_content()
    {
        WriteSampleAlgorithm();

        var entries = ReadArchive(CodePackager.Pack(_dir.Path));

        Assert.Equal(
            [".env.example", "algorithm.yaml", "empty/", "lib/", "lib/data/", "lib/data/weights.bin", "lib/util.py", "main.py"],
            entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("runtime: python3\nentrypoint: main:apply\n", entries["algorithm.yaml"].Content);
        Assert.Equal("def apply(x):\n    return 'Hello ' + x\n", entries["main.py"].Content);
        Assert.Equal("\u0001\u0002\u0003", entries["lib/data/weights.bin"].Content);
        Assert.Equal(TarEntryType.Directory, entries["lib/"].Type);
        Assert.All(entries.Where(e => !e.Key.EndsWith('/')), e => Assert.Equal(TarEntryType.RegularFile, e.Value.Type));
        Assert.DoesNotContain(entries.Keys, k => k.StartsWith('/') || k.Contains('\\') || k.Contains(".."));
    }

    [Fact]
    public void Skips_caches_vcs_folders_and_compiled_python()
    {
        WriteSampleAlgorithm();

        var names = ReadArchive(CodePackager.Pack(_dir.Path)).Keys;

        Assert.DoesNotContain(names, n => n.Contains("__pycache__"));
        Assert.DoesNotContain(names, n => n.Contains(".git/") || n == ".git");
        Assert.DoesNotContain(names, n => n.Contains("node_modules"));
        Assert.DoesNotContain(names, n => n.EndsWith(".pyc"));
    }

    [Theory]
    [InlineData("__pycache__", true, true)]
    [InlineData(".git", true, true)]
    [InlineData(".git", false, true)]
    [InlineData("node_modules", true, true)]
    [InlineData("x.pyc", false, true)]
    [InlineData("X.PYC", false, true)]
    [InlineData("main.py", false, false)]
    [InlineData("lib", true, false)]
    [InlineData("__pycache__", false, false)]
    public void IsSkipped(string name, bool isDirectory, bool skipped)
    {
        Assert.Equal(skipped, CodePackager.IsSkipped(name, isDirectory));
    }

    [Fact]
    public void Same_folder_gives_the_same_archive()
    {
        WriteSampleAlgorithm();

        var first = CodePackager.Pack(_dir.Path);
        File.SetLastWriteTimeUtc(_dir.Combine("main.py"), DateTime.UtcNow.AddDays(-3));
        var second = CodePackager.Pack(_dir.Path);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Archive_bytes_do_not_depend_on_the_process()
    {
        WriteSampleAlgorithm();
        using var tar = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(CodePackager.Pack(_dir.Path)), CompressionMode.Decompress))
            gzip.CopyTo(tar);

        // PAX extended headers are named after the writing process ("PaxHeaders.<pid>"), which would change the hash.
        Assert.DoesNotContain("PaxHeaders", System.Text.Encoding.ASCII.GetString(tar.ToArray()));
        Assert.DoesNotContain(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/",
            System.Text.Encoding.ASCII.GetString(tar.ToArray()));
    }

    [Fact]
    public void Long_and_non_ascii_names_round_trip()
    {
        var longDir = new string('d', 120);
        var name = $"{longDir}/{new string('f', 110)}-grüße.py";
        _dir.Write("algorithm.yaml", "runtime: python3\n");
        _dir.Write(name, "print('hi')\n");

        var entries = ReadArchive(CodePackager.Pack(_dir.Path));

        Assert.Equal(["algorithm.yaml", longDir + "/", name], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("print('hi')\n", entries[name].Content);
    }

    [Fact]
    public void Pack_to_stream_reports_what_it_packed_and_leaves_the_stream_open()
    {
        WriteSampleAlgorithm();
        using var output = new MemoryStream();

        var result = CodePackager.Pack(_dir.Path, output);

        Assert.Equal(5, result.Files);
        Assert.Equal(3, result.Directories); // empty/, lib/, lib/data/
        Assert.True(output.CanWrite);
        Assert.True(output.Length > 0);
    }

    [Fact]
    public void Keeps_the_executable_bit_and_skips_links_on_unix()
    {
        if (OperatingSystem.IsWindows())
            return;
        _dir.Write("algorithm.yaml", "runtime: python3\n");
        var script = _dir.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(_dir.Combine("link.py"), _dir.Combine("algorithm.yaml"));
        Directory.CreateSymbolicLink(_dir.Combine("linkdir"), Path.GetTempPath());

        var entries = ReadArchive(CodePackager.Pack(_dir.Path));

        Assert.Equal(["algorithm.yaml", "run.sh"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.True((entries["run.sh"].Mode & UnixFileMode.UserExecute) != 0);
        Assert.True((entries["algorithm.yaml"].Mode & UnixFileMode.UserExecute) == 0);
    }

    [Fact]
    public void Missing_folder_throws()
    {
        Assert.Throws<DirectoryNotFoundException>(() => CodePackager.Pack(_dir.Combine("nope")));
    }
}
