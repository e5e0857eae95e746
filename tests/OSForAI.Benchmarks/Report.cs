using System.Globalization;
using System.Text;

namespace OSForAI.Benchmarks;

/// <summary>Renders the results as markdown, with each goal marked met or missed.</summary>
internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static string F(double v, string format = "0.000") => double.IsNaN(v) ? "n/a" : v.ToString(format, Inv);
    private static string Missing(BenchOptions o, string part) =>
        o.Runs(part) ? "_Not measured (see the failure below)._\n" : "_Not run (--only)._\n";

    private static string Mark(bool met) => met ? "**met**" : "**missed**";

    public static string Render(Results r)
    {
        var o = r.Options;
        var m = r.Machine;
        var sb = new StringBuilder();
        void L(string line = "") => sb.Append(line).Append('\n');
        var goals = new List<(string Goal, string Target, string Measured, bool? Met)>();

        L("# OSForAI benchmark report");
        L();
        L($"- Date: {m.Date.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv)}");
        L($"- Machine: {m.Cpus} logical CPUs{(m.CpuModel is null ? "" : $" ({m.CpuModel})")}, {m.Os}");
        L($"- Runtime: {m.Dotnet}; workers: {m.Python ?? "python (version unknown)"} at {o.Python}");
        L($"- Everything on loopback in one process: client, OSForAI gateway, raw Kestrel baseline; Python workers are child processes.");
        L($"- Parameters: --requests {o.Requests} --warmup {o.Warmup} --seconds {F(o.Seconds, "0.##")} --load-warmup {F(o.LoadWarmupSeconds, "0.##")} " +
          $"--clients {o.Clients} --configs {string.Join(",", o.Configs.Select(c => $"{c.Instances}x{c.Concurrency}"))} --cold {o.Cold} --fresh {o.Fresh} --warm-generic {o.WarmGeneric} --sandbox {o.Sandbox}" +
          (o.Parts.Count < 4 ? $" --only {string.Join(",", o.Parts)}" : ""));
        L($"- Total run time: {F(r.TotalSeconds, "0.0")} s, of which {F(r.SettleSeconds, "0.0")} s waiting for other processes to go idle before starting");
        if (m.LoadAverage is not null)
            L($"- Load average (1/5/15 min) before: {m.LoadAverage}; after: {r.LoadAverageAfter ?? "n/a"} (the benchmark itself keeps the CPUs busy)");
        if (!double.IsNaN(r.ForeignCpuSeconds))
            L($"- Other processes on the machine used {F(r.ForeignCpuSeconds, "0.0")} CPU-s during the {F(r.MeasuredSeconds, "0.0")} s run " +
              $"({string.Join(", ", r.Parts.Select(p => $"{p.Key}: {F(p.Value.Foreign, "0.0")} CPU-s in {F(p.Value.Wall, "0.0")} s"))}); " +
              (string.IsNullOrEmpty(r.ForeignTop) ? "" : $"busiest: {r.ForeignTop}; ") +
              "near zero means the numbers were not disturbed by other work");
        L();

        L("## 1. Warm no-op call latency");
        L();
        L($"Sequential POSTs of `0` from one HttpClient over one keep-alive connection; {o.Warmup} warm-up calls per target, then {o.Requests} measured calls per target " +
          "in alternating blocks of 500. The raw endpoint is a bare Kestrel minimal-API route in the same process that answers with the exact envelope bytes " +
          $"of an OSForAI no-op call{(r.Envelope is null ? "" : $" (`{r.Envelope}`)")}.");
        L();
        if (r.RawLatency is { } rl && r.OsaiLatency is { } ol)
        {
            L("| Target | p50 ms | p90 ms | p99 ms | mean ms | max ms |");
            L("|---|---:|---:|---:|---:|---:|");
            L($"| Raw Kestrel (baseline) | {F(rl.P50)} | {F(rl.P90)} | {F(rl.P99)} | {F(rl.Mean)} | {F(rl.Max)} |");
            L($"| OSForAI, no-op Python algorithm | {F(ol.P50)} | {F(ol.P90)} | {F(ol.P99)} | {F(ol.Mean)} | {F(ol.Max)} |");
            L($"| Ratio OSForAI / raw | {F(ol.P50 / rl.P50, "0.00")}× | {F(ol.P90 / rl.P90, "0.00")}× | {F(ol.P99 / rl.P99, "0.00")}× | {F(ol.Mean / rl.Mean, "0.00")}× | |");
            L();
            goals.Add(("Warm no-op p50 vs raw Kestrel", "≤ 2.0×", $"{F(ol.P50 / rl.P50, "0.00")}× ({F(ol.P50)} vs {F(rl.P50)} ms)", ol.P50 / rl.P50 <= 2.0));
            goals.Add(("Warm no-op p99", "≤ 2 ms", $"{F(ol.P99)} ms", ol.P99 <= 2.0));
        }
        else L(Missing(o, "latency"));

        L("## 2. Throughput, no-op Python algorithm");
        L();
        L($"{o.Clients} closed client loops (one call in flight each) for {F(o.Seconds, "0.##")} s after {F(o.LoadWarmupSeconds, "0.##")} s of warm-up; " +
          "each OSForAI configuration runs on a fresh server with `MaxInstancesPerVersion` = instances and the algorithm published with `concurrency:` = concurrency. " +
          "Calls that complete inside the measured window count; an error is any non-200 answer or transport failure.");
        L();
        if (r.RawLoad is { } raw)
        {
            var window = o.Seconds + o.LoadWarmupSeconds;
            string Cpu(CpuSplit c) => double.IsNaN(c.Self) ? "n/a | n/a | n/a"
                : $"{F(c.Self / window, "0.00")} | {F(c.Children / window, "0.00")} | {F(c.Foreign / window, "0.00")}";
            L("| Target | calls/s | vs raw | errors | p50 ms | p99 ms | instances | CPUs: this process | CPUs: Python workers | CPUs: other |");
            L("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            L($"| Raw Kestrel (baseline) | {F(raw.PerSecond, "0")} | 1.00× | {raw.Errors} | {F(raw.Latency.P50)} | {F(raw.Latency.P99)} | | {Cpu(r.RawLoadCpu)} |");
            foreach (var c in r.Loads)
                L($"| OSForAI, {c.Instances} instances × concurrency {c.Concurrency} | {F(c.Load.PerSecond, "0")} | {F(c.Load.PerSecond / raw.PerSecond, "0.00")}× | " +
                  $"{c.Load.Errors} | {F(c.Load.Latency.P50)} | {F(c.Load.Latency.P99)} | {c.InstancesLive} | {Cpu(c.Cpu)} |");
            L();
            L($"\"CPUs\" columns: average CPUs busy over warm-up plus measured window (CPU-seconds / {F(window, "0.##")} s) in this process " +
              "(load-generating client + gateway, or the raw server), in the Python worker processes, and in any other process; " +
              $"the machine has {m.Cpus}.");
            L();
            foreach (var c in r.Loads.Where(c => c.Load.FirstError is not null))
                L($"- First error with {c.Instances}×{c.Concurrency}: `{c.Load.FirstError}`");
            if (raw.FirstError is not null) L($"- First raw error: `{raw.FirstError}`");
            if (r.Loads.Count > 0)
            {
                var best = r.Loads.MaxBy(c => c.Load.PerSecond)!;
                var cores = m.Cpus == 2 ? "" : $" (this machine has {m.Cpus} logical CPUs, not 2)";
                goals.Add(("Throughput, no-op Python", "≥ 10,000 calls/s on 2 cores",
                    $"{F(best.Load.PerSecond, "0")} calls/s best ({best.Instances}×{best.Concurrency}){cores}", best.Load.PerSecond >= 10_000));
            }
            if (raw.FirstError is not null || r.Loads.Any(c => c.Load.FirstError is not null)) L();
        }
        else L(Missing(o, "throughput"));

        L("## 3. Cold start: specializing a warm generic worker");
        L();
        L($"{o.Cold} distinct versions (different code each) published up front; before each first call the benchmark waits until the pool again holds " +
          $"{o.WarmGeneric} idle generic workers. The first call includes extracting the version's code into the code cache and loading it into the worker; " +
          "the second call to the same version, made once the pool has refilled, is the warm reference. " +
          "Replacing the consumed generic worker starts a Python process in the background during the first call, which competes for the CPUs.");
        L();
        if (r.ColdFirst is { } cf && r.ColdSecond is { } cs)
        {
            L("| Series | p50 ms | p90 ms | max ms | mean ms |");
            L("|---|---:|---:|---:|---:|");
            L($"| First call (cold, specialization) | {F(cf.P50, "0.0")} | {F(cf.P90, "0.0")} | {F(cf.Max, "0.0")} | {F(cf.Mean, "0.0")} |");
            L($"| Second call (warm, after refill) | {F(cs.P50)} | {F(cs.P90)} | {F(cs.Max)} | {F(cs.Mean)} |");
            L($"| Cold-start overhead (first − second-call p50) | {F(cf.P50 - cs.P50, "0.0")} | {F(cf.P90 - cs.P50, "0.0")} | | |");
            if (r.OsaiLatency is { } seq)
                L($"| Cold-start overhead (first − §1 sequential warm p50) | {F(cf.P50 - seq.P50, "0.0")} | {F(cf.P90 - seq.P50, "0.0")} | | |");
            L();
            L($"{r.ColdFromGeneric} of {o.Cold} first calls were served by specializing an idle generic worker without a fresh process start " +
              $"({r.ColdSpecializations} specializations in total).");
            L();
            goals.Add(("Cold start (specialize warm generic worker)", "≤ 30 ms",
                $"{F(cf.P50 - cs.P50, "0.0")} ms p50 overhead (p90 {F(cf.P90 - cs.P50, "0.0")} ms)", cf.P50 - cs.P50 <= 30));
        }
        else L(Missing(o, "cold"));

        L("## 4. Fresh worker start");
        L();
        L($"`IWorkerHost.StartAsync(\"python3\")` timed directly {o.Fresh} times (after one discarded start), each connection disposed (worker killed) after: " +
          "process start, the runner's start-up and its hello over the Unix socket.");
        L();
        if (r.Fresh is { } fr)
        {
            L("| p50 ms | p90 ms | max ms | mean ms |");
            L("|---:|---:|---:|---:|");
            L($"| {F(fr.P50, "0.0")} | {F(fr.P90, "0.0")} | {F(fr.Max, "0.0")} | {F(fr.Mean, "0.0")} |");
            L();
            goals.Add(("Fresh worker start", "≤ 300 ms", $"{F(fr.P50, "0.0")} ms p50 (p90 {F(fr.P90, "0.0")} ms)", fr.P50 <= 300));
        }
        else L(Missing(o, "fresh"));

        L("## Goals");
        L();
        L("| Goal | Target | Measured | Status |");
        L("|---|---|---|---|");
        foreach (var g in goals) L($"| {g.Goal} | {g.Target} | {g.Measured} | {(g.Met is { } met ? Mark(met) : "n/a")} |");
        L();
        if (r.Failure is not null)
        {
            L("## Failure");
            L();
            L("```");
            L(r.Failure);
            L("```");
        }
        return sb.ToString();
    }
}
