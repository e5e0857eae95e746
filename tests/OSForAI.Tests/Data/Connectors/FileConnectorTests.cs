using OSForAI.Data.Files;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>file:// on a temporary root: the connector contract, then escapes through links and paths.</summary>
public sealed class FileConnectorTests : ConnectorContract, IDisposable
{
    private readonly string _base = Path.Combine(Path.GetTempPath(), "osai-file-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly string _root;
    private readonly string _outside;
    private readonly IDataConnector _connector;

    public FileConnectorTests()
    {
        _root = Path.Combine(_base, "root");
        _outside = Path.Combine(_base, "outside");
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Combine(_outside, "secret.txt"), "secret");
        _connector = Create(_root);
    }

    protected override IDataConnector Connector => _connector;
    protected override StorageUri NewRoot() => StorageUri.Parse($"file://shared/t{Guid.NewGuid():N}/");
    // No multipart on a disk; a smaller "large" object keeps the run fast.
    protected override int LargeObjectBytes => 2 * 1024 * 1024;

    public void Dispose()
    {
        RemoveLinks(_base);
        Directory.Delete(_base, recursive: true);
    }

    /// <summary>Unlinks every symbolic link below <paramref name="folder"/> (never descending into one), so cleanup cannot reach a target.</summary>
    private static void RemoveLinks(string folder)
    {
        foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            if (entry.LinkTarget is not null) File.Delete(entry.FullName);
            else if (entry is DirectoryInfo sub) RemoveLinks(sub.FullName);
    }

    private static IDataConnector Create(string root, bool readOnly = false) =>
        new FileConnectorFactory().Create(new ConnectorSettings("file", null, new Dictionary<string, string?>
        {
            ["Roots:shared"] = root,
            ["ReadOnly"] = readOnly ? "true" : null,
        }));

    private static StorageUri U(string path) => StorageUri.Parse("file://shared/" + path);

    private static async Task<DataException> Fails(DataError kind, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<DataException>(action);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    private static async Task<DataException> FailsWithLink(Func<Task> action)
    {
        var e = await Fails(DataError.BadPath, action);
        Assert.Contains("goes through a symbolic link", e.Message);
        return e;
    }

    [Fact]
    public async Task A_link_to_an_outside_file_is_refused_for_every_operation()
    {
        Directory.CreateDirectory(Path.Combine(_root, "links"));
        File.CreateSymbolicLink(Path.Combine(_root, "links", "evil.txt"), Path.Combine(_outside, "secret.txt"));
        var evil = U("links/evil.txt");

        await FailsWithLink(() => Connector.StatAsync(evil, Ct));
        await FailsWithLink(() => Connector.OpenReadAsync(evil, null, Ct));
        await FailsWithLink(() => Connector.WriteAsync(evil, new MemoryStream("pwned"u8.ToArray()), 5, Ct));
        await FailsWithLink(() => Connector.DeleteAsync(evil, Ct));
        Assert.Equal("secret", File.ReadAllText(Path.Combine(_outside, "secret.txt")));
        Assert.True(File.Exists(Path.Combine(_root, "links", "evil.txt")));
        var page = await Connector.ListAsync(U("links/"), null, 10, Ct);
        Assert.Empty(page.Files);
    }

    [Fact]
    public async Task A_link_to_an_outside_folder_is_refused_along_the_path()
    {
        Directory.CreateDirectory(Path.Combine(_root, "links"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "links", "evildir"), _outside);

        await FailsWithLink(() => Connector.StatAsync(U("links/evildir/secret.txt"), Ct));
        await FailsWithLink(() => Connector.OpenReadAsync(U("links/evildir/secret.txt"), null, Ct));
        await FailsWithLink(() => Connector.WriteAsync(U("links/evildir/planted.txt"), new MemoryStream("x"u8.ToArray()), 1, Ct));
        await FailsWithLink(() => Connector.WriteAsync(U("links/evildir/new/planted.txt"), new MemoryStream("x"u8.ToArray()), 1, Ct));
        await FailsWithLink(() => Connector.ListAsync(U("links/evildir/"), null, 10, Ct));
        await FailsWithLink(() => Connector.DirectoryExistsAsync(U("links/evildir/"), Ct));
        await FailsWithLink(() => Connector.CreateDirectoryAsync(U("links/evildir/sub/"), Ct));
        await FailsWithLink(() => Connector.DeleteDirectoryAsync(U("links/evildir/"), true, Ct));
        Assert.Equal(["secret.txt"], Directory.GetFileSystemEntries(_outside).Select(Path.GetFileName));
        var page = await Connector.ListAsync(U("links/"), null, 10, Ct);
        Assert.Empty(page.Folders);
    }

    [Fact]
    public async Task A_link_to_etc_inside_a_good_root_is_refused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_root, "etc"), "/etc");
        await FailsWithLink(() => Connector.OpenReadAsync(U("etc/passwd"), null, Ct));
        await FailsWithLink(() => Connector.StatAsync(U("etc/hostname"), Ct));
        await FailsWithLink(() => Connector.ListAsync(U("etc/"), null, 10, Ct));
        var page = await Connector.ListAsync(U(""), null, 100, Ct);
        Assert.DoesNotContain("etc", page.Folders);
    }

    [Fact]
    public async Task A_dangling_link_is_refused_and_not_replaced()
    {
        var link = Path.Combine(_root, "dangling.txt");
        File.CreateSymbolicLink(link, Path.Combine(_outside, "not-there.txt"));
        await FailsWithLink(() => Connector.StatAsync(U("dangling.txt"), Ct));
        await FailsWithLink(() => Connector.WriteAsync(U("dangling.txt"), new MemoryStream("x"u8.ToArray()), 1, Ct));
        Assert.False(File.Exists(Path.Combine(_outside, "not-there.txt")));
        Assert.NotNull(new FileInfo(link).LinkTarget);
    }

    [Fact]
    public async Task Force_deleting_a_folder_removes_links_but_not_their_targets()
    {
        var dir = U("doomed/");
        await Connector.WriteAsync(dir.Child("a.txt"), new MemoryStream("a"u8.ToArray()), 1, Ct);
        Directory.CreateSymbolicLink(Path.Combine(_root, "doomed", "out"), _outside);
        Assert.Equal(1, await Connector.DeleteDirectoryAsync(dir, force: true, Ct));
        Assert.False(Directory.Exists(Path.Combine(_root, "doomed")));
        Assert.True(File.Exists(Path.Combine(_outside, "secret.txt")));
    }

    [Fact]
    public async Task Unknown_root_is_not_configured()
    {
        var e = await Fails(DataError.NotConfigured, () => Connector.StatAsync(StorageUri.Parse("file://unknownroot/x"), Ct));
        Assert.Contains("no file:// root named 'unknownroot' is configured", e.Message);
    }

    [Theory]
    [InlineData("file://shared/../x")]
    [InlineData("file://shared/a/../../x")]
    [InlineData("file://shared/%2e%2e/x")]
    [InlineData("file://shared/%2E%2E/x")]
    [InlineData("file://shared/a%2f..%2f..%2fx")]
    [InlineData("file://shared/a%5cb")]
    [InlineData("file://shared/%252e%252e/x")]
    [InlineData("file://shared/./x")]
    [InlineData("file://shared//x")]
    public void Traversal_is_refused_when_parsing(string text)
    {
        var e = Assert.Throws<DataException>(() => StorageUri.Parse(text));
        Assert.Equal(DataError.BadPath, e.Kind);
    }

    [Fact]
    public async Task Read_only_root_refuses_writes_but_serves_reads()
    {
        File.WriteAllText(Path.Combine(_root, "kept.txt"), "kept");
        var ro = Create(_root, readOnly: true);
        Assert.False(ro.CanWrite);
        await Fails(DataError.NotSupported, () => ro.WriteAsync(U("new.txt"), new MemoryStream("x"u8.ToArray()), 1, Ct));
        await Fails(DataError.NotSupported, () => ro.DeleteAsync(U("kept.txt"), Ct));
        await Fails(DataError.NotSupported, () => ro.CreateDirectoryAsync(U("d/"), Ct));
        await Fails(DataError.NotSupported, () => ro.DeleteDirectoryAsync(U("d/"), true, Ct));
        Assert.False(File.Exists(Path.Combine(_root, "new.txt")));
        await using var o = await ro.OpenReadAsync(U("kept.txt"), null, Ct);
        Assert.Equal("kept", await new StreamReader(o.Content).ReadToEndAsync(Ct));
    }

    [Fact]
    public async Task Upload_temp_files_are_hidden_and_reserved()
    {
        File.WriteAllText(Path.Combine(_root, FileRoots.TempPrefix + "leftover"), "partial");
        File.WriteAllText(Path.Combine(_root, "real.txt"), "real");
        var page = await Connector.ListAsync(U(""), null, 100, Ct);
        Assert.Equal(["real.txt"], page.Files.Select(f => f.Name));
        await Fails(DataError.BadPath, () => Connector.OpenReadAsync(U(FileRoots.TempPrefix + "leftover"), null, Ct));
        await Fails(DataError.BadPath, () => Connector.WriteAsync(U(FileRoots.TempPrefix + "x"), new MemoryStream([1]), 1, Ct));
    }

    [Fact]
    public async Task Folders_are_not_objects_and_files_are_not_folders()
    {
        await Connector.WriteAsync(U("d/f.txt"), new MemoryStream("f"u8.ToArray()), 1, Ct);
        Assert.Null(await Connector.StatAsync(U("d"), Ct));
        await Fails(DataError.NotFound, () => Connector.OpenReadAsync(U("d"), null, Ct));
        await Fails(DataError.Conflict, () => Connector.WriteAsync(U("d"), new MemoryStream([1]), 1, Ct));
        await Fails(DataError.Conflict, () => Connector.WriteAsync(U("d/f.txt/g.txt"), new MemoryStream([1]), 1, Ct));
        await Fails(DataError.BadPath, () => Connector.OpenReadAsync(U("d/f.txt"), new ByteRange(5, null), Ct));
        var info = await Connector.StatAsync(U("d/f.txt"), Ct);
        Assert.Matches("^\"[0-9a-f]+-[0-9a-f]+\"$", info!.ETag);
    }

    [Fact]
    public void Settings_need_an_absolute_root()
    {
        var factory = new FileConnectorFactory();
        Assert.False(factory.WorksUnconfigured);
        var none = Assert.Throws<DataException>(() => factory.Create(new ConnectorSettings("file", null, new Dictionary<string, string?>())));
        Assert.Equal(DataError.NotConfigured, none.Kind);
        var relative = Assert.Throws<DataException>(() => factory.Create(new ConnectorSettings("file", null, new Dictionary<string, string?> { ["Roots:x"] = "relative/dir" })));
        Assert.Equal(DataError.NotConfigured, relative.Kind);
        var registry = new ConnectorRegistry([factory], (_, _) => null);
        Assert.Equal(DataError.NotConfigured, Assert.Throws<DataException>(() => registry.Resolve(U("a.txt"))).Kind);
    }
}
