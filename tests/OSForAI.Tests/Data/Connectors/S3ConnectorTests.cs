// Runs against a real S3 server: the s3rver emulator from npm (tests/emulators), started by Support/Emulators.cs.
using Amazon.Runtime;
using OSForAI.Data.S3;
using OSForAI.Testing;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Data.Connectors;

[Collection(S3EmulatorCollection.Name)]
public sealed class S3ConnectorTests(S3Emulator emulator) : ConnectorContract, IDisposable
{
    private readonly S3Connector _connector = Create(emulator.S3Settings());

    protected override IDataConnector Connector => _connector;

    protected override StorageUri NewRoot() => StorageUri.Parse($"s3://{S3Emulator.Bucket}/t-{Guid.NewGuid():N}/");

    private static S3Connector Create(IReadOnlyDictionary<string, string?> values, string? label = null, Func<string, string?>? environment = null) =>
        (S3Connector)new S3ConnectorFactory(environment ?? (_ => null)).Create(new ConnectorSettings("s3", label, values));

    public void Dispose() => _connector.Dispose();

    /// <summary>The kinds of request the connector sends (s3rver reports neither part counts nor pending uploads).</summary>
    private List<string> WatchRequests()
    {
        var sent = new List<string>();
        _connector.Client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs w) lock (sent) sent.Add(w.Request.GetType().Name.Replace("Request", ""));
        };
        return sent;
    }

    [Fact]
    public async Task Small_writes_are_one_put_and_large_ones_multipart()
    {
        var sent = WatchRequests();
        var root = NewRoot();
        await _connector.WriteAsync(root.Child("small.bin"), new MemoryStream(new byte[1000]), null, Ct);
        Assert.Equal(["PutObject"], sent);

        sent.Clear();
        var data = new byte[12 * 1024 * 1024];
        new Random(7).NextBytes(data);
        var written = await _connector.WriteAsync(root.Child("parts.bin"), new NonSeekable(data), null, Ct);
        Assert.Equal(data.Length, written.Size);
        // 12 MiB in 5 MiB parts.
        Assert.Equal(["InitiateMultipartUpload", "UploadPart", "UploadPart", "UploadPart", "CompleteMultipartUpload"], sent);
    }

    [Fact]
    public async Task A_failed_multipart_upload_is_aborted()
    {
        var sent = WatchRequests();
        var f = NewRoot().Child("aborted.bin");
        var data = new byte[12 * 1024 * 1024];
        // The content stream's own failure comes through as it was, not as a store error.
        await Assert.ThrowsAsync<IOException>(() => _connector.WriteAsync(f, new FailingStream(data, 11 * 1024 * 1024), null, Ct));
        Assert.Equal("AbortMultipartUpload", sent[^1]);
        Assert.DoesNotContain("CompleteMultipartUpload", sent);
        Assert.Null(await _connector.StatAsync(f, Ct));

        sent.Clear();
        using var cancel = new CancellationTokenSource();
        var slow = new FailingStream(data, int.MaxValue);
        var task = _connector.WriteAsync(f, new CancelAfter(slow, 6 * 1024 * 1024, cancel), null, cancel.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.Equal("AbortMultipartUpload", sent[^1]);
        Assert.Null(await _connector.StatAsync(f, Ct));
    }

    /// <summary>Cancels the token once <c>after</c> bytes have been read, as a caller giving up mid-upload would.</summary>
    private sealed class CancelAfter(Stream inner, int after, CancellationTokenSource cancel) : Stream
    {
        private int _read;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_read >= after) cancel.Cancel();
            var n = inner.Read(buffer, offset, count);
            _read += n;
            return n;
        }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_read >= after) await cancel.CancelAsync();
            ct.ThrowIfCancellationRequested();
            var n = await inner.ReadAsync(buffer, ct);
            _read += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Wrong_credentials_are_forbidden_and_the_secret_is_not_shown()
    {
        // s3rver checks the access key id but not the SigV4 signature, so the id is what is wrong here.
        var values = emulator.S3Settings();
        var keyId = "AKIDWRONG" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var secret = "wrong-" + Guid.NewGuid().ToString("N");
        values["AccessKeyId"] = keyId;
        values["SecretAccessKey"] = secret;
        using var connector = Create(values, "prod");
        var f = NewRoot().Child("x.txt");
        foreach (var call in new Func<Task>[]
                 {
                     () => connector.WriteAsync(f, new MemoryStream([1]), 1, Ct),
                     () => connector.OpenReadAsync(f, null, Ct),
                     () => connector.ListAsync(f.Parent!, null, 10, Ct),
                     () => connector.StatAsync(f, Ct),
                 })
        {
            var e = await Assert.ThrowsAsync<DataException>(call);
            Assert.Equal(DataError.Forbidden, e.Kind);
            Assert.Contains("s3+prod credentials were refused", e.Message);
            Assert.DoesNotContain(secret, e.Message);
            Assert.DoesNotContain(keyId, e.Message);
        }
    }

    [Fact]
    public void Missing_credentials_name_the_setting_and_no_value()
    {
        var e = Assert.Throws<DataException>(() => Create(new Dictionary<string, string?> { ["ServiceUrl"] = "http://127.0.0.1:1" }, "prod"));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("OSForAI:Data:S3:prod:AccessKeyId", e.Message);

        e = Assert.Throws<DataException>(() => Create(new Dictionary<string, string?> { ["AccessKeyId"] = "AKIDVALUE123" }, "prod"));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("SecretAccessKey", e.Message);
        Assert.DoesNotContain("AKIDVALUE123", e.Message);
    }

    [Fact]
    public void Only_the_default_set_falls_back_to_the_AWS_environment_variables()
    {
        var env = new Dictionary<string, string?> { ["AWS_ACCESS_KEY_ID"] = "AKIDENV", ["AWS_SECRET_ACCESS_KEY"] = "env-secret" };
        var values = new Dictionary<string, string?> { ["Region"] = "eu-west-1" };
        using var fromEnv = Create(values, null, name => env.GetValueOrDefault(name));
        var e = Assert.Throws<DataException>(() => Create(values, "prod", name => env.GetValueOrDefault(name)));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains("AccessKeyId", e.Message);
    }

    [Theory]
    [InlineData("PartSizeBytes", "1048576")]
    [InlineData("MultipartThresholdBytes", "999999999")]
    [InlineData("ServiceUrl", "not a url")]
    public void Bad_settings_are_not_configured(string name, string value)
    {
        var values = emulator.S3Settings();
        values[name] = value;
        var e = Assert.Throws<DataException>(() => Create(values));
        Assert.Equal(DataError.NotConfigured, e.Kind);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public async Task An_unknown_bucket_is_not_found()
    {
        var bucket = "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8];
        var f = StorageUri.Parse($"s3://{bucket}/a/b.txt");
        foreach (var call in new Func<Task>[]
                 {
                     () => _connector.OpenReadAsync(f, null, Ct),
                     () => _connector.WriteAsync(f, new MemoryStream([1]), 1, Ct),
                     () => _connector.ListAsync(f.Parent!, null, 10, Ct),
                 })
        {
            var e = await Assert.ThrowsAsync<DataException>(call);
            Assert.Equal(DataError.NotFound, e.Kind);
            Assert.Contains(bucket, e.Message);
        }
        Assert.False(await _connector.DirectoryExistsAsync(StorageUri.Parse($"s3://{bucket}/"), Ct));
        Assert.True(await _connector.DirectoryExistsAsync(StorageUri.Parse($"s3://{S3Emulator.Bucket}/"), Ct));
    }

    [Fact]
    public async Task An_unreachable_store_is_an_upstream_error()
    {
        var values = emulator.S3Settings();
        values["ServiceUrl"] = $"http://127.0.0.1:{EmulatorProcess.FreePort()}";
        using var connector = Create(values);
        var f = StorageUri.Parse($"s3://{S3Emulator.Bucket}/a.txt");
        var e = await Assert.ThrowsAsync<DataException>(() => connector.OpenReadAsync(f, null, Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
        e = await Assert.ThrowsAsync<DataException>(() => connector.WriteAsync(f, new MemoryStream([1]), 1, Ct));
        Assert.Equal(DataError.Upstream, e.Kind);
    }

    [Fact]
    public async Task A_labelled_set_resolves_to_its_own_settings()
    {
        var broken = emulator.S3Settings();
        broken["AccessKeyId"] = "AKIDNOTKNOWN";
        var registry = new ConnectorRegistry([new S3ConnectorFactory()], (scheme, label) => (scheme, label) switch
        {
            ("s3", "prod") => emulator.S3Settings(),
            ("s3", null) => broken,
            _ => null,
        });
        var f = StorageUri.Parse($"s3+prod://{S3Emulator.Bucket}/t-{Guid.NewGuid():N}/labelled.txt");
        var prod = registry.Resolve(f);
        await prod.WriteAsync(f, new MemoryStream("hi"u8.ToArray()), 2, Ct);
        Assert.Equal(2, (await prod.StatAsync(f, Ct))!.Size);
        Assert.Same(prod, registry.Resolve(StorageUri.Parse($"s3+prod://{S3Emulator.Bucket}/other")));

        var unlabelled = registry.Resolve(StorageUri.Parse($"s3://{S3Emulator.Bucket}/x"));
        Assert.NotSame(prod, unlabelled);
        var refused = await Assert.ThrowsAsync<DataException>(() => unlabelled.StatAsync(f, Ct));
        Assert.Equal(DataError.Forbidden, refused.Kind);

        var unknown = Assert.Throws<DataException>(() => registry.Resolve(StorageUri.Parse($"s3+staging://{S3Emulator.Bucket}/x")));
        Assert.Equal(DataError.NotConfigured, unknown.Kind);
        Assert.Contains("staging", unknown.Message);
    }

    [Fact]
    public async Task A_range_past_the_end_is_refused()
    {
        var f = NewRoot().Child("short.txt");
        await _connector.WriteAsync(f, new MemoryStream("abc"u8.ToArray()), 3, Ct);
        var e = await Assert.ThrowsAsync<DataException>(() => _connector.OpenReadAsync(f, new ByteRange(10, 5), Ct));
        Assert.Equal(DataError.BadPath, e.Kind);
    }

    [Fact]
    public async Task A_bad_marker_is_refused()
    {
        var e = await Assert.ThrowsAsync<DataException>(() => _connector.ListAsync(NewRoot(), "not-a-marker", 10, Ct));
        Assert.Equal(DataError.BadPath, e.Kind);
    }
}
