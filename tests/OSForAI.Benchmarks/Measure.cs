using System.Diagnostics;
using System.Text;

namespace OSForAI.Benchmarks;

/// <summary>Percentiles (nearest rank) and mean of a set of samples in milliseconds.</summary>
internal sealed record Summary(int Count, double P50, double P90, double P99, double Mean, double Max)
{
    public static Summary Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0) return new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = samples.ToArray();
        Array.Sort(sorted);
        double At(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Summary(sorted.Length, At(0.50), At(0.90), At(0.99), sorted.Average(), sorted[^1]);
    }
}

internal sealed record LoadResult(int Clients, double Seconds, long Ok, long Errors, string? FirstError, Summary Latency)
{
    public double PerSecond => Ok / Seconds;
}

internal static class Measure
{
    public static readonly byte[] ZeroInput = "0"u8.ToArray();

    public static double Ms(long startTimestamp, long endTimestamp) =>
        (endTimestamp - startTimestamp) * 1000.0 / Stopwatch.Frequency;

    /// <summary>
    /// Sequential calls over one keep-alive connection per client: warm-up first, then the measured
    /// calls, in alternating blocks so both targets see the same machine conditions.
    /// </summary>
    public static async Task<(List<double> A, List<double> B)> SequentialPairAsync(
        HttpClient a, string pathA, HttpClient b, string pathB, int warmup, int requests, int block = 500)
    {
        for (var i = 0; i < warmup; i++)
        {
            await CallOk(a, pathA);
            await CallOk(b, pathB);
        }
        var la = new List<double>(requests);
        var lb = new List<double>(requests);
        while (la.Count < requests)
        {
            var n = Math.Min(block, requests - la.Count);
            await Sequential(a, pathA, n, la);
            await Sequential(b, pathB, n, lb);
        }
        return (la, lb);
    }

    private static async Task Sequential(HttpClient client, string path, int n, List<double> into)
    {
        for (var i = 0; i < n; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            await CallOk(client, path);
            into.Add(Ms(t0, Stopwatch.GetTimestamp()));
        }
    }

    public static async Task<byte[]> CallOk(HttpClient client, string path)
    {
        var (status, body) = await Http.PostJsonAsync(client, path, ZeroInput);
        if (status != 200) throw new InvalidOperationException($"POST {path} answered {status}: {Encoding.UTF8.GetString(body)}");
        return body;
    }

    /// <summary>Closed-loop load of a no-op call to <paramref name="path"/>; see <see cref="ClosedLoopAsync"/>.</summary>
    public static Task<LoadResult> LoadAsync(HttpClient client, string path, int clients, TimeSpan warmup, TimeSpan duration) =>
        ClosedLoopAsync(async () =>
        {
            var (status, body) = await Http.PostJsonAsync(client, path, ZeroInput);
            return status == 200 ? null : $"HTTP {status}: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)))}";
        }, clients, warmup, duration);

    /// <summary>
    /// <paramref name="clients"/> closed loops, each one call at a time, for warm-up plus the measured
    /// window; calls that complete inside the measured window count. A call returns null or its error.
    /// </summary>
    public static async Task<LoadResult> ClosedLoopAsync(Func<Task<string?>> call, int clients, TimeSpan warmup, TimeSpan duration)
    {
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var end = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long ok = 0, errors = 0;
        string? firstError = null;
        var latencies = new List<double>[clients];
        var loops = new Task[clients];
        for (var c = 0; c < clients; c++)
        {
            var mine = latencies[c] = new List<double>(64 * 1024);
            loops[c] = Task.Run(async () =>
            {
                while (true)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    if (t0 >= end) return;
                    string? error;
                    try { error = await call(); }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        error = e.GetType().Name + ": " + e.Message;
                    }
                    var t1 = Stopwatch.GetTimestamp();
                    if (t1 < measureFrom || t1 > end) continue;
                    if (error is null)
                    {
                        Interlocked.Increment(ref ok);
                        mine.Add(Ms(t0, t1));
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, error, null);
                    }
                }
            });
        }
        await Task.WhenAll(loops);
        return new LoadResult(clients, duration.TotalSeconds, ok, errors, firstError, Summary.Of(latencies.SelectMany(l => l).ToList()));
    }
}
