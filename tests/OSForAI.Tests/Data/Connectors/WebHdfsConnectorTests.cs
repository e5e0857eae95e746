using OSForAI.Data.Hdfs;
using OSForAI.Tests.Data.Connectors.Fakes;
using static OSForAI.Tests.Data.Connectors.ConnectorTestSupport;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>Starts the documented WebHDFS fake (no HDFS can run here) and an hdfs:// connector on it.</summary>
public sealed class WebHdfsFixture : IAsyncLifetime
{
    public const string Token = "hdfs-delegation-token-secret";

    public FakeWebHdfsServer Server { get; private set; } = null!;
    public WebHdfsConnector Connector { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // Three entries per LISTSTATUS_BATCH answer, so listings really page through startAfter.
        Server = await FakeWebHdfsServer.StartAsync(requiredToken: Token, listLimit: 3);
        Server.LockedPaths.Add("/locked");
        Connector = Make(Token);
    }

    public WebHdfsConnector Make(string token) =>
        WebHdfsConnector.Create(Settings("hdfs", ("Endpoint", Server.BaseUri.AbsoluteUri), ("User", "osai"), ("DelegationToken", token)));

    public async Task DisposeAsync()
    {
        Connector.Dispose();
        Assert.True(Server.Host.Failures.IsEmpty, "the fake failed: " + string.Join("\n", Server.Host.Failures));
        await Server.DisposeAsync();
    }
}

/// <summary>hdfs:// over our WebHDFS client against an in-process fake namenode + datanode.</summary>
public sealed class WebHdfsConnectorTests(WebHdfsFixture fx) : ConnectorContract, IClassFixture<WebHdfsFixture>
{
    protected override IDataConnector Connector => fx.Connector;
    protected override StorageUri NewRoot() => StorageUri.Parse($"hdfs://t-{Guid.NewGuid():N}/");

    [Fact]
    public void Missing_endpoint_names_the_setting()
    {
        var e = Assert.Throws<DataException>(() => new WebHdfsConnectorFactory().Create(Settings("hdfs", ("User", "osai"))));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("Endpoint", e.Message);
    }

    [Fact]
    public async Task Wrong_token_is_forbidden_without_the_secret_in_the_message()
    {
        using var wrong = fx.Make("not-the-right-token");
        var e = await Assert.ThrowsAsync<DataException>(() => wrong.StatAsync(NewRoot().Child("x.txt"), Ct));
        Assert.Equal(DataError.Forbidden, e.Kind);
        Assert.DoesNotContain("not-the-right-token", e.Message);
    }

    [Fact]
    public async Task Access_control_exceptions_are_forbidden()
    {
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.WriteAsync(StorageUri.Parse("hdfs://locked/a.txt"), new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Forbidden, e.Kind);
    }

    [Fact]
    public Task Reads_stream_without_buffering_the_object() =>
        AssertReadsStreamAsync(Connector, NewRoot().Child("streamed.bin"), hold => fx.Server.HoldDownloads = hold);

    [Fact]
    public async Task Unreachable_endpoint_is_upstream()
    {
        using var c = WebHdfsConnector.Create(Settings("hdfs", ("Endpoint", $"http://127.0.0.1:{ClosedPort()}")));
        var e = await Assert.ThrowsAsync<DataException>(() => c.StatAsync(StorageUri.Parse("hdfs://a/x.txt"), Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
    }

    [Fact]
    public async Task The_hidden_upload_file_is_never_listed_and_is_removed_when_the_write_fails()
    {
        var root = NewRoot();
        var f = root.Child("big.bin");
        var release = new TaskCompletionSource();
        var data = new byte[400_000];
        var write = Connector.WriteAsync(f, new GatedStream(data, 300_000, release.Task), null, Ct);

        // While the data streams to the datanode the temporary file exists on the namenode...
        var tempPrefix = $"/{root.Name}/.big.bin.osai-";
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!fx.Server.AllPaths().Any(p => p.StartsWith(tempPrefix, StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the upload never reached the datanode");
            await Task.Delay(20);
        }
        // ...but neither the listing nor a stat shows it, nor the target.
        var during = await Connector.ListAsync(root, null, 100, Ct);
        Assert.Empty(during.Folders);
        Assert.Empty(during.Files);
        Assert.Null(await Connector.StatAsync(f, Ct));

        release.SetResult();
        await Assert.ThrowsAsync<IOException>(() => write);
        Assert.DoesNotContain(fx.Server.AllPaths(), p => p.StartsWith(tempPrefix, StringComparison.Ordinal));
        Assert.Null(await Connector.StatAsync(f, Ct));
    }

    [Fact]
    public async Task Writing_over_a_directory_is_a_conflict()
    {
        var dir = NewRoot().Child("d", directory: true);
        await Connector.CreateDirectoryAsync(dir, Ct);
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.WriteAsync(dir.Parent!.Child("d"), new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Conflict, e.Kind);
        Assert.False(await Connector.DeleteAsync(dir.Parent!.Child("d"), Ct));
        Assert.True(await Connector.DirectoryExistsAsync(dir, Ct));
    }

    /// <summary>Yields <c>failAfter</c> bytes, then waits for <c>gate</c> and fails like a dropped client.</summary>
    private sealed class GatedStream(byte[] data, int failAfter, Task gate) : Stream
    {
        private int _pos;
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_pos >= failAfter)
            {
                await gate;
                throw new IOException("the client connection was reset");
            }
            var n = Math.Min(buffer.Length, failAfter - _pos);
            data.AsMemory(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _pos; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
