// Runs against a real Azure Blob server: the azurite emulator from npm (tests/emulators), started by Support/Emulators.cs.
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using OSForAI.Data.Azure;
using OSForAI.Testing;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Data.Connectors;

[Collection(AzureEmulatorCollection.Name)]
public sealed class AzureBlobConnectorTests(AzureEmulator emulator) : ConnectorContract
{
    private readonly IDataConnector _connector = Create(emulator.AzureSettings());

    protected override IDataConnector Connector => _connector;

    protected override StorageUri NewRoot() => StorageUri.Parse($"azure://{AzureEmulator.Container}/t-{Guid.NewGuid():N}/");

    private static IDataConnector Create(IReadOnlyDictionary<string, string?> values, string? label = null) =>
        new AzureBlobConnectorFactory().Create(new ConnectorSettings("azure", label, values));

    private BlockBlobClient Blob(StorageUri uri) =>
        emulator.Client().GetBlobContainerClient(uri.Container).GetBlockBlobClient(uri.Key);

    [Fact]
    public async Task Large_writes_commit_staged_blocks()
    {
        var f = NewRoot().Child("blocks.bin");
        var data = new byte[12 * 1024 * 1024];
        new Random(8).NextBytes(data);
        await _connector.WriteAsync(f, new NonSeekable(data), null, Ct);
        BlockList blocks = await Blob(f).GetBlockListAsync(BlockListTypes.All, cancellationToken: Ct);
        // 12 MiB in 4 MiB blocks; nothing left uncommitted.
        Assert.Equal(3, blocks.CommittedBlocks.Count());
        Assert.Empty(blocks.UncommittedBlocks);
    }

    [Fact]
    public async Task A_failed_block_upload_commits_nothing()
    {
        var f = NewRoot().Child("kept.bin");
        await _connector.WriteAsync(f, new MemoryStream("old"u8.ToArray()), 3, Ct);
        var data = new byte[12 * 1024 * 1024];
        // The content stream's own failure comes through as it was, not as a store error.
        await Assert.ThrowsAsync<IOException>(() => _connector.WriteAsync(f, new FailingStream(data, 9 * 1024 * 1024), null, Ct));
        BlockList blocks = await Blob(f).GetBlockListAsync(BlockListTypes.Committed, cancellationToken: Ct);
        Assert.Empty(blocks.CommittedBlocks); // "old" went up as a single put, and stays
        Assert.Equal(3, (await _connector.StatAsync(f, Ct))!.Size);
    }

    [Fact]
    public async Task Wrong_credentials_are_forbidden_and_the_key_is_not_shown()
    {
        var wrongKey = Convert.ToBase64String(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray());
        var azure = Create(new Dictionary<string, string?>
        {
            ["AccountName"] = AzureEmulator.AccountName,
            ["AccountKey"] = wrongKey,
            ["BlobEndpoint"] = emulator.BlobEndpoint,
        }, "prod");
        var f = NewRoot().Child("x.txt");
        foreach (var call in new Func<Task>[]
                 {
                     () => azure.WriteAsync(f, new MemoryStream([1]), 1, Ct),
                     () => azure.OpenReadAsync(f, null, Ct),
                     () => azure.ListAsync(f.Parent!, null, 10, Ct),
                     () => azure.StatAsync(f, Ct),
                 })
        {
            var e = await Assert.ThrowsAsync<DataException>(call);
            Assert.Equal(DataError.Forbidden, e.Kind);
            Assert.Contains("azure+prod credentials were refused", e.Message);
            Assert.DoesNotContain(wrongKey, e.Message);
        }
    }

    [Fact]
    public void Missing_credentials_name_the_setting_and_no_value()
    {
        var e = Assert.Throws<DataException>(() => Create(new Dictionary<string, string?>(), "prod"));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("OSForAI:Data:Azure:prod:ConnectionString", e.Message);

        e = Assert.Throws<DataException>(() => Create(new Dictionary<string, string?> { ["AccountName"] = "someaccount" }, "prod"));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("AccountKey", e.Message);

        e = Assert.Throws<DataException>(() => Create(new Dictionary<string, string?> { ["ConnectionString"] = "AccountKey=c2VjcmV0LXZhbHVl;nonsense" }, "prod"));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("ConnectionString", e.Message);
        Assert.DoesNotContain("c2VjcmV0LXZhbHVl", e.Message);
    }

    [Fact]
    public async Task An_unknown_container_is_not_found()
    {
        var container = "no-such-container-" + Guid.NewGuid().ToString("N")[..8];
        var f = StorageUri.Parse($"azure://{container}/a/b.txt");
        foreach (var call in new Func<Task>[]
                 {
                     () => _connector.OpenReadAsync(f, null, Ct),
                     () => _connector.WriteAsync(f, new MemoryStream([1]), 1, Ct),
                     () => _connector.ListAsync(f.Parent!, null, 10, Ct),
                 })
        {
            var e = await Assert.ThrowsAsync<DataException>(call);
            Assert.Equal(DataError.NotFound, e.Kind);
            Assert.Contains(container, e.Message);
        }
        Assert.False(await _connector.DirectoryExistsAsync(StorageUri.Parse($"azure://{container}/"), Ct));
        Assert.True(await _connector.DirectoryExistsAsync(StorageUri.Parse($"azure://{AzureEmulator.Container}/"), Ct));
    }

    [Fact]
    public async Task An_unreachable_store_is_an_upstream_error()
    {
        var values = emulator.AzureSettings();
        values["ConnectionString"] = emulator.ConnectionString.Replace($":{emulator.Port}/", $":{EmulatorProcess.FreePort()}/");
        var connector = Create(values);
        var f = StorageUri.Parse($"azure://{AzureEmulator.Container}/a.txt");
        var e = await Assert.ThrowsAsync<DataException>(() => connector.OpenReadAsync(f, null, Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
        Assert.DoesNotContain(AzureEmulator.AccountKey, e.Message);
    }

    [Fact]
    public async Task A_labelled_set_resolves_to_its_own_settings()
    {
        var registry = new ConnectorRegistry([new AzureBlobConnectorFactory()], (scheme, label) => (scheme, label) switch
        {
            ("azure", "prod") => emulator.AzureSettings(),
            _ => null,
        });
        var f = StorageUri.Parse($"azureblob+prod://{AzureEmulator.Container}/t-{Guid.NewGuid():N}/labelled.txt");
        var prod = registry.Resolve(f);
        await prod.WriteAsync(f, new MemoryStream("hi"u8.ToArray()), 2, Ct);
        Assert.Equal(2, (await prod.StatAsync(f, Ct))!.Size);
        Assert.Same(prod, registry.Resolve(StorageUri.Parse($"azure+prod://{AzureEmulator.Container}/other")));

        var unknown = Assert.Throws<DataException>(() => registry.Resolve(StorageUri.Parse($"azure+staging://{AzureEmulator.Container}/x")));
        Assert.Equal(DataError.NotConfigured, unknown.Kind);
        Assert.Contains("staging", unknown.Message);
        var unlabelled = Assert.Throws<DataException>(() => registry.Resolve(StorageUri.Parse($"azure://{AzureEmulator.Container}/x")));
        Assert.Equal(DataError.NotConfigured, unlabelled.Kind);
    }

    [Fact]
    public async Task A_range_past_the_end_is_refused()
    {
        var f = NewRoot().Child("short.txt");
        await _connector.WriteAsync(f, new MemoryStream("abc"u8.ToArray()), 3, Ct);
        var e = await Assert.ThrowsAsync<DataException>(() => _connector.OpenReadAsync(f, new ByteRange(10, 5), Ct));
        Assert.Equal(DataError.BadPath, e.Kind);
    }
}
