using System.Globalization;
using System.Text.Json;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai jobs get|list</c>: asynchronous calls (<c>osai call --async</c>, or <c>?output=void</c>).</summary>
internal static class JobsCommands
{
    /// <summary>Exit code of <c>osai jobs get</c> without --wait while the job is still queued or running.</summary>
    public const int NotFinished = 3;

    public static async Task<int> GetAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "the job ID (printed by 'osai call --async')");
        var id = args.Positionals[0];
        var wait = args.Has("wait");
        TimeSpan? limit = null;
        if (args.Get("timeout") is { } timeoutText)
        {
            if (!wait)
                throw new UsageException("--timeout goes with --wait");
            if (!int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                throw new UsageException($"--timeout must be a whole number of seconds above 0, not '{timeoutText}'");
            limit = TimeSpan.FromSeconds(seconds);
        }

        using var client = ClientContext.Create(args, host);
        var path = $"v1/jobs/{Uri.EscapeDataString(id)}";
        var started = DateTime.UtcNow;
        var delay = TimeSpan.FromMilliseconds(100);
        JsonElement job;
        while (true)
        {
            job = (await client.SendJsonAsync(HttpMethod.Get, path)).EnsureSuccess();
            var status = job.Str("status");
            if (status is "succeeded" or "failed" || !wait)
                break;
            if (limit is { } l && DateTime.UtcNow - started >= l)
                throw new CliException($"{id} is still {status} after {l.TotalSeconds:0} s (it goes on running; ask again later)", NotFinished);
            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 1000));
        }

        switch (job.Str("status"))
        {
            case "succeeded":
                await CallCommand.WriteResultAsync(job.TryGetProperty("result", out var result) ? result : default, job.Prop("metadata")?.Str("content_type"), args.Get("out"), host);
                return 0;
            case "failed":
                var error = job.Prop("error");
                var type = error?.Str("error_type");
                throw new CliException($"{id} failed: {error?.Str("message") ?? "no message"}", 1, type is null ? null : $"error type: {type}");
            case var status:
                await host.Error.WriteLineAsync(
                    $"{id} is {status ?? "in an unknown state"} ({job.Str("algorithm")}, queued {TableWriter.Time(job.Str("created_at"))}): " +
                    "add --wait to wait for its result");
                await host.Out.WriteLineAsync(status);
                return NotFinished;
        }
    }

    public static async Task<int> ListAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        var query = "";
        if (args.Get("limit") is { } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit is < 1 or > 1000)
                throw new UsageException($"--limit must be a whole number from 1 to 1000, not '{limitText}'");
            query = $"?limit={limit}";
        }
        using var client = ClientContext.Create(args, host);
        var list = (await client.SendJsonAsync(HttpMethod.Get, "v1/jobs" + query)).EnsureSuccess();
        TableWriter.Write(host.Out, ["ID", "STATUS", "ALGORITHM", "CALLER", "QUEUED", "COMPLETED"],
            list.Items("jobs").Select(j => (IReadOnlyList<string?>)
            [
                j.Str("id"),
                j.Str("status"),
                j.Str("algorithm"),
                j.Str("caller"),
                TableWriter.Time(j.Str("created_at")),
                TableWriter.Time(j.Str("completed_at")),
            ]));
        return 0;
    }
}
