using System.Security.Cryptography;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>
/// The behaviour every writable connector promises (IDataConnector's contract), run against each
/// real server or documented fake. A derived class supplies the connector and a fresh, empty
/// directory URI to work under.
/// </summary>
public abstract class ConnectorContract
{
    protected abstract IDataConnector Connector { get; }
    /// <summary>An empty directory for this test (unique per test).</summary>
    protected abstract StorageUri NewRoot();
    /// <summary>Size that forces the connector's multipart/chunked upload path.</summary>
    protected virtual int LargeObjectBytes => 12 * 1024 * 1024;

    protected static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private async Task<byte[]> ReadAllAsync(StorageUri uri, ByteRange? range = null)
    {
        await using var o = await Connector.OpenReadAsync(uri, range, Ct);
        using var ms = new MemoryStream();
        await o.Content.CopyToAsync(ms, Ct);
        return ms.ToArray();
    }

    [Fact]
    public async Task Put_then_get_round_trips_with_metadata()
    {
        var f = NewRoot().Child("hello.bin");
        var data = Bytes(70_000, 1);
        var written = await Connector.WriteAsync(f, new MemoryStream(data), data.Length, Ct);
        Assert.Equal(data.Length, written.Size);
        Assert.Equal(data, await ReadAllAsync(f));
        var stat = await Connector.StatAsync(f, Ct);
        Assert.NotNull(stat);
        Assert.Equal(data.Length, stat.Size);
        Assert.Equal("hello.bin", stat.Name);
        Assert.NotNull(stat.LastModified);
        Assert.True(Math.Abs((stat.LastModified!.Value - DateTimeOffset.UtcNow).TotalMinutes) < 10);
    }

    [Fact]
    public async Task Unknown_length_stream_is_written()
    {
        var f = NewRoot().Child("nolength.txt");
        var data = Bytes(3000, 2);
        await Connector.WriteAsync(f, new NonSeekable(data), null, Ct);
        Assert.Equal(data, await ReadAllAsync(f));
    }

    [Fact]
    public async Task Range_reads_return_exactly_the_range()
    {
        var f = NewRoot().Child("range.bin");
        var data = Bytes(10_000, 3);
        await Connector.WriteAsync(f, new MemoryStream(data), data.Length, Ct);
        Assert.Equal(data[100..200], await ReadAllAsync(f, new ByteRange(100, 100)));
        Assert.Equal(data[9_990..], await ReadAllAsync(f, new ByteRange(9_990, null)));
        await using var o = await Connector.OpenReadAsync(f, new ByteRange(5, 10), Ct);
        Assert.Equal(10, o.Length);
    }

    [Fact]
    public async Task Missing_objects_are_null_or_not_found()
    {
        var f = NewRoot().Child("missing.txt");
        Assert.Null(await Connector.StatAsync(f, Ct));
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.OpenReadAsync(f, null, Ct));
        Assert.Equal(DataError.NotFound, e.Kind);
        Assert.False(await Connector.DeleteAsync(f, Ct));
    }

    [Fact]
    public async Task Overwrite_replaces_and_delete_removes()
    {
        var f = NewRoot().Child("over.txt");
        await Connector.WriteAsync(f, new MemoryStream("first"u8.ToArray()), 5, Ct);
        await Connector.WriteAsync(f, new MemoryStream("second!"u8.ToArray()), 7, Ct);
        Assert.Equal("second!"u8.ToArray(), await ReadAllAsync(f));
        Assert.True(await Connector.DeleteAsync(f, Ct));
        Assert.Null(await Connector.StatAsync(f, Ct));
    }

    [Fact]
    public async Task Listing_pages_folders_then_files()
    {
        var root = NewRoot();
        for (var i = 0; i < 5; i++)
            await Connector.WriteAsync(root.Child($"f{i}.txt"), new MemoryStream([(byte)i]), 1, Ct);
        await Connector.WriteAsync(root.Child("sub").Child("inner.txt"), new MemoryStream("x"u8.ToArray()), 1, Ct);
        await Connector.WriteAsync(root.Child("sub").Child("deeper").Child("z.txt"), new MemoryStream("z"u8.ToArray()), 1, Ct);

        var folders = new List<string>();
        var files = new List<ObjectInfo>();
        string? marker = null;
        var pages = 0;
        do
        {
            var page = await Connector.ListAsync(root, marker, 2, Ct);
            Assert.True(page.Folders.Count + page.Files.Count <= 2, "a page holds at most pageSize entries");
            folders.AddRange(page.Folders);
            files.AddRange(page.Files);
            marker = page.Marker;
            Assert.True(++pages < 20, "listing does not terminate");
        } while (marker is not null);

        Assert.Equal(["sub"], folders);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"f{i}.txt"), files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.All(files, f => Assert.Equal(1, f.Size));
        Assert.True(await Connector.DirectoryExistsAsync(root.Child("sub", directory: true), Ct));
        Assert.False(await Connector.DirectoryExistsAsync(root.Child("nothing", directory: true), Ct));
    }

    [Fact]
    public async Task Deleting_a_directory_needs_force_when_not_empty()
    {
        var root = NewRoot();
        var dir = root.Child("gone", directory: true);
        await Connector.CreateDirectoryAsync(dir, Ct);
        await Connector.WriteAsync(dir.Child("a.txt"), new MemoryStream("a"u8.ToArray()), 1, Ct);
        await Connector.WriteAsync(dir.Child("b").Child("c.txt"), new MemoryStream("c"u8.ToArray()), 1, Ct);
        var e = await Assert.ThrowsAsync<DataException>(() => Connector.DeleteDirectoryAsync(dir, false, Ct));
        Assert.Equal(DataError.NotEmpty, e.Kind);
        Assert.Equal(2, await Connector.DeleteDirectoryAsync(dir, true, Ct));
        Assert.Null(await Connector.StatAsync(dir.Child("a.txt"), Ct));
        Assert.False(await Connector.DirectoryExistsAsync(dir, Ct));
    }

    [Fact]
    public async Task Failed_upload_leaves_nothing_and_keeps_the_old_object()
    {
        var root = NewRoot();
        var fresh = root.Child("never.bin");
        await Assert.ThrowsAnyAsync<Exception>(() => Connector.WriteAsync(fresh, new FailingStream(Bytes(LargeObjectBytes, 4), LargeObjectBytes / 2 + 1000), LargeObjectBytes, Ct));
        Assert.Null(await Connector.StatAsync(fresh, Ct));
        var listing = await Connector.ListAsync(root, null, 100, Ct);
        Assert.DoesNotContain(listing.Files, f => f.Name == "never.bin");

        var kept = root.Child("kept.txt");
        await Connector.WriteAsync(kept, new MemoryStream("old"u8.ToArray()), 3, Ct);
        await Assert.ThrowsAnyAsync<Exception>(() => Connector.WriteAsync(kept, new FailingStream(Bytes(100_000, 5), 50_000), 100_000, Ct));
        Assert.Equal("old"u8.ToArray(), await ReadAllAsync(kept));
    }

    [Fact]
    public async Task Large_object_uses_multipart_and_round_trips()
    {
        var f = NewRoot().Child("large.bin");
        var data = Bytes(LargeObjectBytes, 6);
        await Connector.WriteAsync(f, new NonSeekable(data), null, Ct);
        var stat = await Connector.StatAsync(f, Ct);
        Assert.Equal(data.Length, stat!.Size);
        await using var o = await Connector.OpenReadAsync(f, null, Ct);
        Assert.Equal(SHA256.HashData(data), await SHA256.HashDataAsync(o.Content, Ct));
    }

    /// <summary>A forward-only stream with no length, like an HTTP request body.</summary>
    internal sealed class NonSeekable(byte[] data) : Stream
    {
        private int _pos;
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(count, data.Length - _pos);
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
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

    /// <summary>Yields <c>failAfter</c> bytes, then throws as a dropped client connection would.</summary>
    internal sealed class FailingStream(byte[] data, int failAfter) : Stream
    {
        private int _pos;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_pos >= failAfter) throw new IOException("the client connection was reset");
            var n = Math.Min(Math.Min(count, data.Length - _pos), failAfter - _pos);
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
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
