using Microsoft.Extensions.Logging;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Isolation.AttackTests;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// Runs alone: it measures the test process's managed heap, and any test running beside it would allocate into the
/// same heap (a parallel run once made this fail with 61 MiB that were not the flood's).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeapMeasuringCollection
{
    public const string Name = "Measures the process heap (alone)";
}

[Collection(HeapMeasuringCollection.Name)]
public sealed class OutputFloodTests
{
    [SkippableFact]
    public async Task A_worker_flooding_its_output_stays_out_of_the_way()
    {
        RequireBubblewrap();
        var logs = new CapturedLogs();
        await using var server = await StartAsync(new Dictionary<string, string?> { ["OSForAI:Workers:Sandbox"] = "bubblewrap" }, logs: logs);
        var s = Target.Of(server);
        await s.PublishAsync("mallory/attack", s.NextVersion(), Python(Attacker));

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var started = DateTimeOffset.UtcNow;
        Assert.Equal("flooded", (await AttackAsync(s.Admin, "mallory/attack", new { attack = "flood", mb = 64 })).GetString());
        var seconds = (DateTimeOffset.UtcNow - started).TotalSeconds;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 32L << 20, $"the server's heap grew by {(after - before) >> 20} MiB while the worker wrote 64 MiB");

        // What reached the log is held to the output budget: a burst of ten seconds' worth plus the rate for the
        // call's duration (64 KiB/s by default), each line cut at 4 KiB; not the 64 MiB written.
        var flooded = logs.Entries.Where(e => e.Message.Contains("AAAAAAAA")).ToList();
        Assert.NotEmpty(flooded);
        Assert.All(flooded, e => Assert.True(e.Message.Length < 4096 + 100, $"a logged line of {e.Message.Length} characters"));
        var budget = 64 * 1024 * (10 + seconds + 1);
        var logged = flooded.Sum(e => (long)e.Message.Length);
        Assert.True(logged <= budget, $"{logged} bytes of worker output reached the log in {seconds:F1} s (budget {budget:F0})");
        await AssertHealthyAsync(s);
    }
}
