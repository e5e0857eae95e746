using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using OSForAI.Runtime.Catalog;
using OSForAI.Scaling.Placement;

namespace OSForAI.Runtime.Workers;

/// <summary>CPU time and resident memory of a worker process and everything it started (a sandbox's children included).</summary>
public readonly record struct ProcessUsage(double CpuSeconds, long RssBytes);

/// <summary>Reads process trees from /proc (Linux). Returns null where /proc is unavailable or the process is gone.</summary>
public static class ProcessSampler
{
    private static readonly double TicksPerSecond = ClockTicks();

    /// <summary>Usage of each root pid's tree, from one pass over /proc.</summary>
    public static IReadOnlyDictionary<int, ProcessUsage> Sample(IReadOnlyCollection<int> roots)
    {
        var result = new Dictionary<int, ProcessUsage>();
        if (roots.Count == 0 || !Directory.Exists("/proc")) return result;
        var stats = new Dictionary<int, (int Parent, double Cpu, long Rss)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Read(pid) is { } s) stats[pid] = s;
        var children = stats.GroupBy(kv => kv.Value.Parent).ToDictionary(g => g.Key, g => g.Select(kv => kv.Key).ToList());
        foreach (var root in roots)
        {
            if (!stats.ContainsKey(root)) continue;
            double cpu = 0; long rss = 0;
            var stack = new Stack<int>([root]);
            var seen = new HashSet<int>();
            while (stack.TryPop(out var p))
            {
                if (!seen.Add(p) || !stats.TryGetValue(p, out var s)) continue;
                cpu += s.Cpu; rss += s.Rss;
                if (children.TryGetValue(p, out var kids)) foreach (var k in kids) stack.Push(k);
            }
            result[root] = new ProcessUsage(cpu, rss);
        }
        return result;
    }

    /// <summary>Parent, CPU seconds (user + system) and RSS bytes from /proc/&lt;pid&gt;/stat.</summary>
    internal static (int Parent, double Cpu, long Rss)? Read(int pid)
    {
        // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
        if (Fields(pid) is not { Length: >= 22 } f || !int.TryParse(f[1], out var parent) || !long.TryParse(f[11], out var utime) ||
            !long.TryParse(f[12], out var stime) || !long.TryParse(f[21], out var rssPages)) return null;
        return (parent, (utime + stime) / TicksPerSecond, rssPages * Environment.SystemPageSize);
    }

    /// <summary>
    /// When the process started (field 22 of /proc/&lt;pid&gt;/stat, clock ticks since boot); null when it is gone or has exited
    /// (a zombie). With the pid it names one process for good, see <see cref="ProcessIdentity"/>.
    /// </summary>
    public static ulong? StartTicks(int pid) =>
        Fields(pid) is { Length: >= 20 } f && f[0] != "Z" && ulong.TryParse(f[19], out var start) ? start : null;

    /// <summary>The fields of /proc/&lt;pid&gt;/stat from field 3 (the state) on, or null when the process is gone.</summary>
    private static string[]? Fields(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
        var close = text.LastIndexOf(')');
        return close < 0 || close + 2 > text.Length ? null : text[(close + 2)..].Split(' ');
    }

    [DllImport("libc", EntryPoint = "sysconf")]
    private static extern long SysConf(int name);

    private static double ClockTicks()
    {
        const int ScClkTck = 2;
        try { var t = SysConf(ScClkTck); return t > 0 ? t : 100; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 100; }
    }
}

/// <summary>What was measured of one version: CPU cores per instance (moving average), peak resident memory per instance.</summary>
public sealed record VersionProfile(string Version, double CpuCores, double PeakMemoryMb, int Samples);

/// <summary>
/// Per-version resource profiles measured while instances run, and the resource need placement uses: the measured peak
/// memory with headroom once there are enough samples, the declared request before that. GPU memory is the declared
/// request (this host cannot measure it per process).
/// </summary>
public sealed class ResourceProfiles
{
    /// <summary>Samples before a measurement replaces the declared request.</summary>
    public const int SamplesToTrust = 3;
    /// <summary>Measured peak memory is padded by this factor before packing.</summary>
    public const double MemoryHeadroom = 1.25;
    private const double CpuSmoothing = 0.3;

    private readonly ConcurrentDictionary<string, Entry> _entries = new();
    private readonly ConcurrentDictionary<int, (double Cpu, DateTimeOffset At)> _last = new();

    public IReadOnlyList<VersionProfile> All =>
        _entries.Select(kv => { lock (kv.Value) return new VersionProfile(kv.Key, kv.Value.Cpu, kv.Value.PeakRss / 1048576.0, kv.Value.Samples); })
            .OrderBy(p => p.Version, StringComparer.Ordinal).ToList();

    public VersionProfile? Of(string instanceKey) => _entries.TryGetValue(instanceKey, out var e)
        ? Locked(e, () => new VersionProfile(instanceKey, e.Cpu, e.PeakRss / 1048576.0, e.Samples)) : null;

    /// <summary>Records one sample of one instance (identified by its worker pid) of a version.</summary>
    public void Observe(string instanceKey, int pid, ProcessUsage usage, DateTimeOffset at)
    {
        var e = _entries.GetOrAdd(instanceKey, _ => new Entry());
        double? cores = null;
        if (_last.TryGetValue(pid, out var prev) && at > prev.At)
            cores = Math.Max(0, usage.CpuSeconds - prev.Cpu) / (at - prev.At).TotalSeconds;
        _last[pid] = (usage.CpuSeconds, at);
        lock (e)
        {
            e.Samples++;
            e.PeakRss = Math.Max(e.PeakRss, usage.RssBytes);
            if (cores is { } c) e.Cpu = e.HasCpu ? e.Cpu + CpuSmoothing * (c - e.Cpu) : c;
            e.HasCpu |= cores is not null;
        }
    }

    /// <summary>Forgets a finished worker's CPU baseline.</summary>
    public void Forget(int pid) => _last.TryRemove(pid, out _);

    /// <summary>What one instance of <paramref name="version"/> needs on a node.</summary>
    public ResourceProfile NeedOf(VersionRecord version)
    {
        var declared = version.Resources;
        if (Of(version.InstanceKey) is { Samples: >= SamplesToTrust } p)
            return new ResourceProfile(Math.Max(p.CpuCores, 0.01), p.PeakMemoryMb * MemoryHeadroom, declared.GpuMemoryMb);
        return new ResourceProfile(declared.Cpu, declared.MemoryMb, declared.GpuMemoryMb);
    }

    private static T Locked<T>(object gate, Func<T> f) { lock (gate) return f(); }

    private sealed class Entry
    {
        public double Cpu;
        public bool HasCpu;
        public long PeakRss;
        public int Samples;
    }
}
