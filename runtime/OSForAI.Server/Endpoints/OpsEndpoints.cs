using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Workers;
using OSForAI.Server.Http;

namespace OSForAI.Server.Endpoints;

/// <summary>Liveness (open) and Prometheus metrics (admin key or the scrape token: they name private algorithms).</summary>
public static class OpsEndpoints
{
    public static void MapOps(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", (Runtime.Cluster.LeaderElection leadership) => Results.Json(new { status = "ok", leader = leadership.IsLeader }));
        app.MapGet("/metrics", async (HttpContext ctx, KeyStore keys, IOptions<OsaiOptions> options, WorkerPool pool, ModelWorkerPool models,
            ResourceProfiles profiles, Runtime.Cluster.LeaderElection leadership, CancellationToken ct) =>
        {
            try { AuthorizeScrape(ctx, keys, options.Value.Metrics); }
            catch (Exception e)
            {
                await ApiErrors.WriteAsync(ctx, e);
                return;
            }
            var s = pool.Stats;
            var sb = new StringBuilder();
            void Metric(string name, string type, string help, double value)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
                sb.Append(name).Append(' ').Append(value.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            }
            void Labelled(string name, string help, IEnumerable<(string Version, double Value)> values)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                sb.Append("# TYPE ").Append(name).Append(" gauge\n");
                foreach (var (version, value) in values)
                    sb.Append(name).Append("{version=\"").Append(version.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append("\"} ")
                      .Append(value.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            }
            Metric("osai_leader", "gauge", "1 while this replica leads the cluster's housekeeping (job retention), else 0.", leadership.IsLeader ? 1 : 0);
            Metric("osai_workers_live", "gauge", "Worker processes alive.", s.LiveWorkers);
            Metric("osai_workers_generic_idle", "gauge", "Generic warm workers waiting to be specialized.", s.GenericIdle);
            Metric("osai_instances", "gauge", "Specialized algorithm instances.", s.Instances);
            Metric("osai_instances_starting", "gauge", "Instances being started (loading, or waiting for a node).", s.Starting);
            Metric("osai_queue_depth", "gauge", "Calls waiting for a free instance slot.", s.Queued);
            Metric("osai_cold_starts_total", "counter", "Specializations of a worker for a version.", s.ColdStarts);
            Metric("osai_worker_starts_total", "counter", "Worker processes started.", s.FreshStarts);
            Metric("osai_calls_total", "counter", "Algorithm calls dispatched to workers.", s.Calls);
            Metric("osai_cold_calls_total", "counter", "Calls that waited for an instance of their version to start (cold starts per invocation).", s.ColdCalls);
            Metric("osai_prewarms_total", "counter", "Instances started ahead of a predicted call.", s.Prewarms);
            Metric("osai_prewarm_hits_total", "counter", "Calls served first by a pre-warmed instance.", s.PrewarmHits);
            Metric("osai_prewarm_misses_total", "counter", "Pre-warmed instances that were never called before they stopped or are still unused.", Math.Max(0, s.Prewarms - s.PrewarmHits));
            Metric("osai_autoscaler_desired_instances", "gauge", "Instances the autoscaler wants, summed over versions.", s.Desired);
            Metric("osai_autoscaler_scale_ups_total", "counter", "Instances started by the autoscaler.", s.ScaleUps);
            Metric("osai_autoscaler_scale_downs_total", "counter", "Instances stopped by the autoscaler.", s.ScaleDowns);
            var (inferences, batched) = models.Counters;
            Metric("osai_inferences_total", "counter", "Model inferences answered by model workers.", inferences);
            Metric("osai_inferences_batched_total", "counter", "Model inferences that shared a run with others (dynamic batching).", batched);
            var workers = await models.StatsAsync(ct);
            Metric("osai_model_workers", "gauge", "Live multi-model workers.", workers.Count);
            Metric("osai_model_memory_budget_bytes", "gauge", "Device-memory budget of the model workers, summed.", workers.Sum(w => w.BudgetBytes));
            Metric("osai_model_resident_bytes", "gauge", "Device memory held by resident models, by the workers' accounting.", workers.Sum(w => w.ResidentBytes));
            Metric("osai_models_resident", "gauge", "Models loaded in model workers.", workers.Sum(w => w.Models.Count));
            Metric("osai_model_loads_total", "counter", "Model loads by the live model workers.", workers.Sum(w => w.Loads));
            Metric("osai_model_unloads_total", "counter", "Model unloads (evictions and explicit unloads) by the live model workers.", workers.Sum(w => w.Unloads));
            Metric("osai_model_evictions_total", "counter", "Models unloaded to stay within the memory budget.", workers.Sum(w => w.Evictions));
            Labelled("osai_version_cpu_cores", "CPU cores one instance of a version used, moving average (measured).",
                profiles.All.Select(p => (p.Version, p.CpuCores)));
            Labelled("osai_version_memory_peak_bytes", "Peak resident memory of one instance of a version (measured).",
                profiles.All.Select(p => (p.Version, p.PeakMemoryMb * 1048576.0)));
            Labelled("osai_version_load_seconds", "Time to start an instance of a version (median of recent starts, measured).",
                pool.MeasuredLoadTimes());
            await Results.Text(sb.ToString(), "text/plain; version=0.0.4").ExecuteAsync(ctx);
        });
    }

    /// <summary>The scrape token (compared in constant time), else an admin key; 401 without credentials, 403 for other keys.</summary>
    private static void AuthorizeScrape(HttpContext ctx, KeyStore keys, MetricsOptions metrics)
    {
        var header = ctx.Request.Headers.Authorization.ToString().Trim();
        if (metrics.CurrentScrapeToken() is { } token && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            // Hashes first, so the comparison takes the same time whatever the lengths.
            var sent = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
            if (CryptographicOperations.FixedTimeEquals(sent, SHA256.HashData(Encoding.UTF8.GetBytes(token)))) return;
        }
        if (header.Length == 0) throw ApiErrors.Unauthorized("/metrics needs an admin key or the scrape token ('Authorization: Bearer <token>')");
        Authentication.Require(ctx, keys, Scopes.Admin);
    }
}
