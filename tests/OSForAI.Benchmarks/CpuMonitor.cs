namespace OSForAI.Benchmarks;

/// <summary>CPU-seconds used so far by this process, by its child processes (the Python workers) and by everything else.</summary>
internal readonly record struct CpuSplit(double Self, double Children, double Foreign)
{
    public static CpuSplit operator -(CpuSplit a, CpuSplit b) => new(a.Self - b.Self, a.Children - b.Children, a.Foreign - b.Foreign);
}

/// <summary>
/// Linux only: samples /proc to add up the CPU time used by this process, by its children (the Python
/// workers), and by every other process, so a report can say where the CPU went and whether something
/// else competed for it. Processes that live shorter than one sampling period are missed.
/// </summary>
internal sealed class CpuMonitor : IDisposable
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux
    private readonly int _self = Environment.ProcessId;
    private readonly Dictionary<int, long> _last = [];
    private readonly Timer? _timer;
    private readonly object _gate = new();
    private long _foreignTicks, _childTicks;
    private readonly Dictionary<string, long> _byName = [];
    private readonly long _bootTicksAtStart;

    public CpuMonitor(TimeSpan period)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc")) return;
        try
        {
            var uptime = File.ReadAllText("/proc/uptime").Split(' ')[0];
            _bootTicksAtStart = (long)(double.Parse(uptime, System.Globalization.CultureInfo.InvariantCulture) * TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or FormatException) { return; }
        Sample(initial: true);
        _timer = new Timer(_ => Sample(initial: false), null, period, period);
    }

    public bool Available => _timer is not null;

    /// <summary>CPU-seconds seen so far; NaN where /proc is not available.</summary>
    public CpuSplit Now
    {
        get
        {
            if (_timer is null) return new CpuSplit(double.NaN, double.NaN, double.NaN);
            Sample(initial: false);
            var self = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            lock (_gate) return new CpuSplit(self, _childTicks / TicksPerSecond, _foreignTicks / TicksPerSecond);
        }
    }

    private void Sample(bool initial)
    {
        lock (_gate)
        {
            var seen = new HashSet<int>();
            IEnumerable<string> dirs;
            try { dirs = Directory.EnumerateDirectories("/proc").ToList(); }
            catch (IOException) { return; }
            // Workers may be grandchildren (bubblewrap starts Python), so count every descendant of this process.
            var parents = new Dictionary<int, int>();
            var stats = new List<(int Pid, string Stat)>();
            foreach (var dir in dirs)
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == _self) continue;
                try { stats.Add((pid, File.ReadAllText(Path.Combine(dir, "stat")))); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
            foreach (var (pid, stat) in stats)
            {
                var close = stat.LastIndexOf(')');
                var fields = close > 0 && close + 2 < stat.Length ? stat[(close + 2)..].Split(' ', 3) : [];
                if (fields.Length > 1 && int.TryParse(fields[1], out var pp)) parents[pid] = pp;
            }
            bool IsDescendant(int pid)
            {
                for (var hops = 0; hops < 64 && parents.TryGetValue(pid, out var up); hops++, pid = up)
                    if (up == _self) return true;
                return false;
            }
            foreach (var (pid, stat) in stats)
            {
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                if (open < 0 || close < open) continue;
                var name = stat[(open + 1)..close];
                var f = stat[(close + 2)..].Split(' ');
                // After "(comm) ": [0] state, [1] ppid, [11] utime, [12] stime, [19] starttime (ticks since boot).
                if (f.Length < 20 || !long.TryParse(f[11], out var ut) ||
                    !long.TryParse(f[12], out var st) || !long.TryParse(f[19], out var start)) continue;
                var child = IsDescendant(pid);
                seen.Add(pid);
                var ticks = ut + st;
                var delta = _last.TryGetValue(pid, out var before) ? Math.Max(0, ticks - before)
                    : !initial && start >= _bootTicksAtStart ? ticks // started while we were watching
                    : 0;
                if (delta > 0 && child) _childTicks += delta;
                else if (delta > 0)
                {
                    _foreignTicks += delta;
                    _byName[name] = _byName.GetValueOrDefault(name) + delta;
                }
                _last[pid] = ticks;
            }
            foreach (var gone in _last.Keys.Where(k => !seen.Contains(k)).ToList()) _last.Remove(gone);
        }
    }

    /// <summary>Forgets the per-name totals so far (e.g. those of a settling period).</summary>
    public void ResetTop()
    {
        lock (_gate) _byName.Clear();
    }

    /// <summary>The busiest other processes by name, e.g. "dotnet 3.1 CPU-s, csc 1.2 CPU-s".</summary>
    public string Top(int n)
    {
        lock (_gate)
            return string.Join(", ", _byName.OrderByDescending(kv => kv.Value).Take(n)
                .Where(kv => kv.Value >= 10)
                .Select(kv => $"{kv.Key} {(kv.Value / TicksPerSecond).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} CPU-s"));
    }

    public void Dispose() => _timer?.Dispose();
}
