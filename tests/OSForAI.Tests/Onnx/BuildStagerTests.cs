using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using OSForAI.Worker;

namespace OSForAI.Tests.Onnx;

/// <summary>
/// The model worker's side of <c>stage</c>: a build sent by the host (a pod cannot see the gateway's files) is unpacked into the
/// worker's scratch folder once, and an archive that tries to reach outside it, or to be more than files and folders, or too
/// large, is refused with the reason and leaves nothing behind.
/// </summary>
public sealed class BuildStagerTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "osai-stager-test-" + Guid.NewGuid().ToString("N"));
    private readonly BuildStager _stager;

    public BuildStagerTests() => _stager = new BuildStager(_root);

    public void Dispose()
    {
        _stager.Dispose();
        Assert.False(Directory.Exists(_root));
    }

    private static byte[] TarGz(params TarEntry[] entries)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            foreach (var e in entries) tar.WriteEntry(e);
        return ms.ToArray();
    }

    private static PaxTarEntry File(string name, string text = "x") =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };

    [Fact]
    public async Task A_build_is_unpacked_once_under_its_hash_and_staged_again_at_no_cost()
    {
        var archive = TarGz(File("model.onnx", "weights"), new PaxTarEntry(TarEntryType.Directory, "labels"), File("labels/a.txt", "cat"));
        var path = await _stager.StageAsync("abc123", archive, 1 << 20, 10, default);
        Assert.Equal(Path.Combine(_root, "abc123"), path);
        Assert.Equal("weights", await System.IO.File.ReadAllTextAsync(Path.Combine(path, "model.onnx")));
        Assert.Equal("cat", await System.IO.File.ReadAllTextAsync(Path.Combine(path, "labels", "a.txt")));
        // Staged again (another caller, or concurrently): the same folder, not unpacked again (a broken archive would fail).
        var again = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _stager.StageAsync("abc123", new byte[] { 1, 2, 3 }, 1 << 20, 10, default)));
        Assert.All(again, p => Assert.Equal(path, p));
        Assert.Single(Directory.GetDirectories(_root));
    }

    public static TheoryData<string, Func<byte[]>, string> Hostile => new()
    {
        { "symlink", () => TarGz(new PaxTarEntry(TarEntryType.SymbolicLink, "model.onnx") { LinkName = "/etc/passwd" }), "SymbolicLink" },
        { "hard link", () => TarGz(File("a"), new PaxTarEntry(TarEntryType.HardLink, "b") { LinkName = "a" }), "HardLink" },
        { "device", () => TarGz(new PaxTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3 }), "CharacterDevice" },
        { "fifo", () => TarGz(new PaxTarEntry(TarEntryType.Fifo, "pipe")), "Fifo" },
        { "absolute path", () => TarGz(File("/tmp/evil")), "points outside" },
        { "dot-dot", () => TarGz(File("ok/../../evil")), "points outside" },
        { "too large", () => TarGz(File("big", new string('x', 5000))), "expands to more than 4096 bytes" },
        { "too many entries", () => TarGz([.. Enumerable.Range(0, 12).Select(i => (TarEntry)File($"f{i}"))]), "more than 10 entries" },
        { "not an archive", () => [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3], "not a valid archive" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task A_hostile_archive_is_refused_with_the_reason_and_leaves_nothing(string what, Func<byte[]> archive, string reason)
    {
        var e = await Assert.ThrowsAsync<WorkerException>(() => _stager.StageAsync("b" + what.Length, archive(), 4096, 10, default));
        Assert.Equal("LoadError", e.ErrorType);
        Assert.Contains(reason, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_root));          // no half-unpacked build, nothing written outside
        Assert.False(System.IO.File.Exists("/tmp/evil"));
    }

    [Fact]
    public async Task A_build_name_that_is_not_a_hash_is_refused()
    {
        var e = await Assert.ThrowsAsync<WorkerException>(() => _stager.StageAsync("../up", TarGz(File("a")), 4096, 10, default));
        Assert.Equal("ProtocolError", e.ErrorType);
    }

    [Fact]
    public async Task A_refused_build_is_not_remembered_as_staged()
    {
        await Assert.ThrowsAsync<WorkerException>(() => _stager.StageAsync("retry1", TarGz(File("/abs")), 4096, 10, default));
        var path = await _stager.StageAsync("retry1", TarGz(File("model.onnx")), 4096, 10, default);
        Assert.True(System.IO.File.Exists(Path.Combine(path, "model.onnx")));
    }
}
