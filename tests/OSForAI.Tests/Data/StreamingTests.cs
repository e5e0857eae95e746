// Streams 256 MiB through the gateway to and from data:// (local folder) and s3:// (the s3rver emulator from npm).
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using OSForAI.Testing;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Data;

/// <summary>Runs alone (no other test allocating in this process) so the memory it measures is its own.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StreamingCollection : ICollectionFixture<S3Emulator>
{
    public const string Name = "Streaming (alone)";
}

[Collection(StreamingCollection.Name)]
public sealed class StreamingTests(S3Emulator s3)
{
    private const long Size = 256L * 1024 * 1024;
    private const long MemoryBudget = 64L * 1024 * 1024;

    [Theory]
    [InlineData("/v1/data/.my/big.bin")]
    [InlineData("/v1/connector/s3/" + S3Emulator.Bucket + "/streaming/big.bin")]
    public async Task A_256_MiB_object_streams_both_ways_through_the_gateway_in_bounded_memory(string path)
    {
        var settings = new Dictionary<string, string?>();
        foreach (var (k, v) in s3.S3Settings()) settings["OSForAI:Data:S3:default:" + k] = v;
        await using var server = await TestServer.StartAsync(settings);
        using var client = server.ClientFor(server.AdminKey);
        client.Timeout = TimeSpan.FromMinutes(5);

        using var meter = new PeakMemory();
        var put = await client.PutAsync(path, new StreamContent(new GeneratedStream(Size, seed: 42), 256 * 1024) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        using var get = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(Size, get.Content.Headers.ContentLength);
        await using var body = await get.Content.ReadAsStreamAsync();
        var downloaded = await SHA256.HashDataAsync(body);
        var growth = meter.Stop();

        Assert.Equal(GeneratedStream.HashOf(Size, seed: 42), downloaded);
        Assert.True(growth < MemoryBudget, $"the process grew by {growth / 1048576.0:0.0} MiB while streaming 256 MiB both ways");
    }

    /// <summary>Peak growth of the process's resident memory over a baseline taken after a full collection.</summary>
    private sealed class PeakMemory : IDisposable
    {
        private readonly long _baseline;
        private long _peak;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampler;

        public PeakMemory()
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            _baseline = Rss();
            _sampler = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    _peak = Math.Max(_peak, Rss());
                    await Task.Delay(20);
                }
            });
        }

        private static long Rss()
        {
            using var p = Process.GetCurrentProcess();
            return p.WorkingSet64;
        }

        public long Stop()
        {
            _stop.Cancel();
            _sampler.Wait();
            return Math.Max(0, Math.Max(_peak, Rss()) - _baseline);
        }

        public void Dispose() => _stop.Cancel();
    }
}
