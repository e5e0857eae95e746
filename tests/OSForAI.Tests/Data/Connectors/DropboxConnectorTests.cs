using OSForAI.Data.Dropbox;
using OSForAI.Tests.Data.Connectors.Fakes;
using static OSForAI.Tests.Data.Connectors.ConnectorTestSupport;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>Starts the documented Dropbox API fake (no Dropbox server can run here) and a dropbox:// connector on it.</summary>
public sealed class DropboxFixture : IAsyncLifetime
{
    public const string Token = "sl.fake-dropbox-access-token";

    public FakeDropboxServer Server { get; private set; } = null!;
    public DropboxConnector Connector { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // At most four entries per list_folder answer, so listings go through list_folder/continue.
        Server = await FakeDropboxServer.StartAsync(Token, maxPage: 4);
        Connector = Make(Token);
    }

    /// <summary>1 MiB chunks, so the contract's large objects go through upload sessions.</summary>
    public DropboxConnector Make(string token) => DropboxConnector.Create(Settings("dropbox",
        ("AccessToken", token), ("ApiEndpoint", Server.BaseUri.AbsoluteUri), ("ContentEndpoint", Server.BaseUri.AbsoluteUri),
        ("ChunkSizeBytes", (1 << 20).ToString())));

    public async Task DisposeAsync()
    {
        Connector.Dispose();
        Assert.True(Server.Host.Failures.IsEmpty, "the fake failed: " + string.Join("\n", Server.Host.Failures));
        await Server.DisposeAsync();
    }
}

/// <summary>dropbox:// over our Dropbox API v2 client against an in-process fake of the API and content endpoints.</summary>
public sealed class DropboxConnectorTests(DropboxFixture fx) : ConnectorContract, IClassFixture<DropboxFixture>
{
    protected override IDataConnector Connector => fx.Connector;
    protected override StorageUri NewRoot() => StorageUri.Parse($"dropbox://t-{Guid.NewGuid():N}/");

    [Fact]
    public void Missing_token_names_the_setting()
    {
        var e = Assert.Throws<DataException>(() => new DropboxConnectorFactory().Create(Settings("dropbox", ("ApiEndpoint", "http://127.0.0.1:1"))));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("AccessToken", e.Message);
    }

    [Fact]
    public async Task Wrong_token_is_forbidden_without_the_secret_in_the_message()
    {
        using var wrong = fx.Make("sl.not-the-right-token");
        var e = await Assert.ThrowsAsync<DataException>(() => wrong.StatAsync(NewRoot().Child("x.txt"), Ct));
        Assert.Equal(DataError.Forbidden, e.Kind);
        Assert.Equal("the dropbox credentials were refused", e.Message);
        var r = await Assert.ThrowsAsync<DataException>(() => wrong.OpenReadAsync(NewRoot().Child("x.txt"), null, Ct));
        Assert.Equal(DataError.Forbidden, r.Kind);
    }

    [Fact]
    public Task Reads_stream_without_buffering_the_object() =>
        AssertReadsStreamAsync(Connector, NewRoot().Child("streamed.bin"), hold => fx.Server.HoldDownloads = hold);

    [Fact]
    public async Task Unreachable_endpoint_is_upstream()
    {
        var closed = $"http://127.0.0.1:{ClosedPort()}";
        using var c = DropboxConnector.Create(Settings("dropbox", ("AccessToken", "t"), ("ApiEndpoint", closed), ("ContentEndpoint", closed)));
        var e = await Assert.ThrowsAsync<DataException>(() => c.StatAsync(StorageUri.Parse("dropbox://a/x.txt"), Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
        var w = await Assert.ThrowsAsync<DataException>(() => c.WriteAsync(StorageUri.Parse("dropbox://a/x.txt"), new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Upstream, w.Kind);
    }

    [Fact]
    public void Api_arguments_are_header_safe_json()
    {
        var json = DropboxConnector.HeaderSafeJson(new { path = "/naïve/☃\u007f😀.txt" });
        Assert.All(json, c => Assert.True(c < 0x7F, $"'{c}' is not header-safe"));
        Assert.Equal("/naïve/☃\u007f😀.txt", System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("path").GetString());
        Assert.Contains("\\ud83d\\ude00", json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Non_ascii_names_round_trip()
    {
        var root = NewRoot();
        var f = root.Child("Übergröße ☃.txt");
        await Connector.WriteAsync(f, new MemoryStream("snow"u8.ToArray()), 4, Ct);
        await using (var o = await Connector.OpenReadAsync(f, null, Ct))
        {
            Assert.Equal("Übergröße ☃.txt", o.Info.Name);
            using var ms = new MemoryStream();
            await o.Content.CopyToAsync(ms, Ct);
            Assert.Equal("snow"u8.ToArray(), ms.ToArray());
        }
        var page = await Connector.ListAsync(root, null, 10, Ct);
        Assert.Equal(["Übergröße ☃.txt"], page.Files.Select(x => x.Name));
    }

    [Fact]
    public async Task Large_objects_use_an_upload_session_and_an_unfinished_one_shows_nothing()
    {
        var root = NewRoot();
        var data = new byte[(3 << 20) + 777];
        new Random(9).NextBytes(data);
        await Connector.WriteAsync(root.Child("big.bin"), new NonSeekable(data), null, Ct);
        Assert.Contains(fx.Server.Requests, r => r.EndsWith("/2/files/upload_session/append_v2", StringComparison.Ordinal));
        Assert.Contains(fx.Server.Requests, r => r.EndsWith("/2/files/upload_session/finish", StringComparison.Ordinal));
        Assert.Equal(data.Length, (await Connector.StatAsync(root.Child("big.bin"), Ct))!.Size);

        var sessionsBefore = fx.Server.OpenSessions;
        var f = root.Child("half.bin");
        await Assert.ThrowsAsync<IOException>(() => Connector.WriteAsync(f, new FailingStream(data, (2 << 20) + 10), null, Ct));
        Assert.Equal(sessionsBefore + 1, fx.Server.OpenSessions);
        Assert.False(fx.Server.Exists("/" + root.Name + "/half.bin"));
        Assert.Null(await Connector.StatAsync(f, Ct));
    }

    [Fact]
    public async Task Creating_an_existing_folder_is_fine_but_a_file_in_the_way_conflicts()
    {
        var root = NewRoot();
        var dir = root.Child("d", directory: true);
        await Connector.CreateDirectoryAsync(dir, Ct);
        await Connector.CreateDirectoryAsync(dir, Ct);
        Assert.True(await Connector.DirectoryExistsAsync(dir, Ct));
        Assert.False(await Connector.DeleteAsync(root.Child("d"), Ct));

        await Connector.WriteAsync(root.Child("f"), new MemoryStream([1]), 1, Ct);
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.CreateDirectoryAsync(root.Child("f", directory: true), Ct));
        Assert.Equal(DataError.Conflict, e.Kind);
        var w = await Assert.ThrowsAsync<DataException>(() => Connector.WriteAsync(root.Child("d"), new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Conflict, w.Kind);
    }
}
