using System.Diagnostics;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers;

namespace OSForAI.Tests.Scaling;

public sealed class ResourceProfileTests
{
    [Fact]
    public async Task The_sampler_sums_a_process_tree_so_a_sandboxed_workers_children_count()
    {
        // sh stays the parent (it waits for python), and python holds 60 MB it has written to.
        using var p = Process.Start(new ProcessStartInfo("/bin/sh",
            ["-c", "/usr/bin/python3 -c \"import time; b = bytearray(60 * 1024 * 1024); time.sleep(30)\"; true"]))!;
        try
        {
            ProcessUsage? usage = null;
            for (var i = 0; i < 100 && (usage?.RssBytes ?? 0) < 60L * 1024 * 1024; i++)
            {
                await Task.Delay(100);
                usage = ProcessSampler.Sample([p.Id]).GetValueOrDefault(p.Id);
            }
            Assert.NotNull(usage);
            Assert.True(usage.Value.RssBytes >= 60L * 1024 * 1024, $"rss {usage.Value.RssBytes}");
            Assert.True(usage.Value.CpuSeconds > 0);
        }
        finally { p.Kill(entireProcessTree: true); }
        Assert.Empty(ProcessSampler.Sample([int.MaxValue - 7]));
    }

    [Fact]
    public void The_need_is_the_declared_request_until_measured_then_the_measured_peak_with_headroom()
    {
        var profiles = new ResourceProfiles();
        var v = new VersionRecord
        {
            Owner = "o", Name = "n", Version = SemVer.Parse("1.0.0"), Build = "b", Runtime = "python3", Entrypoint = "main:apply",
            CodeUri = "data://x", Resources = new ResourceRequest(2, 512, 100),
        };
        Assert.Equal(512, profiles.NeedOf(v).MemoryMb);
        var t0 = DateTimeOffset.UnixEpoch;
        profiles.Observe(v.InstanceKey, 10, new ProcessUsage(1.0, 40L << 20), t0);
        profiles.Observe(v.InstanceKey, 10, new ProcessUsage(1.5, 80L << 20), t0.AddSeconds(1));
        Assert.Equal(512, profiles.NeedOf(v).MemoryMb);   // two samples: not trusted yet
        profiles.Observe(v.InstanceKey, 10, new ProcessUsage(2.5, 60L << 20), t0.AddSeconds(2));
        var need = profiles.NeedOf(v);
        Assert.Equal(80 * ResourceProfiles.MemoryHeadroom, need.MemoryMb, 6);
        Assert.Equal(100, need.GpuMemoryMb);                 // declared: not measurable per process here
        // 0.5 cores, then 1.0 smoothed by 0.3.
        Assert.Equal(0.5 + 0.3 * (1.0 - 0.5), profiles.Of(v.InstanceKey)!.CpuCores, 6);
    }
}
