using System.Security.Cryptography;
using OSForAI.Data.Cloud;

namespace OSForAI.Tests.Data.Connectors;

/// <summary>The shared pieces of the cloud connectors, without a store: chunked upload reading and listing pages.</summary>
public sealed class CloudHelperTests
{
    private const int MiB = 1024 * 1024;

    /// <summary>Yields <c>length</c> pseudo-random bytes in small reads, like a request body; holds nothing.</summary>
    private sealed class Generated(long length, int seed) : Stream
    {
        private readonly Random _random = new(seed);
        private long _left = length;
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(Math.Min(count, 64 * 1024), _left);
            _random.NextBytes(buffer.AsSpan(offset, n));
            _left -= n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task A_256_MiB_upload_is_sent_whole_through_two_buffers()
    {
        const long size = 256L * MiB;
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var source = new Generated(size, 1);
        var buffer = new byte[MiB];
        for (int n; (n = source.Read(buffer, 0, buffer.Length)) > 0;) expected.AppendData(buffer, 0, n);

        using var chunks = await ChunkedContent.ReadFirstAsync(new Generated(size, 1), 8 * MiB, CancellationToken.None);
        Assert.False(chunks.IsSingleChunk);
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var arrays = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        var indexes = new List<int>();
        var total = await chunks.UploadAllAsync(async (index, chunk) =>
        {
            await Task.Yield();
            arrays.Add(chunk.Array!);
            indexes.Add(index);
            sent.AppendData(chunk);
        }, CancellationToken.None);

        Assert.Equal(size, total);
        Assert.Equal(expected.GetHashAndReset(), sent.GetHashAndReset());
        Assert.Equal(Enumerable.Range(0, 32), indexes);
        Assert.True(arrays.Count <= 2, $"{arrays.Count} buffers were used");
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(100, true)]
    [InlineData(MiB, true)]
    [InlineData(MiB + 1, false)]
    public async Task Content_that_fits_one_chunk_is_single(int size, bool single)
    {
        using var chunks = await ChunkedContent.ReadFirstAsync(new Generated(size, 2), MiB, CancellationToken.None);
        Assert.Equal(single, chunks.IsSingleChunk);
        if (single) Assert.Equal(size, chunks.First.Count);
    }

    [Fact]
    public async Task A_content_failure_is_reported_after_the_send_in_flight_finishes()
    {
        var data = new byte[3 * MiB];
        using var chunks = await ChunkedContent.ReadFirstAsync(new ConnectorContract.FailingStream(data, 2 * MiB + 10), MiB, CancellationToken.None);
        var sending = 0;
        var finished = 0;
        await Assert.ThrowsAsync<IOException>(() => chunks.UploadAllAsync(async (_, _) =>
        {
            Interlocked.Increment(ref sending);
            await Task.Delay(50);
            Interlocked.Increment(ref finished);
        }, CancellationToken.None));
        Assert.True(chunks.ContentFailed);
        Assert.Equal(sending, finished);
    }


    private static ObjectInfo File(string name) => new(name, 1, null, null);

    [Fact]
    public async Task Listing_pages_a_store_that_returns_more_than_asked()
    {
        // One store page of 2 folders and 5 files, then a second page of 1 file: pages of 3 split it.
        var pages = new Dictionary<string, UpstreamPage>
        {
            [""] = new(["a", "b"], [File("f1"), File("f2"), File("f3"), File("f4"), File("f5")], "t2"),
            ["t2"] = new([], [File("g1")], null),
        };
        var seen = new List<string>();
        string? marker = null;
        var count = 0;
        do
        {
            var page = await Listing.PageAsync(marker, 3, (token, _) => Task.FromResult(pages[token ?? ""]));
            Assert.InRange(page.Folders.Count + page.Files.Count, 1, 3);
            seen.AddRange(page.Folders.Select(f => f + "/"));
            seen.AddRange(page.Files.Select(f => f.Name));
            marker = page.Marker;
            Assert.True(++count < 10);
        } while (marker is not null);
        Assert.Equal(["a/", "b/", "f1", "f2", "f3", "f4", "f5", "g1"], seen);
    }

    [Fact]
    public async Task Listing_skips_empty_store_pages_and_refuses_foreign_markers()
    {
        var pages = new Dictionary<string, UpstreamPage>
        {
            [""] = new([], [], "t2"),
            ["t2"] = new(["only"], [], null),
        };
        var page = await Listing.PageAsync(null, 10, (token, _) => Task.FromResult(pages[token ?? ""]));
        Assert.Equal(["only"], page.Folders);
        Assert.Null(page.Marker);

        foreach (var bad in new[] { "%%%", "bm9wZQ", Convert.ToBase64String("2|0|x"u8.ToArray()) })
        {
            var e = await Assert.ThrowsAsync<DataException>(() => Listing.PageAsync(bad, 10, (_, _) => Task.FromResult(pages[""])));
            Assert.Equal(DataError.BadPath, e.Kind);
        }
    }

    [Theory]
    [InlineData("dir/a.txt", "dir/", "a.txt")]
    [InlineData("dir/sub/", "dir/", "sub")]
    [InlineData("dir/", "dir/", null)]
    [InlineData("dir/..", "dir/", null)]
    [InlineData("dir/a\\b", "dir/", null)]
    [InlineData("other/a", "dir/", null)]
    public void Child_names_are_usable_segments(string key, string prefix, string? expected) =>
        Assert.Equal(expected, Listing.ChildName(key, prefix));
}
