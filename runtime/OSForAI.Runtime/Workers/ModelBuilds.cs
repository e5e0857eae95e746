using System.Collections.Concurrent;
using OSForAI.Runtime.Catalog;
using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Where a model worker finds a version's build. A worker beside the gateway (a process) sees the gateway's extracted build; one
/// that does not (a pod) is sent the build's archive in a <c>stage</c> message and unpacks it into its own scratch folder. A build
/// is staged on a connection once: concurrent callers share the one staging, a failed one is forgotten (the next caller tries
/// again), and all are forgotten when the connection dies.
/// </summary>
public sealed class ModelBuilds(CodeStore code)
{
    private readonly ConcurrentDictionary<WorkerConnection, ConcurrentDictionary<string, Lazy<Task<string>>>> _staged = new();

    /// <summary>How many builds were sent to workers (each staging once, however many callers waited for it).</summary>
    public long Stagings => Interlocked.Read(ref _stagings);
    private long _stagings;

    /// <summary>The build's folder as <paramref name="conn"/>'s worker sees it.</summary>
    public async Task<string> FolderAsync(WorkerConnection conn, VersionRecord version, CancellationToken ct)
    {
        var codeDir = await code.EnsureExtractedAsync(version.Build, version.CodeUri, ct);
        if (conn.Environment.ExposeBuild(codeDir) is { } visible) return visible;
        var builds = _staged.GetOrAdd(conn, c =>
        {
            _ = c.Exited.ContinueWith(_ => _staged.TryRemove(c, out ConcurrentDictionary<string, Lazy<Task<string>>>? _), TaskScheduler.Default);
            return new ConcurrentDictionary<string, Lazy<Task<string>>>(StringComparer.Ordinal);
        });
        var staging = builds.GetOrAdd(version.Build, _ => new Lazy<Task<string>>(() => StageAsync(conn, version)));
        try { return await staging.Value.WaitAsync(ct); }
        catch (Exception) when (staging.Value.IsFaulted || staging.Value.IsCanceled)
        {
            builds.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(version.Build, staging));
            throw;
        }
    }

    /// <summary>Sends the archive; not tied to one caller's deadline (others may be waiting for it): it ends with the connection.</summary>
    private async Task<string> StageAsync(WorkerConnection conn, VersionRecord version)
    {
        Interlocked.Increment(ref _stagings);
        var archive = await code.ReadArchiveAsync(version.Build, version.CodeUri, CancellationToken.None);
        var reply = await conn.RequestAsync(MessageTypes.Stage, w =>
        {
            w.WriteString("build", version.Build);
            w.WriteString("archive", "tar.gz");
            // A stored build was accepted under these ceilings (see CodeStore): the worker holds it to them.
            w.WriteNumber("max_bytes", CodeStore.MaxExtractedBytes);
            w.WriteNumber("max_entries", CodeStore.MaxEntries);
        }, archive, CancellationToken.None);
        if (reply.Type == MessageTypes.Staged && reply.GetString("path") is { Length: > 0 } path) return path;
        throw new AlgorithmCallException(reply.GetString("error_type") ?? ErrorTypes.LoadError,
            $"the model worker could not stage build {version.Build}: {reply.GetString("message") ?? reply.Type}");
    }
}
