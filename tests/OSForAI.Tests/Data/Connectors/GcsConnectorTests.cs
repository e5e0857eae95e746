using OSForAI.Data.Gcs;
using OSForAI.Tests.Data.Connectors.Fakes;
using static OSForAI.Tests.Data.Connectors.ConnectorTestSupport;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>Starts the documented GCS fake (no GCS server can run here) and a gs:// connector on it.</summary>
public sealed class GcsFixture : IAsyncLifetime
{
    public const string Bucket = "osai-test";
    public const string LockedBucket = "locked";
    public const string Token = "ya29.fake-access-token";

    public FakeGcsServer Server { get; private set; } = null!;
    public GcsConnector Connector { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await FakeGcsServer.StartAsync([Bucket, LockedBucket], requiredToken: Token);
        Server.ForbiddenBuckets.Add(LockedBucket);
        Connector = Make(("AccessToken", Token));
    }

    /// <summary>A connector on the fake; 1 MiB chunks (4 × 256 KiB) so large objects take several resumable chunks.</summary>
    public GcsConnector Make(params (string, string?)[] auth) =>
        GcsConnector.Create(Settings("gs", [("Endpoint", Server.BaseUri.AbsoluteUri), ("ChunkSizeBytes", (1 << 20).ToString()), .. auth]));

    public async Task DisposeAsync()
    {
        Assert.True(Server.Host.Failures.IsEmpty, "the fake failed: " + string.Join("\n", Server.Host.Failures));
        Connector.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>gs:// through the real Google.Cloud.Storage.V1 client against an in-process fake of the GCS JSON API.</summary>
public sealed class GcsConnectorTests(GcsFixture fx) : ConnectorContract, IClassFixture<GcsFixture>
{
    protected override IDataConnector Connector => fx.Connector;
    protected override StorageUri NewRoot() => StorageUri.Parse($"gs://{GcsFixture.Bucket}/t-{Guid.NewGuid():N}/");

    [Fact]
    public void Missing_credentials_name_the_setting()
    {
        var e = Assert.Throws<DataException>(() => new GcsConnectorFactory().Create(Settings("gs", ("Endpoint", "http://127.0.0.1:1/"))));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("CredentialsJson", e.Message);
    }

    /// <summary>The client signs its own JWT access tokens with the key; the fake verifies them with the public half.</summary>
    [Fact]
    public async Task A_service_account_key_authenticates()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = "osai-test",
            ["private_key_id"] = "k1",
            ["private_key"] = key.ExportPkcs8PrivateKeyPem(),
            ["client_email"] = "osai@osai-test.iam.gserviceaccount.com",
            ["client_id"] = "1",
            ["token_uri"] = new Uri(fx.Server.BaseUri, "token").AbsoluteUri,
        });
        var path = Path.Combine(Path.GetTempPath(), $"osai-gcs-key-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, json);
        try
        {
            fx.Server.ServiceAccountKey = key;
            using var c = fx.Make(("CredentialsJsonFile", path));
            var f = NewRoot().Child("sa.txt");
            await c.WriteAsync(f, new MemoryStream("sa"u8.ToArray()), 2, Ct);
            Assert.Equal(2, (await c.StatAsync(f, Ct))!.Size);
        }
        finally
        {
            fx.Server.ServiceAccountKey = null;
            File.Delete(path);
        }
    }

    [Fact]
    public void A_malformed_key_is_refused_without_echoing_it()
    {
        const string json = """{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nsecret-material\n"}""";
        var e = Assert.Throws<DataException>(() => GcsConnector.Create(Settings("gs", ("CredentialsJson", json))));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.DoesNotContain("secret-material", e.Message);
    }

    [Fact]
    public void Chunk_size_must_be_a_multiple_of_256_KiB()
    {
        var e = Assert.Throws<DataException>(() => fx.Make(("AccessToken", "t"), ("ChunkSizeBytes", "1000000")));
        Assert.Equal(DataError.NotConfigured, e.Kind);
    }

    [Fact]
    public async Task Wrong_token_is_forbidden_without_the_secret_in_the_message()
    {
        using var wrong = fx.Make(("AccessToken", "ya29.not-the-right-one"));
        var e = await Assert.ThrowsAsync<DataException>(() => wrong.StatAsync(NewRoot().Child("x.txt"), Ct));
        Assert.Equal(DataError.Forbidden, e.Kind);
        Assert.DoesNotContain("not-the-right-one", e.Message);

        using var anonymous = fx.Make(("AnonymousAccess", "true"));
        var w = await Assert.ThrowsAsync<DataException>(() => anonymous.WriteAsync(NewRoot().Child("y.txt"), new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Forbidden, w.Kind);
    }

    [Fact]
    public async Task A_bucket_without_permission_is_forbidden()
    {
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.OpenReadAsync(StorageUri.Parse($"gs://{GcsFixture.LockedBucket}/a.txt"), null, Ct));
        Assert.Equal(DataError.Forbidden, e.Kind);
    }

    [Fact]
    public Task Reads_stream_without_buffering_the_object() =>
        AssertReadsStreamAsync(Connector, NewRoot().Child("streamed.bin"), hold => fx.Server.HoldDownloads = hold);

    [Fact]
    public async Task Unreachable_endpoint_is_upstream()
    {
        using var c = GcsConnector.Create(Settings("gs", ("Endpoint", $"http://127.0.0.1:{ClosedPort()}"), ("AnonymousAccess", "true")));
        var e = await Assert.ThrowsAsync<DataException>(() => c.StatAsync(StorageUri.Parse("gs://b/x.txt"), Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
    }

    [Fact]
    public async Task Large_objects_upload_in_resumable_chunks_and_stream_back_in_ranges()
    {
        var f = NewRoot().Child("chunked.bin");
        var data = new byte[3 * (1 << 20) + 12345];
        new Random(7).NextBytes(data);
        var before = fx.Server.Requests.Count;
        await Connector.WriteAsync(f, new NonSeekable(data), null, Ct);
        var chunkPuts = fx.Server.Requests.Skip(before).Count(r => r.StartsWith("PUT /upload/storage/v1/", StringComparison.Ordinal));
        Assert.True(chunkPuts >= 4, $"expected one PUT per 1 MiB chunk, saw {chunkPuts}");

        await using var o = await Connector.OpenReadAsync(f, new ByteRange(1_000_000, 2_000_000), Ct);
        using var ms = new MemoryStream();
        await o.Content.CopyToAsync(ms, Ct);
        Assert.Equal(data.AsSpan(1_000_000, 2_000_000).ToArray(), ms.ToArray());
    }

    [Fact]
    public async Task A_failed_upload_is_never_finalized()
    {
        var f = NewRoot().Child("half.bin");
        var data = new byte[3 << 20];
        await Assert.ThrowsAsync<IOException>(() => Connector.WriteAsync(f, new FailingStream(data, (2 << 20) + 5), null, Ct));
        Assert.False(fx.Server.Exists(GcsFixture.Bucket, f.Key));
    }
}
