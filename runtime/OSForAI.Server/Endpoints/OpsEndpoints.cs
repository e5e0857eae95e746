using System.Text;
using OSForAI.Runtime.Workers;

namespace OSForAI.Server.Endpoints;

/// <summary>Liveness and Prometheus metrics.</summary>
public static class OpsEndpoints
{
    public static void MapOps(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/metrics", (WorkerPool pool) =>
        {
            var s = pool.Stats;
            var sb = new StringBuilder();
            void Metric(string name, string type, string help, double value)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
                sb.Append(name).Append(' ').Append(value.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            }
            Metric("osai_workers_live", "gauge", "Worker processes alive.", s.LiveWorkers);
            Metric("osai_workers_generic_idle", "gauge", "Generic warm workers waiting to be specialized.", s.GenericIdle);
            Metric("osai_instances", "gauge", "Specialized algorithm instances.", s.Instances);
            Metric("osai_queue_depth", "gauge", "Calls waiting for a free instance slot.", s.Queued);
            Metric("osai_cold_starts_total", "counter", "Specializations of a worker for a version.", s.ColdStarts);
            Metric("osai_worker_starts_total", "counter", "Worker processes started.", s.FreshStarts);
            Metric("osai_calls_total", "counter", "Algorithm calls dispatched to workers.", s.Calls);
            return Results.Text(sb.ToString(), "text/plain; version=0.0.4");
        });
    }
}
