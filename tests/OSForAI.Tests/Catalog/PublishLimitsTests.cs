using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Catalog;

/// <summary>
/// What a code upload may not do: expand past the configured quota (gzip bombs), hold entries that are both a file and
/// a folder or names the file system cannot store, declare impossible resources. Each is a 400 with a clear message,
/// and nothing is stored.
/// </summary>
public sealed class PublishLimitsTests
{
    private static readonly Dictionary<string, string?> Small = new()
    {
        ["OSForAI:Workers:WarmGenericWorkers"] = "0",
        ["OSForAI:MaxCodeExpandedBytes"] = (4 * 1024 * 1024).ToString(),
        ["OSForAI:MaxCodeEntries"] = "50",
        ["OSForAI:Workers:Node:MemoryMb"] = "2048",
        ["OSForAI:Workers:Node:CpuCores"] = "2",
        ["OSForAI:Workers:Node:GpuMemoryMb"] = "8192",
    };

    private static async Task<(HttpStatusCode Status, JsonElement Body)> UploadAsync(TestServer s, byte[] archive, string contentType = "application/gzip")
    {
        await s.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "lim", name = "a" });
        var content = new ByteArrayContent(archive);
        content.Headers.ContentType = new(contentType);
        var r = await s.Admin.PostAsync("/v1/algorithms/lim/a/builds", content);
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonDocument.Parse(text).RootElement);
    }

    private static string Message(JsonElement body) => body.GetProperty("error").GetProperty("message").GetString()!;

    /// <summary>Nothing of a refused upload is left: no code cache folder, no archive in data://.osforai/code.</summary>
    private static void AssertNothingStored(TestServer s)
    {
        var code = Path.Combine(s.Home, "code");
        Assert.Empty(Directory.Exists(code) ? Directory.EnumerateFileSystemEntries(code) : []);
        var archives = Path.Combine(s.Home, "data", ".osforai", "code", "lim");
        Assert.Empty(Directory.Exists(archives) ? Directory.EnumerateFiles(archives, "*", SearchOption.AllDirectories) : []);
    }

    /// <summary>A .tar.gz whose one file is <paramref name="zeros"/> zero bytes: a few KB on the wire, megabytes expanded.</summary>
    private static byte[] Bomb(long zeros, int files = 1)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "algorithm.yaml") { DataStream = new MemoryStream("runtime: python3\n"u8.ToArray()) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "main.py") { DataStream = new MemoryStream("def apply(x):\n    return x\n"u8.ToArray()) });
            for (var i = 0; i < files; i++)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"zeros{i}.bin") { DataStream = new ZeroStream(zeros) });
        }
        return ms.ToArray();
    }

    [Fact]
    public async Task A_gzip_bomb_past_the_expanded_size_quota_is_refused_and_nothing_is_stored()
    {
        await using var s = await TestServer.StartAsync(Small);
        var bomb = Bomb(5L * 1024 * 1024);
        Assert.True(bomb.Length < 64 * 1024, $"the bomb is {bomb.Length} bytes");
        var (status, body) = await UploadAsync(s, bomb);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("expands to more than 4194304 bytes", Message(body));
        AssertNothingStored(s);

        // Just under the quota is fine.
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(s, Bomb(3L * 1024 * 1024))).Status);
    }

    [Fact]
    public async Task An_archive_with_more_entries_than_the_quota_is_refused()
    {
        await using var s = await TestServer.StartAsync(Small);
        var (status, body) = await UploadAsync(s, Bomb(1, files: 60));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("more than 50 entries", Message(body));
        AssertNothingStored(s);
    }

    private static byte[] Tar(params (string Name, TarEntryType Type)[] entries)
    {
        using var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "algorithm.yaml") { DataStream = new MemoryStream("runtime: python3\n"u8.ToArray()) });
            foreach (var (name, type) in entries)
                tar.WriteEntry(type == TarEntryType.Directory
                    ? new PaxTarEntry(type, name)
                    : new PaxTarEntry(type, name) { DataStream = new MemoryStream("x"u8.ToArray()) });
        }
        return ms.ToArray();
    }

    public static TheoryData<string, string> BadArchives => new()
    {
        { "file-then-folder", "both a file and a folder" },
        { "folder-then-file", "both a file and a folder" },
        { "explicit-folder-then-file", "both a file and a folder" },
        { "long-name", "longer than 255 bytes" },
        { "long-folder", "longer than 255 bytes" },
    };

    [Theory]
    [MemberData(nameof(BadArchives))]
    public async Task Archives_the_file_system_cannot_hold_are_400_and_logged_nothing_as_an_error(string kind, string expected)
    {
        var logs = new CapturedLogs();
        await using var s = await TestServer.StartAsync(Small, logs: logs);
        var archive = kind switch
        {
            "file-then-folder" => Tar(("a", TarEntryType.RegularFile), ("a/b", TarEntryType.RegularFile)),
            "folder-then-file" => Tar(("a/b", TarEntryType.RegularFile), ("a", TarEntryType.RegularFile)),
            "explicit-folder-then-file" => Tar(("a/", TarEntryType.Directory), ("a", TarEntryType.RegularFile)),
            "long-name" => Tar((new string('n', 300) + ".py", TarEntryType.RegularFile)),
            "long-folder" => Tar((new string('d', 300) + "/main.py", TarEntryType.RegularFile)),
            _ => throw new ArgumentException(kind),
        };
        var (status, body) = await UploadAsync(s, archive, "application/x-tar");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, Message(body));
        AssertNothingStored(s);
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Theory]
    [InlineData("cpu: .nan", "cpu")]
    [InlineData("cpu: .inf", "cpu")]
    [InlineData("cpu: -.inf", "cpu")]
    [InlineData("cpu: -1", "cpu")]
    [InlineData("memory_mb: -5", "memory_mb")]
    [InlineData("gpu_memory_mb: -1", "gpu_memory_mb")]
    [InlineData("memory_mb: 2147483647", "memory_mb")]
    [InlineData("memory_mb: 4096", "memory_mb")]
    [InlineData("cpu: 3", "cpu")]
    [InlineData("gpu_memory_mb: 16384", "gpu_memory_mb")]
    [InlineData("gpu_memory_mb: 2147483647", "gpu_memory_mb")]
    public async Task Impossible_or_oversized_resources_are_refused_at_upload(string line, string field)
    {
        await using var s = await TestServer.StartAsync(Small);
        var archive = TestServer.TarGz(TestServer.Python("def apply(x):\n    return x\n", $"resources:\n  {line}\n"));
        var (status, body) = await UploadAsync(s, archive);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(field, Message(body));
        AssertNothingStored(s);
    }

    [Fact]
    public async Task Resources_that_fit_the_node_are_accepted()
    {
        await using var s = await TestServer.StartAsync(Small);
        var archive = TestServer.TarGz(TestServer.Python("def apply(x):\n    return x\n", "resources:\n  cpu: 2\n  memory_mb: 2048\n  gpu_memory_mb: 8192\n"));
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(s, archive)).Status);
    }

    [Fact]
    public async Task A_500_is_logged_with_its_exception()
    {
        var logs = new CapturedLogs();
        await using var s = await TestServer.StartAsync(Small, logs: logs);
        // Break the code cache: a file where its folder should be, so the upload fails inside the server.
        var code = Path.Combine(s.Home, "code");
        if (Directory.Exists(code)) Directory.Delete(code, recursive: true);
        await File.WriteAllTextAsync(code, "not a folder");
        var (status, body) = await UploadAsync(s, TestServer.TarGz(TestServer.Python("def apply(x):\n    return x\n")));
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.Equal("InternalError", body.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains(logs.Entries, e => e.Level >= LogLevel.Error && e.Exception is IOException && e.Message.Contains("/v1/algorithms/lim/a/builds"));
    }

    /// <summary>Reads as <c>length</c> zero bytes without holding them.</summary>
    private sealed class ZeroStream(long length) : Stream
    {
        private long _position;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => _position = value; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            Array.Clear(buffer, offset, n);
            _position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => length + offset,
        };
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
